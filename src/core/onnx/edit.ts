import { Writer } from 'protobufjs/minimal';
import { FIELD } from './schema';

/**
 * The model's bytes with extra graph outputs (intermediate tensors), so that one run can
 * report their shapes. Outputs are given by name only; ONNX Runtime infers their type.
 *
 * Nothing is re-encoded: a second ModelProto holding only a GraphProto with the new outputs is
 * appended. Protobuf parsers merge repeated occurrences of an embedded message field (the
 * protobuf encoding spec, "Last One Wins" / merging of embedded messages), and repeated fields
 * such as graph.output are concatenated, so the result reads as the model with its outputs
 * followed by the new ones. This avoids re-encoding every weight of a large model. The tail
 * is written field by field (field numbers from the schema).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a decoded protobuf message
export function withExtraOutputs(bytes: Uint8Array, proto: any, extraOutputs: readonly string[]): Uint8Array {
  const existing = new Set(proto.graph.output.map((o: { name: string }) => o.name));
  const added = [...new Set(extraOutputs)].filter((n) => !existing.has(n));
  if (added.length === 0) return bytes;
  const LENGTH_DELIMITED = 2;
  const tag = (field: number) => ((field << 3) | LENGTH_DELIMITED) >>> 0;
  const w = Writer.create();
  w.uint32(tag(FIELD.modelGraph)).fork();
  for (const name of added)
    w.uint32(tag(FIELD.graphOutput)).fork().uint32(tag(FIELD.valueInfoName)).string(name).ldelim();
  w.ldelim();
  const tail = w.finish();
  const out = new Uint8Array(bytes.length + tail.length);
  out.set(bytes, 0);
  out.set(tail, bytes.length);
  return out;
}
