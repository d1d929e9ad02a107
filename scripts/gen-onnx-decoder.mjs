// Generates src/core/onnx/onnxDecode.generated.js, protobufjs' static decoders for the subset
// of onnx.proto that Exit Lens reads (src/core/onnx/onnx-subset.json), with pbjs from
// protobufjs-cli. Static code spares every run protobufjs' reflection set-up and its run-time
// code generation (decoders, encoders, verifiers and converters for every type).
//   node scripts/gen-onnx-decoder.mjs [out.js]    (default: the committed file)
// test/unit/model.test.ts checks that the committed file is what this writes.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? path.join(root, 'src/core/onnx/onnxDecode.generated.js');
execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules/protobufjs-cli/bin/pbjs'),
    '-t',
    'static-module',
    '-w',
    'commonjs',
    '--no-encode',
    '--no-verify',
    '--no-convert',
    '--no-delimited',
    '--no-typeurl',
    '--no-service',
    '--no-comments',
    '-o',
    out,
    path.join(root, 'src/core/onnx/onnx-subset.json'),
  ],
  { stdio: 'inherit' },
);
