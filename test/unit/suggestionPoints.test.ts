/**
 * Each single-threshold suggestion's threshold is a point of its policy's curve, so that the
 * report's slider can open on it, with the figures of a plain evaluation of the policy at that
 * threshold over the whole sample set (worked out here by a loop of its own), with a calibration
 * file and on the seeded split alike.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { readLogitsFile } from '../../src/core/samples/logitsFile';
import type { ExitRecords } from '../../src/core/records/records';
import type { Report } from '../../src/core/analysis/analyze';
import { collect, fixture } from './helpers';

/** First k < E-1 whose finite output meets τ (≥; entropy ≤), else the final exit. */
function plainPoint(rec: ExitRecords, kind: 'confidence' | 'entropy' | 'margin', tau: number, costs: number[]) {
  const E = rec.exitCount;
  const N = rec.sampleCount;
  const hist = new Array(E).fill(0);
  let correct = 0;
  let agree = 0;
  for (let n = 0; n < N; n++) {
    let exit = E - 1;
    for (let k = 0; k < E - 1; k++) {
      const at = n * E + k;
      if (rec.pred[at] < 0) continue;
      const score = kind === 'confidence' ? rec.conf[at] : kind === 'entropy' ? rec.entropy[at] : rec.margin[at];
      if (kind === 'entropy' ? score <= tau : score >= tau) {
        exit = k;
        break;
      }
    }
    hist[exit]++;
    if (rec.labels && rec.pred[n * E + exit] === rec.labels[n]) correct++;
    if (rec.pred[n * E + exit] === rec.pred[n * E + E - 1]) agree++;
  }
  const meanCost = hist.reduce((s, h, k) => s + h * costs[k], 0) / N;
  return { accuracy: rec.labels ? correct / N : null, agreement: agree / N, meanCost, exitHistogram: hist };
}

async function check(report: Report, file: string): Promise<number> {
  const { records } = await readLogitsFile(fixture(file), {});
  const E = records.exitCount;
  const costs = Array.from({ length: E }, (_, k) => (k + 1) / E);
  let checked = 0;
  for (const s of report.suggestions) {
    if (s.policy !== 'confidence' && s.policy !== 'entropy' && s.policy !== 'margin') continue;
    if (typeof s.threshold !== 'number') continue;
    const curve = report.curves[s.policy];
    if (!curve.thinned) {
      // An unthinned curve is exactly the sample set's thresholds, nothing added.
      assert.equal(curve.points.length, curve.totalPoints, `${s.policy}: unthinned curve changed`);
      continue;
    }
    const point = curve.points.find((p) => p.threshold === s.threshold);
    assert.ok(point, `${s.policy}: no curve point at the suggested ${s.threshold}`);
    const want = plainPoint(records, s.policy, s.threshold, costs);
    assert.equal(point.accuracy === null ? null : point.accuracy, want.accuracy === null ? null : point.accuracy);
    if (want.accuracy !== null) assert.ok(Math.abs(point.accuracy! - want.accuracy) < 1e-12, `${s.policy} accuracy`);
    assert.ok(Math.abs(point.agreement - want.agreement) < 1e-12, `${s.policy} agreement`);
    assert.ok(Math.abs(point.meanCost - want.meanCost) < 1e-12, `${s.policy} mean cost`);
    assert.deepEqual(point.exitHistogram, want.exitHistogram, `${s.policy} histogram`);
    // The curve still runs from the strictest threshold on.
    const ts = report.curves[s.policy].points.map((p) => p.threshold).filter((t): t is number => t !== null);
    for (let i = 1; i < ts.length; i++) {
      assert.ok(s.policy === 'entropy' ? ts[i] >= ts[i - 1] : ts[i] <= ts[i - 1], `${s.policy} points out of order`);
    }
    checked++;
  }
  return checked;
}

describe('suggested thresholds are points of their curves', () => {
  it('with a calibration file', async () => {
    const r = await runAnalyze(
      {
        type: 'analyze',
        id: 't',
        logitsPath: fixture('logits_random.npz'),
        calibPath: fixture('logits_random_calib.npz'),
      },
      collect().emit,
    );
    assert.equal(r.samples.calibration.source, 'file');
    assert.ok((await check(r, 'logits_random.npz')) >= 1, 'at least one single-threshold suggestion checked');
  });

  it('on the seeded split', async () => {
    const r = await runAnalyze({ type: 'analyze', id: 't', logitsPath: fixture('logits_random.npz') }, collect().emit);
    assert.equal(r.samples.calibration.source, 'split');
    assert.ok((await check(r, 'logits_random.npz')) >= 1);
  });
});
