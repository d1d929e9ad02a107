/**
 * Reading ONNX models: inspection, exit detection and order, and static MAC counts checked
 * against hand calculations for a conv net and a transformer, and the extra outputs the cost
 * discovery adds to a model.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs/light';
import { describe, it } from 'node:test';
import { exitCosts, nodeCosts, traceStackedExits } from '../../src/core/onnx/cost';
import { withExtraOutputs } from '../../src/core/onnx/edit';
import { GraphNode, ModelInfo, decodeModelProto, loadModelInfo, modelInfoFromProto } from '../../src/core/onnx/model';
import { detectExits, parseExitMapping } from '../../src/core/onnx/exits';
import { FIELD, ModelProto } from '../../src/core/onnx/schema';
import { ExitLensError } from '../../src/core/errors';
import { loadOrt } from '../../src/engine/providers';
import { fixture } from './helpers';

function syntheticModel(
  nodes: Omit<GraphNode, 'index' | 'domain'>[],
  initializers: Record<string, number[]>,
  outputs: string[],
): ModelInfo {
  return {
    path: 'synthetic.onnx',
    irVersion: 8,
    opset: 13,
    producer: '',
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 8] }],
    outputs: outputs.map((name) => ({ name, dtype: 'float32', shape: ['batch', 4] })),
    nodeCount: nodes.length,
    parameterCount: 0,
    usesExternalData: false,
    nodes: nodes.map((n, index) => ({ ...n, index, domain: '' })),
    initializerShapes: new Map(Object.entries(initializers)),
    valueInfo: new Map(),
    externalDataFiles: [],
  };
}

describe('model inspection', () => {
  it('reads inputs, outputs with symbolic dims, opset, producer and parameter count', () => {
    const m = loadModelInfo(fixture('tiny_cnn.onnx'));
    assert.deepEqual(m.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 8, 8] }]);
    assert.deepEqual(
      m.outputs.map((o) => o.name),
      ['exit_0', 'exit_1', 'exit_2'],
    );
    assert.deepEqual(m.outputs[0].shape, ['batch', 4]);
    assert.equal(m.opset, 13);
    assert.match(m.producer, /pytorch/);
    // conv1 3*8*9+8, exit0 8*4+4, conv2 8*2*9+8, exit1 128*4+4, conv3 8*16+16, exit2 16*4+4
    assert.equal(m.parameterCount, 224 + 36 + 152 + 516 + 144 + 68);
    assert.equal(m.usesExternalData, false);
  });

  it('reads a model with external data without its weights', () => {
    const m = loadModelInfo(fixture('ext/model.onnx'));
    assert.equal(m.usesExternalData, true);
    assert.deepEqual(m.externalDataFiles, ['model.onnx.data']);
    assert.equal(m.parameterCount, 1140);
  });

  it('refuses a file that is not ONNX, or is truncated, with a clear message', () => {
    for (const f of ['not_onnx.onnx', 'truncated.onnx']) {
      assert.throws(
        () => loadModelInfo(fixture(f)),
        (e: unknown) => e instanceof ExitLensError && e.code === 'model-unreadable' && /truncated|not/.test(e.message),
      );
    }
  });
});

describe('exit detection', () => {
  it('orders by numeric suffix', () => {
    const m = loadModelInfo(fixture('tiny_cnn.onnx'));
    m.outputs.reverse();
    const layout = detectExits(m);
    assert.equal(layout.kind, 'per-output');
    assert.deepEqual(layout.kind === 'per-output' && layout.outputs, ['exit_0', 'exit_1', 'exit_2']);
    assert.equal(layout.orderedBy, 'name-suffix');
  });

  it('orders by graph depth when names have no common numeric suffix', () => {
    const m = loadModelInfo(fixture('tiny_transformer.onnx'));
    const layout = detectExits(m);
    assert.deepEqual(layout.kind === 'per-output' && layout.outputs, ['early_exit_1', 'logits']);
    assert.equal(layout.orderedBy, 'graph-depth');
  });

  it('finds stacked outputs [N,E,C] and [E,N,C] from the symbolic batch dimension', () => {
    const nec = detectExits(loadModelInfo(fixture('stacked_nec.onnx')));
    const enc = detectExits(loadModelInfo(fixture('stacked_enc.onnx')));
    assert.deepEqual(nec, {
      kind: 'stacked',
      output: 'exits',
      layout: 'NEC',
      exitCount: 3,
      classes: 4,
      orderedBy: 'stack-order',
    });
    assert.deepEqual(enc, {
      kind: 'stacked',
      output: 'exits',
      layout: 'ENC',
      exitCount: 3,
      classes: 4,
      orderedBy: 'stack-order',
    });
  });

  it('an explicit mapping wins over the heuristics', () => {
    const m = loadModelInfo(fixture('tiny_cnn.onnx'));
    const layout = detectExits(m, parseExitMapping('exit_2,exit_0'));
    assert.deepEqual(layout.kind === 'per-output' && layout.outputs, ['exit_2', 'exit_0']);
    assert.equal(layout.orderedBy, 'mapping');
    assert.deepEqual(parseExitMapping('exits:nec'), { stacked: 'exits', layout: 'NEC' });
  });

  it('a mapping naming a missing output lists the outputs and how to map', () => {
    const m = loadModelInfo(fixture('tiny_cnn.onnx'));
    assert.throws(
      () => detectExits(m, parseExitMapping('exit_0,head_9')),
      (e: unknown) => {
        const err = e as ExitLensError;
        return (
          err.code === 'exit-mapping' &&
          /head_9/.test(err.message) &&
          /exit_1: float32 \[batch, 4\]/.test(err.message) &&
          /--exits/.test(err.hint ?? '')
        );
      },
    );
  });

  it('no exits: the error lists the outputs with their shapes', () => {
    const m = syntheticModel([], {}, ['only']);
    assert.throws(
      () => detectExits(m),
      (e: unknown) => {
        const err = e as ExitLensError;
        return (
          err.code === 'model-no-exits' &&
          /only: float32 \[batch, 4\]/.test(err.message) &&
          /at least two exits/.test(err.message)
        );
      },
    );
  });
});

describe('static cost (MACs per sample)', () => {
  it('Conv with groups and stride, Gemm: the fixture CNN by hand', () => {
    // conv1 3->8, 3x3, out 8x8x8:          512 outputs x 3 x 9      = 13824
    // exit0 Gemm 8->4:                       4 x 8                   =    32
    // conv2 8->8, 3x3, stride 2, groups 4:  out 8x4x4 = 128 x (8/4) x 9 = 2304
    // exit1 Gemm 128->4:                     4 x 128                 =   512
    // conv3 8->16, 1x1, out 16x4x4:         256 x 8 x 1              =  2048
    // exit2 Gemm 16->4:                      4 x 16                  =    64
    // cost(0) = 13824 + 32 = 13856; cost(1) = + 2304 + 512 = 16672; cost(2) = + 2048 + 64 = 18784
    // baseline (ancestors of exit 2 only) = 13824 + 2304 + 2048 + 64 = 18240
    const m = loadModelInfo(fixture('tiny_cnn.onnx'));
    const shapes = new Map<string, number[]>([
      ['/conv1/Conv_output_0', [1, 8, 8, 8]],
      ['/conv2/Conv_output_0', [1, 8, 4, 4]],
      ['/conv3/Conv_output_0', [1, 16, 4, 4]],
      ['exit_0', [1, 4]],
      ['exit_1', [1, 4]],
      ['exit_2', [1, 4]],
    ]);
    for (const n of m.nodes)
      if (n.opType === 'Gemm')
        shapes.set(n.inputs[0], [1, n.name.includes('exit1') ? 128 : n.name.includes('exit0') ? 8 : 16]);
    const costs = nodeCosts(m, shapes);
    assert.deepEqual(costs.uncosted, []);
    const { exitMacs, baselineMacs } = exitCosts(m, ['exit_0', 'exit_1', 'exit_2'], costs.nodeMacs);
    assert.deepEqual(exitMacs, [13856, 16672, 18784]);
    assert.equal(baselineMacs, 18240);
  });

  it('ConvTranspose, Gemm with transA and broadcast batched MatMul', () => {
    const m = syntheticModel(
      [
        // ConvTranspose W [C_in=4, M/g=2, 3, 3], group 2, Y [1, 4, 10, 10]: 400 x (4/2) x 9 = 7200
        { name: 'up', opType: 'ConvTranspose', inputs: ['x', 'W'], outputs: ['y'], attributes: { group: 2 } },
        // Gemm transA: A [8, 2] -> K = 8; Y [2, 6]: 12 x 8 = 96
        { name: 'g', opType: 'Gemm', inputs: ['a', 'B'], outputs: ['out_0'], attributes: { transA: 1 } },
        // MatMul A [2, 3, 5, 7] x B [7, 4] -> Y [2, 3, 5, 4]: M N K x batch = 5 x 4 x 7 x 6 = 840
        { name: 'mm', opType: 'MatMul', inputs: ['q', 'K'], outputs: ['out_1'], attributes: {} },
        { name: 'relu', opType: 'Relu', inputs: ['out_1'], outputs: ['r'], attributes: {} },
      ],
      { W: [4, 2, 3, 3], B: [8, 6], K: [7, 4] },
      ['out_0', 'out_1'],
    );
    const shapes = new Map<string, number[]>([
      ['y', [1, 4, 10, 10]],
      ['a', [8, 2]],
      ['out_0', [2, 6]],
      ['q', [2, 3, 5, 7]],
      ['out_1', [2, 3, 5, 4]],
    ]);
    const { nodeMacs, uncosted } = nodeCosts(m, shapes);
    assert.deepEqual(Array.from(nodeMacs), [7200, 96, 840, 0]);
    assert.deepEqual(uncosted, []);
  });

  it('nodes whose shapes are unknown are listed, never guessed', () => {
    const m = syntheticModel(
      [{ name: 'mm', opType: 'MatMul', inputs: ['q', 'K'], outputs: ['o'], attributes: {} }],
      { K: [7, 4] },
      ['o'],
    );
    const { nodeMacs, uncosted } = nodeCosts(m, new Map());
    assert.equal(nodeMacs[0], 0);
    assert.deepEqual(uncosted, [{ name: 'mm', opType: 'MatMul', reason: 'shape of output "o" unknown' }]);
  });

  it('traces each exit of a stacked output through Unsqueeze + Concat', () => {
    const m = loadModelInfo(fixture('stacked_nec.onnx'));
    const tensors = traceStackedExits(m, 'exits', 3)!;
    assert.equal(tensors.length, 3);
    const producers = tensors.map((t) => m.nodes.find((n) => n.outputs.includes(t))!.opType);
    assert.deepEqual(producers, ['Gemm', 'Gemm', 'Gemm']);
    assert.equal(traceStackedExits(m, 'exits', 4), null);
  });

  it('traces through ops of no MACs between the stack and the output (a temperature, a log-softmax), not through a shared classifier or a Gather', () => {
    // stacked_post.onnx: TinyCNN's exits stacked [N, E, C], then / 1.7, then log_softmax.
    const m = loadModelInfo(fixture('stacked_post.onnx'));
    const between = ['Div', 'LogSoftmax'].map((op) => m.nodes.some((n) => n.opType === op));
    assert.deepEqual(between, [true, true], 'the fixture has the ops after the stack');
    const tensors = traceStackedExits(m, 'exits', 3)!;
    assert.deepEqual(
      tensors.map((t) => m.nodes.find((n) => n.outputs.includes(t))!.opType),
      ['Gemm', 'Gemm', 'Gemm'],
    );
    // Synthetic graphs: two stacked heads h0, h1 (Concat), then what follows.
    const heads: Omit<GraphNode, 'index' | 'domain'>[] = [
      { name: 'g0', opType: 'Gemm', inputs: ['x', 'W0'], outputs: ['h0'], attributes: {} },
      { name: 'g1', opType: 'Gemm', inputs: ['x', 'W1'], outputs: ['h1'], attributes: {} },
      { name: 'u0', opType: 'Unsqueeze', inputs: ['h0', 'axes'], outputs: ['s0'], attributes: {} },
      { name: 'u1', opType: 'Unsqueeze', inputs: ['h1', 'axes'], outputs: ['s1'], attributes: {} },
      { name: 'cat', opType: 'Concat', inputs: ['s0', 's1'], outputs: ['st'], attributes: { axis: 1 } },
    ];
    const weights = { W0: [4, 8], W1: [4, 8], axes: [1] };
    const after = (nodes: { opType: string; inputs: string[] }[], extra: Record<string, number[]> = {}) =>
      traceStackedExits(
        syntheticModel(
          [
            ...heads,
            ...nodes.map((n, i) => ({
              name: `n${i}`,
              opType: n.opType,
              inputs: n.inputs,
              outputs: [i === nodes.length - 1 ? 'out' : `t${i}`],
              attributes: {},
            })),
          ],
          { ...weights, ...extra },
          ['out'],
        ),
        'out',
        2,
      );
    // Multiplied by a weight, then a constant added, then Softmax: traced.
    assert.deepEqual(
      after(
        [
          { opType: 'Mul', inputs: ['st', 'T'] },
          { opType: 'Add', inputs: ['t0', 'B'] },
          { opType: 'Softmax', inputs: ['t1'] },
        ],
        { T: [1], B: [1] },
      ),
      ['h0', 'h1'],
    );
    // A shared classifier on the stack (a MatMul): its MACs belong to no one exit.
    assert.equal(after([{ opType: 'MatMul', inputs: ['st', 'C'] }], { C: [4, 4] }), null);
    // A Gather with constant indices could reorder the exits: not traced.
    assert.equal(after([{ opType: 'Gather', inputs: ['st', 'idx'] }], { idx: [2] }), null);
    // Combined with another computed tensor (both inputs vary): not the stack alone.
    assert.equal(after([{ opType: 'Add', inputs: ['st', 'x'] }]), null);
    // An op of another domain.
    const custom = syntheticModel(
      [...heads, { name: 'c', opType: 'Scale', inputs: ['st'], outputs: ['out'], attributes: {} }],
      weights,
      ['out'],
    );
    custom.nodes[custom.nodes.length - 1].domain = 'com.example';
    assert.equal(traceStackedExits(custom, 'out', 2), null);
  });
});

describe('extra outputs for the cost discovery', () => {
  it("appends outputs to the file's bytes: decoders and ONNX Runtime read the model with them, nothing else changes", async () => {
    const file = fixture('tiny_cnn.onnx');
    const bytes = fs.readFileSync(file);
    const proto = decodeModelProto(bytes, file);
    const model = modelInfoFromProto(proto, file);
    // conv1's output and an existing output (exit_0, which must not be added twice).
    const conv1 = model.nodes.find((n) => n.opType === 'Conv')!.outputs[0];
    const edited = withExtraOutputs(bytes, proto, [conv1, 'exit_0']);
    assert.ok(Buffer.from(edited.subarray(0, bytes.length)).equals(bytes), 'the original bytes come first, unchanged');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a decoded protobuf message
    const merged = ModelProto.decode(edited) as any;
    assert.deepEqual(
      merged.graph.output.map((o: { name: string }) => o.name),
      ['exit_0', 'exit_1', 'exit_2', conv1],
    );
    assert.equal(merged.graph.node.length, proto.graph.node.length);
    assert.equal(merged.graph.initializer.length, proto.graph.initializer.length);
    assert.equal(withExtraOutputs(bytes, proto, ['exit_1']), bytes, 'nothing to add: the same bytes');
    const o = loadOrt();
    const session = await o.InferenceSession.create(edited, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'disabled',
    });
    try {
      const out = await session.run({ x: new o.Tensor('float32', new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8]) });
      // conv1: 3 -> 8 channels, 3x3 with padding 1 on 8x8 inputs.
      assert.deepEqual(out[conv1].dims, [2, 8, 8, 8]);
      assert.deepEqual(out.exit_2.dims, [2, 4]);
    } finally {
      await session.release();
    }
  });
});

describe('the generated ONNX decoders', () => {
  const subset = JSON.parse(fs.readFileSync(path.join(__dirname, '../../src/core/onnx/onnx-subset.json'), 'utf8'));
  const reflected = protobuf.Root.fromJSON(subset).lookupType('onnx.ModelProto');
  /** A decoded message as plain data: keys sorted, empty repeated fields dropped, int64 as decimal strings, bytes in base64. */
  const plain = (m: unknown): unknown => {
    if (m === null || typeof m !== 'object') return m;
    if (m instanceof Uint8Array) return `bytes:${Buffer.from(m).toString('base64')}`;
    if (typeof (m as { toNumber?: unknown }).toNumber === 'function' && 'low' in m) return `long:${String(m)}`;
    if (Array.isArray(m)) return m.map(plain);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(m).sort()) {
      const v = (m as Record<string, unknown>)[k];
      if (Array.isArray(v) && v.length === 0) continue;
      out[k] = plain(v);
    }
    return out;
  };

  it('are what scripts/gen-onnx-decoder.mjs writes from onnx-subset.json', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-gen-'));
    try {
      const out = path.join(dir, 'onnxDecode.js');
      execFileSync(process.execPath, [path.join(__dirname, '../../scripts/gen-onnx-decoder.mjs'), out]);
      assert.equal(
        fs.readFileSync(path.join(__dirname, '../../src/core/onnx/onnxDecode.generated.js'), 'utf8'),
        fs.readFileSync(out, 'utf8'),
        'regenerate: node scripts/gen-onnx-decoder.mjs',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decode every model as protobufjs reflection over the same descriptor does', () => {
    const models = [
      ...fs
        .readdirSync(fixture('.'))
        .filter((f) => f.endsWith('.onnx'))
        .map((f) => fixture(f)),
      path.join(__dirname, '../../bench/models/cnn.onnx'),
      path.join(__dirname, '../../bench/models/transformer.onnx'),
      path.join(__dirname, '../../examples/sdn-digits/model.onnx'),
    ];
    assert.ok(models.length >= 5);
    let compared = 0;
    for (const file of models) {
      const bytes = fs.readFileSync(file);
      let expected: unknown;
      let expectedInfo: ModelInfo;
      try {
        const r = reflected.decode(bytes);
        expected = plain(r);
        expectedInfo = modelInfoFromProto(r, file);
      } catch {
        assert.throws(() => ModelProto.decode(bytes), `${file}: reflection refuses it, so must the static decoder`);
        continue;
      }
      const decoded = ModelProto.decode(bytes);
      assert.deepEqual(plain(decoded), expected, file);
      // What Exit Lens reads from it, oneof members (dimension values or names) included.
      assert.deepEqual(modelInfoFromProto(decoded, file), expectedInfo, file);
      compared++;
    }
    assert.ok(compared >= 5);
  });

  it('write the field numbers edit.ts uses', () => {
    const types = subset.nested.onnx.nested;
    assert.equal(FIELD.modelGraph, types.ModelProto.fields.graph.id);
    assert.equal(FIELD.graphOutput, types.GraphProto.fields.output.id);
    assert.equal(FIELD.valueInfoName, types.ValueInfoProto.fields.name.id);
  });
});
