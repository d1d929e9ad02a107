import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { settling } from '../../src/core/analysis/overthinking';
import { allocateRecords } from '../../src/core/records/records';
import { visitPositions } from '../../src/core/tokens/tokens';
import { runProfile } from '../../src/engine/profile/runProfile';
import { TokenPlan } from '../../src/engine/exitPlan';
import { TOKEN_LOGITS_BUDGET, tokenBatch } from '../../src/engine/tokenRun';
import type { Report } from '../../src/shared/reportTypes';
import { close, expected, fixture } from './helpers';
import Ajv2020 from 'ajv/dist/2020';

const validate = new Ajv2020({ allErrors: true, strict: false }).compile(
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'report.schema.json'), 'utf8')),
);

/**
 * Token-level exits (docs/metrics.md "Token-level exits"): positions and labels by hand; a tiny
 * decoder's per-token figures against the numpy reference (test/fixtures/tokens/make_tokens.py,
 * per output and stacked, next-token labels and a labels array with -100); the settling exit
 * against a plain loop; the batch chosen from the output size.
 */

const TOL = 1e-9;

function positionsOf(ids: number[], mask: number[] | null, labels: number[] | null, rows: number, T: number) {
  const out: [number, number, number][] = [];
  const i32 = (a: number[] | null) => (a ? Int32Array.from(a) : null);
  visitPositions(i32(ids)!, i32(mask), i32(labels), rows, T, (r, t, y) => out.push([r, t, y]));
  return out;
}

describe('token positions and their labels', () => {
  it('every position but the last, labelled by the next token, without a mask', () => {
    // One sequence [5, 6, 7, 8]: positions 0, 1, 2 predict 6, 7, 8.
    assert.deepEqual(positionsOf([5, 6, 7, 8], null, null, 1, 4), [
      [0, 0, 6],
      [0, 1, 7],
      [0, 2, 8],
    ]);
  });

  it('right and left padding: both t and t + 1 must be unmasked', () => {
    // Row 0 right-padded after 3 tokens: positions 0 and 1. Row 1 left-padded by 2: positions 2 and 3 (t = 1 → 2 has a masked t).
    const ids = [4, 5, 6, 0, 0, 0, 0, 7, 8, 9];
    const mask = [1, 1, 1, 0, 0, 0, 0, 1, 1, 1];
    assert.deepEqual(positionsOf(ids, mask, null, 2, 5), [
      [0, 0, 5],
      [0, 1, 6],
      [1, 2, 8],
      [1, 3, 9],
    ]);
  });

  it('a labels array replaces the next token, and -100 skips a position', () => {
    // Unshifted labels: position t takes labels[t + 1]; labels[2] = -100 skips position 1.
    const ids = [1, 2, 3, 4];
    const labels = [-100, 12, -100, 14];
    assert.deepEqual(positionsOf(ids, null, labels, 1, 4), [
      [0, 0, 12],
      [0, 2, 14],
    ]);
  });

  it('int64 ids (BigInt64Array) read as numbers', () => {
    const ids = BigInt64Array.from([3n, 1n, 2n]);
    const got: number[] = [];
    visitPositions(ids, null, null, 1, 3, (_r, _t, y) => got.push(y));
    assert.deepEqual(got, [1, 2]);
  });
});

