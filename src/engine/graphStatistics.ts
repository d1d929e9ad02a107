import type * as ort from 'onnxruntime-node';
import { ExitLensError, throwIfCancelled } from '../core/errors';
import { NumericArray } from '../core/npy/npy';
import type { ExitLayout } from '../core/onnx/exits';
import {
  StatisticsGraph,
  StatisticsPrecision,
  StatisticsTarget,
  statisticsGraph,
  statisticsUnsupported,
} from '../core/onnx/exitStatistics';
import type { ModelInfo } from '../core/onnx/model';
import { ExitRecords, fillExitRecords } from '../core/records/records';
import {
  RecordBounds,
  StatisticsBatch,
  allocateBounds,
  fillFromStatistics,
  rowsToRecompute,
} from '../core/records/statisticsRecords';
import { BatchReader, SampleBinding } from '../core/samples/samples';
import type { TokenPositions } from '../core/tokens/tokens';
import { loadOrt } from './providers';

/**
 * The engine's side of the statistics computed in the graph (docs/metrics.md "Statistics in the
 * graph"): which outputs are reduced and how their rows map to samples and exits, the extra
 * inputs each batch is fed (the labels, the rows whose logits are fetched), the reading of each
 * batch's statistics into records with their bounds, and the exact recomputation of the rows the
 * bounds leave undecided, by running their batches again and fetching those rows' logits only.
 */

export interface StatisticsPlan {
  graph: StatisticsGraph;
  precision: StatisticsPrecision;
  layout: ExitLayout;
  exitCount: number;
  classCount: number;
  /** Tokens per sequence for a decoder, else null. */
  length: number | null;
  /** What every batch fetches: the statistics, then `extraFetches` (outputs read besides them). */
  fetches: string[];
}

/** The precision of the statistics on a provider: float64 where its kernels have it, float32 on WebGPU (WGSL has no float64). */
export function statisticsPrecision(provider: string): StatisticsPrecision {
  return provider === 'webgpu' ? 'f32' : 'f64';
}

/** Axes that line the labels ([B], or [B, T] for a decoder) up with a logits tensor of this layout. */
function labelAxes(layout: ExitLayout, tokens: boolean): number[] {
  if (layout.kind === 'per-output') return tokens ? [2] : [1];
  const nec = layout.layout === 'NEC';
  if (tokens) return nec ? [1, 3] : [0, 3];
  return nec ? [1, 2] : [0, 2];
}

/**
 * The statistics plan for a model's exits, or why the graph cannot compute them (then the logits
 * are fetched and reduced in JavaScript, as before). `shapeOf` names tensors whose run-time shapes
 * are reported with the first batch; `extraFetches` are outputs every batch reads besides the
 * statistics (signals); `dtypes` gives each exit output's element type.
 */
export function planStatistics(
  model: ModelInfo,
  modelBytes: Uint8Array,
  exits: { layout: ExitLayout; exitCount: number; classCount: number; length: number | null },
  options: {
    precision: StatisticsPrecision;
    labels: boolean;
    shapeOf?: readonly string[];
    extraFetches?: readonly string[];
  },
): StatisticsPlan | { unsupported: string } {
  const { layout } = exits;
  const outputs = layout.kind === 'per-output' ? layout.outputs : [layout.output];
  const dtypeOf = (name: string) => model.outputs.find((o) => o.name === name)?.dtype ?? 'unknown';
  const tokens = exits.length !== null;
  const targets: StatisticsTarget[] = outputs.map((output) => ({
    output,
    dtype: dtypeOf(output),
    labels: { unsqueeze: labelAxes(layout, tokens) },
  }));
  const why = statisticsUnsupported(model, targets);
  if (why) return { unsupported: why };
  const graph = statisticsGraph(modelBytes, model, targets, {
    precision: options.precision,
    labels: options.labels,
    dropOutputs: outputs,
    shapeOf: options.shapeOf,
  });
  const fetches = [
    ...graph.targets.flatMap((t) => [t.top, t.idx, t.min, t.r, t.t, ...(t.zy ? [t.zy] : [])]),
    ...(options.extraFetches ?? []),
  ];
  return { graph, precision: options.precision, ...exits, fetches };
}

