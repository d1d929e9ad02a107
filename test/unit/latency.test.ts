import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { traceStackedExits } from '../../src/core/onnx/cost';
import { withExtraOutputs } from '../../src/core/onnx/edit';
import { ModelInfo, decodeModelProto, loadModelInfo } from '../../src/core/onnx/model';
import { pruneModel } from '../../src/core/onnx/prune';
import { measureLatency, quantile, settled, MIN_REPEATS, TIME_BUDGET_MS } from '../../src/engine/latency';
import { runProfile } from '../../src/engine/profile/runProfile';
import { loadOrt } from '../../src/engine/providers';
import { fixture } from './helpers';

/**
 * Measured cost per exit (docs/metrics.md "Cost", measured cost): the pruned graphs are exactly
 * the ancestors and compute exactly the full model's exits; the timing's statistics; and the
 * report of `--cost measured`.
 */

/** The nodes an output depends on, by a plain walk over names (not the code under test's). */
function ancestorsByName(model: ModelInfo, outputs: readonly string[]): number[] {
  const producer = new Map<string, number>();
  model.nodes.forEach((n, i) => n.outputs.forEach((t) => producer.set(t, i)));
  const seen = new Set<number>();
  const todo = [...outputs];
  while (todo.length) {
    const i = producer.get(todo.pop()!);
    if (i === undefined || seen.has(i)) continue;
    seen.add(i);
    todo.push(...model.nodes[i].inputs.filter(Boolean));
  }
  return [...seen].sort((a, b) => a - b);
}

const ROOT = path.join(__dirname, '..', '..');

describe('pruning a model to the graph of exits 0..k', () => {
  const cases: { file: string; input: number[]; stacked?: number; ids?: boolean }[] = [
    { file: fixture('tiny_cnn.onnx'), input: [2, 3, 8, 8] },
    { file: fixture('ext/model.onnx'), input: [2, 3, 8, 8] },
    { file: fixture('stacked_nec.onnx'), input: [2, 3, 8, 8], stacked: 3 },
    { file: fixture('tiny_transformer.onnx'), input: [2, 6], ids: true },
  ];
  for (const c of cases) {
    it(`${path.basename(c.file)}: each pruned graph is the ancestors and computes the same exits`, async () => {
      const o = loadOrt();
      const model = loadModelInfo(c.file);
      const bytes = fs.readFileSync(c.file);
      const exits = c.stacked
        ? traceStackedExits(model, model.outputs[0].name, c.stacked)!
        : model.outputs.map((x) => x.name);
      assert.ok(exits.length >= 2);
      const inputName = model.inputs[0].name;
      const size = c.input.reduce((a, b) => a * b, 1);
      const x = c.ids
        ? new o.Tensor(
            'int64',
            BigInt64Array.from({ length: size }, (_, i) => BigInt((i * 7) % 20)),
            c.input,
          )
        : new o.Tensor(
            'float32',
            Float32Array.from({ length: size }, (_, i) => Math.sin(i)),
            c.input,
          );
      const extra = { session: { model_external_initializers_file_folder_path: path.dirname(c.file) } };
      const full = await o.InferenceSession.create(withExtraOutputs(bytes, decodeModelProto(bytes, c.file), exits), {
        extra,
      });
      const want = await full.run({ [inputName]: x }, exits);
      for (let k = 0; k < exits.length; k++) {
        const pruned = pruneModel(bytes, model, exits.slice(0, k + 1));
        const tmp = { ...decodeModelProto(pruned.bytes, c.file) };
        const prunedModel = loadModelInfo(c.file); // the original, for names
        // The pruned file holds exactly the ancestors of exits 0..k, in the original order.
        const keptNodes = (tmp.graph.node as { output: string[]; opType: string }[]).map((n) => n.output.join(','));
        const wantNodes = ancestorsByName(prunedModel, exits.slice(0, k + 1)).map((i) =>
          prunedModel.nodes[i].outputs.join(','),
        );
        assert.deepEqual(keptNodes, wantNodes, `exit ${k}: nodes`);
        if (k < exits.length - 1) assert.ok(keptNodes.length < prunedModel.nodes.length, `exit ${k} leaves nodes out`);
        const s = await o.InferenceSession.create(pruned.bytes, { extra });
        const got = await s.run({ [inputName]: x }, exits.slice(0, k + 1));
        for (const t of exits.slice(0, k + 1))
          assert.deepEqual(
            Array.from(got[t].data as Float32Array),
            Array.from(want[t].data as Float32Array),
            `exit ${k}: ${t}`,
          );
        await s.release();
      }
      await full.release();
    });
  }

  it('keeps only the initializers the kept nodes read', () => {
    const file = fixture('tiny_cnn.onnx');
    const model = loadModelInfo(file);
    const bytes = fs.readFileSync(file);
    const first = model.outputs[0].name;
    const pruned = decodeModelProto(pruneModel(bytes, model, [first]).bytes, file);
    const read = new Set((pruned.graph.node as { input: string[] }[]).flatMap((n) => n.input));
    const kept = (pruned.graph.initializer as { name: string }[]).map((t) => t.name);
    assert.ok(kept.length > 0 && kept.length < model.initializerShapes.size);
    for (const name of kept) assert.ok(read.has(name), `${name} is read by a kept node`);
    assert.deepEqual(
      (pruned.graph.output as { name: string }[]).map((v) => v.name),
      [first],
    );
  });
});

