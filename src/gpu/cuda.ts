import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_GPU_PRECISION, GpuPrecision } from '../shared/defaults';
import {
  FoundLibrary,
  LibrarySearch,
  MissingLibrary,
  SearchOptions,
  cudaProviderNeeds,
  describeMissing,
  findLibraries,
} from './cudaLibs';
import { cudaProviderFiles, ortBinaryDir, ortVersion } from './ortPaths';
import { readOrtVersionOfProvider } from './elf';
import { ExitLensError } from '../core/errors';
import { readRegularFile } from '../core/io/inputFiles';

/**
 * What the CUDA provider needs on this machine, read without loading ONNX Runtime: its library
 * beside onnxruntime-node's, the CUDA libraries it links against, and the folders the engine's
 * LD_LIBRARY_PATH must gain to find them.
 */
export const SETUP_CUDA_STEP =
  'In VS Code run "Exit Lens: Set Up GPU (CUDA)"; from a shell run "exit-lens setup-cuda" (or "exit-lens setup-cuda --from <package.nupkg>" on an offline machine).';

const libraryVersions = new Map<string, string | null>();

/** The ONNX Runtime version a provider library was built for, read once per file version. */
function libraryVersion(file: string): string | null {
  try {
    const st = fs.statSync(file);
    const key = `${file}:${st.size}:${st.mtimeMs}:${st.ino}`;
    if (!libraryVersions.has(key)) libraryVersions.set(key, readOrtVersionOfProvider(file));
    return libraryVersions.get(key) ?? null;
  } catch {
    return null;
  }
}

