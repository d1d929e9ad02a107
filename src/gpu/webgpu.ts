import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LdCache, readLdCache } from './ldCache';
import { ExitLensError } from '../core/errors';
import { readRegularFile } from '../core/io/inputFiles';

/**
 * Whether ONNX Runtime's WebGPU provider can start here, and why not in words a user can act
 * on. On Linux it runs through Dawn on Vulkan: it needs the Vulkan loader (libvulkan.so.1) and a
 * GPU driver's Vulkan ICD; Mesa's software Vulkan (llvmpipe/lavapipe) is not accepted by Dawn.
 * On Windows it runs on Direct3D 12, on macOS on Metal.
 */

export interface WebGpuCheck {
  /** false: certainly cannot start (no attempt is made); null: it may, only a session can tell. */
  usable: false | null;
  reason: string | null;
  nextStep: string | null;
  /** The Vulkan drivers (ICD manifests) found, with their library. */
  drivers: { manifest: string; library: string; software: boolean }[];
}

export interface WebGpuOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
  /** Prefix for the fixed system folders (tests point it at a fake tree). */
  root?: string;
  ldCache?: LdCache;
}

export const VULKAN_LOADER = 'libvulkan.so.1';
const LOADER_HINT =
  'install the Vulkan loader (Debian/Ubuntu: apt install libvulkan1; Fedora: dnf install vulkan-loader) ' +
  "and the GPU driver's Vulkan support";
/** Where the NVIDIA Container Toolkit puts the driver's ICD manifest inside a container. */
const CONTAINER_ICD = 'usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';

function exists(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function manifestsIn(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort()
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

/** The ICD manifest files the Vulkan loader would read (VK_DRIVER_FILES / VK_ICD_FILENAMES first). */
export function vulkanIcdManifests(opts: WebGpuOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const root = opts.root ?? '/';
  const explicit = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  if (explicit) {
    const out: string[] = [];
    for (const p of explicit.split(':').filter(Boolean)) {
      if (exists(p)) out.push(p);
      else out.push(...manifestsIn(p));
    }
    return out;
  }
  const dirs: string[] = [];
  const home = opts.home ?? os.homedir();
  dirs.push(path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'vulkan/icd.d'));
  dirs.push(path.join(root, 'etc/xdg/vulkan/icd.d'), path.join(root, 'etc/vulkan/icd.d'));
  dirs.push(path.join(env.XDG_DATA_HOME || path.join(home, '.local/share'), 'vulkan/icd.d'));
  const dataDirs = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':').filter(Boolean);
  for (const d of dataDirs) dirs.push(path.join(opts.root ? path.join(root, d) : d, 'vulkan/icd.d'));
  const out: string[] = [];
  for (const d of dirs) for (const m of manifestsIn(d)) if (!out.includes(m)) out.push(m);
  return out;
}

function driverOf(manifest: string): { manifest: string; library: string; software: boolean } {
  let library = '';
  try {
    // A regular file only, read without blocking and bounded (a FIFO named *.json would hang here).
    const text = readRegularFile(manifest, (why) => new ExitLensError('provider-unavailable', why), 1 << 20).toString(
      'utf8',
    );
    library = String(JSON.parse(text)?.ICD?.library_path ?? '');
  } catch {
    library = '';
  }
  const software = /lvp|lavapipe|llvmpipe|swiftshader/i.test(`${path.basename(manifest)} ${library}`);
  return { manifest, library, software };
}

/** Whether the Vulkan loader can be found by the dynamic loader. */
export function hasVulkanLoader(opts: WebGpuOptions = {}): boolean {
  const env = opts.env ?? process.env;
  for (const d of (env.LD_LIBRARY_PATH ?? '').split(':')) if (d && exists(path.join(d, VULKAN_LOADER))) return true;
  const cache = opts.ldCache ?? readLdCache();
  if (cache.get(VULKAN_LOADER)?.some(exists)) return true;
  const root = opts.root ?? '/';
  for (const d of [
    'usr/lib/x86_64-linux-gnu',
    'lib/x86_64-linux-gnu',
    'usr/lib/aarch64-linux-gnu',
    'usr/lib64',
    'usr/lib',
  ]) {
    if (exists(path.join(root, d, VULKAN_LOADER))) return true;
  }
  return false;
}

