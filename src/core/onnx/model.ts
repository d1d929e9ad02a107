import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitLensError } from '../errors';
import { kindOf, readRegularFile } from '../io/inputFiles';
import { displayName } from '../io/text';
import { ModelProto, ONNX_DTYPES } from './schema';
import type { Dim, TensorInfo } from '../../shared/reportTypes';

export interface GraphNode {
  index: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, number | number[] | string>;
}

export interface ModelInfo {
  path: string;
  irVersion: number;
  opset: number;
  producer: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  nodeCount: number;
  parameterCount: number;
  usesExternalData: boolean;
  nodes: GraphNode[];
  /** Shapes of initializers (weights), by tensor name. */
  initializerShapes: Map<string, number[]>;
  /** Shapes recorded in the file for intermediate tensors (value_info), by name. */
  valueInfo: Map<string, TensorInfo>;
  /** External data files referenced by initializers, relative to the model's folder. */
  externalDataFiles: string[];
}

interface LongLike {
  toNumber(): number;
}

export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof (v as LongLike).toNumber === 'function') return (v as LongLike).toNumber();
  if (typeof v === 'string') return Number(v);
  return 0;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- decoded protobuf messages are untyped objects */
function readTensorInfo(vi: any): TensorInfo {
  const tt = vi?.type?.tensorType;
  if (!tt) return { name: String(vi?.name ?? ''), dtype: 'non-tensor', shape: null };
  const dtype = ONNX_DTYPES[tt.elemType as number] ?? `onnx-type-${String(tt.elemType)}`;
  let shape: Dim[] | null = null;
  if (tt.shape) {
    shape = (tt.shape.dim ?? []).map((d: any): Dim => {
      // Dimension.value is a oneof: protobufjs names the member that was set.
      if (d.value === 'dimValue') return toNumber(d.dimValue);
      if (d.value === 'dimParam' && d.dimParam) return String(d.dimParam);
      return null;
    });
  }
  return { name: String(vi.name), dtype, shape };
}

function readAttributes(attrs: any[] | undefined): Record<string, number | number[] | string> {
  const out: Record<string, number | number[] | string> = {};
  for (const a of attrs ?? []) {
    const name = String(a.name);
    // AttributeProto.type: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7 (others are not needed here).
    switch (a.type) {
      case 1:
        out[name] = a.f as number;
        break;
      case 2:
        out[name] = toNumber(a.i);
        break;
      case 3:
        out[name] = Buffer.from(a.s ?? []).toString('utf8');
        break;
      case 6:
        out[name] = Array.from(a.floats as number[]);
        break;
      case 7:
        out[name] = (a.ints ?? []).map(toNumber);
        break;
      default:
        if (a.ints?.length) out[name] = a.ints.map(toNumber);
        else if (a.floats?.length) out[name] = Array.from(a.floats as number[]);
    }
  }
  return out;
}

/** Decodes model bytes; the message keeps zero-copy views of the weights. */
export function decodeModelProto(bytes: Uint8Array, filePath: string): any {
  if (bytes.length === 0) {
    throw new ExitLensError(
      'model-unreadable',
      `${filePath} is empty.`,
      "Export the model again with torch.onnx.export (or your framework's ONNX exporter).",
    );
  }
  let proto: any;
  try {
    proto = ModelProto.decode(bytes);
  } catch (err) {
    throw new ExitLensError(
      'model-unreadable',
      `${filePath} is not a readable ONNX model (${(err as Error).message}); the file may be truncated or not ONNX at all.`,
      'Check that the file is a complete .onnx export (re-export it, or re-download it if it was copied).',
    );
  }
  if (!proto.graph || !proto.graph.node || proto.graph.node.length === 0 || !proto.graph.output?.length) {
    throw new ExitLensError(
      'model-unreadable',
      `${filePath} does not hold an ONNX graph with nodes and outputs; it may be truncated or not an ONNX model.`,
      'Check that the file is a complete .onnx export.',
    );
  }
  return proto;
}

/** The largest ONNX file (protobuf's 2 GiB limit); larger models keep their weights in external data. */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;

/**
 * Reads a model file: a regular file only (a FIFO or a device such as /dev/zero is refused, not
 * read forever), and no more than it held when opened (inputFiles.ts).
 */
export function readModelFile(filePath: string): Buffer {
  return readRegularFile(
    filePath,
    (why) =>
      new ExitLensError(
        'model-unreadable',
        `Cannot read model ${filePath}: ${why}.`,
        'Check the path: a model is an .onnx file (a model over 2 GB keeps its weights in external data files beside it).',
      ),
    MAX_MODEL_BYTES,
  );
}

