/**
 * A thinned curve keeps the suggested threshold's own point (src/core/analysis/curvePoints.ts),
 * so the report's slider opens at that threshold (webview/report/curve.ts pointAt, the report's own
 * function): worked by hand on a five-point curve.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CurvePoint } from '../../src/shared/reportTypes';
import { withPointAt } from '../../src/core/analysis/curvePoints';
import { pointAt } from '../../webview/report/curve';

const pt = (threshold: number | null, speedup: number): CurvePoint => ({
  threshold,
  accuracy: 1,
  agreement: 1,
  meanCost: 1 / speedup,
  speedup,
  saving: 1 - 1 / speedup,
  exitHistogram: [0, 1],
});

describe('the suggested threshold on a thinned curve', () => {
  it('confidence (thresholds descending): 0.5392 goes between 0.5434 and 0.5, and the slider finds it', () => {
    // Kept by the thinning: null, 0.9, 0.5434, 0.5, 0.2. The suggestion 0.5392 was thinned away:
    // without it the point in force at 0.5392 is 0.5434's (index 2), another threshold.
    const kept = [pt(null, 1), pt(0.9, 1.2), pt(0.5434, 1.8), pt(0.5, 2), pt(0.2, 3)];
    const curve = { kind: 'confidence' as const, totalPoints: 9, thinned: true, points: kept };
    assert.equal(curve.points[pointAt(curve, 0.5392)].threshold, 0.5434);
    const points = withPointAt('confidence', kept, pt(0.5392, 1.9));
    assert.deepEqual(
      points.map((p) => p.threshold),
      [null, 0.9, 0.5434, 0.5392, 0.5, 0.2],
    );
    assert.equal(points[pointAt({ ...curve, points }, 0.5392)].threshold, 0.5392);
  });

  it('entropy (thresholds ascending): 0.35 goes between 0.3 and 0.4', () => {
    const kept = [pt(null, 1), pt(0.1, 1.5), pt(0.3, 2), pt(0.4, 2.5)];
    const points = withPointAt('entropy', kept, pt(0.35, 2.2));
    assert.deepEqual(
      points.map((p) => p.threshold),
      [null, 0.1, 0.3, 0.35, 0.4],
    );
    assert.equal(points[pointAt({ kind: 'entropy', points }, 0.35)].threshold, 0.35);
  });

  it('a threshold already kept, or the full model (null), adds nothing', () => {
    const kept = [pt(null, 1), pt(0.9, 1.2), pt(0.5, 2)];
    assert.equal(withPointAt('margin', kept, pt(0.5, 2)), kept);
    assert.equal(withPointAt('margin', kept, pt(null, 1)), kept);
  });
});
