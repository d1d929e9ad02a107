import { ModelProto } from './schema';

/**
 * Re-encodes a decoded model with extra graph outputs (intermediate tensors), so that one
 * run can report their shapes. Outputs are given by name only; ONNX Runtime infers their type.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a decoded protobuf message
export function encodeWithOutputs(proto: any, extraOutputs: readonly string[]): Uint8Array {
  const graph = proto.graph;
  const original = graph.output;
  const existing = new Set(original.map((o: { name: string }) => o.name));
  const added = extraOutputs.filter((n) => !existing.has(n)).map((name) => ({ name }));
  graph.output = [...original, ...added];
  try {
    return ModelProto.encode(proto).finish();
  } finally {
    graph.output = original;
  }
}
