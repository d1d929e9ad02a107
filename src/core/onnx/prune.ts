import { Reader, Writer } from 'protobufjs/minimal';
import { ancestorNodes } from './cost';
import type { ModelInfo } from './model';

/**
 * The model pruned to the ancestors of some tensors (docs/metrics.md "Cost", measured cost):
 * the graph that must run to exit at k is the ancestors of the outputs of exits 0..k. Written
 * from the file's own bytes at the wire level, as edit.ts does: every field of the model and
 * the graph is copied byte for byte except the nodes, outputs and initializers that are left
 * out, so nothing is decoded and re-encoded, external data stays a reference (to the model's
 * folder: load with `model_external_initializers_file_folder_path`), and no field this
 * project's ONNX subset does not know is lost.
 */

/** GraphProto and ModelProto field numbers (onnx.proto). */
export const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
export const VALUE_INFO_NAME = 1;
const LENGTH_DELIMITED = 2;

export interface Field {
  no: number;
  /** From the tag to the end of the field. */
  start: number;
  end: number;
  /** The body of a length-delimited field. */
  bodyStart: number;
  bodyEnd: number;
}

/** The fields of one message, in wire order, as byte ranges. */
export function fieldsOf(buf: Uint8Array, start: number, end: number): Field[] {
  const r = Reader.create(buf);
  r.pos = start;
  const out: Field[] = [];
  while (r.pos < end) {
    const s = r.pos;
    const tag = r.uint32();
    const wireType = tag & 7;
    let bodyStart = r.pos;
    let bodyEnd: number;
    if (wireType === LENGTH_DELIMITED) {
      const len = r.uint32();
      bodyStart = r.pos;
      bodyEnd = bodyStart + len;
      if (bodyEnd > end) throw new Error('The model file ends inside a field.');
      r.pos = bodyEnd;
    } else {
      r.skipType(wireType);
      bodyEnd = r.pos;
    }
    out.push({ no: tag >>> 3, start: s, end: r.pos, bodyStart, bodyEnd });
  }
  return out;
}

/** The string in field 1 of a message (a ValueInfoProto's or TensorProto's name lives elsewhere: see callers). */
export function stringField(buf: Uint8Array, f: Field, fieldNo: number): string | null {
  for (const sub of fieldsOf(buf, f.bodyStart, f.bodyEnd))
    if (sub.no === fieldNo)
      return Buffer.from(buf.buffer, buf.byteOffset + sub.bodyStart, sub.bodyEnd - sub.bodyStart).toString('utf8');
  return null;
}

/** TensorProto.name is field 8. */
const TENSOR_NAME = 8;

export interface PrunedModel {
  bytes: Uint8Array;
  /** Indices (into model.nodes) of the nodes kept. */
  nodes: Set<number>;
}

/**
 * The model's bytes with only the ancestors of `outputs` (graph outputs or intermediate
 * tensors), those tensors as its outputs (a graph output keeps its declared type; an
 * intermediate tensor is named only, and ONNX Runtime infers its type), and only the
 * initializers the kept nodes read. Graph inputs are all kept, so the same feeds serve.
 */
export function pruneModel(bytes: Uint8Array, model: ModelInfo, outputs: readonly string[]): PrunedModel {
  const keep = new Set<number>();
  for (const t of outputs) for (const i of ancestorNodes(model, t)) keep.add(i);
  const used = new Set<string>();
  for (const i of keep) for (const t of model.nodes[i].inputs) if (t) used.add(t);
  const top = fieldsOf(bytes, 0, bytes.length);
  const parts: Uint8Array[] = [];
  const graphParts: Uint8Array[] = [];
  const inputs = new Set<string>();
  // Graph fields of every occurrence of the graph (a file may carry more than one: they merge).
  const graphFields: Field[] = [];
  for (const f of top) {
    if (f.no === MODEL_GRAPH) graphFields.push(...fieldsOf(bytes, f.bodyStart, f.bodyEnd));
    else parts.push(bytes.subarray(f.start, f.end));
  }
  for (const f of graphFields) if (f.no === GRAPH_INPUT) inputs.add(stringField(bytes, f, VALUE_INFO_NAME) ?? '');
  const wanted = new Set(outputs);
  const declared = new Set<string>();
  let nodeIndex = 0;
  for (const f of graphFields) {
    if (f.no === GRAPH_NODE) {
      if (keep.has(nodeIndex)) graphParts.push(bytes.subarray(f.start, f.end));
      nodeIndex++;
    } else if (f.no === GRAPH_OUTPUT) {
      const name = stringField(bytes, f, VALUE_INFO_NAME) ?? '';
      if (wanted.has(name) && !declared.has(name)) {
        declared.add(name);
        graphParts.push(bytes.subarray(f.start, f.end));
      }
    } else if (f.no === GRAPH_INITIALIZER) {
      const name = stringField(bytes, f, TENSOR_NAME) ?? '';
      // An initializer that is also a graph input (IR < 4) stays, so that the input keeps its default.
      if (used.has(name) || inputs.has(name)) graphParts.push(bytes.subarray(f.start, f.end));
    } else graphParts.push(bytes.subarray(f.start, f.end));
  }
  for (const name of outputs) {
    if (declared.has(name)) continue;
    declared.add(name);
    const w = Writer.create();
    w.uint32(((GRAPH_OUTPUT << 3) | LENGTH_DELIMITED) >>> 0)
      .fork()
      .uint32(((VALUE_INFO_NAME << 3) | LENGTH_DELIMITED) >>> 0)
      .string(name)
      .ldelim();
    graphParts.push(w.finish());
  }
  const graphLength = graphParts.reduce((s, p) => s + p.length, 0);
  const head = Writer.create()
    .uint32(((MODEL_GRAPH << 3) | LENGTH_DELIMITED) >>> 0)
    .uint32(graphLength)
    .finish();
  parts.push(head, ...graphParts);
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { bytes: out, nodes: keep };
}
