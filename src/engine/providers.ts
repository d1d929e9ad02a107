import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ExitLensError } from '../core/errors';
import type { ExecutionProviderInfo, ProviderAttempt } from '../core/report';

/**
 * Execution-provider choice. onnxruntime-node throws instead of falling back when a provider
 * cannot load, so each requested provider is tried in turn and the reason each one failed is
 * kept for the report, the status bar and the log.
 */
export const KNOWN_PROVIDERS = ['cuda', 'tensorrt', 'cpu'] as const;
export type ProviderName = (typeof KNOWN_PROVIDERS)[number];
export const DEFAULT_PROVIDERS: ProviderName[] = ['cuda', 'cpu'];

export const CUDA_HELP =
  'To use the GPU: install CUDA 12 and cuDNN 9, then run `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` ' +
  '(for the VS Code extension: the command "Exit Lens: Choose Execution Provider" says where).';

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
  const items = (typeof list === 'string' ? list.split(',') : [...list]).map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (items.length === 0) return [...DEFAULT_PROVIDERS];
  for (const p of items) {
    if (!(KNOWN_PROVIDERS as readonly string[]).includes(p)) {
      throw new ExitLensError(
        'provider-unavailable',
        `Unknown execution provider "${p}".`,
        `Choose from ${KNOWN_PROVIDERS.join(', ')} (in order of preference, e.g. --ep cuda,cpu).`,
      );
    }
  }
  return items as ProviderName[];
}

/** Where onnxruntime-node looks for provider libraries (beside libonnxruntime.so.1). */
export function ortBinaryDir(): string | null {
  try {
    const pkg = require.resolve('onnxruntime-node/package.json');
    const platform = os.platform();
    const arch = os.arch();
    return path.join(path.dirname(pkg), 'bin', 'napi-v6', platform, arch);
  } catch {
    return null;
  }
}

/** A plain-words reason when a GPU provider's library is not even installed. */
function missingLibraryReason(provider: ProviderName): string | null {
  if (provider === 'cpu') return null;
  const dir = ortBinaryDir();
  if (!dir || os.platform() !== 'linux') return null;
  const lib = provider === 'cuda' ? 'libonnxruntime_providers_cuda.so' : 'libonnxruntime_providers_tensorrt.so';
  if (!fs.existsSync(path.join(dir, lib))) {
    return `the ${provider.toUpperCase()} provider library ${lib} is not installed in ${dir} (onnxruntime-node was installed without its GPU download).`;
  }
  return null;
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
export function sessionOptions(provider: ProviderName, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // ONNX Runtime would print its own errors to stderr (a provider that does not load, a batch
    // that fails): each is caught and reported with its reason instead. Set for the session, not
    // per run: run options with their own log level cost about 1 ms a run (a run logger each).
    logSeverityLevel: 4,
  };
}

/** Tries the providers in order; the first that creates a session wins. */
export async function createSessionWithFallback(
  source: SessionSource,
  providers: ProviderName[],
  threads: number,
  log?: (message: string) => void,
  /** Try a provider even when its library is missing (to exercise ONNX Runtime's own failure). */
  tryMissing = false,
): Promise<OpenedSession> {
  const o = loadOrt();
  const attempts: ProviderAttempt[] = [];
  for (const provider of providers) {
    const options = sessionOptions(provider, threads);
    const missing = missingLibraryReason(provider);
    if (missing && !tryMissing) {
      // ONNX Runtime could only fail to load it: say why without a doomed session attempt.
      attempts.push({ provider, ok: false, reason: missing });
      log?.(`Execution provider ${provider} skipped: ${missing}`);
      continue;
    }
    try {
      const session = typeof source.model === 'string'
        ? await o.InferenceSession.create(source.model, options)
        : await o.InferenceSession.create(source.model, options);
      attempts.push({ provider, ok: true });
      log?.(`Execution provider ${provider}: session created.`);
      return { session, info: { used: provider, requested: [...providers], attempts, threads } };
    } catch (err) {
      const ortMessage = (err as Error).message.split('\n')[0];
      attempts.push({ provider, ok: false, reason: ortMessage });
      log?.(`Execution provider ${provider} failed: ${ortMessage}`);
      if (provider === 'cpu') {
        // CPU failing means the model itself cannot be loaded.
        throw new ExitLensError(
          'model-unreadable',
          `ONNX Runtime cannot load the model: ${ortMessage}`,
          'Check that the export finished and that the opset is supported by ONNX Runtime (re-export with torch.onnx.export(..., opset_version=17)).',
        );
      }
    }
  }
  const gpuOnly = providers.every((p) => p !== 'cpu');
  throw new ExitLensError(
    'provider-unavailable',
    `None of the requested execution providers could run: ${attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ')}`,
    gpuOnly ? `Add cpu as a fallback (--ep ${[...providers, 'cpu'].join(',')}). ${CUDA_HELP}` : CUDA_HELP,
  );
}

export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