/**
 * Where a model's external data lives, checked before anything is made from it: each location
 * must be a relative path that stays inside the model's folder, also once links are resolved,
 * and name a regular file. A location such as "../../elsewhere" or "/etc/x" is refused, naming
 * it. Returns the data files' absolute paths.
 */
export function checkExternalData(model: ModelInfo): string[] {
  if (!model.externalDataFiles.length) return [];
  const dir = path.dirname(model.path);
  const refuse = (location: string, why: string) =>
    new ExitLensError(
      'model-unreadable',
      `${model.path} keeps weights in external data at location "${displayName(location)}", which ${why}. Exit Lens reads external data only from regular files inside the model's folder.`,
      'Save the model with its data beside it: onnx.save_model(model, path, save_as_external_data=True, location="model.onnx.data").',
    );
  let realDir: string;
  try {
    realDir = fs.realpathSync(dir);
  } catch (err) {
    throw new ExitLensError(
      'model-unreadable',
      `Cannot read the folder of ${model.path}: ${(err as Error).message}`,
      'Check the path.',
    );
  }
  const inside = (base: string, p: string) => {
    const rel = path.relative(base, p);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  return model.externalDataFiles.map((location) => {
    if (location === '' || location.includes('\0')) throw refuse(location, 'is not a file name');
    if (path.posix.isAbsolute(location) || path.win32.isAbsolute(location))
      throw refuse(location, 'is an absolute path');
    const abs = path.resolve(dir, location);
    if (!inside(dir, abs)) throw refuse(location, "reaches outside the model's folder");
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch {
      throw refuse(location, `does not exist (${abs})`);
    }
    if (!inside(realDir, real)) throw refuse(location, `is a link to ${real}, outside the model's folder`);
    const st = fs.statSync(real);
    if (!st.isFile()) throw refuse(location, `is ${kindOf(st)}, not a regular file`);
    return abs;
  });
}

export function modelInfoFromProto(proto: any, filePath: string): ModelInfo {
  const g = proto.graph;
  const initializerShapes = new Map<string, number[]>();
  let parameterCount = 0;
  let usesExternalData = false;
  const externalDataFiles = new Set<string>();
  for (const t of g.initializer ?? []) {
    const dims = (t.dims ?? []).map(toNumber) as number[];
    initializerShapes.set(String(t.name), dims);
    parameterCount += dims.reduce((a, b) => a * b, 1);
    if (t.dataLocation === 1) {
      usesExternalData = true;
      for (const kv of t.externalData ?? []) if (kv.key === 'location') externalDataFiles.add(String(kv.value));
    }
  }
  const initNames = new Set(initializerShapes.keys());
  const inputs = (g.input ?? []).map(readTensorInfo).filter((t: TensorInfo) => !initNames.has(t.name));
  const outputs = (g.output ?? []).map(readTensorInfo);
  const valueInfo = new Map<string, TensorInfo>();
  for (const vi of g.valueInfo ?? []) {
    const info = readTensorInfo(vi);
    valueInfo.set(info.name, info);
  }
  const nodes: GraphNode[] = (g.node ?? []).map((n: any, index: number) => ({
    index,
    name: String(n.name ?? ''),
    opType: String(n.opType ?? ''),
    domain: String(n.domain ?? ''),
    inputs: (n.input ?? []).map(String),
    outputs: (n.output ?? []).map(String),
    attributes: readAttributes(n.attribute),
  }));
  let opset = 0;
  for (const o of proto.opsetImport ?? []) {
    if (!o.domain || o.domain === 'ai.onnx') opset = toNumber(o.version);
  }
  const producer = [proto.producerName, proto.producerVersion].filter(Boolean).join(' ');
  return {
    path: filePath,
    irVersion: toNumber(proto.irVersion),
    opset,
    producer,
    inputs,
    outputs,
    nodeCount: nodes.length,
    parameterCount,
    usesExternalData,
    nodes,
    initializerShapes,
    valueInfo,
    externalDataFiles: [...externalDataFiles],
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Reads and inspects a model. External weights (model.onnx + .data) are never opened here. */
export function loadModelInfo(filePath: string): ModelInfo {
  const abs = path.resolve(filePath);
  const proto = decodeModelProto(readModelFile(abs), abs);
  return modelInfoFromProto(proto, abs);
}

export function formatShape(shape: Dim[] | null): string {
  if (!shape) return '[?]';
  // A symbolic dimension is a name from the file: shown inert (text.ts).
  return `[${shape.map((d) => (d === null ? '?' : displayName(String(d)))).join(', ')}]`;
}
