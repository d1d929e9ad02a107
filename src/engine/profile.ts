import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ExitLensError, describeError, throwIfCancelled } from '../core/errors';
import { firstCorrectExit } from '../core/analysis/overthinking';
import { DRILLDOWN_LIMIT, drilldownSample, inputPreview } from '../core/report/drilldown';
import { ArrayEntry, ArrayFile, openArrayFile } from '../core/npy/arrayFile';
import { ITEM_SIZE, NpyDtype, NumericArray, bytesToTyped, halfToFloat } from '../core/npy/npy';
import { exitCosts, nodeCosts, traceStackedExits } from '../core/onnx/cost';
import { ExitLayout, detectExits, exitNames, parseExitMapping } from '../core/onnx/exits';
import { ModelInfo, checkExternalData, decodeModelProto, modelInfoFromProto, readModelFile } from '../core/onnx/model';
import { blockingCall } from '../core/io/blocking';
import { MemoryLimit, MemoryPart, boundThreads, checkMemory, memoryLimit, recordsMemory } from '../core/io/limits';
import { ExitRecords, allocateRecords, fillExitRecords } from '../core/records/records';
import {
  CostInfo,
  Drilldown,
  ExecutionProviderInfo,
  InputBinding,
  Report,
  ReportWarning,
  TokenView,
} from '../core/analysis/analyze';
import { BatchReader, SampleBinding, bindSamples, checkClassLabels, readLabels } from '../core/samples/samples';
import { discoverShapes } from './costDiscovery';
import { AnalyzeRequest, Emit, ProfileRequest, ProgressPhase } from '../shared/engineProtocol';
import {
  createSessionWithFallback,
  defaultThreads,
  explainRunFailure,
  loadOrt,
  parseGpuPrecision,
  parseProviders,
  providersExplicit,
  ProviderName,
} from './providers';
import { MeasuredLatency, measureLatency } from './latency';
import { macsFrontier } from '../core/analysis/macsFrontier';
import { TokenPlan, inferTokenRecords, planTokenExits, tokenBatch } from './tokenRun';
import { TokenPositions, TokenSource, tokenPositions, tokenSource } from '../core/tokens/tokens';
import { detectTokenExits } from '../core/onnx/tokenExits';
import { TOKEN_VIEW_SEQUENCES, buildTokenView } from '../core/tokens/tokenView';
import { readVocab } from '../core/tokens/vocab';
import { DEFAULT_BATCH, DEFAULT_MAX_ACCURACY_DROP } from '../shared/defaults';
import { analyzeRun, riskOptions, runAnalyze, validateCommon } from '../core/analysis/analyzeLogits';
import { assembleReport } from '../core/report/assembly';
import type { ReportParts } from '../core/report/assembly';
import type { ShardCapture } from '../core/records/recordsFile';
import { runMerge } from '../core/records/shardMerge';
import { shardBinding, shardRange } from '../core/records/shards';
import type { MergeRequest } from '../shared/engineProtocol';

class Progress {
  private start = Date.now();
  private last = 0;
  constructor(
    private readonly emit: Emit,
    private readonly id: string,
    private readonly phase: ProgressPhase,
    private readonly total: number,
  ) {}
  report(done: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 100 && done < this.total) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs : null;
    this.emit({
      type: 'progress',
      id: this.id,
      phase: this.phase,
      done,
      total: this.total,
      samplesPerSecond: rate,
      etaSeconds: rate && rate > 0 ? (this.total - done) / rate : null,
    });
  }
}

function makeTensor(o: typeof ort, dtype: string, data: NumericArray, dims: number[]): ort.Tensor {
  // ORT names float16 data as a Uint16Array of bit patterns, and bool as Uint8Array.
  return new o.Tensor(dtype as ort.Tensor.Type, data as ort.Tensor.DataType, dims);
}

function feedsFor(
  o: typeof ort,
  binding: SampleBinding,
  data: NumericArray[],
  rows: number,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  binding.inputs.forEach((b, i) => {
    feeds[b.input.name] = makeTensor(o, b.input.dtype, data[i], [rows, ...b.rowShape]);
  });
  return feeds;
}

/** Pads a batch to the model's fixed batch size by repeating the last row. */
function padRows(data: NumericArray[], rows: number, target: number): NumericArray[] {
  if (rows === target) return data;
  return data.map((arr) => {
    const per = arr.length / rows;
    const Ctor = arr.constructor as new (n: number) => NumericArray;
    const out = new Ctor(per * target);
    (out as Float32Array).set(arr as Float32Array);
    for (let r = rows; r < target; r++) (out as Float32Array).copyWithin(r * per, (rows - 1) * per, rows * per);
    return out;
  });
}

/**
 * ONNX Runtime's run error in a line: the failing node and its status, without the source file,
 * function and assertion it quotes ("Non-zero status code returned while running Add node.
 * Name:'/Add' Status Message: /onnxruntime_src/...h:583 void ...() axis == 1 was false. <why>").
 */
export function ortRunMessage(err: unknown): string {
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
  const node = /running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/.exec(first);
  if (!node) return first;
  const status = node[3].replace(/^\S*onnxruntime\S*:\d+ .*? was false\.\s*/, '').trim();
  return `${node[1]} node "${node[2]}": ${status || node[3]}`;
}

function logitsOf(t: ort.Tensor): ArrayLike<number> {
  const d = t.data;
  if (t.type === 'float16' && d instanceof Uint16Array) {
    const out = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = halfToFloat(d[i]);
    return out;
  }
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  throw new ExitLensError(
    'samples-mismatch',
    `An exit output has type ${t.type}; exits must output float logits.`,
    'Map the exits to the logits outputs with --exits.',
  );
}

