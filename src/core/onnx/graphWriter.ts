import { Writer } from 'protobufjs/minimal';

/**
 * Writes ONNX messages at the wire level (field numbers from onnx.proto, ONNX IR spec): nodes,
 * initializers, value infos, and whole models as a list of byte chunks, so that a model of
 * hundreds of megabytes is written to disk piece by piece and never held as one message.
 * Used to append nodes to a model's own bytes (exitStatistics.ts, which copies every existing
 * field unchanged, as prune.ts does) and by the benchmark to build its models.
 */

/** TensorProto.DataType values. */
export const DTYPE = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, double: 11 } as const;

export const DTYPE_OF_NAME: Readonly<Record<string, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

const LEN = 2;
const VARINT = 0;
const FIXED32 = 5;
const tag = (field: number, wire: number) => ((field << 3) | wire) >>> 0;

type Build = (w: Writer) => void;

function message(w: Writer, field: number, build: Build): void {
  w.uint32(tag(field, LEN)).fork();
  build(w);
  w.ldelim();
}
const str = (w: Writer, field: number, s: string) => w.uint32(tag(field, LEN)).string(s);
const int = (w: Writer, field: number, v: number) => w.uint32(tag(field, VARINT)).int64(v);

export type AttributeValue =
  { f: number } | { i: number } | { s: string } | { ints: readonly number[] } | { floats: readonly number[] };

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

/** AttributeProto.type values. */
const ATTR = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

function writeAttribute(w: Writer, name: string, v: AttributeValue): void {
  message(w, 5, (a) => {
    str(a, 1, name);
    if ('f' in v) {
      a.uint32(tag(2, FIXED32)).float(v.f);
      int(a, 20, ATTR.float);
    } else if ('i' in v) {
      int(a, 3, v.i);
      int(a, 20, ATTR.int);
    } else if ('s' in v) {
      a.uint32(tag(4, LEN)).bytes(Buffer.from(v.s, 'utf8'));
      int(a, 20, ATTR.string);
    } else if ('ints' in v) {
      for (const x of v.ints) int(a, 8, x);
      int(a, 20, ATTR.ints);
    } else {
      for (const x of v.floats) a.uint32(tag(7, FIXED32)).float(x);
      int(a, 20, ATTR.floats);
    }
  });
}

/** One GraphProto.node field (tag included). */
export function nodeField(n: NodeSpec): Uint8Array {
  const w = Writer.create();
  message(w, 1, (m) => {
    for (const x of n.inputs) str(m, 1, x);
    for (const x of n.outputs) str(m, 2, x);
    if (n.name) str(m, 3, n.name);
    str(m, 4, n.opType);
    for (const [k, v] of Object.entries(n.attributes ?? {})) writeAttribute(m, k, v);
    if (n.domain) str(m, 7, n.domain);
  });
  return w.finish();
}

export interface TensorSpec {
  name: string;
  /** DTYPE value. */
  dtype: number;
  dims: readonly number[];
  /** Little-endian element bytes. */
  raw: Uint8Array;
}

/** The bytes of a TensorProto body's head (dims, type, name) and the raw data's tag and length: the data follows. */
function tensorHead(t: TensorSpec): Uint8Array {
  const w = Writer.create();
  for (const d of t.dims) int(w, 1, d);
  int(w, 2, t.dtype);
  str(w, 8, t.name);
  w.uint32(tag(9, LEN)).uint32(t.raw.length);
  return w.finish();
}

function lengthPrefix(field: number, length: number): Uint8Array {
  return Writer.create().uint32(tag(field, LEN)).uint32(length).finish();
}

/** One GraphProto.initializer field as chunks (its raw data not copied). */
export function initializerChunks(t: TensorSpec): Uint8Array[] {
  const head = tensorHead(t);
  return [lengthPrefix(5, head.length + t.raw.length), head, t.raw];
}

/** A TensorProto body (for a Constant node's `value`, or a small initializer). */
export function tensorBytes(t: TensorSpec): Uint8Array {
  const head = tensorHead(t);
  const out = new Uint8Array(head.length + t.raw.length);
  out.set(head, 0);
  out.set(t.raw, head.length);
  return out;
}

/** One ValueInfoProto as a graph field (`field` 11 input, 12 output, 13 value_info); null shape: none declared. */
export function valueInfoField(
  field: number,
  name: string,
  dtype: number,
  shape: readonly (number | string)[] | null,
): Uint8Array {
  const w = Writer.create();
  message(w, field, (v) => {
    str(v, 1, name);
    message(v, 2, (t) =>
      message(t, 1, (tt) => {
        int(tt, 1, dtype);
        if (shape)
          message(tt, 2, (sh) => {
            for (const d of shape) message(sh, 1, (dim) => (typeof d === 'number' ? int(dim, 1, d) : str(dim, 2, d)));
          });
      }),
    );
  });
  return w.finish();
}

/** A graph output named only (ONNX Runtime infers its type), as edit.ts appends them. */
export function namedOutputField(name: string): Uint8Array {
  const w = Writer.create();
  message(w, 12, (v) => str(v, 1, name));
  return w.finish();
}

export interface ModelSpec {
  opset: number;
  irVersion?: number;
  producer?: string;
  graphName?: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: { name: string; dtype: number; shape: readonly (number | string)[] }[];
  /** A null dtype writes the output by name only (ONNX Runtime infers its type). */
  outputs: { name: string; dtype: number | null; shape: readonly (number | string)[] | null }[];
}

/** A whole model as chunks to write one after the other (the initializers' data not copied). */
export function modelChunks(m: ModelSpec): Uint8Array[] {
  const graph: Uint8Array[] = [];
  for (const n of m.nodes) graph.push(nodeField(n));
  graph.push(
    Writer.create()
      .uint32(tag(2, LEN))
      .string(m.graphName ?? 'graph')
      .finish(),
  );
  for (const t of m.initializers) graph.push(...initializerChunks(t));
  for (const i of m.inputs) graph.push(valueInfoField(11, i.name, i.dtype, i.shape));
  for (const o of m.outputs)
    graph.push(o.dtype === null ? namedOutputField(o.name) : valueInfoField(12, o.name, o.dtype, o.shape));
  const graphLength = graph.reduce((s, c) => s + c.length, 0);
  const head = Writer.create();
  int(head, 1, m.irVersion ?? 8);
  str(head, 2, m.producer ?? 'exit-lens');
  message(head, 8, (o) => {
    str(o, 1, '');
    int(o, 2, m.opset);
  });
  head.uint32(tag(7, LEN)).uint32(graphLength);
  return [head.finish(), ...graph];
}

/** Concatenates chunks (for models small enough to hold at once). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Little-endian bytes of numbers in a dtype (float32, float64, int64, int32). */
export function rawOf(dtype: number, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  if (dtype === DTYPE.float) return new Uint8Array(Float32Array.from(values).buffer);
  if (dtype === DTYPE.double) return new Uint8Array(Float64Array.from(values).buffer);
  if (dtype === DTYPE.int32) return new Uint8Array(Int32Array.from(values).buffer);
  if (dtype === DTYPE.int64) {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) out[i] = BigInt(values[i]);
    return new Uint8Array(out.buffer);
  }
  throw new Error(`rawOf: dtype ${dtype} is not written here`);
}
