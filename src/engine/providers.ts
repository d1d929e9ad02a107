import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ExitLensError } from '../core/errors';
import type { ExecutionProviderInfo, ProviderAttempt } from '../core/analysis/analyze';
import { cudaPrecision, cudaStatus } from '../gpu/cuda';
import { ortBinaryDir } from '../gpu/ortPaths';
import { checkWebGpu, explainWebGpuFailure } from '../gpu/webgpu';
import {
  DEFAULT_GPU_PRECISION,
  DEFAULT_PROVIDERS,
  GpuPrecision,
  KNOWN_PROVIDERS,
  ProviderName,
} from '../shared/defaults';

/**
 * Execution-provider choice. onnxruntime-node throws instead of falling back when a provider
 * cannot load, so each requested provider is tried in turn and the reason each one failed, with
 * the next step, is kept for the report, the status bar and the log. What can be known without
 * ONNX Runtime (a provider library not installed, CUDA libraries or the Vulkan loader missing)
 * is checked first (src/gpu), so that no doomed session is attempted.
 */
export { KNOWN_PROVIDERS, DEFAULT_PROVIDERS } from '../shared/defaults';
export type { ProviderName } from '../shared/defaults';

export const GPU_HELP =
  'Run "exit-lens doctor" (in VS Code: "Exit Lens: Check GPU Setup") to see what each GPU provider lacks on this machine.';

let ortModule: typeof ort | null = null;

/** Loads ONNX Runtime on first use only, so that hosts that never profile never load it. */
export function loadOrt(): typeof ort {
  if (!ortModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ortModule = require('onnxruntime-node') as typeof ort;
      // ORT would print provider-loading failures to stderr; Exit Lens records them itself.
      ortModule.env.logLevel = 'fatal';
    } catch (err) {
      throw new ExitLensError(
        'provider-unavailable',
        `ONNX Runtime could not be loaded: ${(err as Error).message}`,
        'Reinstall the dependencies (npm ci) or the extension; ONNX Runtime ships native binaries for linux-x64, darwin and win32.',
      );
    }
  }
  return ortModule;
}

export function parseProviders(list: string | readonly string[] | undefined): ProviderName[] {
  if (list === undefined) return [...DEFAULT_PROVIDERS];
  const items = (typeof list === 'string' ? list.split(',') : [...list])
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (items.length === 0) return [...DEFAULT_PROVIDERS];
  for (const p of items) {
    if (!(KNOWN_PROVIDERS as readonly string[]).includes(p)) {
      throw new ExitLensError(
        'provider-unavailable',
        `Unknown execution provider "${p}".`,
        `Choose from ${KNOWN_PROVIDERS.join(', ')} (in order of preference, e.g. --ep ${DEFAULT_PROVIDERS.join(',')}).`,
      );
    }
  }
  if (new Set(items).size !== items.length) {
    throw new ExitLensError(
      'bad-argument',
      `The execution provider list "${items.join(',')}" names a provider twice.`,
      `Name each once, e.g. --ep ${DEFAULT_PROVIDERS.join(',')}.`,
    );
  }
  return items as ProviderName[];
}

/** true when the user named the providers; false when the default order applies. */
export function providersExplicit(list: string | readonly string[] | undefined): boolean {
  if (list === undefined) return false;
  return (typeof list === 'string' ? list.split(',') : [...list]).some((s) => s.trim() !== '');
}

/** What is certainly missing for a provider before ONNX Runtime is asked (null: worth a try). */
export function precheckProvider(provider: ProviderName): { reason: string; nextStep?: string } | null {
  if (provider === 'cpu') return null;
  if (provider === 'cuda') {
    const s = cudaStatus();
    return s.usable === false
      ? { reason: s.reason ?? 'the CUDA provider cannot start.', nextStep: s.nextStep ?? undefined }
      : null;
  }
  if (provider === 'webgpu') {
    const w = checkWebGpu();
    return w.usable === false
      ? { reason: w.reason ?? 'WebGPU cannot start.', nextStep: w.nextStep ?? undefined }
      : null;
  }
  const dir = ortBinaryDir();
  if (!dir || os.platform() !== 'linux') return null;
  const lib = 'libonnxruntime_providers_tensorrt.so';
  if (!fs.existsSync(path.join(dir, lib))) {
    return {
      reason: `the TensorRT provider library ${lib} is not installed in ${dir}.`,
      nextStep: "TensorRT needs ONNX Runtime's GPU package and NVIDIA TensorRT; use cuda or webgpu instead.",
    };
  }
  return null;
}