interface ExitPlan {
  layout: ExitLayout;
  exitCount: number;
  classCount: number;
  names: string[];
  fetches: string[];
}

function planExits(model: ModelInfo, layout: ExitLayout, outputShapes: Map<string, number[]>): ExitPlan {
  if (layout.kind === 'per-output') {
    const cs = new Set(layout.outputs.map((o) => outputShapes.get(o)?.[1]));
    if (cs.size !== 1 || [...cs][0] === undefined) {
      throw new ExitLensError(
        'model-no-exits',
        `The exits ${layout.outputs.join(', ')} do not share one class count at run time (${[...cs].join(', ')}).`,
        'Map the exits explicitly with --exits.',
      );
    }
    const C = [...cs][0]!;
    return {
      layout,
      exitCount: layout.outputs.length,
      classCount: C,
      names: exitNames(layout, layout.outputs.length),
      fetches: [...layout.outputs],
    };
  }
  const s = outputShapes.get(layout.output);
  if (!s || s.length !== 3)
    throw new ExitLensError(
      'model-no-exits',
      `Stacked exit output "${layout.output}" has run-time shape ${JSON.stringify(s)}, not rank 3.`,
      'Map the exits explicitly with --exits.',
    );
  const E = layout.layout === 'NEC' ? s[1] : s[0];
  return { layout, exitCount: E, classCount: s[2], names: exitNames(layout, E), fetches: [layout.output] };
}

interface CostOutcome {
  exitMacs: number[];
  baselineMacs: number;
  info: CostInfo;
}

function costForExits(
  model: ModelInfo,
  plan: ExitPlan,
  shapes: Map<string, number[]>,
  batch: number,
  userCosts: number[] | undefined,
  warnings: ReportWarning[],
): CostOutcome {
  const E = plan.exitCount;
  if (userCosts) {
    if (userCosts.length !== E) {
      throw new ExitLensError(
        'bad-argument',
        `--exit-costs gives ${userCosts.length} values but the model has ${E} exits.`,
        'Give one cumulative cost per exit, shallowest first.',
      );
    }
    return {
      exitMacs: [...userCosts],
      baselineMacs: userCosts[E - 1],
      info: {
        source: 'user',
        note: "Costs given by the user (cost(k) per exit; baseline = the final exit's cost).",
        uncostedNodes: [],
        uncountedOps: {},
      },
    };
  }
  let exitTensors: string[] | null;
  if (plan.layout.kind === 'per-output') exitTensors = plan.fetches;
  else exitTensors = traceStackedExits(model, plan.layout.output, E);
  if (!exitTensors) {
    warnings.push({
      code: 'cost-untraceable',
      message: `The stacked output "${(plan.layout as { output: string }).output}" is not built by a Concat of one tensor per exit, so per-exit MACs cannot be read from the graph. Costs fall back to relative depth (k+1)/E of the final exit; give real costs with --exit-costs.`,
    });
    const exitMacs = Array.from({ length: E }, (_, k) => (k + 1) / E);
    return {
      exitMacs,
      baselineMacs: 1,
      info: {
        source: 'relative',
        note: 'Relative depth (k+1)/E: the graph did not allow static costs.',
        uncostedNodes: [],
        uncountedOps: {},
      },
    };
  }
  const costs = nodeCosts(model, shapes);
  if (batch !== 1) for (let i = 0; i < costs.nodeMacs.length; i++) costs.nodeMacs[i] /= batch;
  const { exitMacs, baselineMacs } = exitCosts(model, exitTensors, costs.nodeMacs);
  if (costs.uncosted.length) {
    warnings.push({
      code: 'uncosted-nodes',
      message: `${costs.uncosted.length} Conv/Gemm/MatMul node(s) could not be costed (shapes unknown) and count 0: ${costs.uncosted
        .slice(0, 5)
        .map((u) => `${u.name} (${u.reason})`)
        .join(', ')}${costs.uncosted.length > 5 ? ', …' : ''}.`,
    });
  }
  const heavy = Object.entries(costs.uncountedOps);
  if (heavy.length) {
    warnings.push({
      code: 'uncounted-ops',
      message: `The graph has compute-heavy ops that the MAC definition counts as 0: ${heavy.map(([op, n]) => `${op} ×${n}`).join(', ')}; costs understate them.`,
    });
  }
  if (baselineMacs === 0) {
    warnings.push({
      code: 'zero-cost',
      message:
        'The model has no Conv, Gemm or MatMul on the path to its exits: MAC costs are 0 and speed-ups are undefined. Give costs with --exit-costs.',
    });
  }
  return {
    exitMacs,
    baselineMacs,
    info: {
      source: 'static',
      note: `MACs per sample from the ONNX graph with shapes from a batch-${batch} run.`,
      uncostedNodes: costs.uncosted,
      uncountedOps: costs.uncountedOps,
    },
  };
}

interface SetRun {
  binding: SampleBinding;
  file: ArrayFile;
}

