/**
 * The exit-firing rule, written once (src/shared/policyRule.ts) for the analysis and the
 * report's controls: worked by hand at, just above and just below the threshold.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fires } from '../../src/shared/policyRule';

describe('the firing rule', () => {
  it('confidence and margin fire at score ≥ τ, exactly (a tie fires, the next float below does not)', () => {
    const tau = 0.5392;
    for (const kind of ['confidence', 'margin'] as const) {
      assert.equal(fires(kind, tau, tau), true);
      assert.equal(fires(kind, 0.6, tau), true);
      assert.equal(fires(kind, tau - Number.EPSILON / 2, tau), false, 'no tolerance below τ');
      assert.equal(fires(kind, NaN, tau), false);
    }
  });

  it('entropy fires at score ≤ τ; patience when the counter equals t', () => {
    assert.equal(fires('entropy', 0.25, 0.25), true);
    assert.equal(fires('entropy', 0.2, 0.25), true);
    assert.equal(fires('entropy', 0.25 + 2 ** -54, 0.25), false);
    assert.equal(fires('patience', 2, 2), true);
    assert.equal(fires('patience', 3, 2), false);
  });
});
