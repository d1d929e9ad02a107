import { Writer } from 'protobufjs/minimal';
import {
  DTYPE,
  NodeSpec,
  TensorSpec,
  initializerChunks,
  namedOutputField,
  nodeField,
  rawOf,
  valueInfoField,
} from './graphWriter';
import type { ModelInfo } from './model';
import { GRAPH_OUTPUT, MODEL_GRAPH, VALUE_INFO_NAME, fieldsOf, stringField } from './prune';

/**
 * Exit statistics computed inside the graph (docs/metrics.md "Statistics in the graph"). To a
 * copy of the model, for each logits tensor (an exit's output [..., C], or a stack of exits), are
 * appended the nodes that reduce it over its last axis to what the per-sample records need, so
 * that the execution provider computes them and only tensors without the class axis reach
 * JavaScript:
 *
 * - `top` [..., 2] and `idx` [..., 2]: TopK(2), the largest and second-largest logit (m, z2) and
 *   the index of the largest (ONNX's TopK puts the lower index first among equal values: the
 *   argmax with ties to the lowest class);
 * - `min` [..., 1]: the smallest logit (with m, whether the row is finite, and the largest |z − m|);
 * - `r` [...]: Σ over c ≠ argmax of exp(z_c − m), in float64 (the softmax's sum is s = 1 + r);
 * - `t` [...]: Σ_c exp(z_c − m)·(z_c − m), in float64 (the entropy is (ln s − t/s) / ln C);
 * - `zy` [..., 1]: the label's logit, when labels are fed (GatherElements);
 * - `rows` [k, C]: the logits of the rows (flat indices over the leading axes) fed in `rows`, for
 *   the samples whose exact figures are recomputed in float64 from their logits.
 *
 * With precision `f32` the differences and exponentials are the logits' float32 and only the sums
 * are float64; with `f64` everything after TopK is float64. What each costs in error is bounded in
 * core/records/statisticsRecords.ts. The exit outputs themselves are removed from the graph's outputs, so
 * ONNX Runtime frees each exit's logits once its statistics are computed (a declared output that is
 * not fetched is still kept), and the graph's own outputs that are not exits stay.
 *
 * The model's bytes are copied field by field as prune.ts does (nothing re-encoded, external data
 * stays a reference); the new nodes use the model's own opset (13 or later).
 */

export type StatisticsPrecision = 'f32' | 'f64';

/** How the fed labels line up with a logits tensor's leading axes. */
export interface LabelAlignment {
  /**
   * Axes to insert into the labels tensor (shape [B] for a classifier, [B, T] for a decoder) to
   * line it up with the logits' leading axes and the class axis: [1] for [B, C]; [1, 2] for a
   * stack [B, E, C]; [0, 2] for [E, B, C]; [2] for [B, T, V]; [1, 3] for [B, E, T, V]; [0, 3]
   * for [E, B, T, V]. The result is expanded to the logits' shape with a class axis of 1.
   */
  unsqueeze: number[];
}

export interface StatisticsTarget {
  /** A graph output holding logits over its last axis. */
  output: string;
  /** Its element type: float32, float16 or float64. */
  dtype: string;
  labels?: LabelAlignment;
}

export interface StatisticsGraphOptions {
  precision: StatisticsPrecision;
  /** Whether a labels input (int64, [B] or [B, T]) is added. */
  labels: boolean;
  /** Graph outputs to drop (the exits: their statistics replace them). */
  dropOutputs: readonly string[];
  /** Tensors whose run-time shape is reported by a Shape node each (for the cost's formulas). */
  shapeOf?: readonly string[];
}

/** What a target's statistics are called in the edited graph. */
export interface TargetOutputs {
  top: string;
  idx: string;
  min: string;
  r: string;
  t: string;
  zy: string | null;
  rows: string;
}

export interface StatisticsGraph {
  /** The edited model, as chunks (views of the model's bytes and new parts) to write one after the other. */
  chunks: Uint8Array[];
  targets: TargetOutputs[];
  /** The labels input (int64, [B] or [B, T]), when asked for. */
  labelsInput: string | null;
  /** The rows input (int64 [k]): flat indices over a target's leading axes; [0] for none. */
  rowsInput: string;
  /** Shape outputs, by the tensor they describe. */
  shapes: Map<string, string>;
}

/** Lowest opset the appended nodes are written for (Unsqueeze and ReduceSum take their axes as inputs). */
export const STATISTICS_MIN_OPSET = 13;

/** Why a model's statistics cannot be computed in its graph, or null when they can. */
export function statisticsUnsupported(model: ModelInfo, targets: readonly StatisticsTarget[]): string | null {
  if (model.opset < STATISTICS_MIN_OPSET)
    return `the model's opset is ${model.opset}; statistics in the graph need opset ${STATISTICS_MIN_OPSET} or later`;
  const bad = targets.find((t) => !['float32', 'float16', 'float64'].includes(t.dtype));
  if (bad) return `exit output "${bad.output}" has type ${bad.dtype}, not float32, float16 or float64`;
  return null;
}