async function openSet(filePath: string, model: ModelInfo, labelName: string | undefined): Promise<SetRun> {
  const file = await openArrayFile(filePath);
  try {
    // A decoder's labels are per token [N, T]; they are told from a classifier's once the exits are known.
    const sequenceLabels = model.inputs.some((i) => !i.dtype.startsWith('float') && i.shape?.length === 2);
    return { file, binding: bindSamples(file, model.inputs, labelName, { sequenceLabels }) };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Runs the session over a sample set, batch by batch, into exit records. */
async function inferRecords(
  session: ort.InferenceSession,
  set: SetRun,
  plan: ExitPlan,
  batchSize: number,
  labels: Int32Array | null,
  progress: Progress,
  signal: AbortSignal | undefined,
  drilldown?: Drilldown,
): Promise<ExitRecords> {
  const o = loadOrt();
  const { binding } = set;
  const N = binding.sampleCount;
  const E = plan.exitCount;
  const C = plan.classCount;
  const rec = allocateRecords(N, E, C, labels);
  const fixed = binding.fixedBatch;
  const step = fixed ?? batchSize;
  const reader = await BatchReader.open(binding);
  try {
    let next: Promise<NumericArray[]> | null = reader.next(Math.min(step, N));
    for (let n = 0; n < N; n += step) {
      throwIfCancelled(signal);
      const rows = Math.min(step, N - n);
      const data = await next!;
      // Read the next batch while this one runs.
      const after = n + rows;
      next = after < N ? reader.next(Math.min(step, N - after)) : null;
      next?.catch(() => undefined);
      const fed = fixed && rows < fixed ? fixed : rows;
      const feeds = feedsFor(o, binding, fixed && rows < fixed ? padRows(data, rows, fixed) : data, fed);
      let out: ort.InferenceSession.OnnxValueMapType;
      try {
        // Its error is thrown and reported below; the session's log level keeps ORT from printing it too.
        out = await session.run(feeds, plan.fetches);
      } catch (err) {
        const batchNo = Math.floor(n / step) + 1;
        // A short last batch failing after full ones: a shape in the graph is tied to a batch size.
        const shortAfterFull = !fixed && n > 0 && rows < step;
        throw new ExitLensError(
          'inference-failed',
          `ONNX Runtime failed on samples ${n}..${n + rows - 1} (batch ${batchNo}, ${rows} sample${rows === 1 ? '' : 's'}${n > 0 ? `; the batches before it had ${step} and ran` : ''}): ${ortRunMessage(err)}`,
          fixed
            ? 'Check the sample set against the model inputs.'
            : shortAfterFull
              ? `The model seems to accept only some batch sizes (a shape fixed at export): re-export it with a dynamic batch axis, or set the batch size to 1, or to one that divides ${N} so that no batch is short (--batch, or the exitLens.batchSize setting).`
              : 'If the model only works at a fixed batch size, set the batch size to it (--batch, or the exitLens.batchSize setting; e.g. 1).',
        );
      }
      if (plan.layout.kind === 'per-output') {
        for (let k = 0; k < E; k++) {
          const t = out[plan.fetches[k]] as ort.Tensor;
          if (t.dims.length !== 2 || Number(t.dims[0]) !== fed || Number(t.dims[1]) !== C) {
            throw new ExitLensError(
              'inference-failed',
              `Exit output "${plan.fetches[k]}" has shape [${t.dims.join(', ')}] for a batch of ${fed}; expected [${fed}, ${C}].`,
              'Map the exits explicitly with --exits.',
            );
          }
          fillExitRecords(rec, logitsOf(t), 0, C, rows, n, k);
        }
      } else {
        const t = out[plan.fetches[0]] as ort.Tensor;
        const z = logitsOf(t);
        const nec = plan.layout.layout === 'NEC';
        const want = nec ? [fed, E, C] : [E, fed, C];
        if (t.dims.map(Number).join() !== want.join()) {
          throw new ExitLensError(
            'inference-failed',
            `Stacked exit output has shape [${t.dims.join(', ')}] for a batch of ${fed}; expected [${want.join(', ')}].`,
            'Map the exits explicitly with --exits name:NEC or name:ENC.',
          );
        }
        for (let k = 0; k < E; k++) {
          if (nec) fillExitRecords(rec, z, k * C, E * C, rows, n, k);
          else fillExitRecords(rec, z, k * fed * C, C, rows, n, k);
        }
      }
      if (drilldown && labels) captureDestructive(rec, binding, data, n, rows, drilldown);
      progress.report(n + rows);
    }
    progress.report(N, true);
  } finally {
    await reader.close();
  }
  return rec;
}

/** Records the batch's destructive samples (right earlier, wrong at the end) with an input preview. */
function captureDestructive(
  rec: ExitRecords,
  binding: SampleBinding,
  data: NumericArray[],
  first: number,
  rows: number,
  out: Drilldown,
): void {
  const E = rec.exitCount;
  const input = binding.inputs[0];
  const perRow = input.rowShape.reduce((a, b) => a * b, 1);
  const integer = !input.input.dtype.startsWith('float');
  for (let i = 0; i < rows; i++) {
    const n = first + i;
    if (rec.pred[n * E + E - 1] === rec.labels![n] || firstCorrectExit(rec, n) < 0) continue;
    out.destructiveCount++;
    if (out.samples.length >= DRILLDOWN_LIMIT) continue;
    const row = data[0].subarray(i * perRow, (i + 1) * perRow);
    const values = row instanceof BigInt64Array ? Array.from(row, Number) : (row as ArrayLike<number>);
    const preview = input.input.dtype === 'float16' ? undefined : inputPreview(values, input.rowShape, integer);
    out.samples.push(drilldownSample(rec, n, preview));
  }
}

function bindingInfo(b: SampleBinding): InputBinding[] {
  return b.inputs.map((x) => ({
    input: x.input.name,
    array: x.array.name,
    arrayDtype: x.array.header.dtype,
    modelDtype: x.input.dtype,
    cast: x.cast,
  }));
}

/** A batch that failed on a GPU provider gets the hint for that provider (cuDNN under fp32, device memory). */
function withRunHint(err: unknown, info: ExecutionProviderInfo): unknown {
  if (!(err instanceof ExitLensError) || err.code !== 'inference-failed') return err;
  const hint = explainRunFailure(info, err.message);
  return hint ? new ExitLensError('inference-failed', err.message, hint) : err;
}

/** What an in-process caller (the CLI) hears of a run as it goes. */
export interface RunHooks {
  /**
   * Every file the run reads, once it knows them (the model's external data only comes with the
   * model), before the samples are read: the CLI refuses an output that is one of them by throwing.
   */
  inputFiles?: (files: { label: string; file: string }[]) => void;
  /** A shard's records and what its report is made of, before the report is (exit-lens profile --records-out). */
  shardRecords?: (capture: ShardCapture) => void | Promise<void>;
}

/** The memory a profile's batches take while they are read (the ring of buffers, a cast copy, the probe). */
const INPUT_BATCH_COPIES = BatchReader.RING + 2;

function inputsMemory(set: SetRun, what: string, step: number): MemoryPart {
  const rows = set.binding.fixedBatch ?? Math.min(step, set.binding.sampleCount);
  // A cast input is converted into a second array, of the model's item size.
  const castBytes = (b: SampleBinding['inputs'][number]) =>
    (b.array.rowBytes / ITEM_SIZE[b.array.header.dtype]) * (ITEM_SIZE[b.input.dtype as NpyDtype] ?? 8);
  const perSample = set.binding.inputs.reduce((s, b) => s + b.array.rowBytes + (b.cast ? castBytes(b) : 0), 0);
  return {
    what: `batches of ${what} being read (${rows} samples of ${perSample.toLocaleString('en-US')} bytes, ${INPUT_BATCH_COPIES} copies)`,
    bytes: INPUT_BATCH_COPIES * rows * perSample,
  };
}

/**
 * Refuses a profile whose estimate is above the limit: the model, the batches, and the records,
 * labels and analysis of `exits` exits (2, the least there can be, before the exits are known).
 */
function checkProfileMemory(
  req: ProfileRequest,
  limit: MemoryLimit,
  modelBytes: number,
  main: SetRun,
  calib: SetRun | null,
  step: number,
  exits: number,
  /**
   * Records per set when they are not one per sample (a decoder's token positions), and one more
   * part of a decoder's (its positions' index, or a batch's logits) with the hint for when it dominates.
   */
  recordCounts: { main?: number; calib?: number; extra?: MemoryPart; extraHint?: string } = {},
): void {
  const parts: MemoryPart[] = [
    { what: "the model (its file, the decoded graph and ONNX Runtime's copy of the weights)", bytes: 3 * modelBytes },
    inputsMemory(main, 'the sample set', step),
    ...recordsMemory(
      'the sample set',
      recordCounts.main ?? main.binding.sampleCount,
      exits,
      Boolean(req.includeRecords),
    ),
  ];
  if (calib)
    parts.push(...recordsMemory('the calibration set', recordCounts.calib ?? calib.binding.sampleCount, exits, false));
  if (recordCounts.extra) parts.push(recordCounts.extra);
  const records = req.includeRecords ? ' Leave out --records (the per-sample records in the JSON), or' : '';
  checkMemory(
    parts,
    limit,
    recordCounts.extra && recordCounts.extraHint && recordCounts.extra.bytes > limit.bytes / 4
      ? recordCounts.extraHint
      : `Profile a smaller sample set (e.g. its first 100,000 samples: np.savez(path, x=x[:100000], label=y[:100000])).${records}${parts[1].bytes > limit.bytes / 4 ? ' Use a smaller batch (--batch).' : ''}`,
  );
}

/** The token view of the first sequences: their ids and mask read again (a few rows), the rest from the records. */
async function tokenViewOf(
  rec: ExitRecords,
  positions: TokenPositions,
  src: TokenSource,
  vocab: string[] | null,
  vocabPath: string | null,
): Promise<TokenView> {
  const rows = Math.min(src.sequences, TOKEN_VIEW_SEQUENCES);
  const read = async (entry: ArrayEntry) => {
    const r = await entry.open();
    try {
      return bytesToTyped(await r.readRows(rows), entry.header.dtype);
    } finally {
      await r.close();
    }
  };
  const ids = await read(src.ids.array);
  const mask = src.mask ? await read(src.mask.array) : null;
  return buildTokenView(rec, positions, ids, mask, rows, src.length, vocab, vocabPath);
}

const tokenFlag = (layout: ExitLayout) => (layout.tokens ? { tokens: true } : {});

/** True when the probe's outputs carry a position axis of `length` tokens: a decoder's exits. */
function perTokenOutputs(shapes: Map<string, number[]>, batch: number, length: number): boolean {
  return [...shapes.values()].some(
    (s) => (s.length === 3 && s[0] === batch && s[1] === length) || (s.length === 4 && s[2] === length),
  );
}

/** A decoder's static costs per token: the probe's sequence of `length` tokens, divided by its length. */
function perToken(cost: CostOutcome, length: number): void {
  cost.exitMacs = cost.exitMacs.map((m) => m / length);
  cost.baselineMacs /= length;
  cost.info = {
    ...cost.info,
    note: `MACs per token: those of one sequence of ${length} tokens (from the ONNX graph), divided by ${length}.`,
  };
}

interface MeasuredCost {
  latency: MeasuredLatency | null;
  info: (staticInfo: CostInfo) => CostInfo;
}

interface LatencyContext {
  o: typeof ort;
  model: ModelInfo;
  modelBytes: Uint8Array;
  plan: ExitPlan;
  main: SetRun;
  batchSize: number;
  threads: number;
  providerInfo: ExecutionProviderInfo;
  emit: Emit;
  id: string;
  signal?: AbortSignal;
}

/**
 * --cost measured: every exit's graph timed on the run's provider (latency.ts) with the first
 * samples of the set. Where it cannot be (a stack not traced to one tensor per exit, a pruned
 * graph the provider refuses), the report says why and keeps the static costs.
 */
async function measuredCost(c: LatencyContext, warnings: ReportWarning[]): Promise<MeasuredCost> {
  const { plan, model, main } = c;
  const fixed = main.binding.fixedBatch;
  const batchSize = fixed ?? Math.min(c.batchSize, main.binding.sampleCount);
  const base = {
    provider: c.providerInfo.used,
    precision: c.providerInfo.precision ?? 'fp32',
    batchSize,
  };
  const unavailable = (why: string): MeasuredCost => {
    warnings.push({
      code: 'latency-unavailable',
      message: `Measured cost is unavailable: ${why} Speed-ups use the static costs.`,
    });
    return { latency: null, info: (s) => ({ ...s, measured: { ...base, method: '', unavailable: why } }) };
  };
  const exitTensors =
    plan.layout.kind === 'per-output' ? plan.fetches : traceStackedExits(model, plan.layout.output, plan.exitCount);
  if (!exitTensors)
    return unavailable(
      `the stacked output "${plan.fetches[0]}" is not built by a Concat of one tensor per exit, so no exit's graph can be pruned from the others.`,
    );
  const reader = await BatchReader.open(main.binding);
  let data: NumericArray[];
  try {
    data = await reader.next(Math.min(batchSize, main.binding.sampleCount));
  } finally {
    await reader.close();
  }
  if (main.binding.sampleCount < batchSize) data = padRows(data, main.binding.sampleCount, batchSize);
  const feeds = feedsFor(c.o, main.binding, data, batchSize);
  // A model with a fixed batch runs only at that batch: "batch 1" is then that batch too.
  const feeds1 = fixed
    ? feeds
    : feedsFor(
        c.o,
        main.binding,
        data.map((d) => d.slice(0, d.length / batchSize) as NumericArray),
        1,
      );
  try {
    const latency = await measureLatency({
      modelBytes: c.modelBytes,
      model,
      exitTensors,
      provider: c.providerInfo.used as ProviderName,
      deviceId: c.providerInfo.deviceId,
      threads: c.threads,
      feeds,
      feeds1,
      batchSize,
      signal: c.signal,
      progress: (done, total) =>
        c.emit({ type: 'progress', id: c.id, phase: 'latency', done, total, samplesPerSecond: null, etaSeconds: null }),
    });
    return {
      latency,
      info: (s) => ({
        ...s,
        source: 'measured',
        note: `Measured latency, ms per sample at batch ${batchSize} on ${base.provider.toUpperCase()} (static MACs stay in the per-exit table).`,
        measured: { ...base, method: latency.method, unavailable: null },
      }),
    };
  } catch (err) {
    throwIfCancelled(c.signal);
    return unavailable(`timing a pruned exit graph failed (${(err as Error).message.split('\n')[0]}).`);
  }
}

/** Profiles a model on a sample set (and an optional calibration set) into a report. */
export async function runProfile(
  req: ProfileRequest,
  emit: Emit,
  signal?: AbortSignal,
  hooks: RunHooks = {},
): Promise<Report> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const log = (message: string, level: 'info' | 'warn' | 'error' = 'info') =>
    emit({ type: 'log', id: req.id, level, message });
  validateCommon(req);
  const batchSize = req.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ExitLensError(
      'bad-argument',
      `Batch size ${req.batchSize} is not a positive integer.`,
      'Use --batch 1 or more (default 64).',
    );
  }
  if (req.cost !== undefined && req.cost !== 'static' && req.cost !== 'measured')
    throw new ExitLensError(
      'bad-argument',
      `Cost "${req.cost}" is not one Exit Lens knows.`,
      'Give --cost static (MACs read from the graph, the default) or --cost measured (per-exit latency timed on the execution provider).',
    );
  if (req.cost === 'measured' && req.exitCosts)
    throw new ExitLensError(
      'bad-argument',
      '--cost measured and --exit-costs both give the costs.',
      'Drop one: --exit-costs for costs of your own, --cost measured to time each exit here.',
    );
  const providers = parseProviders(req.executionProviders);
  const explicitProviders = providersExplicit(req.executionProviders);
  const gpuPrecision = parseGpuPrecision(req.gpuPrecision);
  if (req.threads !== undefined && !(Number.isInteger(req.threads) && req.threads >= 1)) {
    throw new ExitLensError(
      'bad-argument',
      `Thread count ${req.threads} is not a positive integer.`,
      'Use --threads 1 or more (default: all cores).',
    );
  }
  // More threads than the machine runs at once only slow ONNX Runtime down, and tens of
  // thousands never finish starting: bounded, and said so.
  const { threads, note: threadsNote } = boundThreads(req.threads ?? defaultThreads());
  if (threadsNote) log(threadsNote, 'warn');
  const limit = memoryLimit(req.maxMemory);
  const mapping = req.exits ? parseExitMapping(req.exits) : undefined;
  const modelPath = path.resolve(req.modelPath);
  const modelBytes = readModelFile(modelPath);
  const proto = decodeModelProto(modelBytes, modelPath);
  const model = modelInfoFromProto(proto, modelPath);
  const dataFiles = checkExternalData(model);
  log(`Model ${modelPath}: ${model.nodeCount} nodes, ${model.parameterCount} parameters, opset ${model.opset}.`);
  hooks.inputFiles?.([
    { label: 'the model', file: modelPath },
    ...dataFiles.map((file) => ({ label: "the model's external data", file })),
    { label: 'the sample set', file: path.resolve(req.samplesPath) },
    ...(req.calibPath ? [{ label: 'the calibration set', file: path.resolve(req.calibPath) }] : []),
  ]);
  const warnings: ReportWarning[] = [];
  const main = await openSet(path.resolve(req.samplesPath), model, req.labelName);
  let calib: SetRun | null = null;
  const setSampleCount = main.binding.sampleCount;
  try {
    // --shard i/n: this shard's samples only (core/shards.ts).
    if (req.shard) main.binding = shardBinding(main.binding, req.shard, main.file.path, req.calibPath);
    if (req.calibPath) calib = await openSet(path.resolve(req.calibPath), model, req.labelName);
    const step = main.binding.fixedBatch ?? batchSize;
    // Before the first batch is read: at least two exits' records.
    checkProfileMemory(req, limit, modelBytes.length, main, calib, step, 2);
    for (const b of main.binding.inputs.filter((x) => x.cast)) {
      warnings.push({
        code: 'input-cast',
        message: `Array "${b.array.name}" (${b.array.header.dtype}) is cast to ${b.input.dtype} for input "${b.input.name}"${b.array.header.dtype === 'uint8' && b.input.dtype.startsWith('float') ? ' without rescaling (values stay 0..255)' : ''}.`,
      });
    }
    if (main.binding.unusedArrays.length) log(`Arrays not used: ${main.binding.unusedArrays.join(', ')}.`);
    throwIfCancelled(signal);

    // Shapes for costs and exits: one run at batch 1 (or the model's fixed batch).
    const o = loadOrt();
    const probeBatch = main.binding.fixedBatch ?? 1;
    const probeReader = await BatchReader.open(main.binding);
    let probeData: NumericArray[];
    try {
      probeData = await probeReader.next(Math.min(probeBatch, main.binding.sampleCount));
    } finally {
      await probeReader.close();
    }
    if (main.binding.sampleCount < probeBatch) probeData = padRows(probeData, main.binding.sampleCount, probeBatch);
    const tCost = Date.now();
    emit({
      type: 'progress',
      id: req.id,
      phase: 'costing',
      done: 0,
      total: 1,
      samplesPerSecond: null,
      etaSeconds: null,
    });
    const discovery = await discoverShapes(
      model,
      proto,
      modelBytes,
      feedsFor(o, main.binding, probeData, probeBatch),
      probeBatch,
    );
    // A decoder (token ids in, logits per position out) is profiled per token position (tokens.ts).
    const tokenInputs = tokenSource(main.binding, null);
    const tokenMode = tokenInputs !== null && perTokenOutputs(discovery.outputShapes, probeBatch, tokenInputs.length);
    // The labels are read per token only once the exits are known to be per token.
    const tokens = tokenMode ? tokenSource(main.binding, main.binding.labels) : null;
    if (req.vocabPath && !tokens && !req.vocabFound)
      throw new ExitLensError(
        'bad-argument',
        'A vocabulary (--vocab) was given, but the model is not a decoder with token exits.',
        'Leave out --vocab: it names the tokens of a language model.',
      );
    const vocab = req.vocabPath && tokens ? await readVocab(path.resolve(req.vocabPath)) : null;
    let layout: ExitLayout;
    let plan: ExitPlan;
    let tokenPlan: TokenPlan | null = null;
    if (tokens && tokenMode) {
      layout = detectTokenExits(model, mapping, discovery.outputShapes, probeBatch, tokens.length);
      plan = tokenPlan = planTokenExits(layout, discovery.outputShapes, tokens.length);
      log(
        `Token exits (${layout.orderedBy}): ${plan.names.join(', ')}; vocabulary ${plan.classCount}, ${tokens.length} tokens per sequence.`,
      );
    } else {
      checkClassLabels(main.binding);
      if (calib) checkClassLabels(calib.binding);
      layout = detectExits(model, mapping, discovery.outputShapes, probeBatch);
      plan = planExits(model, layout, discovery.outputShapes);
      log(`Exits (${layout.orderedBy}): ${plan.names.join(', ')}; ${plan.classCount} classes.`);
    }
    const cost = costForExits(model, plan, discovery.shapes, probeBatch, req.exitCosts, warnings);
    if (tokenPlan && cost.info.source === 'static') perToken(cost, tokenPlan.length);
    timings.costingSeconds = (Date.now() - tCost) / 1000;
    throwIfCancelled(signal);

    // Token positions (and their labels: the next token, or the labels array) before the records.
    if (tokens && tokenPlan) {
      // Before the positions are read: their index (a label and a t, 8 bytes each) at its largest,
      // every position of every sequence valid; the exact records are checked once it is known.
      const most = (sequences: number) => sequences * Math.max(0, tokens.length - 1);
      const positions = most(tokens.sequences) + (calib ? most(calib.binding.sampleCount) : 0);
      checkProfileMemory(req, limit, modelBytes.length, main, calib, step, plan.exitCount, {
        extra: {
          what: `the token positions' index (at most ${positions.toLocaleString('en-US')} positions)`,
          bytes: 8 * positions,
        },
      });
    }
    const mainPositions = tokens && tokenPlan ? await tokenPositions(tokens, tokenPlan.classCount) : null;
    const calibTokens = calib && tokenPlan ? tokenSource(calib.binding, calib.binding.labels) : null;
    if (calib && tokenPlan && !calibTokens)
      throw new ExitLensError(
        'samples-mismatch',
        `The calibration set ${calib.file.path} has no token ids for the decoder.`,
        'Give a calibration set tokenized like the sample set (input_ids and attention_mask).',
      );
    const calibPositions = calibTokens && tokenPlan ? await tokenPositions(calibTokens, tokenPlan.classCount) : null;
    // The exits are known: the whole estimate, before the labels and the records are allocated.
    const sequenceBatch = tokenPlan ? tokenBatch(batchSize, tokenPlan) : null;
    checkProfileMemory(req, limit, modelBytes.length, main, calib, step, plan.exitCount, {
      main: mainPositions?.count,
      calib: calibPositions?.count,
      // ONNX Runtime returns every exit's logits of a batch at once; at its peak a run holds
      // about three times that (tokenRun.ts TOKEN_LOGITS_BUDGET).
      extraHint:
        "A decoder's logits over its whole vocabulary are what takes the memory: profile shorter sequences (fewer tokens each), a smaller --batch, or raise --max-memory on a machine that has it.",
      extra:
        tokenPlan && sequenceBatch
          ? {
              what: `one batch's logits at their peak (about 3 × ${plan.exitCount} exits × ${sequenceBatch.batch} sequence${sequenceBatch.batch === 1 ? '' : 's'} × ${tokenPlan.length} tokens × ${plan.classCount.toLocaleString('en-US')} × 4 bytes)`,
              bytes: 3 * plan.exitCount * sequenceBatch.batch * tokenPlan.length * plan.classCount * 4,
            }
          : undefined,
    });

    const labels = mainPositions
      ? mainPositions.labels
      : main.binding.labels
        ? await readLabels(main.binding.labels, plan.classCount)
        : null;
    const calibLabels = calibPositions
      ? calibPositions.labels
      : calib?.binding.labels
        ? await readLabels(calib.binding.labels, plan.classCount)
        : null;
    if (sequenceBatch?.note) {
      log(sequenceBatch.note);
      warnings.push({ code: 'token-batch', message: sequenceBatch.note });
    }
    /** One set's records: per sample, or per token position for a decoder. */
    const runSet = (
      session: ort.InferenceSession,
      set: SetRun,
      setLabels: Int32Array | null,
      positions: TokenPositions | null,
      setTokens: TokenSource | null,
      phase: 'inference' | 'calibration',
      dd?: Drilldown,
    ): Promise<ExitRecords> => {
      if (!positions || !setTokens || !tokenPlan || !sequenceBatch)
        return inferRecords(
          session,
          set,
          plan,
          batchSize,
          setLabels,
          new Progress(emit, req.id, phase, set.binding.sampleCount),
          signal,
          dd,
        );
      const progress = new Progress(emit, req.id, phase, positions.count);
      return inferTokenRecords({
        session,
        binding: set.binding,
        source: setTokens,
        positions,
        plan: tokenPlan,
        batch: sequenceBatch.batch,
        feeds: (data, rows) => {
          const fed = set.binding.fixedBatch ?? rows;
          return feedsFor(o, set.binding, fed > rows ? padRows(data, rows, fed) : data, fed);
        },
        logitsOf,
        runError: (err, first, rows) =>
          new ExitLensError(
            'inference-failed',
            `ONNX Runtime failed on sequences ${first}..${first + rows - 1}: ${ortRunMessage(err)}`,
            'Check the sample set against the model inputs; a smaller batch (--batch) needs less memory.',
          ),
        progress: (done, force) => progress.report(done, force),
        signal,
        drilldown: dd,
      });
    };

    const tSession = Date.now();
    // Session creation holds the thread in native code: announced, so that Ctrl-C still works (blocking.ts).
    const opened = await blockingCall(() =>
      createSessionWithFallback({ model: modelPath }, providers, threads, {
        log: (m) => log(m),
        explicit: explicitProviders,
        gpuPrecision,
        deviceId: req.deviceId,
      }),
    );
    if (signal?.aborted) {
      await opened.session.release();
      throwIfCancelled(signal);
    }
    const providerInfo: ExecutionProviderInfo = opened.info;
    emit({ type: 'provider', id: req.id, info: providerInfo });
    // A provider the user asked for and did not get is a warning; the default order falling back
    // to the CPU is not (the report's provider line says why, in executionProvider.attempts).
    if (providerInfo.explicit) {
      for (const a of providerInfo.attempts.filter((x) => !x.ok)) {
        warnings.push({
          code: 'provider-fallback',
          message: `Execution provider ${a.provider.toUpperCase()} was not used: ${a.reason?.replace(/\.$/, '')}; ran on ${providerInfo.used.toUpperCase()} instead.${a.nextStep ? ` ${a.nextStep}` : ''}`,
        });
      }
    }
    timings.sessionSeconds = (Date.now() - tSession) / 1000;
    let records: ExitRecords;
    let calibRecords: ExitRecords | null = null;
    const drilldown: Drilldown = { destructiveCount: 0, samples: [] };
    try {
      const tInfer = Date.now();
      records = await runSet(opened.session, main, labels, mainPositions, tokens, 'inference', drilldown).catch(
        (err: unknown) => {
          throw withRunHint(err, providerInfo);
        },
      );
      timings.inferenceSeconds = (Date.now() - tInfer) / 1000;
      if (calib) {
        const tCal = Date.now();
        calibRecords = await runSet(
          opened.session,
          calib,
          calibLabels,
          calibPositions,
          calibTokens,
          'calibration',
        ).catch((err: unknown) => {
          throw withRunHint(err, providerInfo);
        });
        timings.calibrationSeconds = (Date.now() - tCal) / 1000;
      }
    } finally {
      await opened.session.release();
    }
    throwIfCancelled(signal);
    let measured: MeasuredCost | null = null;
    if (req.cost === 'measured') {
      const tLatency = Date.now();
      measured = await measuredCost(
        { o, model, modelBytes, plan, main, batchSize, threads, providerInfo, emit, id: req.id, signal },
        warnings,
      );
      timings.latencySeconds = (Date.now() - tLatency) / 1000;
    }
    const tAnalysis = Date.now();
    // The policies' costs are the measured ones where measured; the per-exit table keeps the MACs.
    const result = await analyzeRun(
      emit,
      req.id,
      signal,
      {
        records,
        calibration: calibRecords,
        exitNames: plan.names,
        exitMacs: measured?.latency ? measured.latency.exits.map((l) => l.batch) : cost.exitMacs,
        baselineMacs: measured?.latency ? measured.latency.baseline.batch : cost.baselineMacs,
        maxAccuracyDrop: req.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP,
        risk: riskOptions(req),
      },
      cost,
    );
    if (measured?.latency) {
      for (const e of result.exits) e.latency = measured.latency.exits[e.index];
      // The frontier by MACs too, for the report's MACs axis.
      const { confidence, entropy, margin, patience } = result.curves;
      result.curves.macsFrontier = macsFrontier(
        { confidence, entropy, margin, patience },
        cost.exitMacs,
        records.labels !== null,
      );
    }
    timings.analysisSeconds = (Date.now() - tAnalysis) / 1000;
    timings.totalSeconds = (Date.now() - t0) / 1000;
    const tokenView =
      tokens && mainPositions
        ? await tokenViewOf(
            records,
            mainPositions,
            tokens,
            vocab?.tokens ?? null,
            vocab ? path.resolve(req.vocabPath!) : null,
          )
        : undefined;
    const parts: ReportParts = {
      model: {
        path: model.path,
        inputs: model.inputs,
        outputs: model.outputs,
        opset: model.opset,
        irVersion: model.irVersion,
        producer: model.producer,
        nodeCount: model.nodeCount,
        parameterCount: model.parameterCount,
        usesExternalData: model.usesExternalData,
        exitLayout:
          layout.kind === 'per-output'
            ? { kind: 'per-output', outputs: layout.outputs, orderedBy: layout.orderedBy, ...tokenFlag(layout) }
            : {
                kind: 'stacked',
                outputs: [layout.output],
                layout: layout.layout,
                orderedBy: layout.orderedBy,
                ...tokenFlag(layout),
              },
      },
      logitsFile: null,
      executionProvider: providerInfo,
      samplesPath: main.file.path,
      labelArray: main.binding.labels?.name ?? null,
      inputs: bindingInfo(main.binding),
      records,
      calibrationPath: calib?.file.path ?? null,
      result,
      exitCount: plan.exitCount,
      classCount: plan.classCount,
      baselineMacs: cost.baselineMacs,
      cost: measured ? measured.info(cost.info) : cost.info,
      drilldown: labels ? drilldown : null,
      maxAccuracyDrop: req.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP,
      batchSize: main.binding.fixedBatch ?? batchSize,
      warnings,
      timings,
      includeRecords: Boolean(req.includeRecords),
      baselineLatency: measured?.latency?.baseline,
      tokenView,
      tokens:
        tokens && mainPositions
          ? {
              sequences: tokens.sequences,
              length: tokens.length,
              positions: mainPositions.count,
              labels: tokens.labels ? 'labels-array' : 'next-token',
              mask: tokens.mask?.input.name ?? null,
              calibration:
                calibTokens && calibPositions
                  ? { sequences: calibTokens.sequences, positions: calibPositions.count }
                  : null,
            }
          : undefined,
    };
    const shard = req.shard ?? { index: 0, count: 1 };
    await hooks.shardRecords?.({
      parts,
      modelBytes,
      externalData: dataFiles,
      exitMacs: cost.exitMacs,
      shard: { ...shard, ...shardRange(shard, setSampleCount), setSampleCount },
    });
    return assembleReport(parts);
  } finally {
    await main.file.close();
    await calib?.file.close();
  }
}

/** Runs one request and reports its end as a result or error event; never throws. */
export async function handleRequest(
  req: ProfileRequest | AnalyzeRequest | MergeRequest,
  emit: Emit,
  signal?: AbortSignal,
  hooks?: RunHooks,
): Promise<Report | null> {
  try {
    const report =
      req.type === 'profile'
        ? await runProfile(req, emit, signal, hooks)
        : req.type === 'merge'
          ? await runMerge(req, emit, signal)
          : await runAnalyze(req, emit, signal);
    emit({ type: 'result', id: req.id, report });
    return report;
  } catch (err) {
    if (err instanceof ExitLensError) {
      emit({
        type: 'error',
        id: req.id,
        code: err.code,
        message: err.message,
        hint: err.hint,
        userError: err.isUserError,
      });
    } else {
      emit({
        type: 'error',
        id: req.id,
        code: 'internal',
        message: `Internal error: ${describeError(err)}`,
        hint: 'Please report this with the log.',
        userError: false,
      });
      emit({ type: 'log', id: req.id, level: 'error', message: (err as Error)?.stack ?? String(err) });
    }
    return null;
  }
}