describe('the timing statistics', () => {
  it('quantiles interpolate between ranks', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([1, 2, 3, 4, 5], 0.25), 2);
    assert.equal(quantile([10], 0.75), 10);
  });
  it('repeats until the median is stable, within a budget', () => {
    assert.equal(settled(Array(MIN_REPEATS - 1).fill(1), 0), false, 'too few repeats');
    assert.equal(settled(Array(MIN_REPEATS + 3).fill(1), 0), true, 'a flat series is stable');
    // Rising: the median of all moves away from the median without the last five.
    const rising = Array.from({ length: 12 }, (_, i) => 1 + i);
    assert.equal(settled(rising, 0), false);
    assert.equal(settled(rising, TIME_BUDGET_MS), true, 'the budget ends it');
  });
});

describe('measured latency on the CPU', () => {
  it('grows with k on a model whose blocks are much heavier than its heads', async () => {
    const o = loadOrt();
    const file = path.join(ROOT, 'bench', 'models', 'cnn.onnx');
    const model = loadModelInfo(file);
    const B = 8;
    const data = Float32Array.from({ length: B * 3 * 32 * 32 }, (_, i) => Math.cos(i));
    const feeds = { x: new o.Tensor('float32', data, [B, 3, 32, 32]) };
    const feeds1 = { x: new o.Tensor('float32', data.slice(0, 3 * 32 * 32), [1, 3, 32, 32]) };
    const measure = () =>
      measureLatency({
        modelBytes: fs.readFileSync(file),
        model,
        exitTensors: model.outputs.map((x) => x.name),
        provider: 'cpu',
        threads: 1,
        feeds,
        feeds1,
        batchSize: B,
      });
    // Timing on a shared machine: another process can slow one graph's runs. A run of three
    // measurements passes when one of them orders the exits (each is a median already).
    let m = await measure();
    const ordered = (x: typeof m) => x.exits.every((l, k) => k === 0 || l.batch > x.exits[k - 1].batch);
    for (let attempt = 1; attempt < 3 && !ordered(m); attempt++) m = await measure();
    const per = m.exits.map((l) => l.batch);
    for (let k = 1; k < per.length; k++)
      assert.ok(per[k] > per[k - 1], `exit ${k} (${per[k]} ms) after exit ${k - 1} (${per[k - 1]} ms)`);
    // The last exit's graph is the whole model: at least the baseline (the model without its early heads), within noise.
    assert.ok(per[per.length - 1] > 0.8 * m.baseline.batch);
    for (const l of [...m.exits, m.baseline]) {
      assert.equal(l.batchSize, B);
      assert.ok(l.repeats.batch >= MIN_REPEATS && l.repeats.batch1 >= MIN_REPEATS);
      assert.ok(l.spread.batch >= 0);
    }
  });
});

