import generated from './onnxDecode.generated';

/**
 * The subset of onnx.proto (ONNX IR spec, onnx/onnx.proto3) that Exit Lens reads is described
 * in onnx-subset.json (a protobufjs JSON descriptor; field numbers follow the spec, fields not
 * listed are skipped by the decoder). Its decoders are protobufjs static code generated from it
 * (scripts/gen-onnx-decoder.mjs), so that no run pays for reflection and run-time code
 * generation. Models are never re-encoded from this subset (the cost discovery appends its
 * extra outputs to the file's own bytes, see edit.ts), so nothing ONNX Runtime needs is lost.
 */
export const ModelProto = generated.onnx.ModelProto;

/** Field numbers (onnx.proto) that edit.ts writes; test/unit/model.test.ts checks them against onnx-subset.json. */
export const FIELD = {
  modelGraph: 7,
  graphOutput: 12,
  valueInfoName: 1,
} as const;

/** ONNX TensorProto.DataType values Exit Lens names. */
export const ONNX_DTYPES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};
