import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { binomialCdf } from '../../src/core/analysis/binomial';
import { certify, fixedSequence, lossCounts } from '../../src/core/analysis/riskControl';
import { mulberry32 } from '../../src/core/analysis/split';
import { ExitRecords, allocateRecords, fillExitRecords } from '../../src/core/records/records';
import type { PolicyKind, RiskLoss } from '../../src/shared/reportTypes';
import { close, expected, fixture } from './helpers';

/**
 * Thresholds with a guarantee (docs/metrics.md): the binomial tail against exact rational
 * arithmetic and hand-worked values, λ̂ against a brute-force reading of the definition, the
 * report against the numpy/scipy reference (test/reference/make_risk_expected.py), and a
 * simulation that the guarantee holds where the naive rule does not.
 */

/** P(Binomial(n, a/b) ≤ k) in exact rational arithmetic (BigInt), then divided once. */
function exactCdf(k: number, n: number, a: number, b: number): number {
  let num = 0n;
  let choose = 1n;
  const A = BigInt(a);
  const B = BigInt(b);
  for (let i = 0; i <= Math.min(k, n); i++) {
    if (i > 0) choose = (choose * BigInt(n - i + 1)) / BigInt(i);
    num += choose * A ** BigInt(i) * (B - A) ** BigInt(n - i);
  }
  const den = B ** BigInt(n);
  if (num === 0n) return 0;
  // num / den to 64 bits: shift so that the quotient has 64 significant bits, then scale back in steps.
  const shift = den.toString(2).length - num.toString(2).length + 64;
  let v = Number(shift >= 0 ? (num << BigInt(shift)) / den : num / (den << BigInt(-shift)));
  for (let s = shift; s > 0; s -= Math.min(s, 1000)) v /= 2 ** Math.min(s, 1000);
  return v;
}

describe('the exact binomial tail', () => {
  it('matches values worked by hand (n = 10, ε = 0.1, k = 0..3)', () => {
    // 0.9^10; + 10·0.1·0.9^9; + 45·0.01·0.9^8; + 120·0.001·0.9^7
    const hand = [0.3486784401, 0.7360989291, 0.9298091736, 0.9872048016];
    hand.forEach((v, k) => close(binomialCdf(k, 10, 0.1), v, 1e-10, `k = ${k}`));
  });

  it('matches exact rational arithmetic across n, ε and k', () => {
    for (const [n, a, b] of [
      [1, 1, 2],
      [10, 1, 10],
      [37, 3, 10],
      [200, 1, 20],
      [500, 9, 10],
      [1000, 1, 100],
    ]) {
      for (let k = -1; k <= n + 1; k += Math.max(1, Math.floor(n / 97))) {
        const want = k < 0 ? 0 : exactCdf(k, n, a, b);
        const got = binomialCdf(k, n, a / b);
        // Relative accuracy wherever the value is not vanishingly small.
        const tol = Math.max(1e-300, want * 1e-11);
        assert.ok(Math.abs(got - want) <= tol, `n=${n} ε=${a}/${b} k=${k}: ${got} vs ${want}`);
      }
    }
  });

  it('is exact at the edges', () => {
    assert.equal(binomialCdf(5, 5, 0.3), 1);
    assert.equal(binomialCdf(-1, 5, 0.3), 0);
    assert.equal(binomialCdf(0, 0, 0.3), 1);
    assert.equal(binomialCdf(2, 10, 0), 1);
    assert.equal(binomialCdf(2, 10, 1), 0);
  });
});

/** Records of N samples and E exits from random logits; `nanShare` of the outputs are NaN. */
function randomRecords(seed: number, N: number, E: number, C: number, opts: { nanShare?: number; ties?: boolean }) {
  const rand = mulberry32(seed);
  const labels = new Int32Array(N);
  for (let n = 0; n < N; n++) labels[n] = Math.floor(rand() * C);
  const rec = allocateRecords(N, E, C, labels);
  for (let k = 0; k < E; k++) {
    const z = new Float64Array(N * C);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        // Ties: small integer logits, so that scores repeat across samples and exits.
        z[n * C + c] = opts.ties ? Math.floor(rand() * 3) : (rand() - 0.5) * (1 + k);
      }
      z[n * C + labels[n]] += opts.ties ? (rand() < 0.3 + 0.15 * k ? 1 : 0) : 0.8 * k;
      if (opts.nanShare && rand() < opts.nanShare) z[n * C] = NaN;
    }
    fillExitRecords(rec, z, 0, C, N, 0, k);
  }
  return rec;
}

