import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfError, readElfDynamic } from './elf';
import { LdCache, readLdCache } from './ldCache';

/**
 * Finding the libraries ONNX Runtime's CUDA provider needs. The provider library names them in
 * its ELF NEEDED list (CUDA runtime, cuBLAS, cuRAND, the driver's libcuda); cuDNN is opened later,
 * at the first convolution, so it is added by hand. Each is looked for where ML machines keep
 * them: LD_LIBRARY_PATH, the linker cache, /usr/local/cuda*, and Python environments'
 * site-packages/nvidia/<x>/lib (PyTorch's CUDA wheels, the most common source). The folders of
 * those found outside the loader's own search are what LD_LIBRARY_PATH must gain.
 */

/** Libraries every Linux process has; never reported missing or added to the path. */
const SYSTEM_LIBS =
  /^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[-\w]*|libutil|libresolv)\.so(\.\d+)*$/;

/** cuDNN's major version the provider opens at run time (ONNX Runtime 1.19 and later: cuDNN 9). */
export const CUDNN_LIBRARY = 'libcudnn.so.9';

/**
 * NVIDIA's pip wheel for a CUDA component: "<name>-cu12" for CUDA 12; from CUDA 13 on, the plain
 * name ("nvidia-cublas"; the "-cu13" names are deprecated placeholders), except cuDNN, whose
 * wheels keep the CUDA major ("nvidia-cudnn-cu13").
 */
function wheel(name: string, cudaMajor: number): string {
  if (name === 'nvidia-cudnn') return `${name}-cu${cudaMajor}`;
  return cudaMajor >= 13 ? name : `${name}-cu${cudaMajor}`;
}

/** What provides a library, in words a user can act on. */
export function whatProvides(lib: string): string {
  const m = /\.so\.(\d+)/.exec(lib);
  const major = m ? m[1] : '';
  const cuda = Number(major) || 12;
  if (/^libcuda\.so/.test(lib)) {
    return 'the NVIDIA driver (in a container: start it with the GPU exposed, e.g. docker run --gpus all)';
  }
  if (/^libcudart\.so/.test(lib)) {
    return `the CUDA ${major} runtime (CUDA Toolkit ${major}, or pip install ${wheel('nvidia-cuda-runtime', cuda)})`;
  }
  if (/^libcublas(Lt)?\.so/.test(lib)) {
    return `cuBLAS for CUDA ${major} (CUDA Toolkit ${major}, or pip install ${wheel('nvidia-cublas', cuda)})`;
  }
  // cuRAND, cuFFT and NVRTC keep their own majors: which CUDA they belong to is the provider's.
  if (/^libcurand\.so/.test(lib))
    return 'cuRAND (CUDA Toolkit, or pip install nvidia-curand-cu12 for CUDA 12, nvidia-curand for 13)';
  if (/^libcufft\.so/.test(lib))
    return 'cuFFT (CUDA Toolkit, or pip install nvidia-cufft-cu12 for CUDA 12, nvidia-cufft for 13)';
  if (/^libcudnn/.test(lib)) {
    return `cuDNN ${major} (pip install nvidia-cudnn-cu12 or nvidia-cudnn-cu13, matching the CUDA major, or NVIDIA's cuDNN ${major} packages)`;
  }
  if (/^libnvinfer/.test(lib)) return 'TensorRT (NVIDIA TensorRT packages)';
  if (/^libnvrtc/.test(lib)) return `NVRTC (CUDA Toolkit, or pip install ${wheel('nvidia-cuda-nvrtc', cuda)})`;
  if (/^libonnxruntime_providers_shared/.test(lib)) {
    return "ONNX Runtime's provider bridge (comes with the CUDA provider package)";
  }
  return 'a library the provider was built against';
}

export interface SearchOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Prefix for the fixed system folders (/usr/local/cuda*, /usr/lib/python3*, /opt/conda); tests point it at a fake tree. */
  root?: string;
  ldCache?: LdCache;
}

export interface FoundLibrary {
  name: string;
  path: string;
  /** Where it was found: 'LD_LIBRARY_PATH', 'linker cache', 'beside the provider', 'CUDA toolkit', 'Python environment'. */
  source: string;
}

export interface MissingLibrary {
  name: string;
  provides: string;
}

