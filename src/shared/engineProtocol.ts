import type { ExitLensErrorCode } from './errorCodes';
import type { ExecutionProviderInfo, Report } from './reportTypes';

/**
 * The engine's typed messages. The CLI runs the engine in-process; the extension runs it in
 * a child process and exchanges exactly these messages over IPC.
 */
export interface CommonOptions {
  /** Configured label array name (else label, labels or y). */
  labelName?: string;
  /** Exit mapping: output names in order, or "name:NEC" / "name:ENC" for one stacked output. */
  exits?: string;
  /** A calibration set for the threshold suggestions. */
  calibPath?: string;
  /** Accuracy drop allowed by the suggestions, as a fraction (default 0.01 = 1 point). */
  maxAccuracyDrop?: number;
  /** Risk-controlled thresholds: the risk ε allowed (default 0.05), δ (default 0.1), the loss (default gap with labels, consistency without). */
  riskEpsilon?: number;
  riskDelta?: number;
  riskLoss?: 'consistency' | 'gap';
  /** User-given cost per exit (cost(k), cumulative), used when static costs are not available or to override them. */
  exitCosts?: number[];
  /** Include per-sample records in the report (for drill-down views). */
  includeRecords?: boolean;
  /**
   * The memory a run may use, in bytes (--max-memory, exitLens.maxMemory): a run whose estimate
   * is larger is refused before it allocates. Absent: the memory available when it starts, at
   * most 80% of the machine's (core/limits.ts).
   */
  maxMemory?: number;
}

export interface ProfileRequest extends CommonOptions {
  type: 'profile';
  id: string;
  modelPath: string;
  samplesPath: string;
  batchSize?: number;
  /** Execution providers in order of preference (absent: the default order, cuda, webgpu, cpu). */
  executionProviders?: string[];
  /** The numeric mode asked of CUDA: fp32 (default) or tf32. */
  gpuPrecision?: string;
  /** A vocabulary for a decoder's token view: a JSON list of token strings or a Hugging Face tokenizer.json. */
  vocabPath?: string;
  /** The vocabulary was found beside the model rather than asked for: a model that is no decoder ignores it. */
  vocabFound?: boolean;
  /** What speed-ups are computed from: static MACs (default) or per-exit latency measured on the run's provider. */
  cost?: 'static' | 'measured';
  threads?: number;
  /** Profile only this shard of the sample set: samples [floor(index·N/count), floor((index+1)·N/count)). */
  shard?: { index: number; count: number };
  /** The GPU to run on (CUDA's and TensorRT's deviceId; recorded in the report's provider info). */
  deviceId?: number;
}

/** Merges shards' records files (exit-lens merge, "Analyze Records") into the report of the whole set. */
export interface MergeRequest extends CommonOptions {
  type: 'merge';
  id: string;
  recordsPaths: string[];
  /** The calibration set's records files, profiled as a sample set of their own (in shards or whole). */
  calibRecordsPaths?: string[];
}

export interface AnalyzeRequest extends CommonOptions {
  type: 'analyze';
  id: string;
  logitsPath: string;
}

export interface CancelRequest {
  type: 'cancel';
  id: string;
}

export type EngineRequest = ProfileRequest | AnalyzeRequest | MergeRequest | CancelRequest;

export type ProgressPhase = 'loading' | 'costing' | 'inference' | 'calibration' | 'latency' | 'analysis';

export interface ProgressEvent {
  type: 'progress';
  id: string;
  phase: ProgressPhase;
  done: number;
  total: number;
  samplesPerSecond: number | null;
  etaSeconds: number | null;
}

export interface ProviderEvent {
  type: 'provider';
  id: string;
  info: ExecutionProviderInfo;
}

export interface LogEvent {
  type: 'log';
  id: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface ResultEvent {
  type: 'result';
  id: string;
  report: Report;
}

export interface ErrorEvent {
  type: 'error';
  id: string;
  code: ExitLensErrorCode;
  message: string;
  hint?: string;
  userError: boolean;
}

export type EngineEvent = ProgressEvent | ProviderEvent | LogEvent | ResultEvent | ErrorEvent;

export type Emit = (event: EngineEvent) => void;

const REQUEST_TYPES = new Set(['profile', 'analyze', 'merge', 'cancel']);

/** Checks a message that arrived over IPC before it is acted on. */
export function isEngineRequest(value: unknown): value is EngineRequest {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !REQUEST_TYPES.has(v.type) || typeof v.id !== 'string') return false;
  if (
    v.maxMemory !== undefined &&
    !(typeof v.maxMemory === 'number' && Number.isSafeInteger(v.maxMemory) && v.maxMemory > 0)
  )
    return false;
  if (v.type === 'profile') return typeof v.modelPath === 'string' && typeof v.samplesPath === 'string';
  if (v.type === 'analyze') return typeof v.logitsPath === 'string';
  if (v.type === 'merge')
    return (
      Array.isArray(v.recordsPaths) &&
      v.recordsPaths.every((p) => typeof p === 'string') &&
      (v.calibRecordsPaths === undefined ||
        (Array.isArray(v.calibRecordsPaths) && v.calibRecordsPaths.every((p) => typeof p === 'string')))
    );
  return true;
}

const EVENT_TYPES = new Set(['progress', 'provider', 'log', 'result', 'error']);

export function isEngineEvent(value: unknown): value is EngineEvent {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === 'string' && EVENT_TYPES.has(v.type) && typeof v.id === 'string';
}
