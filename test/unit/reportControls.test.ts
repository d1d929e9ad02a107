/**
 * The trade-off card's pure parts (webview/report/curve.ts), imported without a DOM or d3: the
 * point a slider opens at, which way a slider is stricter, and how its readout writes the
 * threshold. Every expected value is worked by hand from the curves below.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CurvePoint, PolicyKind } from '../../src/shared/reportTypes';
import { pointAt, sliderEnds, sliderStricterRight, thresholdReadout } from '../../webview/report/curve';

const pt = (threshold: number | null, speedup: number | null): CurvePoint => ({
  threshold,
  accuracy: 1,
  agreement: 1,
  meanCost: speedup ? 1 / speedup : 1,
  speedup,
  saving: speedup ? 1 - 1 / speedup : null,
  exitHistogram: [0, 1],
});
const curve = (kind: PolicyKind, points: CurvePoint[]) => ({ kind, points });

describe('pointAt: the curve point in force at a threshold', () => {
  // Confidence fires at score ≥ τ: from the full model (nothing fires) to τ = 0.5 (most exits).
  const confidence = curve('confidence', [pt(null, 1), pt(0.9, 1.5), pt(0.7, 2), pt(0.5, 3)]);
  it('confidence: the last point whose score fires at τ (score ≥ τ)', () => {
    assert.equal(pointAt(confidence, 0.8), 1); // 0.9 ≥ 0.8, 0.7 < 0.8
    assert.equal(pointAt(confidence, 0.7), 2); // equal fires: the report's rule has no tolerance
    assert.equal(pointAt(confidence, 0.1), 3);
    assert.equal(pointAt(confidence, 0.95), 0); // none fires: the full model
    assert.equal(pointAt(confidence, null), 0);
  });
  it('entropy: score ≤ τ, thresholds ascending', () => {
    const entropy = curve('entropy', [pt(null, 1), pt(0.1, 1.5), pt(0.3, 2), pt(0.6, 3)]);
    assert.equal(pointAt(entropy, 0.35), 2); // 0.3 ≤ 0.35 < 0.6
    assert.equal(pointAt(entropy, 0.6), 3);
    assert.equal(pointAt(entropy, 0.05), 0);
  });
  it('patience: the point whose t equals the threshold', () => {
    const patience = curve('patience', [pt(1, 3), pt(2, 2), pt(3, 1.5), pt(null, 1)]);
    assert.equal(pointAt(patience, 2), 1);
    assert.equal(pointAt(patience, 3), 2);
    assert.equal(pointAt(patience, 7), 0); // no point has t = 7
  });
});

describe('the slider direction', () => {
  it('a score policy runs from the full model to the most exits: stricter to the left', () => {
    const c = curve('confidence', [pt(null, 1), pt(0.9, 1.5), pt(0.5, 3)]);
    assert.equal(sliderStricterRight(c), false);
    assert.deepEqual(sliderEnds(c), ['← stricter', 'faster →']);
  });
  it('patience runs from t = 1 (fastest) to the full model: stricter to the right', () => {
    const c = curve('patience', [pt(1, 3), pt(2, 2), pt(null, 1)]);
    assert.equal(sliderStricterRight(c), true);
    assert.deepEqual(sliderEnds(c), ['← faster', 'stricter →']);
  });
  it('an empty curve or an unknown speed-up reads as a score policy', () => {
    assert.equal(sliderStricterRight(curve('margin', [])), false);
    assert.equal(sliderStricterRight(curve('margin', [pt(null, 2), pt(0.5, null)])), false);
    assert.equal(sliderStricterRight(curve('margin', [pt(null, null), pt(0.5, 1)])), false);
  });
});

describe('thresholdReadout', () => {
  it('writes τ to four decimals, patience t as an integer, and the full model in words', () => {
    assert.equal(thresholdReadout('confidence', { threshold: 0.5 }), 'τ = 0.5000');
    assert.equal(thresholdReadout('entropy', { threshold: 0.123456 }), 'τ = 0.1235');
    assert.equal(thresholdReadout('margin', { threshold: null }), 'τ = none fires (full model)');
    assert.equal(thresholdReadout('patience', { threshold: 2 }), 't = 2');
    assert.equal(thresholdReadout('patience', { threshold: null }), 't = 0 (no early exit)');
  });
});
