/**
 * The analysis against the independent numpy implementation of the definitions in docs/metrics.md
 * (test/reference/reference.py, run by test/fixtures/make_fixtures.py): per-exit metrics,
 * overthinking, the policy grid, every point of the exact curves, the frontier and the
 * suggestions, on logits files with ties, random logits and unlabelled logits.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exactCurves } from '../../src/core/analysis/curves';
import type { CurvePoint } from '../../src/core/analysis/analyze';
import { readLogitsFile } from '../../src/core/samples/logitsFile';
import { Report } from '../../src/core/analysis/analyze';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { close, expected, fixture } from './helpers';

const TOL = 1e-9;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function compareExits(report: Report, exp: any) {
  assert.equal(report.exits.length, exp.exits.length);
  report.exits.forEach((e, k) => {
    const x = exp.exits[k];
    close(e.accuracy, x.accuracy, TOL, `exit ${k} accuracy`);
    close(e.meanConfidence, x.meanConfidence, TOL, `exit ${k} meanConfidence`);
    close(e.meanEntropy, x.meanEntropy, TOL, `exit ${k} meanEntropy`);
    close(e.ece, x.ece, TOL, `exit ${k} ece`);
    close(e.nll, x.nll, TOL, `exit ${k} nll`);
    close(e.agreement, x.agreement, TOL, `exit ${k} agreement`);
    close(e.destructiveRate, x.destructiveRate, TOL, `exit ${k} destructiveRate`);
    assert.equal(e.nonFiniteCount, x.nonFiniteCount, `exit ${k} nonFiniteCount`);
    assert.equal(e.macs, exp.cost[k], `exit ${k} macs`);
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function compareOverthinking(report: Report, exp: any) {
  if (!exp.overthinking) {
    assert.equal(report.overthinking, null);
    return;
  }
  const o = report.overthinking!;
  close(o.oracleAccuracy, exp.overthinking.oracleAccuracy, TOL, 'oracleAccuracy');
  close(o.destructiveRate, exp.overthinking.destructiveRate, TOL, 'destructiveRate');
  close(o.wastefulRate, exp.overthinking.wastefulRate, TOL, 'wastefulRate');
  close(o.oracleSpeedup, exp.overthinking.oracleSpeedup, TOL, 'oracleSpeedup');
  assert.deepEqual(o.firstCorrectHistogram, exp.overthinking.firstCorrectHistogram);
  assert.deepEqual(
    o.transitions.map((t) => ({ rr: t.rr, rw: t.rw, wr: t.wr, ww: t.ww })),
    exp.overthinking.transitions,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function compareOutcome(got: any, want: any, what: string) {
  close(got.accuracy, want.accuracy, TOL, `${what} accuracy`);
  close(got.agreement, want.agreement, TOL, `${what} agreement`);
  close(got.meanCost, want.meanCost, TOL, `${what} meanCost`);
  close(got.speedup, want.speedup, TOL, `${what} speedup`);
  assert.deepEqual(got.exitHistogram, want.exitHistogram, `${what} exitHistogram`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function comparePolicies(report: Report, exp: any) {
  assert.equal(report.policies.length, exp.policies.length);
  report.policies.forEach((p, i) => {
    const x = exp.policies[i];
    assert.equal(p.kind, x.kind);
    assert.equal(p.threshold, x.threshold);
    compareOutcome(p, x, `${p.kind} ${p.threshold}`);
  });
}

/** Each brute-force point equals the exact curve's point in force at that threshold, and vice versa. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function compareCurve(points: CurvePoint[], expectedPoints: any[], kind: string) {
  const fires = (t: number | null, at: number | null) => {
    // The exact-curve point with threshold `at` is in force for a brute-force threshold t when
    // t and `at` select the same samples: `at` is the nearest point on the firing side of t.
    if (t === null) return at === null;
    return at !== null && (kind === 'entropy' ? at <= t + 1e-12 : at >= t - 1e-12);
  };
  for (const x of expectedPoints) {
    // Points are in order of descending threshold (ascending for entropy): the last that fires is in force.
    let inForce: CurvePoint | undefined;
    for (const p of points) if (p.threshold === null || fires(x.threshold, p.threshold)) inForce = p;
    if (x.threshold === null) inForce = points[0];
    assert.ok(inForce, `${kind}: no point in force at ${x.threshold}`);
    compareOutcome(inForce, x, `${kind} curve at ${x.threshold}`);
  }
  const thresholds = new Set(expectedPoints.map((x) => x.threshold));
  for (const p of points) {
    if (p.threshold === null) continue;
    assert.ok(
      [...thresholds].some((t) => t !== null && Math.abs(t - p.threshold!) <= 1e-12),
      `${kind}: curve threshold ${p.threshold} is not a score value`,
    );
  }
}

async function analyzeFixture(name: string, exp: { cost: number[] }, calib?: string): Promise<Report> {
  return runAnalyze(
    {
      type: 'analyze',
      id: 't',
      logitsPath: fixture(name),
      exitCosts: exp.cost,
      calibPath: calib ? fixture(calib) : undefined,
    },
    () => undefined,
  );
}

describe('analysis matches the independent reference implementation', () => {
  for (const [name, calib] of [
    ['logits_ties', undefined],
    ['logits_random', 'logits_random_calib.npz'],
    ['logits_unlabelled', 'logits_unlabelled_calib.npz'],
  ] as const) {
    describe(name, () => {
      const exp = expected(`${name}_expected.json`);
      it('per-exit metrics, overthinking and the policy grid', async () => {
        const report = await analyzeFixture(`${name}.npz`, exp, calib);
        assert.equal(report.baselineMacs, exp.baseline);
        compareExits(report, exp);
        compareOverthinking(report, exp);
        comparePolicies(report, exp);
      });

      it('every point of the exact curves and the Pareto frontier', async () => {
        const { records } = await readLogitsFile(fixture(`${name}.npz`));
        const { curves, frontier } = exactCurves(records, exp.cost, exp.baseline, 1e9);
        for (const c of curves) {
          if (c.kind === 'patience') {
            assert.equal(c.points.length, exp.curves.patience.length);
            c.points.forEach((p, i) => {
              assert.equal(p.threshold, exp.curves.patience[i].threshold);
              compareOutcome(p, exp.curves.patience[i], `patience ${p.threshold}`);
            });
          } else {
            assert.equal(c.thinned, false);
            compareCurve(c.points, exp.curves[c.kind], c.kind);
          }
        }
        const got = [...new Map(frontier.map((f) => [`${f.meanCost.toFixed(9)}|${f.quality.toFixed(9)}`, f])).values()];
        assert.equal(got.length, exp.frontier.length, 'frontier size');
        got.forEach((f, i) => {
          close(f.meanCost, exp.frontier[i].meanCost, TOL, `frontier ${i} cost`);
          close(f.quality, exp.frontier[i].quality, TOL, `frontier ${i} quality`);
        });
      });

      if (calib && exp.suggestions) {
        it('suggested thresholds: fitted on the calibration file, reported on the sample set', async () => {
          const report = await analyzeFixture(`${name}.npz`, exp, calib);
          assert.equal(report.samples.calibration.source, 'file');
          for (const kind of ['confidence', 'entropy', 'margin', 'patience'] as const) {
            const s = report.suggestions.find((x) => x.policy === kind)!;
            const x = exp.suggestions[kind];
            if (x.threshold === null) assert.equal(s.threshold, null, `${kind} threshold`);
            else close(s.threshold as number, x.threshold, 1e-12, `${kind} threshold`);
            close(s.target, x.target, 1e-12, `${kind} target`);
            compareOutcome(s.calibration, x.calibration, `${kind} calibration`);
            compareOutcome(s.test, x.test, `${kind} test`);
          }
        });
      }
    });
  }
});

describe('the drill-down of a logits file', () => {
  it('lists the first destructive samples in order and counts them all', async () => {
    for (const name of ['logits_random.npz', 'logits_ties.npz']) {
      const report = await runAnalyze({ type: 'analyze', id: 'd', logitsPath: fixture(name) }, () => undefined);
      const { records: rec } = await readLogitsFile(fixture(name));
      const E = rec.exitCount;
      // Directly: right at some exit, wrong at the final one.
      const destructive: number[] = [];
      for (let n = 0; n < rec.sampleCount; n++) {
        const preds = Array.from(rec.pred.subarray(n * E, (n + 1) * E));
        if (preds[E - 1] !== rec.labels![n] && preds.includes(rec.labels![n])) destructive.push(n);
      }
      assert.ok(destructive.length > 0, name);
      if (name === 'logits_random.npz') assert.ok(destructive.length > 48, 'more than the drill-down keeps');
      assert.equal(report.drilldown!.destructiveCount, destructive.length, name);
      assert.deepEqual(
        report.drilldown!.samples.map((s) => s.index),
        destructive.slice(0, 48),
        name,
      );
    }
  });
});
