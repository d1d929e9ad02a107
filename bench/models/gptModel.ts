import * as fs from 'node:fs';
import { mulberry32 } from '../../src/core/analysis/split';
import { AttributeValue, DTYPE, NodeSpec, TensorSpec, modelChunks, rawOf } from '../../src/core/onnx/graphWriter';

/**
 * The benchmark's GPT-2-shaped decoders, written with the project's own ONNX writer (no download,
 * no Python): token and position embeddings, `layers` pre-norm blocks of causal self-attention
 * (`heads` heads) and a 4x MLP, and an exit after every block through the final LayerNorm and the
 * LM head tied to the token embedding (logits_k = LN(h_k) · wteᵀ, [B, T, V]). Random weights,
 * seeded: speed and memory do not depend on them. `logitScale` sets how peaked the exits are: the
 * token embedding's standard deviation (GPT-2's initialisation uses 0.02, which leaves every
 * exit near uniform; PyTorch's nn.Embedding default, 1, gives peaked ones).
 */
export interface GptShape {
  layers: number;
  width: number;
  heads: number;
  vocab: number;
  /** Longest sequence (the position table). */
  positions: number;
  logitScale: number;
  seed?: number;
}

export const GPT2_SMALL: Omit<GptShape, 'logitScale'> = {
  layers: 12,
  width: 768,
  heads: 12,
  vocab: 50257,
  positions: 1024,
};
export const GPT_NARROW: Omit<GptShape, 'logitScale'> = {
  layers: 4,
  width: 256,
  heads: 4,
  vocab: 50257,
  positions: 1024,
};

class Graph {
  nodes: NodeSpec[] = [];
  inits: TensorSpec[] = [];
  private n = 0;
  constructor(private readonly rand: () => number) {}
  op(opType: string, inputs: string[], attributes?: Record<string, AttributeValue>, outputs = 1): string {
    const outs = Array.from({ length: outputs }, (_, i) => `t${this.n}_${i}`);
    this.nodes.push({ opType, inputs, outputs: outs, name: `${opType}_${this.n++}`, attributes });
    return outs[0];
  }
  ints(name: string, values: number[]): string {
    this.inits.push({ name, dtype: DTYPE.int64, dims: [values.length], raw: rawOf(DTYPE.int64, values) });
    return name;
  }
  scalar(name: string, value: number): string {
    this.inits.push({ name, dtype: DTYPE.float, dims: [], raw: rawOf(DTYPE.float, [value]) });
    return name;
  }
  /** A weight of uniform values with standard deviation `std` (centred), or a constant. */
  weight(name: string, dims: number[], std: number, constant?: number): string {
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (constant !== undefined) data.fill(constant);
    else {
      const half = std * Math.sqrt(3);
      for (let i = 0; i < size; i++) data[i] = (2 * this.rand() - 1) * half;
    }
    this.inits.push({ name, dtype: DTYPE.float, dims, raw: new Uint8Array(data.buffer) });
    return name;
  }
}