/** The words a user can act on for a provider that ONNX Runtime refused. */
export function explainFailure(provider: ProviderName, ortMessage: string): { reason: string; nextStep?: string } {
  const first = ortMessage.split('\n')[0];
  if (provider === 'webgpu') return explainWebGpuFailure(ortMessage, checkWebGpu());
  if (provider === 'cuda' && /Failed to load shared library|libcu|cannot open shared object/i.test(ortMessage)) {
    const s = cudaStatus();
    return {
      reason: `${first}${s.missing.length ? ` (missing: ${s.missing.map((m) => m.name).join(', ')})` : ''}`,
      nextStep: s.nextStep ?? GPU_HELP,
    };
  }
  if (
    provider === 'cuda' &&
    /no CUDA-capable device|driver version is insufficient|cudaErrorNoDevice|cudaErrorInsufficientDriver/i.test(
      ortMessage,
    )
  ) {
    return {
      reason: first,
      nextStep:
        'Check the GPU and its driver with nvidia-smi; the driver must support the CUDA version the provider was built for.',
    };
  }
  return { reason: first, nextStep: GPU_HELP };
}

/** The numeric mode a provider's session computes in, and why. */
export function providerPrecision(
  provider: ProviderName,
  env: NodeJS.ProcessEnv = process.env,
): { precision: GpuPrecision; reason: string } {
  if (provider === 'cuda' || provider === 'tensorrt') return cudaPrecision(env);
  if (provider === 'webgpu') return { precision: 'fp32', reason: "WebGPU: fp32 shaders (in the model's own dtypes)" };
  return { precision: 'fp32', reason: 'CPU: fp32' };
}

/**
 * Sets the process's NVIDIA_TF32_OVERRIDE for the precision asked, before CUDA starts in this
 * process (cuBLAS and cuDNN read it when they initialise). The extension's engine and the CLI
 * are started with it already set (src/gpu/cuda.ts engineEnvironment); this covers a process
 * started otherwise. Returns a note when the environment was changed.
 */
export function applyGpuPrecision(precision: GpuPrecision, env: NodeJS.ProcessEnv = process.env): string | null {
  if (precision === 'fp32' && env.NVIDIA_TF32_OVERRIDE !== '0') {
    env.NVIDIA_TF32_OVERRIDE = '0';
    return 'GPU precision fp32: NVIDIA_TF32_OVERRIDE=0 set for this process.';
  }
  if (precision === 'tf32' && env.NVIDIA_TF32_OVERRIDE !== undefined) {
    delete env.NVIDIA_TF32_OVERRIDE;
    return 'GPU precision tf32: NVIDIA_TF32_OVERRIDE removed for this process.';
  }
  return null;
}

export function parseGpuPrecision(v: string | undefined): GpuPrecision {
  if (v === undefined) return DEFAULT_GPU_PRECISION;
  const p = v.trim().toLowerCase();
  if (p !== 'fp32' && p !== 'tf32') {
    throw new ExitLensError(
      'bad-argument',
      `GPU precision "${v}" is not fp32 or tf32.`,
      'Use --gpu-precision fp32 (exact, the default) or tf32 (faster on NVIDIA tensor cores).',
    );
  }
  return p;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  info: ExecutionProviderInfo;
}

export interface SessionSource {
  /** A model path, or bytes. */
  model: string | Uint8Array;
}

/**
 * The options of every profiling session (also used by the benchmark's bare ONNX Runtime loop,
 * so that its comparison runs with exactly the same settings).
 */
export function sessionOptions(
  provider: ProviderName,
  threads: number,
  deviceId?: number,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [providerConfig(provider, deviceId)],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // ONNX Runtime would print its own errors to stderr (a provider that does not load, a batch
    // that fails): each is caught and reported with its reason instead. Set for the session, not
    // per run: run options with their own log level cost about 1 ms a run (a run logger each).
    logSeverityLevel: 4,
  };
}

/**
 * A provider with its device: CUDA and TensorRT take a deviceId (onnxruntime-node 1.30); WebGPU in
 * Node has no device choice (its options take a GPUDevice object only in a browser), nor has the CPU.
 */
export function providerConfig(
  provider: ProviderName,
  deviceId?: number,
): ort.InferenceSession.ExecutionProviderConfig {
  if (deviceId === undefined || !providerTakesDevice(provider)) return provider;
  return { name: provider, deviceId } as ort.InferenceSession.ExecutionProviderConfig;
}

export function providerTakesDevice(provider: string): boolean {
  return provider === 'cuda' || provider === 'tensorrt';
}

export interface FallbackOptions {
  log?: (message: string) => void;
  /** Try a provider even when a pre-check says it cannot start (to exercise ONNX Runtime's own failure). */
  tryMissing?: boolean;
  /** The user named the providers (else the default order, and a fallback is no surprise). */
  explicit?: boolean;
  /** The numeric mode asked of CUDA. */
  gpuPrecision?: GpuPrecision;
  /** The GPU to run on (--device-id): CUDA's and TensorRT's deviceId. */
  deviceId?: number;
}

