/**
 * The engine end to end, in process, on the fixture models: figures against the reference
 * implementation run on PyTorch's logits, every sample-set layout, stacked exits, external
 * data, fixed batch, casting, unlabelled sets, NaN logits, execution-provider fallback,
 * progress and cancellation.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ExitLensError } from '../../src/core/errors';
import { Report } from '../../src/core/analysis/analyze';
import { discoverySessionsCreated } from '../../src/engine/costDiscovery';
import { runProfile } from '../../src/engine/profile/runProfile';
import { createSessionWithFallback } from '../../src/engine/providers';
import { ProfileRequest } from '../../src/shared/engineProtocol';
import { close, collect, expected, fixture, tmpDir } from './helpers';

function profile(
  model: string,
  samples: string,
  extra: Partial<ProfileRequest> = {},
  emit = collect().emit,
  signal?: AbortSignal,
): Promise<Report> {
  return runProfile(
    {
      type: 'profile',
      id: 't',
      modelPath: fixture(model),
      samplesPath: fixture(samples),
      executionProviders: ['cpu'],
      ...extra,
    },
    emit,
    signal,
  );
}

// ONNX Runtime and PyTorch logits agree to ~1e-6; predictions exactly (the fixtures keep top-1 gaps > 1e-3).
const LOGIT_TOL = 1e-5;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function matchesReference(r: Report, exp: any, labelled = true) {
  const exits = labelled ? exp.exits : exp.unlabelled;
  r.exits.forEach((e, k) => {
    close(e.accuracy, exits[k].accuracy, 0, `exit ${k} accuracy`);
    close(e.agreement, exits[k].agreement, 0, `exit ${k} agreement`);
    close(e.meanConfidence, exits[k].meanConfidence, LOGIT_TOL, `exit ${k} meanConfidence`);
    close(e.meanEntropy, exits[k].meanEntropy, LOGIT_TOL, `exit ${k} meanEntropy`);
    close(e.ece, exits[k].ece, LOGIT_TOL, `exit ${k} ece`);
    close(e.nll, exits[k].nll, LOGIT_TOL, `exit ${k} nll`);
    assert.equal(e.macs, exp.cost[k]);
  });
  assert.equal(r.baselineMacs, exp.baseline);
  if (labelled) {
    assert.deepEqual(r.overthinking!.firstCorrectHistogram, exp.overthinking.firstCorrectHistogram);
    close(r.overthinking!.destructiveRate, exp.overthinking.destructiveRate, 0, 'destructive');
    close(r.overthinking!.wastefulRate, exp.overthinking.wastefulRate, 0, 'wasteful');
    r.policies.forEach((p, i) => {
      assert.deepEqual(p.exitHistogram, exp.policies[i].exitHistogram, `${p.kind} ${p.threshold}`);
      close(p.accuracy, exp.policies[i].accuracy, 0, `${p.kind} ${p.threshold} accuracy`);
    });
  }
}

describe('profiling the fixture models', () => {
  const cnn = expected('cnn_expected.json');

  it('CNN with per-output exits matches the reference, on CPU', async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz');
    matchesReference(r, cnn);
    assert.equal(r.executionProvider!.used, 'cpu');
    assert.equal(r.samples.sampleCount, 50);
    assert.equal(r.samples.labelArray, 'label');
    assert.deepEqual(r.model!.exitLayout, {
      kind: 'per-output',
      outputs: ['exit_0', 'exit_1', 'exit_2'],
      orderedBy: 'name-suffix',
    });
    assert.equal(r.samples.calibration.source, 'split');
    assert.ok(r.warnings.some((w) => w.code === 'calibration-split'));
  });

  it('the same figures from a deflated .npz, float64 inputs (cast, said so), batch sizes 1 and 7', async () => {
    for (const [samples, batch] of [
      ['cnn_samples_deflated.npz', 64],
      ['cnn_samples_f64.npz', 7],
      ['cnn_samples.npz', 1],
    ] as const) {
      const r = await profile('tiny_cnn.onnx', samples, { batchSize: batch });
      matchesReference(r, cnn);
      assert.equal(
        r.warnings.some((w) => w.code === 'input-cast'),
        samples === 'cnn_samples_f64.npz',
      );
    }
  });

  it('stacked [N,E,C] and [E,N,C] outputs, external data and a fixed batch of 1 give the same figures and costs', async () => {
    for (const model of ['stacked_nec.onnx', 'stacked_enc.onnx', 'ext/model.onnx', 'tiny_cnn_fixed1.onnx']) {
      const r = await profile(model, 'cnn_samples.npz', { batchSize: 16 });
      matchesReference(r, cnn);
    }
    // The stack followed by a temperature and a log-softmax: the same static costs, no fallback.
    const post = await profile('stacked_post.onnx', 'cnn_samples.npz', { batchSize: 16 });
    assert.deepEqual(
      post.exits.map((e) => e.macs),
      cnn.cost,
    );
    assert.equal(post.baselineMacs, cnn.baseline);
    assert.equal(post.cost.source, 'static');
    assert.ok(!post.warnings.some((w) => w.code === 'cost-untraceable'));
  });

  it('suggestions are fitted on a calibration file when given', async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz', { calibPath: fixture('cnn_calib.npz') });
    assert.equal(r.samples.calibration.source, 'file');
    assert.equal(r.samples.calibration.sampleCount, 40);
    for (const kind of ['confidence', 'entropy', 'margin', 'patience'] as const) {
      const s = r.suggestions.find((x) => x.policy === kind)!;
      const x = cnn.suggestions[kind];
      assert.deepEqual(s.test.exitHistogram, x.test.exitHistogram, kind);
      close(s.test.accuracy, x.test.accuracy, 0, `${kind} test accuracy`);
      close(s.calibration.accuracy, x.calibration.accuracy, 0, `${kind} calibration accuracy`);
    }
  });

  it('an unlabelled .npy gives agreement-only figures and says so', async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_inputs.npy');
    matchesReference(r, cnn, false);
    assert.equal(r.samples.labelled, false);
    assert.equal(r.overthinking, null);
    assert.ok(r.warnings.some((w) => w.code === 'unlabelled'));
    assert.equal(r.suggestions[0].targetMetric, 'agreement');
  });

  it('transformer: int32 token ids cast to int64, MatMul costs, depth order', async () => {
    // MACs by hand, L = 6 tokens, d = 8, 2 heads of 4, feed-forward 16, per block:
    //   q, k, v, o projections [6,8]x[8,8]:        4 x 6*8*8    = 1536
    //   scores per head [6,4]x[4,6], 2 heads:       2 x 6*6*4    =  288
    //   attention x values [6,6]x[6,4], 2 heads:    2 x 6*4*6    =  288
    //   feed-forward [6,8]x[8,16] and [6,16]x[16,8]: 2 x 6*8*16  = 1536   -> 3648 per block
    //   each head: Gemm [1,8]x[8,3] = 24.
    // cost(0) = 3648 + 24 = 3672; cost(1) = 3672 + 3648 + 24 = 7344; baseline = 2 x 3648 + 24 = 7320.
    const r = await profile('tiny_transformer.onnx', 'transformer_samples.npz');
    matchesReference(r, expected('transformer_expected.json'));
    assert.deepEqual(
      r.exits.map((e) => e.name),
      ['early_exit_1', 'logits'],
    );
  });

  it('NaN logits are counted per exit, reported, and count as wrong', async () => {
    const r = await profile('nan_net.onnx', 'nan_samples.npz');
    const exp = expected('nan_expected.json');
    assert.deepEqual(
      r.exits.map((e) => e.nonFiniteCount),
      [0, 10, 0],
    );
    r.exits.forEach((e, k) => close(e.accuracy, exp.exits[k].accuracy, 0, `exit ${k}`));
    assert.ok(
      r.warnings.some((w) => w.code === 'non-finite-logits' && /exit_1/.test(w.message) && /10 of 30/.test(w.message)),
    );
  });

  it("drill-down: the destructive samples, with each exit's prediction and an image preview", async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz', { batchSize: 7 });
    const d = r.drilldown!;
    // The reference's destructive rate over N = 50 samples.
    assert.equal(d.destructiveCount, Math.round(cnn.overthinking.destructiveRate * 50));
    assert.equal(d.samples.length, d.destructiveCount);
    for (const s of d.samples) {
      assert.notEqual(s.preds[2], s.label, 'wrong at the final exit');
      assert.ok(s.firstCorrect >= 0 && s.preds[s.firstCorrect] === s.label, 'right at its first correct exit');
      assert.equal(s.input?.kind, 'image');
      if (s.input?.kind === 'image') {
        assert.deepEqual([s.input.width, s.input.height, s.input.channels], [8, 8, 3]);
        assert.equal(Buffer.from(s.input.pixels, 'base64').length, 8 * 8 * 3);
      }
    }
    const tokens = await profile('tiny_transformer.onnx', 'transformer_samples.npz');
    for (const s of tokens.drilldown!.samples) assert.equal(s.input?.kind, 'tokens');
  });

  it('per-sample records on request', async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz', { includeRecords: true });
    assert.equal(r.records!.pred.length, 150);
    const acc0 = r.records!.labels!.filter((y, n) => r.records!.pred[n * 3] === y).length / 50;
    close(acc0, cnn.exits[0].accuracy, 0, 'accuracy from records');
  });
});

describe('execution providers', () => {
  it('CUDA requested without a GPU: a CPU run, and the reason CUDA was not used', async () => {
    const { events, emit } = collect();
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz', { executionProviders: ['cuda', 'cpu'] }, emit);
    assert.equal(r.executionProvider!.used, 'cpu');
    const cuda = r.executionProvider!.attempts[0];
    assert.equal(cuda.provider, 'cuda');
    assert.equal(cuda.ok, false);
    assert.match(cuda.reason!, /CUDA|cuda/);
    assert.ok(r.warnings.some((w) => w.code === 'provider-fallback'));
    assert.ok(events.some((e) => e.type === 'provider' && e.info.used === 'cpu'));
  });

  it('a GPU provider whose library is missing is not attempted; one that fails in ONNX Runtime falls back with its words', async () => {
    const logs: string[] = [];
    const skipped = await createSessionWithFallback({ model: fixture('tiny_cnn.onnx') }, ['cuda', 'cpu'], 1, {
      log: (m) => logs.push(m),
    });
    await skipped.session.release();
    assert.equal(skipped.info.used, 'cpu');
    assert.match(skipped.info.attempts[0].reason!, /libonnxruntime_providers_cuda\.so is not installed/);
    assert.ok(logs.some((m) => /cuda skipped/.test(m)));
    // Made to try anyway, ONNX Runtime's own failure is recorded and the CPU still runs.
    const tried = await createSessionWithFallback({ model: fixture('tiny_cnn.onnx') }, ['cuda', 'cpu'], 1, {
      tryMissing: true,
    });
    await tried.session.release();
    assert.equal(tried.info.used, 'cpu');
    assert.equal(tried.info.attempts[0].ok, false);
    assert.doesNotMatch(tried.info.attempts[0].reason!, /is not installed/);
    assert.ok(tried.info.attempts[0].reason!.length > 0);
  });

  it('CUDA alone, unavailable: a provider error that says how to fall back', async () => {
    await assert.rejects(
      profile('tiny_cnn.onnx', 'cnn_samples.npz', { executionProviders: ['cuda'] }),
      (e: unknown) => {
        const err = e as ExitLensError;
        return err.code === 'provider-unavailable' && /cuda/.test(err.message) && /--ep cuda,cpu/.test(err.hint ?? '');
      },
    );
  });

  it('WebGPU then CPU on a machine without a usable GPU: a CPU run with the reason and the next step', async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz', { executionProviders: ['webgpu', 'cpu'] });
    const ep = r.executionProvider!;
    assert.equal(ep.used, 'cpu');
    assert.equal(ep.explicit, true);
    assert.deepEqual(
      ep.attempts.map((a) => [a.provider, a.ok]),
      [
        ['webgpu', false],
        ['cpu', true],
      ],
    );
    // The reason names what is missing here: the loader, or a GPU driver with Vulkan.
    const vulkanLoader = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib'].some((d) =>
      fs.existsSync(path.join(d, 'libvulkan.so.1')),
    );
    assert.match(ep.attempts[0].reason!, vulkanLoader ? /Vulkan support|adapter/ : /libvulkan\.so\.1 is not installed/);
    assert.ok((ep.attempts[0].nextStep ?? '').length > 20);
    assert.ok(
      r.warnings.some((w) => w.code === 'provider-fallback' && /WEBGPU/.test(w.message)),
      'asked for by name: a warning',
    );
    assert.equal(ep.precision, 'fp32');
  });

  it('the default order (nothing asked): cuda, webgpu, cpu tried, the CPU run, and no warning about it', async () => {
    const r = await profile('tiny_cnn.onnx', 'cnn_samples.npz', { executionProviders: undefined });
    const ep = r.executionProvider!;
    assert.deepEqual(ep.requested, ['cuda', 'webgpu', 'cpu']);
    assert.equal(ep.explicit, false);
    assert.equal(ep.used, 'cpu');
    assert.deepEqual(
      ep.attempts.map((a) => a.provider),
      ['cuda', 'webgpu', 'cpu'],
    );
    assert.ok(ep.attempts.slice(0, 2).every((a) => !a.ok && (a.reason ?? '').length > 0));
    assert.ok(!r.warnings.some((w) => w.code === 'provider-fallback'));
  });

  it('a GPU precision other than fp32 or tf32, and a provider named twice, are refused', async () => {
    await assert.rejects(
      profile('tiny_cnn.onnx', 'cnn_samples.npz', { gpuPrecision: 'fp16' }),
      /GPU precision "fp16" is not fp32 or tf32/,
    );
    await assert.rejects(
      profile('tiny_cnn.onnx', 'cnn_samples.npz', { executionProviders: ['cpu', 'CPU'] }),
      /names a provider twice/,
    );
  });

  it('an unknown provider is named in the error', async () => {
    await assert.rejects(
      profile('tiny_cnn.onnx', 'cnn_samples.npz', { executionProviders: ['tpu'] }),
      /Unknown execution provider "tpu"/,
    );
  });
});

describe('progress and cancellation', () => {
  it('progress events count samples and give a rate', async () => {
    const { events, emit } = collect();
    await profile('tiny_cnn.onnx', 'cnn_samples.npz', { batchSize: 10 }, emit);
    const inference = events.filter((e) => e.type === 'progress' && e.phase === 'inference');
    assert.ok(inference.length >= 1);
    const last = inference[inference.length - 1];
    assert.ok(last.type === 'progress' && last.done === 50 && last.total === 50);
  });

  it('a cancelled run stops within one batch with a cancellation error', async () => {
    const controller = new AbortController();
    let batchesAfterAbort = 0;
    const emit = (e: { type: string; phase?: string; done?: number }) => {
      if (e.type === 'progress' && e.phase === 'inference') {
        if (controller.signal.aborted) batchesAfterAbort++;
        if (e.done! >= 5) controller.abort();
      }
    };
    await assert.rejects(
      profile('tiny_cnn.onnx', 'cnn_samples.npz', { batchSize: 5 }, emit as never, controller.signal),
      (e: unknown) => (e as ExitLensError).code === 'cancelled',
    );
    assert.equal(batchesAfterAbort, 0);
  });
});

describe('the cost discovery in an engine that stays up', () => {
  const cnn = expected('cnn_expected.json');
  const costsOf = (r: Report) => ({ macs: r.exits.map((e) => e.macs), baseline: r.baselineMacs, cost: r.cost });

  it('a re-run of the same model and first sample reuses the discovery; another first sample, a touched model or touched external data run it again', async () => {
    const dir = tmpDir();
    const model = path.join(dir, 'tiny_cnn.onnx');
    fs.copyFileSync(fixture('tiny_cnn.onnx'), model);
    fs.mkdirSync(path.join(dir, 'ext'));
    for (const f of ['model.onnx', 'model.onnx.data']) fs.copyFileSync(fixture(`ext/${f}`), path.join(dir, 'ext', f));
    const run = (m: string, samples = 'cnn_samples.npz') =>
      runProfile(
        { type: 'profile', id: 't', modelPath: m, samplesPath: fixture(samples), executionProviders: ['cpu'] },
        collect().emit,
      );
    const sessions = () => discoverySessionsCreated();

    let before = sessions();
    const first = await run(model);
    assert.equal(sessions() - before, 1, 'the first run discovers');
    matchesReference(first, cnn);
    before = sessions();
    const again = await run(model);
    assert.equal(sessions() - before, 0, 'a re-run reuses it');
    assert.deepEqual(costsOf(again), costsOf(first));
    matchesReference(again, cnn);

    // Another sample set whose first sample differs: discovered again (the costs come from a run on it).
    const calibFirst = await run(model, 'cnn_calib.npz');
    assert.equal(sessions() - before, 1);
    assert.deepEqual(costsOf(calibFirst).macs, cnn.cost);

    // The model file rewritten in place (same bytes, new times): discovered again.
    before = sessions();
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(model, later, later);
    matchesReference(await run(model), cnn);
    assert.equal(sessions() - before, 1);

    // External data: a touched data file counts as a change of the model.
    const ext = path.join(dir, 'ext', 'model.onnx');
    matchesReference(await run(ext), cnn);
    before = sessions();
    matchesReference(await run(ext), cnn);
    assert.equal(sessions() - before, 0);
    fs.utimesSync(path.join(dir, 'ext', 'model.onnx.data'), later, later);
    matchesReference(await run(ext), cnn);
    assert.equal(sessions() - before, 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