/** Writes the decoder to `file` (piece by piece: the weights are never one buffer). Returns the output names. */
export function writeGptModel(file: string, shape: GptShape): string[] {
  const { layers: L, width: D, heads: H, vocab: V } = shape;
  const g = new Graph(mulberry32(shape.seed ?? 20240924));
  const dh = D / H;
  const wte = g.weight('wte', [V, D], shape.logitScale);
  const wpe = g.weight('wpe', [shape.positions, D], 0.01);
  const axisLast = { axis: { i: -1 } };
  const norm = (name: string) => [g.weight(`${name}.g`, [D], 0, 1), g.weight(`${name}.b`, [D], 0, 0)];
  const ln = (x: string, weights: string[]) => g.op('LayerNormalization', [x, ...weights], axisLast);
  const lnF = norm('ln_f');
  const linear = (x: string, name: string, nIn: number, nOut: number) =>
    g.op('Add', [g.op('MatMul', [x, g.weight(`${name}.w`, [nIn, nOut], 0.02)]), g.weight(`${name}.b`, [nOut], 0, 0)]);
  // Positions 0..T-1 and the causal mask from the input's length.
  const zero = g.ints('zero', [0]);
  const one = g.ints('one', [1]);
  const T = g.op('Slice', [g.op('Shape', ['input_ids']), one, g.ints('two', [2])]);
  const positions = g.op('Range', [g.op('Squeeze', [zero]), g.op('Squeeze', [T]), g.op('Squeeze', [one])]);
  let h = g.op('Add', [g.op('Gather', [wte, 'input_ids']), g.op('Gather', [wpe, positions])]);
  const big = shape.positions;
  const tri = new Float32Array(big * big);
  for (let i = 0; i < big; i++) for (let j = i + 1; j < big; j++) tri[i * big + j] = -1e4;
  g.inits.push({ name: 'causal', dtype: DTYPE.float, dims: [big, big], raw: new Uint8Array(tri.buffer) });
  const mask = g.op('Slice', [
    'causal',
    g.ints('z2', [0, 0]),
    g.op('Concat', [T, T], { axis: { i: 0 } }),
    g.ints('ax01', [0, 1]),
  ]);
  const headShape = g.ints('head_shape', [0, 0, H, dh]);
  const flatShape = g.ints('flat_shape', [0, 0, D]);
  const scale = g.scalar('scale', 1 / Math.sqrt(dh));
  const wteT = g.op('Transpose', [wte], { perm: { ints: [1, 0] } });
  const outputs: string[] = [];
  const split = g.ints('split', [D, D, D]);
  for (let l = 0; l < L; l++) {
    const qkv = linear(ln(h, norm(`h${l}.ln1`)), `h${l}.attn.qkv`, D, 3 * D);
    const q0 = `t_q${l}`;
    const k0 = `t_k${l}`;
    const v0 = `t_v${l}`;
    g.nodes.push({
      opType: 'Split',
      inputs: [qkv, split],
      outputs: [q0, k0, v0],
      name: `split${l}`,
      attributes: axisLast,
    });
    const heads = (x: string, perm: number[]) =>
      g.op('Transpose', [g.op('Reshape', [x, headShape])], { perm: { ints: perm } });
    const q = heads(q0, [0, 2, 1, 3]);
    const k = heads(k0, [0, 2, 3, 1]);
    const v = heads(v0, [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), mask]);
    const attn = g.op('MatMul', [g.op('Softmax', [scores], axisLast), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [attn], { perm: { ints: [0, 2, 1, 3] } }), flatShape]);
    h = g.op('Add', [h, linear(merged, `h${l}.attn.proj`, D, D)]);
    const up = linear(ln(h, norm(`h${l}.ln2`)), `h${l}.mlp.fc`, D, 4 * D);
    // GELU as x·σ(1.702x) (a standard approximation; opset 17 has no Gelu).
    const act = g.op('Mul', [up, g.op('Sigmoid', [g.op('Mul', [up, g.scalar(`gelu${l}`, 1.702)])])]);
    h = g.op('Add', [h, linear(act, `h${l}.mlp.proj`, 4 * D, D)]);
    const name = `logits_${l}`;
    g.nodes.push({ opType: 'MatMul', inputs: [ln(h, lnF), wteT], outputs: [name], name: `lm_head_${l}` });
    outputs.push(name);
  }
  const chunks = modelChunks({
    opset: 17,
    producer: 'exit-lens bench',
    nodes: g.nodes,
    initializers: g.inits,
    inputs: [{ name: 'input_ids', dtype: DTYPE.int64, shape: ['batch', 'tokens'] }],
    outputs: outputs.map((name) => ({ name, dtype: DTYPE.float, shape: ['batch', 'tokens', V] })),
  });
  const fd = fs.openSync(file, 'w');
  try {
    for (const c of chunks) fs.writeSync(fd, c);
  } finally {
    fs.closeSync(fd);
  }
  return outputs;
}