/** What can be known before trying a session. */
export function checkWebGpu(opts: WebGpuOptions = {}): WebGpuCheck {
  const platform = opts.platform ?? os.platform();
  if (platform === 'win32' || platform === 'darwin') return { usable: null, reason: null, nextStep: null, drivers: [] };
  if (platform !== 'linux') {
    return {
      usable: false,
      reason: `WebGPU is not available in ONNX Runtime for ${platform}.`,
      nextStep: 'Use the CPU provider.',
      drivers: [],
    };
  }
  const env = opts.env ?? process.env;
  const root = opts.root ?? '/';
  if (!hasVulkanLoader(opts)) {
    return {
      usable: false,
      reason: `the Vulkan loader ${VULKAN_LOADER} is not installed (WebGPU runs on Vulkan on Linux).`,
      nextStep: `To use a GPU through WebGPU, ${LOADER_HINT}.`,
      drivers: [],
    };
  }
  const drivers = vulkanIcdManifests(opts).map(driverOf);
  const hardware = drivers.filter((d) => !d.software);
  const containerIcd = path.join(root, CONTAINER_ICD);
  const containerHint =
    exists(containerIcd) && !(env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES)
      ? ` The NVIDIA driver's manifest is at ${containerIcd} (a container): set VK_DRIVER_FILES=${containerIcd}.`
      : '';
  if (hardware.length === 0) {
    const soft = drivers.length
      ? ` (only a software Vulkan driver: ${drivers.map((d) => path.basename(d.manifest)).join(', ')}, which WebGPU does not accept)`
      : '';
    return {
      usable: false,
      reason: `no GPU driver with Vulkan support was found${soft}.`,
      nextStep:
        `Install the GPU driver with its Vulkan part (NVIDIA: the proprietary driver; AMD/Intel: Mesa's radv/anv, ` +
        `Debian: mesa-vulkan-drivers).${containerHint || ' In a container, the ICD file may need VK_DRIVER_FILES=<path to its JSON manifest>.'}`,
      drivers,
    };
  }
  return { usable: null, reason: null, nextStep: containerHint ? containerHint.trim() : null, drivers };
}

/** Turns ONNX Runtime's WebGPU error into a reason and next step, using what the check found. */
export function explainWebGpuFailure(
  ortMessage: string,
  check: WebGpuCheck,
  platform: NodeJS.Platform = os.platform(),
): { reason: string; nextStep: string } {
  const first = ortMessage.split('\n')[0];
  // What the check found missing is the cause ONNX Runtime's words ("No supported adapters") hide.
  if (check.usable === false && check.reason) return { reason: check.reason, nextStep: check.nextStep ?? '' };
  if (/Couldn't load Vulkan|libvulkan/i.test(ortMessage)) {
    return {
      reason: `the Vulkan loader ${VULKAN_LOADER} could not be loaded.`,
      nextStep: `${LOADER_HINT[0].toUpperCase()}${LOADER_HINT.slice(1)}.`,
    };
  }
  if (/No supported adapters|Failed to get a WebGPU adapter/i.test(ortMessage)) {
    if (platform === 'win32') {
      return {
        reason: 'no GPU adapter with Direct3D 12 support was found.',
        nextStep: 'Update the GPU driver (WebGPU on Windows runs on Direct3D 12; Windows 10 or later).',
      };
    }
    if (platform === 'darwin') {
      return {
        reason: 'no Metal GPU adapter was found.',
        nextStep: 'WebGPU on macOS runs on Metal (macOS 11 or later).',
      };
    }
    const drivers = check.drivers.filter((d) => !d.software).map((d) => d.library || path.basename(d.manifest));
    return {
      reason: `no GPU adapter: Vulkan found ${drivers.length ? `the driver(s) ${drivers.join(', ')}` : 'no hardware driver'} but none gave a usable GPU.`,
      nextStep:
        'Check that the GPU driver is loaded (nvidia-smi, vulkaninfo --summary); for the NVIDIA driver, its GL dispatch ' +
        'libraries (libglvnd0 libglx0 libegl1) must be installed too; in a container, expose the GPU and set VK_DRIVER_FILES ' +
        "to the driver's ICD manifest.",
    };
  }
  if (/backend not found|not supported|unknown provider/i.test(ortMessage)) {
    return {
      reason: `this platform's ONNX Runtime has no WebGPU provider (${first}).`,
      nextStep: 'Use the CUDA provider (Linux, NVIDIA) or the CPU.',
    };
  }
  return { reason: first, nextStep: 'Run "exit-lens doctor" (or "Exit Lens: Check GPU Setup") for details.' };
}
