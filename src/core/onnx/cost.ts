import { GraphNode, ModelInfo } from './model';

/**
 * Static cost in multiply-accumulates per sample (docs/metrics.md "Cost"):
 * Conv/ConvTranspose = output elements × (C_in / groups) × kernel elements;
 * Gemm/MatMul = M × N × K (batched MatMul times the batch dims); every other op 0.
 */
export const COUNTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** Ops that do heavy arithmetic but count 0 under the definition: the report names them. */
const HEAVY_UNCOUNTED_OPS = new Set([
  'Einsum',
  'Attention',
  'MultiHeadAttention',
  'LSTM',
  'GRU',
  'RNN',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulInteger',
  'ConvInteger',
  'FusedConv',
  'FusedMatMul',
  'FusedGemm',
  'MatMulNBits',
  'Loop',
  'Scan',
  'If',
]);

export interface NodeCost {
  node: number;
  macs: number;
}

export interface UncostedNode {
  name: string;
  opType: string;
  reason: string;
}

export interface CostResult {
  /** MACs per node index (0 for ops that do not count). */
  nodeMacs: Float64Array;
  uncosted: UncostedNode[];
  /** Compute-heavy ops that the definition counts as 0, with how many of each. */
  uncountedOps: Record<string, number>;
}

/** Tensors whose shapes the MAC formulas read, for the nodes that count. */
export function tensorsNeededForCost(model: ModelInfo): string[] {
  const need = new Set<string>();
  for (const n of model.nodes) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    if (n.opType === 'Conv' || n.opType === 'ConvTranspose') {
      need.add(n.outputs[0]);
      need.add(n.inputs[1]);
    } else if (n.opType === 'Gemm') {
      need.add(n.outputs[0]);
      need.add(n.inputs[0]);
    } else if (n.opType === 'MatMul') {
      need.add(n.outputs[0]);
      need.add(n.inputs[0]);
    }
  }
  return [...need].filter((t) => t && !model.initializerShapes.has(t));
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function nodeLabel(n: GraphNode): string {
  return n.name || `${n.opType}#${n.index}`;
}

/**
 * MACs of every node, from tensor shapes at batch 1. `shapes` holds intermediate and input
 * shapes (from the file's value_info or a batch-1 run); initializer shapes come from the model.
 */
export function nodeCosts(model: ModelInfo, shapes: Map<string, readonly number[]>): CostResult {
  const nodeMacs = new Float64Array(model.nodes.length);
  const uncosted: UncostedNode[] = [];
  const uncountedOps: Record<string, number> = {};
  const shapeOf = (t: string): readonly number[] | undefined => model.initializerShapes.get(t) ?? shapes.get(t);
  for (const n of model.nodes) {
    const standard = !n.domain || n.domain === 'ai.onnx';
    if (!standard || !COUNTED_OPS.has(n.opType)) {
      if (HEAVY_UNCOUNTED_OPS.has(n.opType) || (!standard && /conv|matmul|gemm|attention/i.test(n.opType))) {
        uncountedOps[n.opType] = (uncountedOps[n.opType] ?? 0) + 1;
      }
      continue;
    }
    const y = shapeOf(n.outputs[0]);
    const miss = (what: string) =>
      uncosted.push({ name: nodeLabel(n), opType: n.opType, reason: `shape of ${what} unknown` });
    if (!y) {
      miss(`output "${n.outputs[0]}"`);
      continue;
    }
    if (n.opType === 'Conv' || n.opType === 'ConvTranspose') {
      const w = shapeOf(n.inputs[1]);
      if (!w || w.length < 3) {
        miss(`weight "${n.inputs[1]}"`);
        continue;
      }
      const groups = typeof n.attributes.group === 'number' ? n.attributes.group : 1;
      // Conv weight is [M, C_in/groups, k...]; ConvTranspose weight is [C_in, M/groups, k...].
      const cinPerGroup = n.opType === 'Conv' ? w[1] : w[0] / groups;
      nodeMacs[n.index] = product(y) * cinPerGroup * product(w.slice(2));
    } else if (n.opType === 'Gemm') {
      const a = shapeOf(n.inputs[0]);
      if (!a || a.length !== 2) {
        miss(`input "${n.inputs[0]}"`);
        continue;
      }
      const transA = n.attributes.transA === 1;
      const k = transA ? a[0] : a[1];
      nodeMacs[n.index] = product(y) * k;
    } else {
      const a = shapeOf(n.inputs[0]);
      if (!a || a.length < 1) {
        miss(`input "${n.inputs[0]}"`);
        continue;
      }
      // Y = [...batch, M, N] and K = A's last dim, so M × N × K × batch = |Y| × K.
      nodeMacs[n.index] = product(y) * a[a.length - 1];
    }
  }
  return { nodeMacs, uncosted, uncountedOps };
}