/** The exit of sample n at threshold t, read straight from the definitions. */
function plainExit(rec: ExitRecords, n: number, kind: PolicyKind, t: number): number {
  const E = rec.exitCount;
  const at = (k: number) => n * E + k;
  if (kind === 'patience') {
    let counter = 0;
    for (let k = 1; k < E; k++) {
      const same = rec.pred[at(k)] !== -1 && rec.pred[at(k)] === rec.pred[at(k - 1)];
      counter = same ? counter + 1 : 0;
      if (counter === t) return k;
    }
    return E - 1;
  }
  for (let k = 0; k < E - 1; k++) {
    if (rec.pred[at(k)] === -1) continue; // a non-finite output never fires
    if (kind === 'confidence' && rec.conf[at(k)] >= t) return k;
    if (kind === 'margin' && rec.margin[at(k)] >= t) return k;
    if (kind === 'entropy' && rec.entropy[at(k)] <= t) return k;
  }
  return E - 1;
}

function plainGrid(kind: PolicyKind, E: number): number[] {
  if (kind === 'patience') {
    const g: number[] = [];
    for (let t = E - 1; t >= 1; t--) g.push(t);
    return g;
  }
  const g: number[] = [];
  for (let j = 0; j <= 1000; j++) g.push(kind === 'entropy' ? j / 1000 : (1000 - j) / 1000);
  return g;
}

/** λ̂ by brute force: every grid point's losses counted sample by sample, p-values by exact rationals. */
function bruteForce(
  rec: ExitRecords,
  kind: PolicyKind,
  loss: RiskLoss,
  eps: [number, number],
  delta: number,
): { threshold: number | null; losses: number; counts: number[] } {
  const E = rec.exitCount;
  const N = rec.sampleCount;
  let threshold: number | null = null;
  let losses = 0;
  const counts: number[] = [];
  for (const t of plainGrid(kind, E)) {
    let k = 0;
    for (let n = 0; n < N; n++) {
      const p = rec.pred[n * E + plainExit(rec, n, kind, t)];
      const final = rec.pred[n * E + E - 1];
      const y = rec.labels![n];
      k += loss === 'consistency' ? Number(p !== final) : Number(p !== y && final === y);
    }
    counts.push(k);
    if (!(exactCdf(k, N, eps[0], eps[1]) <= delta)) break;
    threshold = t;
    losses = k;
  }
  return { threshold, losses, counts };
}