/** Where exit k's row of sample i (position t of sequence i for a decoder) is in its target's statistics. */
export function statisticsRow(plan: StatisticsPlan, fed: number, k: number, i: number, t = 0): number {
  const { layout, exitCount: E } = plan;
  const T = plan.length ?? 1;
  if (layout.kind === 'per-output') return i * T + t;
  if (layout.layout === 'NEC') return (i * E + k) * T + t;
  return (k * fed + i) * T + t;
}

const targetOf = (plan: StatisticsPlan, k: number) => (plan.layout.kind === 'per-output' ? k : 0);

/** The shape a target's `r` must have for `fed` rows. */
function leadingShape(plan: StatisticsPlan, fed: number): number[] {
  const lead =
    plan.layout.kind === 'per-output'
      ? [fed]
      : plan.layout.layout === 'NEC'
        ? [fed, plan.exitCount]
        : [plan.exitCount, fed];
  return plan.length === null ? lead : [...lead, plan.length];
}

function readTarget(
  plan: StatisticsPlan,
  outputs: ort.InferenceSession.OnnxValueMapType,
  j: number,
  fed: number,
): StatisticsBatch {
  const t = plan.graph.targets[j];
  const r = outputs[t.r] as ort.Tensor;
  const want = leadingShape(plan, fed);
  if (r.dims.map(Number).join() !== want.join())
    throw new ExitLensError(
      'inference-failed',
      `Exit output "${plan.layout.kind === 'per-output' ? plan.layout.outputs[j] : plan.layout.output}" has leading shape [${r.dims.join(', ')}] for a batch of ${fed}; expected [${want.join(', ')}].`,
      'Map the exits explicitly with --exits.',
    );
  return {
    top: (outputs[t.top] as ort.Tensor).data as Float32Array,
    idx: (outputs[t.idx] as ort.Tensor).data as BigInt64Array,
    min: (outputs[t.min] as ort.Tensor).data as Float32Array,
    r: r.data as Float64Array,
    t: (outputs[t.t] as ort.Tensor).data as Float64Array,
    zy: t.zy ? ((outputs[t.zy] as ort.Tensor).data as Float32Array) : null,
    precision: plan.precision,
  };
}

/** One set's records from the statistics: what each batch is fed besides its inputs, and how its outputs are read. */
export class StatisticsReader {
  readonly bounds: RecordBounds;
  constructor(
    readonly plan: StatisticsPlan,
    readonly rec: ExitRecords,
    /** A decoder's token positions (the records are per position), else null. */
    readonly positions: TokenPositions | null,
  ) {
    this.bounds = allocateBounds(rec.sampleCount * rec.exitCount);
  }

  /** The labels and rows inputs of the batch of `rows` samples (or sequences) from `first`, run as `fed`. */
  extraFeeds(first: number, rows: number, fed: number, fetchRows: readonly number[] = []): Record<string, ort.Tensor> {
    const o = loadOrt();
    const { graph } = this.plan;
    const feeds: Record<string, ort.Tensor> = {
      [graph.rowsInput]: new o.Tensor('int64', BigInt64Array.from(fetchRows, BigInt), [fetchRows.length]),
    };
    if (!graph.labelsInput) return feeds;
    const labels = this.rec.labels;
    const T = this.plan.length;
    if (T === null) {
      const y = new BigInt64Array(fed);
      if (labels) for (let i = 0; i < rows; i++) y[i] = BigInt(labels[first + i]);
      feeds[graph.labelsInput] = new o.Tensor('int64', y, [fed]);
      return feeds;
    }
    const y = new BigInt64Array(fed * T);
    const pos = this.positions!;
    if (labels)
      for (let i = 0; i < rows; i++)
        for (let p = pos.seqStart[first + i]; p < pos.seqStart[first + i + 1]; p++)
          y[i * T + pos.t[p]] = BigInt(labels[p]);
    feeds[graph.labelsInput] = new o.Tensor('int64', y, [fed, T]);
    return feeds;
  }