/** The ONNX Runtime version Exit Lens's setup recorded for the provider in `dir` (exit-lens-cuda.json), if any. */
export function manifestVersion(dir: string): string | null {
  try {
    const file = path.join(dir, 'exit-lens-cuda.json');
    const text = readRegularFile(file, (why) => new ExitLensError('gpu-setup', why), 1 << 20).toString('utf8');
    const v = (JSON.parse(text) as { version?: unknown }).version;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

export interface CudaStatus {
  /** false: certainly cannot start; null: everything it needs was found, only a session can tell. */
  usable: false | null;
  reason: string | null;
  nextStep: string | null;
  providerLib: string | null;
  installed: boolean;
  found: FoundLibrary[];
  missing: MissingLibrary[];
  /** Folders to add to LD_LIBRARY_PATH (empty when nothing needs adding or nothing was found). */
  addToPath: string[];
  search: LibrarySearch | null;
}

export interface CudaStatusOptions extends SearchOptions {
  platform?: string;
  arch?: string;
  /** The folder onnxruntime-node loads providers from (tests point it at a fake one). */
  binaryDir?: string | null;
}

export function cudaStatus(opts: CudaStatusOptions = {}): CudaStatus {
  const platform = opts.platform ?? os.platform();
  const arch = opts.arch ?? os.arch();
  const none = { found: [], missing: [], addToPath: [], search: null };
  const files = cudaProviderFiles(platform, arch);
  if (!files) {
    return {
      usable: false,
      reason: `ONNX Runtime has no CUDA provider for ${platform}-${arch}.`,
      nextStep: platform === 'darwin' ? 'Use WebGPU (Metal) or the CPU.' : 'Use WebGPU or the CPU.',
      providerLib: null,
      installed: false,
      ...none,
    };
  }
  const dir = opts.binaryDir === undefined ? ortBinaryDir(platform, arch) : opts.binaryDir;
  const providerLib = dir ? path.join(dir, files.provider) : null;
  if (!dir || !providerLib || !fs.existsSync(providerLib)) {
    return {
      usable: false,
      reason: `the CUDA provider library ${files.provider} is not installed${dir ? ` in ${dir}` : ''}.`,
      nextStep: SETUP_CUDA_STEP,
      providerLib,
      installed: false,
      ...none,
    };
  }
  // The version the setup recorded, else the one the library itself holds (elf.ts).
  const installedFor = manifestVersion(dir) ?? libraryVersion(providerLib);
  const bundled = ortVersion();
  if (installedFor && bundled && installedFor !== bundled) {
    return {
      usable: false,
      reason: `the CUDA provider in ${dir} was built for ONNX Runtime ${installedFor}; the bundled ONNX Runtime is ${bundled}, and a provider must match it.`,
      nextStep: SETUP_CUDA_STEP,
      providerLib,
      installed: true,
      ...none,
    };
  }
  if (!fs.existsSync(path.join(dir, files.bridge))) {
    return {
      usable: false,
      reason: `${files.provider} is installed but its bridge ${files.bridge} is missing from ${dir}.`,
      nextStep: SETUP_CUDA_STEP,
      providerLib,
      installed: true,
      ...none,
    };
  }
  if (platform !== 'linux') {
    return { usable: null, reason: null, nextStep: null, providerLib, installed: true, ...none };
  }
  const needs = cudaProviderNeeds(providerLib);
  const search = findLibraries(needs.libs, opts, dir);
  if (needs.error) {
    return {
      usable: false,
      reason: needs.error,
      nextStep: SETUP_CUDA_STEP,
      providerLib,
      installed: true,
      ...search,
      search,
    };
  }
  if (search.missing.length) {
    const where =
      "LD_LIBRARY_PATH, the linker cache, /usr/local/cuda*, or any Python environment's site-packages/nvidia/*/lib";
    return {
      usable: false,
      reason: `the CUDA provider needs ${describeMissing(search.missing)}, not found in ${where}.`,
      nextStep: search.missing.some((m) => /^libcuda\.so/.test(m.name))
        ? 'Install the NVIDIA driver (or run where a GPU is exposed), then the missing CUDA libraries.'
        : 'Install the missing libraries (a PyTorch with CUDA installed by pip brings them all), or add their folder to LD_LIBRARY_PATH.',
      providerLib,
      installed: true,
      ...search,
      search,
    };
  }
  return { usable: null, reason: null, nextStep: null, providerLib, installed: true, ...search, search };
}

/** The numeric mode the CUDA provider will use in an environment, and why. */
export function cudaPrecision(env: NodeJS.ProcessEnv): { precision: GpuPrecision; reason: string } {
  if (env.NVIDIA_TF32_OVERRIDE === '0') {
    return { precision: 'fp32', reason: 'CUDA with NVIDIA_TF32_OVERRIDE=0: exact fp32 matmuls and convolutions' };
  }
  return {
    precision: 'tf32',
    reason: "CUDA's default: TF32 tensor cores for matmuls and convolutions (inputs rounded to a 10-bit mantissa)",
  };
}

export interface EngineEnvironment {
  /** The variables to set (the rest of the environment is kept). */
  set: Record<string, string>;
  /** Variables to remove (NVIDIA_TF32_OVERRIDE when tf32 is asked for). */
  unset: string[];
  /** What was done and why, for the log. */
  notes: string[];
}

/**
 * The environment a profiling process needs for the CUDA provider: LD_LIBRARY_PATH with the
 * folders of the CUDA libraries found outside the loader's search, and NVIDIA_TF32_OVERRIDE=0
 * for fp32. Nothing changes when CUDA is not among the providers or its library is not installed.
 */
export function engineEnvironment(
  providers: readonly string[],
  precision: GpuPrecision = DEFAULT_GPU_PRECISION,
  opts: CudaStatusOptions = {},
): EngineEnvironment {
  const env = opts.env ?? process.env;
  const out: EngineEnvironment = { set: {}, unset: [], notes: [] };
  if (!providers.includes('cuda') && !providers.includes('tensorrt')) return out;
  if (precision === 'fp32') {
    if (env.NVIDIA_TF32_OVERRIDE !== '0') {
      out.set.NVIDIA_TF32_OVERRIDE = '0';
      out.notes.push('GPU precision fp32: NVIDIA_TF32_OVERRIDE=0 (no TF32 in CUDA matmuls and convolutions).');
    }
  } else if (env.NVIDIA_TF32_OVERRIDE !== undefined) {
    out.unset.push('NVIDIA_TF32_OVERRIDE');
    out.notes.push('GPU precision tf32: NVIDIA_TF32_OVERRIDE removed from the environment.');
  }
  const status = cudaStatus(opts);
  if (status.addToPath.length) {
    const current = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
    out.set.LD_LIBRARY_PATH = [...current, ...status.addToPath].join(':');
    out.notes.push(`CUDA libraries found in ${status.addToPath.join(', ')}: added to LD_LIBRARY_PATH.`);
  }
  return out;
}

/** Applies an EngineEnvironment to a copy of `base`. */
export function withEnvironment(base: NodeJS.ProcessEnv, change: EngineEnvironment): NodeJS.ProcessEnv {
  const env = { ...base, ...change.set };
  for (const k of change.unset) delete env[k];
  return env;
}