/** Tries the providers in order; the first that creates a session wins. */
export async function createSessionWithFallback(
  source: SessionSource,
  providers: ProviderName[],
  threads: number,
  options: FallbackOptions = {},
): Promise<OpenedSession> {
  const { log, tryMissing = false, explicit = true, gpuPrecision = DEFAULT_GPU_PRECISION, deviceId } = options;
  const o = loadOrt();
  const attempts: ProviderAttempt[] = [];
  for (const provider of providers) {
    const skip = tryMissing ? null : precheckProvider(provider);
    if (skip) {
      // ONNX Runtime could only fail to load it: say why without a doomed session attempt.
      attempts.push({
        provider,
        ok: false,
        reason: skip.reason,
        ...(skip.nextStep ? { nextStep: skip.nextStep } : {}),
      });
      log?.(`Execution provider ${provider} skipped: ${skip.reason}${skip.nextStep ? ` ${skip.nextStep}` : ''}`);
      continue;
    }
    if (provider === 'cuda' || provider === 'tensorrt') {
      const note = applyGpuPrecision(gpuPrecision);
      if (note) log?.(note);
    }
    try {
      const session =
        typeof source.model === 'string'
          ? await o.InferenceSession.create(source.model, sessionOptions(provider, threads, deviceId))
          : await o.InferenceSession.create(source.model, sessionOptions(provider, threads, deviceId));
      attempts.push({ provider, ok: true });
      const p = providerPrecision(provider);
      const device = deviceId !== undefined && providerTakesDevice(provider);
      log?.(`Execution provider ${provider}: session created (${p.reason})${device ? ` on device ${deviceId}` : ''}.`);
      if (deviceId !== undefined && !device)
        log?.(
          `--device-id ${deviceId} is not used by ${provider}: only CUDA and TensorRT take a device (WebGPU in onnxruntime-node runs on the adapter it picks).`,
        );
      return {
        session,
        info: {
          used: provider,
          requested: [...providers],
          explicit,
          attempts,
          threads,
          precision: p.precision,
          precisionReason: p.reason,
          ...(device ? { deviceId } : {}),
        },
      };
    } catch (err) {
      const ortMessage = (err as Error).message;
      if (provider === 'cpu') {
        attempts.push({ provider, ok: false, reason: ortMessage.split('\n')[0] });
        // CPU failing means the model itself cannot be loaded.
        throw new ExitLensError(
          'model-unreadable',
          `ONNX Runtime cannot load the model: ${ortMessage.split('\n')[0]}`,
          'Check that the export finished and that the opset is supported by ONNX Runtime (re-export with torch.onnx.export(..., opset_version=17)).',
        );
      }
      const why = explainFailure(provider, ortMessage);
      attempts.push({ provider, ok: false, reason: why.reason, ...(why.nextStep ? { nextStep: why.nextStep } : {}) });
      log?.(`Execution provider ${provider} failed: ${why.reason}${why.nextStep ? ` ${why.nextStep}` : ''}`);
    }
  }
  const gpuOnly = providers.every((p) => p !== 'cpu');
  const steps = [...new Set(attempts.map((a) => a.nextStep).filter((x): x is string => !!x))];
  throw new ExitLensError(
    'provider-unavailable',
    `None of the requested execution providers could run: ${attempts.map((a) => `${a.provider}: ${(a.reason ?? '').replace(/\.$/, '')}`).join('; ')}.`,
    `${gpuOnly ? `Add cpu as a fallback (--ep ${[...providers, 'cpu'].join(',')}). ` : ''}${steps.length ? steps.join(' ') : GPU_HELP}`,
  );
}

/**
 * A failed batch on a GPU provider, explained: cuDNN refusing a convolution under exact fp32
 * (NVIDIA_TF32_OVERRIDE=0 leaves it fewer algorithms) gets the two ways out.
 */
export function explainRunFailure(info: ExecutionProviderInfo, message: string): string | null {
  if (
    (info.used === 'cuda' || info.used === 'tensorrt') &&
    /CUDNN|cuDNN|No valid engine configs|HEURISTIC_QUERY_FAILED/.test(message)
  ) {
    return info.precision === 'fp32'
      ? 'cuDNN found no fp32 algorithm for a convolution of this model at this batch size (it has fewer without TF32). ' +
          'Profile with --gpu-precision tf32 (setting exitLens.gpuPrecision), or on WebGPU (--ep webgpu,cpu), or with a smaller --batch.'
      : 'cuDNN failed on a convolution of this model. Try a smaller --batch, or WebGPU (--ep webgpu,cpu).';
  }
  if (info.used !== 'cpu' && /out of memory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation|OOM/i.test(message)) {
    return `The ${info.used.toUpperCase()} device ran out of memory. Use a smaller --batch (setting exitLens.batchSize).`;
  }
  return null;
}

export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
