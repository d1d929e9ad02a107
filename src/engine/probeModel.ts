import { Writer } from 'protobufjs/minimal';

/**
 * A tiny ONNX model for checking that a provider starts and computes: y = softmax(x · W) with
 * x [1, 4] and W [4, 3] (opset 13), written field by field as protobuf. The doctor runs it on
 * each provider and compares y with `probeExpected`, worked out here in float64.
 */
export const PROBE_INPUT = new Float32Array([0.5, -1, 2, 0.25]);
const W = [
  [0.1, -0.2, 0.3],
  [0.4, 0.5, -0.6],
  [-0.7, 0.8, 0.9],
  [1.0, -1.1, 1.2],
];

function valueInfo(w: Writer, field: number, name: string, dims: number[]): void {
  w.uint32((field << 3) | 2).fork();
  w.uint32((1 << 3) | 2).string(name);
  w.uint32((2 << 3) | 2).fork(); // TypeProto
  w.uint32((1 << 3) | 2).fork(); // tensor_type
  w.uint32((1 << 3) | 0).int32(1); // elem_type FLOAT
  w.uint32((2 << 3) | 2).fork(); // shape
  for (const d of dims) {
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 0).int64(d);
    w.ldelim();
  }
  w.ldelim().ldelim().ldelim().ldelim();
}

function node(
  w: Writer,
  op: string,
  inputs: string[],
  outputs: string[],
  attrs: (w: Writer) => void = () => undefined,
): void {
  w.uint32((1 << 3) | 2).fork();
  for (const i of inputs) w.uint32((1 << 3) | 2).string(i);
  for (const o of outputs) w.uint32((2 << 3) | 2).string(o);
  w.uint32((3 << 3) | 2).string(`${op.toLowerCase()}_0`);
  w.uint32((4 << 3) | 2).string(op);
  attrs(w);
  w.ldelim();
}

export function probeModelBytes(): Uint8Array {
  const w = Writer.create();
  w.uint32((1 << 3) | 0).int64(8); // ir_version
  w.uint32((2 << 3) | 2).string('exit-lens-probe');
  w.uint32((7 << 3) | 2).fork(); // graph
  node(w, 'MatMul', ['x', 'W'], ['z']);
  node(w, 'Softmax', ['z'], ['y'], (a) => {
    a.uint32((5 << 3) | 2).fork(); // AttributeProto axis = -1
    a.uint32((1 << 3) | 2).string('axis');
    a.uint32((3 << 3) | 0).int64(-1);
    a.uint32((20 << 3) | 0).int32(2); // type INT
    a.ldelim();
  });
  w.uint32((2 << 3) | 2).string('probe');
  w.uint32((5 << 3) | 2).fork(); // initializer W
  w.uint32((1 << 3) | 0).int64(4);
  w.uint32((1 << 3) | 0).int64(3);
  w.uint32((2 << 3) | 0).int32(1);
  w.uint32((4 << 3) | 2).fork();
  for (const row of W) for (const v of row) w.float(v);
  w.ldelim();
  w.uint32((8 << 3) | 2).string('W');
  w.ldelim();
  valueInfo(w, 11, 'x', [1, 4]);
  valueInfo(w, 12, 'y', [1, 3]);
  w.ldelim(); // graph
  w.uint32((8 << 3) | 2).fork(); // opset_import
  w.uint32((1 << 3) | 2).string('');
  w.uint32((2 << 3) | 0).int64(13);
  w.ldelim();
  return w.finish();
}

/** softmax(x · W), in float64 from the float32 values the model holds. */
export function probeExpected(): number[] {
  const x = Array.from(PROBE_INPUT);
  const z = [0, 1, 2].map((j) => x.reduce((s, xi, i) => s + xi * Math.fround(W[i][j]), 0));
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
