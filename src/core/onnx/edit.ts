import * as protobuf from 'protobufjs/light';
import { ModelProto } from './schema';

/**
 * The model's bytes with extra graph outputs (intermediate tensors), so that one run can
 * report their shapes. Outputs are given by name only; ONNX Runtime infers their type.
 *
 * Nothing is re-encoded: a second ModelProto holding only a GraphProto with the new outputs is
 * appended. Protobuf parsers merge repeated occurrences of an embedded message field (the
 * protobuf encoding spec, "Last One Wins" / merging of embedded messages), and repeated fields
 * such as graph.output are concatenated, so the result reads as the model with its outputs
 * followed by the new ones. This avoids re-encoding every weight of a large model. The tail
 * is written field by field (field numbers from the schema), which spares protobufjs
 * generating encoders for the whole model's types.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a decoded protobuf message
export function withExtraOutputs(bytes: Uint8Array, proto: any, extraOutputs: readonly string[]): Uint8Array {
  const existing = new Set(proto.graph.output.map((o: { name: string }) => o.name));
  const added = [...new Set(extraOutputs)].filter((n) => !existing.has(n));
  if (added.length === 0) return bytes;
  const graphField = ModelProto.fields.graph;
  const outputField = (graphField.resolve().resolvedType as protobuf.Type).fields.output;
  const nameField = (outputField.resolve().resolvedType as protobuf.Type).fields.name;
  const LENGTH_DELIMITED = 2;
  const tag = (f: protobuf.Field) => ((f.id << 3) | LENGTH_DELIMITED) >>> 0;
  const w = protobuf.Writer.create();
  w.uint32(tag(graphField)).fork();
  for (const name of added) w.uint32(tag(outputField)).fork().uint32(tag(nameField)).string(name).ldelim();
  w.ldelim();
  const tail = w.finish();
  const out = new Uint8Array(bytes.length + tail.length);
  out.set(bytes, 0);
  out.set(tail, bytes.length);
  return out;
}