describe('the certified threshold λ̂ against the definition', () => {
  const whole = (rec: ExitRecords) => ({ rec, samples: null });
  const cases: { name: string; rec: ExitRecords; eps: [number, number]; delta: number }[] = [
    { name: 'random scores', rec: randomRecords(1, 150, 4, 5, {}), eps: [1, 10], delta: 0.1 },
    { name: 'NaN outputs', rec: randomRecords(2, 150, 4, 5, { nanShare: 0.15 }), eps: [1, 10], delta: 0.1 },
    { name: 'ties in scores', rec: randomRecords(3, 150, 5, 3, { ties: true }), eps: [3, 20], delta: 0.2 },
    { name: 'every threshold certified', rec: randomRecords(4, 120, 4, 5, {}), eps: [9, 10], delta: 0.1 },
    { name: 'no threshold certified', rec: randomRecords(5, 40, 4, 5, {}), eps: [1, 100], delta: 0.1 },
  ];
  for (const c of cases) {
    for (const kind of ['confidence', 'entropy', 'margin', 'patience'] as const) {
      for (const loss of ['gap', 'consistency'] as const) {
        it(`${c.name}: ${kind}, ${loss}`, () => {
          const want = bruteForce(c.rec, kind, loss, c.eps, c.delta);
          const settings = { epsilon: c.eps[0] / c.eps[1], delta: c.delta, loss };
          const g = certify(
            whole(c.rec),
            whole(c.rec),
            kind,
            settings,
            [1, 2, 3, 4, 5].slice(0, c.rec.exitCount),
            c.rec.exitCount,
          );
          assert.equal(g.threshold, want.threshold);
          assert.equal(g.calibration.losses, want.losses);
          assert.equal(g.n, c.rec.sampleCount);
          // The walk's counts agree with the brute force at every grid point it reached.
          const counts = Array.from(lossCounts(whole(c.rec), kind, loss)).slice(0, want.counts.length);
          assert.deepEqual(counts, want.counts);
        });
      }
    }
  }

  it('the extreme cases happened as named', () => {
    const all = bruteForce(cases[3].rec, 'confidence', 'gap', cases[3].eps, cases[3].delta);
    assert.equal(all.threshold, 0, 'every confidence threshold certified, down to τ = 0');
    for (const kind of ['confidence', 'patience'] as const)
      assert.equal(bruteForce(cases[4].rec, kind, 'gap', cases[4].eps, cases[4].delta).threshold, null);
    let nan = 0;
    for (let i = 0; i < cases[1].rec.pred.length; i++) if (cases[1].rec.pred[i] === -1) nan++;
    assert.ok(nan > 50, `the NaN case has non-finite outputs (${nan})`);
  });

  it('fixed-sequence testing stops at the first failure even when later points would pass', () => {
    // p-values of k = 0, 5, 0 at n = 50, ε = 0.1: 0.005, 0.616, 0.005.
    const { certified } = fixedSequence([0, 5, 0], 50, 0.1, 0.1);
    assert.equal(certified, 1);
  });
});

describe('the guarantees in the report match the numpy/scipy reference', () => {
  const cases = expected('risk_expected.json');
  for (const c of cases) {
    it(`${c.samples} (calibration ${c.calib}), ε = ${c.epsilon}, δ = ${c.delta}, ${c.loss}`, async () => {
      const report = await runAnalyze(
        {
          type: 'analyze',
          id: 'r',
          logitsPath: fixture(c.samples),
          calibPath: fixture(c.calib),
          exitCosts: c.cost,
          riskEpsilon: c.epsilon,
          riskDelta: c.delta,
          riskLoss: c.loss,
        },
        () => undefined,
      );
      assert.deepEqual(report.settings.risk, { epsilon: c.epsilon, delta: c.delta, loss: c.loss });
      const got = report.guarantees!;
      assert.equal(got.length, 4);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- expected values written by the Python reference
      c.guarantees.forEach((x: any, i: number) => {
        const g = got[i];
        const what = `${x.policy}`;
        assert.equal(g.policy, x.policy);
        assert.equal(g.loss, x.loss);
        assert.equal(g.n, x.n);
        assert.equal(g.threshold, x.threshold, `${what} threshold`);
        assert.equal(g.certifiedCount, x.certifiedCount, `${what} certified`);
        close(g.pValue, x.pValue, 1e-9, `${what} p-value`);
        assert.equal(g.calibration.losses, x.calibration.losses, `${what} calibration losses`);
        close(g.calibration.risk, x.calibration.risk, 1e-12, `${what} calibration risk`);
        close(g.test.risk, x.test.risk, 1e-12, `${what} test risk`);
        close(g.test.accuracy, x.test.accuracy, 1e-12, `${what} test accuracy`);
        close(g.test.agreement, x.test.agreement, 1e-12, `${what} test agreement`);
        close(g.test.meanCost, x.test.meanCost, 1e-9, `${what} test mean cost`);
        close(g.test.speedup, x.test.speedup, 1e-9, `${what} test speedup`);
        assert.deepEqual(g.test.exitHistogram, x.test.exitHistogram, `${what} test histogram`);
      });
    });
  }

  it('defaults: ε 0.05, δ 0.1, gap with labels and consistency without', async () => {
    const labelled = await runAnalyze(
      {
        type: 'analyze',
        id: 'a',
        logitsPath: fixture('logits_random.npz'),
        calibPath: fixture('logits_random_calib.npz'),
      },
      () => undefined,
    );
    assert.deepEqual(labelled.settings.risk, { epsilon: 0.05, delta: 0.1, loss: 'gap' });
    const unlabelled = await runAnalyze(
      { type: 'analyze', id: 'u', logitsPath: fixture('logits_unlabelled.npz') },
      () => undefined,
    );
    assert.equal(unlabelled.settings.risk!.loss, 'consistency');
    assert.equal(unlabelled.guarantees!.length, 4);
    assert.equal(unlabelled.guarantees![0].n, unlabelled.samples.calibration.sampleCount);
  });

  it('asking for the gap loss without labels says so and uses consistency', async () => {
    const report = await runAnalyze(
      { type: 'analyze', id: 'g', logitsPath: fixture('logits_unlabelled.npz'), riskLoss: 'gap' },
      () => undefined,
    );
    assert.equal(report.guarantees![0].loss, 'consistency');
    assert.ok(report.warnings.some((w) => w.code === 'risk-loss-unlabelled'));
  });

  it('refuses ε, δ and losses out of range with the next step', async () => {
    for (const [req, words] of [
      [{ riskEpsilon: 0 }, /--risk 0.05/],
      [{ riskEpsilon: 1.5 }, /--risk/],
      [{ riskDelta: 1 }, /--delta 0.1/],
      [{ riskLoss: 'zero-one' as RiskLoss }, /--risk-loss gap/],
    ] as const) {
      await assert.rejects(
        runAnalyze({ type: 'analyze', id: 'x', logitsPath: fixture('logits_random.npz'), ...req }, () => undefined),
        (err: Error & { hint?: string }) => words.test(`${err.message} ${err.hint ?? ''}`),
      );
    }
  });
});

