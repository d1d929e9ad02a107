import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { macsFrontier } from '../../src/core/analysis/macsFrontier';
import type { Curve, CurvePoint, PolicyKind } from '../../src/shared/reportTypes';

/** The frontier by static MACs of a measured report (core/analysis/macsFrontier.ts), worked by hand. */

const point = (hist: number[], accuracy: number, agreement: number, threshold: number | null): CurvePoint => ({
  threshold,
  exitHistogram: hist,
  accuracy,
  agreement,
  meanCost: NaN, // measured cost: not what the MACs frontier reads
  speedup: null,
  saving: null,
});
const curve = (kind: PolicyKind, points: CurvePoint[]): Curve => ({
  kind,
  totalPoints: points.length,
  points,
  thinned: false,
});

describe('the frontier by MACs over the curves’ points', () => {
  // Exits cost 100, 300, 520 MACs.
  const curves = {
    // Mean MACs: [0,0,4] 520; [2,1,1] (200 + 300 + 520) / 4 = 255.
    confidence: curve('confidence', [point([0, 0, 4], 0.95, 1, null), point([2, 1, 1], 0.9, 0.8, 0.8)]),
    // [4,0,0] 100.
    entropy: curve('entropy', [point([4, 0, 0], 0.5, 0.4, 0.1)]),
    // [0,4,0] 300 at 0.85: beaten by 255 at 0.9.
    margin: curve('margin', [point([0, 4, 0], 0.85, 0.7, 0.3)]),
    // [0,2,2] (600 + 1040) / 4 = 410 at 0.95: beats 520 at 0.95.
    patience: curve('patience', [point([0, 2, 2], 0.95, 0.9, 1)]),
  };

  it('keeps the points no other beats, by ascending mean MACs', () => {
    assert.deepEqual(macsFrontier(curves, [100, 300, 520], true), [
      { kind: 'entropy', threshold: 0.1, meanCost: 100, quality: 0.5 },
      { kind: 'confidence', threshold: 0.8, meanCost: 255, quality: 0.9 },
      { kind: 'patience', threshold: 1, meanCost: 410, quality: 0.95 },
    ]);
  });

  it('reads agreement for an unlabelled set', () => {
    // Agreement: 100 at 0.4, 255 at 0.8, 300 at 0.7 (beaten), 410 at 0.9, 520 at 1.
    assert.deepEqual(
      macsFrontier(curves, [100, 300, 520], false).map((f) => [f.meanCost, f.quality]),
      [
        [100, 0.4],
        [255, 0.8],
        [410, 0.9],
        [520, 1],
      ],
    );
  });
});