function producers(model: ModelInfo): Map<string, GraphNode> {
  const m = new Map<string, GraphNode>();
  for (const n of model.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/**
 * For each node, the first exit whose output depends on it (or -1): cost(k) sums the nodes
 * whose first exit is at most k, which is the union of the ancestors of exits 0..k.
 */
export function firstDependentExit(model: ModelInfo, exitTensors: readonly string[]): Int32Array {
  const producedBy = producers(model);
  const first = new Int32Array(model.nodes.length).fill(-1);
  exitTensors.forEach((tensor, k) => {
    const stack = [tensor];
    while (stack.length) {
      const t = stack.pop()!;
      const n = producedBy.get(t);
      if (!n || first[n.index] !== -1) continue;
      first[n.index] = k;
      for (const i of n.inputs) if (i) stack.push(i);
    }
  });
  return first;
}

export function ancestorNodes(model: ModelInfo, tensor: string): Set<number> {
  const producedBy = producers(model);
  const seen = new Set<number>();
  const stack = [tensor];
  while (stack.length) {
    const t = stack.pop()!;
    const n = producedBy.get(t);
    if (!n || seen.has(n.index)) continue;
    seen.add(n.index);
    for (const i of n.inputs) if (i) stack.push(i);
  }
  return seen;
}

export interface ExitCosts {
  /** cost(k): MACs of the union of the ancestors of exits 0..k. */
  exitMacs: number[];
  /** MACs of the ancestors of the final exit alone: the model without early exits. */
  baselineMacs: number;
}

export function exitCosts(model: ModelInfo, exitTensors: readonly string[], nodeMacs: Float64Array): ExitCosts {
  const first = firstDependentExit(model, exitTensors);
  const perExit = new Float64Array(exitTensors.length);
  for (let i = 0; i < first.length; i++) if (first[i] >= 0) perExit[first[i]] += nodeMacs[i];
  const exitMacs: number[] = [];
  let running = 0;
  for (let k = 0; k < perExit.length; k++) {
    running += perExit[k];
    exitMacs.push(running);
  }
  let baselineMacs = 0;
  for (const i of ancestorNodes(model, exitTensors[exitTensors.length - 1])) baselineMacs += nodeMacs[i];
  return { exitMacs, baselineMacs };
}

const PASS_THROUGH = new Set(['Identity', 'Cast', 'Transpose', 'Reshape']);
/**
 * Ops of no MACs that keep every element where it is (elementwise, or along the class axis):
 * applied to the stack with constants, each exit's values stay in its place. Ops that select,
 * reorder or repeat (Gather, Slice, Split, Tile…) are not among them: they could move exits.
 */
const IN_PLACE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Neg',
  'Abs',
  'Exp',
  'Log',
  'Sqrt',
  'Reciprocal',
  'Clip',
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Erf',
  'Softmax',
  'LogSoftmax',
  'Dropout',
]);
const UNSTACK = new Set(['Unsqueeze', 'Reshape', 'Identity', 'Cast']);

/**
 * Traces each exit of a stacked output [N,E,C] / [E,N,C] to its own tensor through the
 * Concat (or Unsqueeze + Concat, as torch.stack exports) that builds the stack. Between the
 * stack and the output there may be a transpose or reshape, and ops of no MACs that keep each
 * element in place (IN_PLACE: a temperature, an offset, a softmax) with constants as their
 * other inputs. Returns null when the stack is not built that way (for instance a classifier
 * shared by the exits after the stack, whose MACs belong to no one exit, or a Gather or Slice
 * that could move exits).
 */
export function traceStackedExits(model: ModelInfo, output: string, exitCount: number): string[] | null {
  const producedBy = producers(model);
  const constant = (t: string) => model.initializerShapes.has(t) || producedBy.get(t)?.opType === 'Constant';
  let node = producedBy.get(output);
  for (let steps = 0; node && node.opType !== 'Concat' && steps < model.nodes.length; steps++) {
    if (PASS_THROUGH.has(node.opType)) {
      node = producedBy.get(node.inputs[0]);
      continue;
    }
    const standard = !node.domain || node.domain === 'ai.onnx';
    if (!standard || !IN_PLACE.has(node.opType)) return null;
    const path = node.inputs.filter((t) => t && !constant(t));
    if (path.length !== 1) return null;
    node = producedBy.get(path[0]);
  }
  if (!node || node.opType !== 'Concat') return null;
  const parts = node.inputs.filter(Boolean);
  if (parts.length !== exitCount) return null;
  return parts.map((t) => {
    const p = producedBy.get(t);
    return p && UNSTACK.has(p.opType) ? p.inputs[0] : t;
  });
}
