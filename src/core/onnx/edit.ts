import { ModelProto } from './schema';

/**
 * The model's bytes with extra graph outputs (intermediate tensors), so that one run can
 * report their shapes. Outputs are given by name only; ONNX Runtime infers their type.
 *
 * Nothing is re-encoded: a second ModelProto holding only a GraphProto with the new outputs is
 * appended. Protobuf parsers merge repeated occurrences of an embedded message field (the
 * protobuf encoding spec, "Last One Wins" / merging of embedded messages), and repeated fields
 * such as graph.output are concatenated, so the result reads as the model with its outputs
 * followed by the new ones. This avoids re-encoding every weight of a large model.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a decoded protobuf message
export function withExtraOutputs(bytes: Uint8Array, proto: any, extraOutputs: readonly string[]): Uint8Array {
  const existing = new Set(proto.graph.output.map((o: { name: string }) => o.name));
  const added = [...new Set(extraOutputs)].filter((n) => !existing.has(n)).map((name) => ({ name }));
  if (added.length === 0) return bytes;
  const tail = ModelProto.encode({ graph: { output: added } }).finish();
  const out = new Uint8Array(bytes.length + tail.length);
  out.set(bytes, 0);
  out.set(tail, bytes.length);
  return out;
}