describe('profile --cost measured', () => {
  it('reports per-exit latency beside the MACs and computes speed-ups from it', async () => {
    const report = await runProfile(
      {
        type: 'profile',
        id: 'm',
        modelPath: fixture('tiny_cnn.onnx'),
        samplesPath: fixture('cnn_samples.npz'),
        executionProviders: ['cpu'],
        cost: 'measured',
        batchSize: 16,
      },
      () => undefined,
    );
    assert.equal(report.cost.source, 'measured');
    assert.equal(report.cost.measured!.unavailable, null);
    assert.equal(report.cost.measured!.provider, 'cpu');
    assert.equal(report.cost.measured!.batchSize, 16);
    const lat = report.exits.map((e) => e.latency!.batch);
    assert.ok(lat.every((v) => v > 0));
    // The MACs stay static: exit 0's is below the final's.
    assert.ok(report.exits[0].macs < report.exits[2].macs);
    // The frontier by MACs for the report's MACs axis: by ascending mean MACs, each a histogram's mean of the exits' MACs.
    const mf = report.curves.macsFrontier!;
    assert.ok(mf.length > 0);
    mf.forEach((f, i) => {
      assert.ok(f.meanCost >= report.exits[0].macs && f.meanCost <= report.exits[2].macs);
      if (i > 0) assert.ok(f.meanCost > mf[i - 1].meanCost && f.quality > mf[i - 1].quality);
    });
    // Each policy's mean cost and speed-up are the histogram's measured latencies.
    for (const p of report.policies) {
      const n = p.exitHistogram.reduce((a, b) => a + b, 0);
      const mean = p.exitHistogram.reduce((a, h, k) => a + h * lat[k], 0) / n;
      assert.ok(Math.abs(p.meanCost - mean) <= 1e-12 * Math.max(1, mean), `${p.kind} ${p.threshold} mean cost`);
      assert.ok(Math.abs(p.speedup! - report.baselineLatency!.batch / mean) <= 1e-9 * p.speedup!);
    }
  });

  it('says why a stack no Concat builds has no measured cost, and keeps the static costs', async () => {
    // reshape_stack.onnx: one MatMul to N x 6, reshaped to [N, 3, 2] (test/fixtures/make_reshape_stack.py).
    const report = await runProfile(
      {
        type: 'profile',
        id: 'u',
        modelPath: fixture('reshape_stack.onnx'),
        samplesPath: fixture('reshape_stack_samples.npz'),
        executionProviders: ['cpu'],
        cost: 'measured',
      },
      () => undefined,
    );
    assert.equal(report.exitCount, 3);
    assert.notEqual(report.cost.source, 'measured');
    assert.match(report.cost.measured!.unavailable!, /not built by a Concat of one tensor per exit/);
    assert.ok(report.warnings.some((w) => w.code === 'latency-unavailable'));
    assert.equal(report.baselineLatency, undefined);
    assert.ok(report.exits.every((e) => e.latency === undefined));
  });

  it('refuses an unknown cost and --cost measured with --exit-costs', async () => {
    const base = {
      type: 'profile' as const,
      id: 'x',
      modelPath: fixture('tiny_cnn.onnx'),
      samplesPath: fixture('cnn_samples.npz'),
      executionProviders: ['cpu'],
    };
    await assert.rejects(
      runProfile({ ...base, cost: 'timed' as 'measured' }, () => undefined),
      (e: Error & { hint?: string }) => /not one Exit Lens knows/.test(e.message) && /--cost static/.test(e.hint ?? ''),
    );
    await assert.rejects(
      runProfile({ ...base, cost: 'measured', exitCosts: [1, 2, 3] }, () => undefined),
      /both give the costs/,
    );
  });
});
