import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { blockingCall } from '../core/io/blocking';
import { throwIfCancelled } from '../core/errors';
import type { ModelInfo } from '../core/onnx/model';
import { pruneModel } from '../core/onnx/prune';
import type { LatencyFigures } from '../shared/reportTypes';
import { ProviderName, loadOrt, sessionOptions } from './providers';

/**
 * Measured cost per exit (docs/metrics.md "Cost", measured cost): for each exit k, the model
 * pruned to the ancestors of the outputs of exits 0..k (core/onnx/prune.ts), timed on the
 * run's execution provider at batch 1 and at the run's batch size, after warm-up; the median
 * of repeated runs per sample, with the interquartile range as the spread. The model without
 * early exits (the ancestors of the final exit alone) is timed the same way: the baseline.
 *
 * Repeats are adaptive: at least MIN_REPEATS, then until the median of all runs moves by less
 * than STABLE of the median without the last STABLE_WINDOW runs, within TIME_BUDGET_MS per
 * (graph, batch size) and MAX_REPEATS runs.
 */
export const WARMUP = 2;
export const MIN_REPEATS = 7;
export const MAX_REPEATS = 200;
export const STABLE = 0.02;
export const STABLE_WINDOW = 5;
export const TIME_BUDGET_MS = 1500;

export interface LatencyPlan {
  modelBytes: Uint8Array;
  model: ModelInfo;
  /** Each exit's own tensor, shallowest first (graph outputs, or the tensors a stack is built from). */
  exitTensors: string[];
  provider: ProviderName;
  threads: number;
  /** The GPU the profile's session ran on (--device-id), for CUDA and TensorRT. */
  deviceId?: number;
  /** The feeds of the first `batchSize` samples, and of the first sample alone. */
  feeds: Record<string, ort.Tensor>;
  feeds1: Record<string, ort.Tensor>;
  batchSize: number;
  signal?: AbortSignal;
  /** Called after each graph is timed: done of total. */
  progress?: (done: number, total: number) => void;
}

export interface MeasuredLatency {
  exits: LatencyFigures[];
  baseline: LatencyFigures;
  method: string;
}

/** Median and interquartile range of sorted values (linear interpolation between ranks). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const median = (xs: readonly number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

/** True once the timings have settled (see the module comment). */
export function settled(times: readonly number[], spentMs: number): boolean {
  if (times.length >= MAX_REPEATS || spentMs >= TIME_BUDGET_MS) return true;
  if (times.length < MIN_REPEATS) return false;
  const all = median(times);
  const before = median(times.slice(0, times.length - STABLE_WINDOW));
  return Math.abs(all - before) <= STABLE * all;
}

/** Times one session at one batch: ms per run of each repeat. */
async function timeRuns(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  fetches: string[],
  signal?: AbortSignal,
): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await session.run(feeds, fetches);
  const times: number[] = [];
  let spent = 0;
  while (!settled(times, spent)) {
    throwIfCancelled(signal);
    const t = process.hrtime.bigint();
    await session.run(feeds, fetches);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    times.push(ms);
    spent += ms;
  }
  return times;
}

function figures(times1: number[], timesB: number[], batchSize: number): LatencyFigures {
  const s1 = [...times1].sort((a, b) => a - b);
  const sB = [...timesB].sort((a, b) => a - b).map((t) => t / batchSize);
  return {
    batch1: quantile(s1, 0.5),
    batch: quantile(sB, 0.5),
    batchSize,
    spread: { batch1: quantile(s1, 0.75) - quantile(s1, 0.25), batch: quantile(sB, 0.75) - quantile(sB, 0.25) },
    repeats: { batch1: s1.length, batch: sB.length },
  };
}

/** Times the graph that must run to produce `outputs` (ms per sample). */
async function timeGraph(plan: LatencyPlan, outputs: string[]): Promise<LatencyFigures> {
  const o = loadOrt();
  const pruned = pruneModel(plan.modelBytes, plan.model, outputs);
  const options: ort.InferenceSession.SessionOptions = {
    ...sessionOptions(plan.provider, plan.threads, plan.deviceId),
    // External data stays a reference to the model's own folder.
    extra: { session: { model_external_initializers_file_folder_path: path.dirname(plan.model.path) } },
  };
  const session = await blockingCall(() => o.InferenceSession.create(pruned.bytes, options));
  try {
    // Only the inputs the pruned graph reads are fed.
    const needed = new Set(session.inputNames);
    const pick = (f: Record<string, ort.Tensor>) =>
      Object.fromEntries(Object.entries(f).filter(([name]) => needed.has(name)));
    const times1 = await timeRuns(session, pick(plan.feeds1), outputs, plan.signal);
    const timesB = plan.batchSize === 1 ? times1 : await timeRuns(session, pick(plan.feeds), outputs, plan.signal);
    return figures(times1, timesB, plan.batchSize);
  } finally {
    await session.release();
  }
}

/** Every exit's measured cost and the baseline's. */
export async function measureLatency(plan: LatencyPlan): Promise<MeasuredLatency> {
  const E = plan.exitTensors.length;
  const exits: LatencyFigures[] = [];
  for (let k = 0; k < E; k++) {
    throwIfCancelled(plan.signal);
    exits.push(await timeGraph(plan, plan.exitTensors.slice(0, k + 1)));
    plan.progress?.(k + 1, E + 1);
  }
  const baseline = await timeGraph(plan, [plan.exitTensors[E - 1]]);
  plan.progress?.(E + 1, E + 1);
  return {
    exits,
    baseline,
    method: `Measured on ${plan.provider.toUpperCase()} (${plan.threads} thread${plan.threads === 1 ? '' : 's'}): each exit's graph pruned to the ancestors of exits 0..k, ${WARMUP} warm-up runs, then repeats until the median moves < ${STABLE * 100}% (at least ${MIN_REPEATS}, at most ${MAX_REPEATS} or ${TIME_BUDGET_MS / 1000} s per graph and batch size); medians per sample at batch 1 and at batch ${plan.batchSize}, interquartile range as the spread.`,
  };
}
