// Types for the generated static decoders (scripts/gen-onnx-decoder.mjs). Decoded messages
// are untyped here; src/core/onnx/model.ts reads them.
interface Decoder {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a decoded protobuf message
  decode(bytes: Uint8Array): any;
}

declare const root: {
  onnx: {
    ModelProto: Decoder;
    GraphProto: Decoder;
    ValueInfoProto: Decoder;
    TensorProto: Decoder;
  };
};
export = root;
