import { ExitLensError } from '../core/errors';
import { ortBinaryDir, ortVersion as bundledOrtVersion } from './ortPaths';

/**
 * Facts about ONNX Runtime's CUDA provider package: its NuGet id and feed, the libraries it
 * carries for Linux x64, the platforms it exists for, the bundled version it must match, and the
 * error every step of the setup reports with.
 */

/** The NuGet package with ONNX Runtime's CUDA (and TensorRT) provider for Linux x64. */
export const CUDA_PACKAGE_ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
/** Older releases shipped the Linux libraries in this package; it is accepted when they are inside. */
export const ACCEPTED_PACKAGE_IDS = [CUDA_PACKAGE_ID, 'Microsoft.ML.OnnxRuntime.Gpu'].map((id) => id.toLowerCase());
export const NUGET_FEED = 'https://api.nuget.org';
/** No package larger than this is downloaded or read. */
export const MAX_PACKAGE_BYTES = 2 * 1024 ** 3;
/** Bound on the libraries' total uncompressed size. */
export const MAX_EXTRACTED_BYTES = 4 * 1024 ** 3;

export interface ProviderLibrary {
  /** File name beside libonnxruntime.so.1. */
  name: string;
  /** Entry in the .nupkg. */
  entry: string;
  /** Whether a package without it is refused (the TensorRT provider is installed when present). */
  required: boolean;
  /** An execution provider (its read-only data names the ONNX Runtime it was built for), not the bridge. */
  provider: boolean;
}

export const CUDA_PROVIDER_LIBRARIES: readonly ProviderLibrary[] = [
  {
    name: 'libonnxruntime_providers_cuda.so',
    entry: 'runtimes/linux-x64/native/libonnxruntime_providers_cuda.so',
    required: true,
    provider: true,
  },
  {
    name: 'libonnxruntime_providers_shared.so',
    entry: 'runtimes/linux-x64/native/libonnxruntime_providers_shared.so',
    required: true,
    provider: false,
  },
  {
    name: 'libonnxruntime_providers_tensorrt.so',
    entry: 'runtimes/linux-x64/native/libonnxruntime_providers_tensorrt.so',
    required: false,
    provider: true,
  },
];

/** Why a setup failed, for hosts that offer a next step (e.g. "install from a file" when offline). */
export type CudaSetupProblem =
  | 'unsupported-platform'
  | 'offline'
  | 'not-found'
  | 'feed'
  | 'too-large'
  | 'size-mismatch'
  | 'hash-mismatch'
  | 'wrong-version'
  | 'not-gpu-package'
  | 'bad-package'
  | 'not-a-library'
  | 'unsafe-target'
  | 'busy'
  | 'write-failed';

export class CudaSetupError extends ExitLensError {
  readonly problem: CudaSetupProblem;
  /** The package to fetch on another machine, when a download failed. */
  readonly packageUrl: string | undefined;
  constructor(problem: CudaSetupProblem, message: string, hint?: string, packageUrl?: string) {
    super('gpu-setup', message, hint);
    this.problem = problem;
    this.packageUrl = packageUrl;
  }
}

export function cancelled(): ExitLensError {
  return new ExitLensError(
    'cancelled',
    'GPU setup was cancelled.',
    'Nothing was installed; the provider folder is as it was.',
  );
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancelled();
}

/** The bundled onnxruntime-node's version. */
export function ortVersion(): string {
  const version = bundledOrtVersion();
  if (!version)
    throw new ExitLensError('internal', "onnxruntime-node's package.json names no version.", 'Reinstall Exit Lens.');
  return version;
}

export interface PlatformArch {
  platform: string;
  arch: string;
}

export const here = (): PlatformArch => ({ platform: process.platform, arch: process.arch });

export type CudaPackageSupport = { supported: true; runtime: 'linux-x64' } | { supported: false; reason: string };

/** Whether ONNX Runtime publishes a CUDA provider the bundled onnxruntime-node can load on this platform. */
export function cudaPackageSupport(target: PlatformArch = here()): CudaPackageSupport {
  const { platform, arch } = target;
  if (platform === 'linux' && arch === 'x64') return { supported: true, runtime: 'linux-x64' };
  if (platform === 'win32') {
    return {
      supported: false,
      reason:
        'CUDA setup is not supported on Windows yet: the bundled onnxruntime-node for Windows is built without ' +
        'the CUDA provider (it offers DirectML and WebGPU).',
    };
  }
  if (platform === 'darwin') return { supported: false, reason: 'CUDA is not available on macOS.' };
  return {
    supported: false,
    reason: `ONNX Runtime publishes no CUDA provider for ${platform}-${arch}; only for Linux x64.`,
  };
}

/** Where onnxruntime-node looks for provider libraries (beside libonnxruntime.so.1), or null without a CUDA package. */
export function providerTargetDir(target: PlatformArch = here()): string | null {
  if (!cudaPackageSupport(target).supported) return null;
  return ortBinaryDir(target.platform, target.arch);
}

export interface OfficialPackage {
  id: string;
  version: string;
  /** The .nupkg (NuGet's flat container): what to download on another machine. */
  url: string;
  /** Registration leaf: points to the catalog entry that holds the package's size and hash. */
  registrationUrl: string;
}

export function trimBase(feedBase: string): string {
  return feedBase.replace(/\/+$/, '');
}

export function officialPackage(version: string = ortVersion(), feedBase: string = NUGET_FEED): OfficialPackage {
  const id = CUDA_PACKAGE_ID.toLowerCase();
  const v = version.toLowerCase();
  const base = trimBase(feedBase);
  return {
    id: CUDA_PACKAGE_ID,
    version,
    url: `${base}/v3-flatcontainer/${id}/${v}/${id}.${v}.nupkg`,
    registrationUrl: `${base}/v3/registration5-semver1/${id}/${v}.json`,
  };
}

/** NuGet compares versions without case and without build metadata. */
export function sameVersion(a: string, b: string): boolean {
  const norm = (v: string) => v.trim().toLowerCase().replace(/\+.*$/, '');
  return norm(a) === norm(b);
}

export function describeSize(n: number): string {
  return n >= 1024 * 1024 ? `${n} bytes (${(n / 1024 / 1024).toFixed(1)} MiB)` : `${n} bytes`;
}