export interface LibrarySearch {
  found: FoundLibrary[];
  missing: MissingLibrary[];
  /** Folders LD_LIBRARY_PATH must gain for the loader to find what was found (in search order). */
  addToPath: string[];
  /** Every folder looked in, in order (for the doctor's report). */
  searched: { dir: string; source: string }[];
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** site-packages / dist-packages folders of the Python environments a machine usually has. */
export function pythonSitePackages(opts: SearchOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const home = opts.home ?? os.homedir();
  const root = opts.root ?? '/';
  const prefixes: string[] = [];
  for (const v of [env.VIRTUAL_ENV, env.CONDA_PREFIX]) if (v) prefixes.push(v);
  prefixes.push(path.join(home, '.local'));
  for (const base of ['.pyenv/versions', 'miniconda3/envs', 'anaconda3/envs', 'miniforge3/envs', 'mambaforge/envs']) {
    const d = path.join(home, base);
    for (const e of listDir(d)) prefixes.push(path.join(d, e));
  }
  for (const c of ['miniconda3', 'anaconda3', 'miniforge3', 'mambaforge']) prefixes.push(path.join(home, c));
  for (const sys of ['usr', 'usr/local', 'opt/conda']) prefixes.push(path.join(root, sys));
  const condaEnvs = path.join(root, 'opt/conda/envs');
  for (const e of listDir(condaEnvs)) prefixes.push(path.join(condaEnvs, e));
  const out: string[] = [];
  for (const prefix of prefixes) {
    const lib = path.join(prefix, 'lib');
    for (const py of listDir(lib)
      .filter((n) => /^python3(\.\d+)?$/.test(n))
      .sort()) {
      for (const kind of ['site-packages', 'dist-packages']) {
        const sp = path.join(lib, py, kind);
        if (isDir(sp) && !out.includes(sp)) out.push(sp);
      }
    }
  }
  return out;
}

/** Every folder searched, in order, with where it came from. */
export function searchFolders(opts: SearchOptions = {}, providerDir?: string): { dir: string; source: string }[] {
  const env = opts.env ?? process.env;
  const root = opts.root ?? '/';
  const dirs: { dir: string; source: string }[] = [];
  const add = (dir: string, source: string) => {
    if (dir && !dirs.some((d) => d.dir === dir)) dirs.push({ dir, source });
  };
  for (const d of (env.LD_LIBRARY_PATH ?? '').split(':')) if (d) add(d, 'LD_LIBRARY_PATH');
  if (providerDir) add(providerDir, 'beside the provider');
  const local = path.join(root, 'usr/local');
  const cudas = listDir(local).filter((n) => /^cuda(-\d+(\.\d+)*)?$/.test(n));
  // The unversioned link first (the machine's default), then the newest versions.
  cudas.sort((a, b) => (a === 'cuda' ? -1 : b === 'cuda' ? 1 : b.localeCompare(a, undefined, { numeric: true })));
  for (const c of cudas) {
    for (const sub of ['lib64', 'lib', 'targets/x86_64-linux/lib', 'targets/sbsa-linux/lib', 'extras/CUPTI/lib64']) {
      const d = path.join(local, c, sub);
      if (isDir(d)) add(d, 'CUDA toolkit');
    }
  }
  // Drivers mounted into containers (the NVIDIA Container Toolkit) and the WSL driver folder.
  for (const d of ['usr/local/nvidia/lib64', 'usr/local/nvidia/lib', 'usr/lib/wsl/lib']) {
    const p = path.join(root, d);
    if (isDir(p)) add(p, 'GPU driver');
  }
  for (const sp of pythonSitePackages(opts)) {
    const nv = path.join(sp, 'nvidia');
    for (const pkg of listDir(nv).sort()) {
      const lib = path.join(nv, pkg, 'lib');
      if (isDir(lib)) add(lib, `Python environment (${sp})`);
    }
  }
  return dirs;
}

/** Folders the loader searches without LD_LIBRARY_PATH (besides the cache). */
const LOADER_DEFAULTS = [
  '/lib',
  '/usr/lib',
  '/lib64',
  '/usr/lib64',
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
];

/**
 * Looks for each library. `libs` are sonames (e.g. from the provider's NEEDED list plus cuDNN).
 */
export function findLibraries(libs: string[], opts: SearchOptions = {}, providerDir?: string): LibrarySearch {
  const env = opts.env ?? process.env;
  const cache = opts.ldCache ?? readLdCache();
  const searched = searchFolders(opts, providerDir);
  const onPath = new Set((env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean));
  const found: FoundLibrary[] = [];
  const missing: MissingLibrary[] = [];
  const addToPath: string[] = [];
  for (const name of libs) {
    if (SYSTEM_LIBS.test(name)) continue;
    let hit: FoundLibrary | null = null;
    for (const { dir, source } of searched.filter((s) => s.source === 'LD_LIBRARY_PATH')) {
      if (fs.existsSync(path.join(dir, name))) {
        hit = { name, path: path.join(dir, name), source };
        break;
      }
    }
    if (!hit) {
      const cached = cache.get(name)?.find((p) => fs.existsSync(p));
      if (cached) hit = { name, path: cached, source: 'linker cache' };
    }
    if (!hit) {
      for (const d of LOADER_DEFAULTS) {
        const p = path.join(opts.root ?? '/', d, name);
        if (!opts.root && fs.existsSync(p)) {
          hit = { name, path: p, source: 'system library folder' };
          break;
        }
      }
    }
    if (!hit) {
      for (const { dir, source } of searched.filter((s) => s.source !== 'LD_LIBRARY_PATH')) {
        if (fs.existsSync(path.join(dir, name))) {
          hit = { name, path: path.join(dir, name), source };
          // The provider's own folder is its $ORIGIN run path: the loader finds it there already.
          if (source !== 'beside the provider' && !onPath.has(dir) && !addToPath.includes(dir)) addToPath.push(dir);
          break;
        }
      }
    }
    if (hit) found.push(hit);
    else missing.push({ name, provides: whatProvides(name) });
  }
  // In search order, not the libraries' order: the loader then takes each library from the folder it was found in.
  const rank = (dir: string) => searched.findIndex((s) => s.dir === dir);
  addToPath.sort((a, b) => rank(a) - rank(b));
  return { found, missing, addToPath, searched };
}

/** The libraries the CUDA provider needs: its NEEDED list (read from the file) plus cuDNN. */
export function cudaProviderNeeds(providerLib: string): { libs: string[]; error: string | null } {
  try {
    const dyn = readElfDynamic(providerLib);
    const libs = dyn.needed.filter((n) => !SYSTEM_LIBS.test(n));
    if (!libs.includes(CUDNN_LIBRARY)) libs.push(CUDNN_LIBRARY);
    return { libs, error: null };
  } catch (err) {
    const why = err instanceof ElfError ? err.message : (err as Error).message;
    return { libs: [CUDNN_LIBRARY], error: `${providerLib} could not be read as a shared library (${why})` };
  }
}

/** "a, b and c" */
export function listWords(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** One sentence naming what is missing and what provides each. */
export function describeMissing(missing: MissingLibrary[]): string {
  return listWords(missing.map((m) => `${m.name} (${m.provides})`));
}