/** Graph-building state: unique names, nodes and initializers. */
class Builder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorSpec[] = [];
  private count = 0;
  constructor(
    private readonly taken: Set<string>,
    readonly opset: number,
  ) {}
  name(hint: string): string {
    let n = `exit_lens/${hint}`;
    while (this.taken.has(n)) n = `exit_lens/${hint}_${++this.count}`;
    this.taken.add(n);
    return n;
  }
  node(opType: string, inputs: string[], hint: string, attributes?: NodeSpec['attributes'], outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, (_, i) => this.name(outputs === 1 ? hint : `${hint}_${i}`));
    this.nodes.push({ opType, inputs, outputs: outs, name: this.name(`${hint}_node`), attributes });
    return outs;
  }
  one(opType: string, inputs: string[], hint: string, attributes?: NodeSpec['attributes']): string {
    return this.node(opType, inputs, hint, attributes)[0];
  }
  constant(hint: string, dtype: number, dims: number[], values: number[]): string {
    const name = this.name(hint);
    this.initializers.push({ name, dtype, dims, raw: rawOf(dtype, values) });
    return name;
  }
  /** A reduction over the last axis, in the form the opset takes (axes an input from opset 18, 13 for ReduceSum). */
  reduce(op: 'ReduceSum' | 'ReduceMin', x: string, keepdims: 0 | 1, hint: string, lastAxis: string): string {
    const axesAsInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    if (axesAsInput) return this.one(op, [x, lastAxis], hint, { keepdims: { i: keepdims } });
    return this.one(op, [x], hint, { axes: { ints: [-1] }, keepdims: { i: keepdims } });
  }
}

/** Every tensor name in the model (node inputs and outputs, graph inputs, outputs and initializers). */
function tensorNames(model: ModelInfo): Set<string> {
  const names = new Set<string>();
  for (const n of model.nodes) for (const t of [...n.inputs, ...n.outputs]) if (t) names.add(t);
  for (const t of [...model.inputs, ...model.outputs]) names.add(t.name);
  for (const t of model.initializerShapes.keys()) names.add(t);
  return names;
}