describe('the settling exit', () => {
  it('matches a plain reading of the definition', () => {
    // E = 4; preds per sample; s = the smallest k with pred_j = pred_3 for all j ≥ k.
    const preds = [
      [1, 1, 1, 1], // 0
      [2, 1, 1, 1], // 1
      [1, 2, 1, 1], // 2
      [1, 1, 1, 2], // 3
      [-1, -1, 3, -1], // 3 (a non-finite output equals another, as agreement counts it)
      [-1, -1, -1, -1], // 0
    ];
    const rec = allocateRecords(preds.length, 4, 5, null);
    preds.forEach((p, n) => p.forEach((v, k) => (rec.pred[n * 4 + k] = v)));
    const s = settling(rec);
    assert.deepEqual(s.settlingHistogram, [2, 1, 1, 2]);
    close(s.meanSettlingExit, (0 + 1 + 2 + 3 + 3 + 0) / 6, 1e-15, 'mean');
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function compare(report: Report, x: any, what: string, tol = TOL) {
  assert.equal(report.samples.N, x.N, `${what}: positions`);
  report.exits.forEach((e, k) => {
    const w = x.exits[k];
    // Counts exactly (every top-1 of the fixture is clear of the next by 2e-4); ONNX Runtime's
    // float32 logits differ from PyTorch's in the last bits, so the means of probabilities to `tol`.
    close(e.accuracy, w.accuracy, TOL, `${what} exit ${k} accuracy`);
    close(e.meanConfidence, w.meanConfidence, tol, `${what} exit ${k} meanConfidence`);
    close(e.meanEntropy, w.meanEntropy, tol, `${what} exit ${k} meanEntropy`);
    close(e.ece, w.ece, tol, `${what} exit ${k} ece`);
    close(e.nll, w.nll, tol, `${what} exit ${k} nll`);
    close(e.agreement, w.agreement, TOL, `${what} exit ${k} agreement (consistency)`);
  });
  const o = report.overthinking!;
  close(o.oracleAccuracy, x.overthinking.oracleAccuracy, TOL, `${what} oracle accuracy`);
  close(o.destructiveRate, x.overthinking.destructiveRate, TOL, `${what} destructive`);
  assert.deepEqual(o.firstCorrectHistogram, x.overthinking.firstCorrectHistogram, `${what} first correct`);
  assert.deepEqual(o.settlingHistogram, x.overthinking.settlingHistogram, `${what} settling`);
  close(o.meanSettlingExit, x.overthinking.meanSettlingExit, TOL, `${what} mean settling`);
}

describe('a decoder profiled per token position', () => {
  const exp = expected('tokens/tokens_expected.json');
  for (const model of ['decoder.onnx', 'decoder_stacked.onnx']) {
    for (const [samples, key] of [
      ['tokens.npz', 'plain'],
      ['tokens_labels.npz', 'labelled'],
    ] as const) {
      it(`${model} on ${samples}: every per-token figure matches the reference`, async () => {
        const report = await runProfile(
          {
            type: 'profile',
            id: 't',
            modelPath: fixture(`tokens/${model}`),
            samplesPath: fixture(`tokens/${samples}`),
            executionProviders: ['cpu'],
            batchSize: 5,
          },
          () => undefined,
        );
        assert.equal(report.model!.exitLayout.tokens, true);
        assert.equal(report.classCount, exp.V);
        assert.equal(report.exitCount, exp.E);
        const t = report.samples.tokens!;
        assert.equal(t.sequences, 24);
        assert.equal(t.length, exp.T);
        assert.equal(t.positions, exp[key].N);
        assert.equal(t.labels, key === 'plain' ? 'next-token' : 'labels-array');
        assert.equal(t.mask, 'attention_mask');
        compare(report, exp[key], `${model} ${samples}`, 1e-6);
        // Every policy, curve, suggestion and guarantee then counts positions.
        assert.equal(
          report.policies[0].exitHistogram.reduce((a, b) => a + b, 0),
          exp[key].N,
        );
        assert.equal(report.guarantees!.length, 4);
        assert.ok(validate(JSON.parse(JSON.stringify(report))), JSON.stringify(validate.errors));
      });
    }
  }

  it('with a calibration set of other sequences, and the drill-down shows the tokens before a position', async () => {
    const report = await runProfile(
      {
        type: 'profile',
        id: 'c',
        modelPath: fixture('tokens/decoder.onnx'),
        samplesPath: fixture('tokens/tokens.npz'),
        calibPath: fixture('tokens/tokens_calib.npz'),
        executionProviders: ['cpu'],
      },
      () => undefined,
    );
    // 16 unpadded sequences of 8 tokens: 7 positions each.
    assert.equal(report.samples.calibration.sampleCount, 16 * 7);
    assert.deepEqual(report.samples.tokens!.calibration, { sequences: 16, positions: 112 });
    const d = report.drilldown!;
    assert.equal(d.destructiveCount, Math.round(exp.plain.overthinking.destructiveRate * exp.plain.N));
    for (const s of d.samples) {
      assert.equal(s.input?.kind, 'tokens');
      const [seq, t] = exp.plain.positions[s.index];
      // The context ends with the token at position t (whose next token is the label).
      assert.ok(s.input && s.input.kind === 'tokens' && s.input.ids.length === Math.min(48, t + 1));
      assert.equal(s.label, exp.plain.labels[s.index], `label of position ${s.index} (sequence ${seq}, t ${t})`);
    }
  });

  it('the token view: the first sequences, each valid position with its per-layer predictions, and the vocabulary shown', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-vocab-'));
    try {
      const vocabFile = path.join(dir, 'vocab.json');
      fs.writeFileSync(
        vocabFile,
        JSON.stringify(Array.from({ length: exp.V }, (_, i) => (i === 0 ? '<pad>' : `w${i}`))),
      );
      const report = await runProfile(
        {
          type: 'profile',
          id: 'v',
          modelPath: fixture('tokens/decoder.onnx'),
          samplesPath: fixture('tokens/tokens.npz'),
          vocabPath: vocabFile,
          executionProviders: ['cpu'],
        },
        () => undefined,
      );
      const view = report.tokenView!;
      assert.equal(view.sequences.length, 12, 'the first 12 of 24 sequences');
      assert.equal(view.vocabPath, vocabFile);
      // The positions of each shown sequence are exactly the reference's, with their labels.
      const bySeq = new Map<number, [number, number][]>();
      exp.plain.positions.forEach(([seq, t]: [number, number], i: number) =>
        bySeq.set(seq, [...(bySeq.get(seq) ?? []), [t, i]]),
      );
      for (const s of view.sequences) {
        const want = bySeq.get(s.index) ?? [];
        assert.deepEqual(
          s.positions.map((p) => [p.t, p.sample]),
          want,
          `sequence ${s.index}`,
        );
        for (const p of s.positions) {
          assert.equal(p.label, exp.plain.labels[p.sample]);
          assert.equal(p.preds.length, exp.E);
          assert.equal(p.label, s.ids[p.t + 1], 'next-token label');
          for (const id of [...p.preds, ...s.ids]) assert.equal(view.vocab![id], id === 0 ? '<pad>' : `w${id}`);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a vocabulary with a classifier is refused', async () => {
    await assert.rejects(
      runProfile(
        {
          type: 'profile',
          id: 'c',
          modelPath: fixture('tiny_cnn.onnx'),
          samplesPath: fixture('cnn_samples.npz'),
          vocabPath: fixture('tokens/tokens_expected.json'),
          executionProviders: ['cpu'],
        },
        () => undefined,
      ),
      /not a decoder/,
    );
  });

  it('analyze reads token-level logits [E, N, V] the same way', async () => {
    const report = await runAnalyze(
      { type: 'analyze', id: 'a', logitsPath: fixture('tokens/token_logits.npz') },
      () => undefined,
    );
    compare(report, exp.plain, 'logits file');
  });

  it('one label per sequence is refused for a decoder, with what labels must be', async () => {
    const { writeNpz } = await import('../../bench/npzWriter');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-tokens-'));
    try {
      const file = path.join(dir, 'seq_labels.npz');
      await writeNpz(file, [
        {
          name: 'input_ids',
          descr: '<i8',
          shape: [4, 8],
          fill: (o, row, rows) => (o as BigInt64Array).fill(3n, 0, rows * 8),
        },
        {
          name: 'attention_mask',
          descr: '<i8',
          shape: [4, 8],
          fill: (o, row, rows) => (o as BigInt64Array).fill(1n, 0, rows * 8),
        },
        { name: 'labels', descr: '<i8', shape: [4], fill: (o, row, rows) => (o as BigInt64Array).fill(1n, 0, rows) },
      ]);
      await assert.rejects(
        runProfile(
          {
            type: 'profile',
            id: 'l',
            modelPath: fixture('tokens/decoder.onnx'),
            samplesPath: file,
            executionProviders: ['cpu'],
          },
          () => undefined,
        ),
        (e: Error & { hint?: string }) =>
          /for a decoder, labels are integer token ids of shape \(4, 8\)/.test(e.message) && /-100/.test(e.hint ?? ''),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the batch of sequences, chosen from the output size', () => {
  const plan = (E: number, T: number, V: number): TokenPlan => ({
    layout: { kind: 'per-output', outputs: [], orderedBy: 'mapping', classes: V, tokens: true },
    exitCount: E,
    classCount: V,
    names: [],
    fetches: [],
    length: T,
  });
  it('keeps the asked batch when its logits fit', () => {
    // 4 exits × 128 tokens × 1000 × 4 bytes = 2 MB a sequence: 64 fit in 128 MB.
    assert.deepEqual(tokenBatch(64, plan(4, 128, 1000)), { batch: 64, note: null });
  });
  it('lowers it to what fits, and says so', () => {
    // 12 exits × 2048 tokens × 50,000 × 4 bytes = 4.9 GB a sequence: one at a time.
    const b = tokenBatch(64, plan(12, 2048, 50_000));
    assert.equal(b.batch, 1);
    assert.match(b.note!, /one sequence is already more/);
    // 8 × 256 × 32,000 × 4 = 262 MB a sequence: over the budget, so 1.
    const perSequence = 8 * 256 * 32_000 * 4;
    assert.equal(
      tokenBatch(16, plan(8, 256, 32_000)).batch,
      Math.max(1, Math.floor(TOKEN_LOGITS_BUDGET / perSequence)),
    );
  });
});

describe('memory at a vocabulary of 50,000', () => {
  it('the position index of a long set is bounded before it is read', async () => {
    const { writeWideSequences } = await import('../../bench/tokens');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-positions-'));
    try {
      // 150,000 sequences of 64 tokens: at most 150,000 × 63 = 9,450,000 positions, 8 bytes each
      // (75.6 MB) on top of a run that otherwise fits in 200 MiB.
      const samples = path.join(dir, 'long.npz');
      await writeWideSequences(samples, 150_000);
      await assert.rejects(
        runProfile(
          {
            type: 'profile',
            id: 'p',
            modelPath: path.join(__dirname, '..', '..', 'bench', 'models', 'decoder_wide.onnx'),
            samplesPath: samples,
            executionProviders: ['cpu'],
            maxMemory: 200 * 2 ** 20,
          },
          () => undefined,
        ),
        /the token positions' index \(at most 9,450,000 positions\) 72 MiB/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a limit below what one batch of logits needs is refused up front, saying what takes the memory', async () => {
    const { writeNpz } = await import('../../bench/npzWriter');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-wide-limit-'));
    try {
      const samples = path.join(dir, 'wide.npz');
      const fill = (o: Float32Array | BigInt64Array | Int32Array, _row: number, rows: number) =>
        (o as BigInt64Array).fill(1n, 0, rows * 64);
      await writeNpz(samples, [
        { name: 'input_ids', descr: '<i8', shape: [4, 64], fill },
        { name: 'attention_mask', descr: '<i8', shape: [4, 64], fill },
      ]);
      // 3 exits × 3 sequences × 64 tokens × 50,000 × 4 bytes = 115 MB, about three times that at the peak.
      await assert.rejects(
        runProfile(
          {
            type: 'profile',
            id: 'm',
            modelPath: path.join(__dirname, '..', '..', 'bench', 'models', 'decoder_wide.onnx'),
            samplesPath: samples,
            executionProviders: ['cpu'],
            maxMemory: 300 * 2 ** 20,
          },
          () => undefined,
        ),
        (e: Error & { hint?: string }) =>
          /one batch's logits at their peak \(about 3 × 3 exits × 3 sequences × 64 tokens × 50,000 × 4 bytes\) 330 MiB/.test(
            e.message,
          ) && /shorter sequences/.test(e.hint ?? ''),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('profiling stays under 800 MB, where the asked batch of 64 would hold 2.4 GB of logits alone', async () => {
    const { writeWideSequences } = await import('../../bench/tokens');
    const { runNodeChild } = await import('../../bench/childRun');
    const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
    assert.ok(fs.existsSync(cli), 'dist/cli.js is built (npm run build)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-wide-'));
    try {
      const samples = path.join(dir, 'wide.npz');
      await writeWideSequences(samples, 24);
      const out = path.join(dir, 'report.json');
      const model = path.join(__dirname, '..', '..', 'bench', 'models', 'decoder_wide.onnx');
      const run = runNodeChild(
        dir,
        [cli, 'profile', model, '--samples', samples, '--ep', 'cpu', '--batch', '64', '--quiet', '--json', out],
        dir,
      );
      const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
      // 24 sequences × 63 positions, 3 exits; 3 × 64 × 50,000 × 4 bytes = 38.4 MB of logits a sequence.
      assert.equal(report.samples.N, 24 * 63);
      assert.equal(report.classCount, 50_000);
      assert.ok(
        report.warnings.some((w) => w.code === 'token-batch' && /Batches of 3 sequences instead of 64/.test(w.message)),
      );
      assert.ok(run.maxRssMB < 800, `peak resident memory ${run.maxRssMB.toFixed(0)} MB`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the example decoder (examples/char-decoder)', () => {
  // Expected figures from PyTorch's logits in numpy (make_model.py with test/reference/reference.py).
  const exp = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', '..', 'examples', 'char-decoder', 'expected.json'), 'utf8'),
  );
  for (const set of ['test.npz', 'test_labels.npz']) {
    it(`${set}: positions, per-layer token accuracy and consistency match the reference`, async () => {
      const report = await runProfile(
        {
          type: 'profile',
          id: 'e',
          modelPath: path.join(__dirname, '..', '..', 'examples', 'char-decoder', 'model.onnx'),
          samplesPath: path.join(__dirname, '..', '..', 'examples', 'char-decoder', set),
          executionProviders: ['cpu'],
        },
        () => undefined,
      );
      const x = exp[set];
      assert.equal(report.samples.N, x.N);
      assert.equal(report.samples.tokens!.sequences, x.sequences);
      report.exits.forEach((e, k) => {
        // ONNX Runtime's logits differ from PyTorch's by up to ~1e-5: a near-tie may go the other way.
        close(e.accuracy, x.exits[k].accuracy, 2 / x.N, `exit ${k} accuracy`);
        close(e.agreement, x.exits[k].agreement, 2 / x.N, `exit ${k} consistency`);
        close(e.meanConfidence, x.exits[k].meanConfidence, 1e-5, `exit ${k} mean confidence`);
      });
    });
  }
});