  /** Reads one batch's statistics into the records of its samples (or positions). */
  consume(outputs: ort.InferenceSession.OnnxValueMapType, first: number, rows: number, fed: number): void {
    const { plan, rec, bounds } = this;
    const batches = plan.graph.targets.map((_, j) => readTarget(plan, outputs, j, fed));
    for (let k = 0; k < plan.exitCount; k++) {
      const s = batches[targetOf(plan, k)];
      if (!this.positions) {
        for (let i = 0; i < rows; i++) fillFromStatistics(rec, bounds, s, statisticsRow(plan, fed, k, i), first + i, k);
        continue;
      }
      const pos = this.positions;
      for (let i = 0; i < rows; i++)
        for (let p = pos.seqStart[first + i]; p < pos.seqStart[first + i + 1]; p++)
          fillFromStatistics(rec, bounds, s, statisticsRow(plan, fed, k, i, pos.t[p]), p, k);
    }
  }
}

export interface RecomputeSet {
  reader: StatisticsReader;
  binding: SampleBinding;
  /** Rows (samples, or sequences) per batch, as the set was run. */
  step: number;
  feeds: (data: NumericArray[], rows: number) => Record<string, ort.Tensor>;
}

/** The sequence holding position p (positions are numbered sequence by sequence). */
function sequenceOf(pos: TokenPositions, p: number): number {
  let lo = 0;
  let hi = pos.seqStart.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (pos.seqStart[mid] <= p) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Recomputes, exactly as the float64 path does, every row whose bounds leave a comparison the
 * analysis makes undecided (rowsToRecompute, over all the sets together): each batch holding such
 * rows runs again, fetching only their logits. Returns how many rows and batches that took.
 */
export async function recomputeUndecided(
  session: ort.InferenceSession,
  sets: readonly RecomputeSet[],
  signal?: AbortSignal,
): Promise<{ rows: number; batches: number }> {
  const flags = rowsToRecompute(sets.map((s) => ({ rec: s.reader.rec, bounds: s.reader.bounds })));
  let rowsDone = 0;
  let batchesRun = 0;
  for (let j = 0; j < sets.length; j++) {
    const { reader, binding, step } = sets[j];
    const { rec, plan, positions } = reader;
    const E = rec.exitCount;
    // Flagged (sample or position, exit) pairs, by batch.
    const byBatch = new Map<number, { n: number; k: number; i: number; t: number }[]>();
    const f = flags[j];
    for (let at = 0; at < f.length; at++) {
      if (!f[at]) continue;
      const n = Math.floor(at / E);
      const k = at - n * E;
      const seq = positions ? sequenceOf(positions, n) : n;
      const b = Math.floor(seq / step);
      const list = byBatch.get(b) ?? [];
      list.push({ n, k, i: seq - b * step, t: positions ? positions.t[n] : 0 });
      byBatch.set(b, list);
    }
    if (byBatch.size === 0) continue;
    const S = binding.sampleCount;
    const reader2 = await BatchReader.open(binding);
    try {
      for (let first = 0, b = 0; first < S; first += step, b++) {
        const rows = Math.min(step, S - first);
        const data = await reader2.next(rows);
        const wanted = byBatch.get(b);
        if (!wanted) continue;
        throwIfCancelled(signal);
        const fed = binding.fixedBatch ?? rows;
        const flat = [...new Set(wanted.map((w) => statisticsRow(plan, fed, w.k, w.i, w.t)))];
        const slot = new Map(flat.map((r, x) => [r, x]));
        const out = await session.run(
          { ...sets[j].feeds(data, rows), ...reader.extraFeeds(first, rows, fed, flat) },
          plan.graph.targets.map((t) => t.rows),
        );
        const C = plan.classCount;
        for (const w of wanted) {
          const logits = (out[plan.graph.targets[targetOf(plan, w.k)].rows] as ort.Tensor).data as Float32Array;
          fillExitRecords(rec, logits, slot.get(statisticsRow(plan, fed, w.k, w.i, w.t))! * C, C, 1, w.n, w.k);
          rowsDone++;
        }
        batchesRun++;
      }
    } finally {
      await reader2.close();
    }
  }
  return { rows: rowsDone, batches: batchesRun };
}