/** Appends one target's statistics; returns the names of its outputs. */
function appendTarget(
  b: Builder,
  target: StatisticsTarget,
  precision: StatisticsPrecision,
  c: {
    lastAxis: string;
    k2: string;
    first: string;
    second: string;
    minusOne: string;
    labels: string | null;
    rows: string;
  },
  i: number,
): TargetOutputs {
  // float16 logits are widened to float32 (exactly); float64 logits take the float64 path.
  let z = target.output;
  if (target.dtype === 'float16') z = b.one('Cast', [z], `${i}/z32`, { to: { i: DTYPE.float } });
  const wide = precision === 'f64' || target.dtype === 'float64';
  const [top, idx] = b.node('TopK', [z, c.k2], `${i}/top`, { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, 2);
  const m = b.one('Slice', [top, c.first, c.second, c.minusOne], `${i}/max`);
  const min = b.reduce('ReduceMin', z, 1, `${i}/min`, c.lastAxis);
  const eType = wide ? DTYPE.double : DTYPE.float;
  const toDouble = (x: string, hint: string) =>
    target.dtype === 'float64' ? x : b.one('Cast', [x], hint, { to: { i: DTYPE.double } });
  const diff = wide
    ? b.one('Sub', [toDouble(z, `${i}/z64`), toDouble(m, `${i}/max64`)], `${i}/d`)
    : b.one('Sub', [z, m], `${i}/d`);
  // The argmax's own term (exactly 1) is left out of r, so that r's rounding is relative to r
  // itself and a saturated sample keeps its precision: its difference is replaced by a value whose
  // exponential is 0 (and its product with it −0), in place of a mask over every class.
  const arg = b.one('Slice', [idx, c.first, c.second, c.minusOne], `${i}/arg`);
  const far = b.constant(`${i}/far`, eType, [1], [wide ? -1e300 : -3e38]);
  const farAtArg = b.one('Expand', [far, b.one('Shape', [arg], `${i}/arg_shape`)], `${i}/far_at_arg`);
  const d = b.one('ScatterElements', [diff, arg, farAtArg], `${i}/d_others`, { axis: { i: -1 } });
  const e = b.one('Exp', [d], `${i}/e`);
  const toSum = (x: string, hint: string) => (wide ? x : b.one('Cast', [x], hint, { to: { i: DTYPE.double } }));
  const r = b.reduce('ReduceSum', toSum(e, `${i}/e64`), 0, `${i}/r`, c.lastAxis);
  const ed = b.one('Mul', [e, d], `${i}/ed`);
  const t = b.reduce('ReduceSum', toSum(ed, `${i}/ed64`), 0, `${i}/t`, c.lastAxis);
  const shape = b.one('Shape', [z], `${i}/shape`);
  const classes = b.one('Gather', [shape, c.minusOne], `${i}/classes`, { axis: { i: 0 } });
  let zy: string | null = null;
  if (c.labels && target.labels) {
    const axes = b.constant(`${i}/label_axes`, DTYPE.int64, [target.labels.unsqueeze.length], target.labels.unsqueeze);
    const lifted = b.one('Unsqueeze', [c.labels, axes], `${i}/labels`);
    const leading = b.one('Slice', [shape, b.constant(`${i}/s0`, DTYPE.int64, [1], [0]), c.minusOne], `${i}/leading`);
    const indexShape = b.one(
      'Concat',
      [leading, b.constant(`${i}/one_dim`, DTYPE.int64, [1], [1])],
      `${i}/index_shape`,
      {
        axis: { i: 0 },
      },
    );
    const index = b.one('Expand', [lifted, indexShape], `${i}/label_index`);
    zy = b.one('GatherElements', [z, index], `${i}/zy`, { axis: { i: -1 } });
  }
  const flatShape = b.one('Concat', [b.constant(`${i}/minus1`, DTYPE.int64, [1], [-1]), classes], `${i}/flat_shape`, {
    axis: { i: 0 },
  });
  const flat = b.one('Reshape', [z, flatShape], `${i}/flat`);
  const rows = b.one('Gather', [flat, c.rows], `${i}/rows`, { axis: { i: 0 } });
  return { top, idx, min, r, t, zy, rows };
}

/**
 * The model with its statistics appended. `bytes` are the model file's bytes, `model` what was
 * decoded from them.
 */
export function statisticsGraph(
  bytes: Uint8Array,
  model: ModelInfo,
  targets: readonly StatisticsTarget[],
  options: StatisticsGraphOptions,
): StatisticsGraph {
  const why = statisticsUnsupported(model, targets);
  if (why) throw new Error(`Statistics in the graph: ${why}.`);
  const b = new Builder(tensorNames(model), model.opset);
  const lastAxis = b.constant('last_axis', DTYPE.int64, [1], [-1]);
  const consts = {
    lastAxis,
    k2: b.constant('k2', DTYPE.int64, [1], [2]),
    first: b.constant('first', DTYPE.int64, [1], [0]),
    second: b.constant('second', DTYPE.int64, [1], [1]),
    minusOne: lastAxis,
    labels: options.labels ? b.name('labels') : null,
    rows: b.name('rows'),
  };
  // Extra inputs, fed with every run (onnxruntime-node feeds no input that an initializer defaults).
  const extraInputs = [consts.rows, ...(consts.labels ? [consts.labels] : [])];
  const outs = targets.map((t, i) => appendTarget(b, t, options.precision, consts, i));
  const shapes = new Map<string, string>();
  for (const t of new Set(options.shapeOf ?? [])) shapes.set(t, b.one('Shape', [t], `shape/${t}`));

  // The graph: the model's fields without the dropped outputs, then the new parts.
  const drop = new Set(options.dropOutputs);
  const top = fieldsOf(bytes, 0, bytes.length);
  const head: Uint8Array[] = [];
  const graph: Uint8Array[] = [];
  for (const f of top) {
    if (f.no !== MODEL_GRAPH) {
      head.push(bytes.subarray(f.start, f.end));
      continue;
    }
    for (const g of fieldsOf(bytes, f.bodyStart, f.bodyEnd)) {
      if (g.no === GRAPH_OUTPUT && drop.has(stringField(bytes, g, VALUE_INFO_NAME) ?? '')) continue;
      graph.push(bytes.subarray(g.start, g.end));
    }
  }
  for (const n of b.nodes) graph.push(nodeField(n));
  for (const t of b.initializers) graph.push(...initializerChunks(t));
  for (const name of extraInputs) graph.push(valueInfoField(11, name, DTYPE.int64, null));
  const fetched = [
    ...outs.flatMap((o) => [o.top, o.idx, o.min, o.r, o.t, o.rows, ...(o.zy ? [o.zy] : [])]),
    ...shapes.values(),
  ];
  for (const name of fetched) graph.push(namedOutputField(name));
  const graphLength = graph.reduce((s, c) => s + c.length, 0);
  const graphHead = Writer.create()
    .uint32(((MODEL_GRAPH << 3) | 2) >>> 0)
    .uint32(graphLength)
    .finish();
  return {
    chunks: [...head, graphHead, ...graph],
    targets: outs,
    labelsInput: consts.labels,
    rowsInput: consts.rows,
    shapes,
  };
}