describe('the guarantee holds in simulation, and the naive rule breaks it', () => {
  it('P(true risk at λ̂ > ε) ≤ δ over many calibration draws; the naive rule exceeds it', () => {
    // A population of confidence-policy records, 4 exits, whose gap risk grows smoothly as τ falls.
    const P = 60_000;
    const E = 4;
    const rand = mulberry32(11);
    const labels = new Int32Array(P);
    const rec = allocateRecords(P, E, 2, labels);
    for (let n = 0; n < P; n++) {
      labels[n] = 0;
      for (let k = 0; k < E; k++) {
        const conf = 0.5 + 0.5 * rand();
        // Early exits are right with a probability that grows with their confidence; the final one is always right.
        const right = k === E - 1 || rand() < 0.6 + 0.4 * conf;
        rec.pred[n * E + k] = right ? 0 : 1;
        rec.conf[n * E + k] = conf;
      }
    }
    const population = lossCounts({ rec, samples: null }, 'confidence', 'gap');
    const trueRisk = (j: number) => (j < 0 ? 0 : population[j] / P);
    const epsilon = 0.05;
    const delta = 0.1;
    const n = 400;
    const draws = 400;
    let ltt = 0;
    let naive = 0;
    for (let d = 0; d < draws; d++) {
      const samples = new Int32Array(n);
      for (let i = 0; i < n; i++) samples[i] = Math.floor(rand() * P);
      const counts = lossCounts({ rec, samples }, 'confidence', 'gap');
      const { certified } = fixedSequence(counts, n, epsilon, delta);
      if (trueRisk(certified - 1) > epsilon) ltt++;
      // Naive: the most aggressive grid point whose calibration risk is at most ε.
      let last = -1;
      for (let j = 0; j < counts.length; j++) if (counts[j] / n <= epsilon) last = j;
      if (trueRisk(last) > epsilon) naive++;
    }
    const slack = 3 * Math.sqrt((delta * (1 - delta)) / draws);
    assert.ok(ltt / draws <= delta + slack, `Learn-then-Test violated the guarantee in ${ltt} of ${draws} draws`);
    assert.ok(naive / draws > delta + slack, `the naive rule violated it in only ${naive} of ${draws} draws`);
  });
});
