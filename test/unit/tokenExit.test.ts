/**
 * The token view's exit of a position under a policy (webview/report/tokenExit.ts): hand-worked cases
 * at, above and below the threshold, patience counted as PABEE, non-finite outputs; then the
 * same exits as the analysis' own policies (src/core/analysis/policies.ts) on random records.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { patienceExit, scoreExit } from '../../src/core/analysis/policies';
import { allocateRecords } from '../../src/core/records/records';
import type { Curve } from '../../src/shared/reportTypes';
import {
  PositionScores,
  exitClasses,
  ruleText,
  sliderThreshold,
  textToken,
  tokenExit,
  tokenString,
  viewThreshold,
  visibleToken,
} from '../../webview/report/tokenExit';

/** A position of E exits with the given predictions; scores default to values that never fire. */
function position(preds: number[], scores: Partial<Omit<PositionScores, 'preds'>> = {}): PositionScores {
  return {
    preds,
    conf: scores.conf ?? preds.map(() => 0.1),
    entropy: scores.entropy ?? preds.map(() => 0.9),
    margin: scores.margin ?? preds.map(() => 0.01),
  };
}

describe('the exit of a token position under a policy', () => {
  it('confidence: the first exit whose confidence is ≥ τ; a tie fires; none before the final: the final', () => {
    const p = position([1, 2, 3, 4], { conf: [0.3, 0.5, 0.7, 0.9] });
    assert.equal(tokenExit(p, 'confidence', 0.5), 1, 'conf 0.5 = τ fires at exit 1');
    assert.equal(tokenExit(p, 'confidence', 0.5000001), 2, 'just above 0.5: exit 1 does not fire');
    assert.equal(tokenExit(p, 'confidence', 0.3), 0);
    assert.equal(tokenExit(p, 'confidence', 0), 0);
    // The final exit's own score is never compared: nothing fires at 0..2, so the final exit.
    assert.equal(tokenExit(p, 'confidence', 0.8), 3);
    assert.equal(tokenExit(p, 'confidence', 0.95), 3);
    assert.equal(tokenExit(p, 'confidence', null), 3, 'null: the full model');
  });

  it('entropy fires at ≤ τ, margin at ≥ τ', () => {
    const p = position([1, 1, 1, 1], { entropy: [0.8, 0.4, 0.4, 0.1], margin: [0.05, 0.2, 0.3, 0.6] });
    assert.equal(tokenExit(p, 'entropy', 0.4), 1, 'entropy 0.4 = τ fires');
    assert.equal(tokenExit(p, 'entropy', 0.8), 0);
    assert.equal(tokenExit(p, 'entropy', 0.39), 3, 'below every early exit: the final exit');
    assert.equal(tokenExit(p, 'margin', 0.2), 1);
    assert.equal(tokenExit(p, 'margin', 0.25), 2);
    assert.equal(tokenExit(p, 'margin', 0.31), 3);
  });

  it('a non-finite output (pred −1) never fires, even at τ = 0 (confidence, margin) or τ = 1 (entropy)', () => {
    // Non-finite stand-ins: confidence 0, margin 0, entropy 1.
    const p = position([-1, 2, 2, 2], {
      conf: [0, 0.2, 0.3, 0.4],
      margin: [0, 0.1, 0.1, 0.1],
      entropy: [1, 0.9, 0.9, 0.9],
    });
    assert.equal(tokenExit(p, 'confidence', 0), 1);
    assert.equal(tokenExit(p, 'margin', 0), 1);
    assert.equal(tokenExit(p, 'entropy', 1), 1);
    const allBad = position([-1, -1, -1, -1], { conf: [0, 0, 0, 0], margin: [0, 0, 0, 0], entropy: [1, 1, 1, 1] });
    assert.equal(tokenExit(allBad, 'confidence', 0), 3);
  });

  it('patience (PABEE): counter 0 at exit 0, +1 when pred_k = pred_{k−1}, exit where it equals t', () => {
    // preds 5 5 5 7: counters 0 1 2 0.
    const p = position([5, 5, 5, 7]);
    assert.equal(tokenExit(p, 'patience', 1), 1);
    assert.equal(tokenExit(p, 'patience', 2), 2);
    assert.equal(tokenExit(p, 'patience', 3), 3, 'the counter resets at exit 3: the final exit');
    assert.equal(tokenExit(p, 'patience', 0), 3, 't = 0: the full model');
    assert.equal(tokenExit(p, 'patience', null), 3);
    // preds 5 6 6 6: counters 0 0 1 2.
    assert.equal(tokenExit(position([5, 6, 6, 6]), 'patience', 1), 2);
    assert.equal(tokenExit(position([5, 6, 6, 6]), 'patience', 2), 3);
  });

  it('patience: a −1 equals nothing, not even another −1 (the counter resets there and after it)', () => {
    assert.equal(tokenExit(position([-1, -1, -1, 4]), 'patience', 1), 3);
    // preds 3 −1 3 3: counters 0 0 0 1.
    assert.equal(tokenExit(position([3, -1, 3, 3]), 'patience', 1), 3);
    // preds 2 2 −1 −1 2 2: counters 0 1 0 0 0 1.
    const six = position([2, 2, -1, -1, 2, 2]);
    assert.equal(tokenExit(six, 'patience', 1), 1);
    assert.equal(tokenExit(six, 'patience', 2), 5, 'never 2 in a row: the final exit');
  });

  it('the same exit as the analysis for every policy and threshold, on records with ties and −1', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const N = 400;
    const E = 5;
    const rec = allocateRecords(N, E, 3, null);
    const grid = [0, 0.25, 0.5, 0.75, 1];
    for (let i = 0; i < N * E; i++) {
      const bad = rand() < 0.1;
      rec.pred[i] = bad ? -1 : Math.floor(rand() * 3);
      rec.conf[i] = bad ? 0 : grid[Math.floor(rand() * 5)];
      rec.margin[i] = bad ? 0 : grid[Math.floor(rand() * 5)];
      rec.entropy[i] = bad ? 1 : grid[Math.floor(rand() * 5)];
      rec.finite[i] = bad ? 0 : 1;
    }
    for (let n = 0; n < N; n++) {
      const at = (a: ArrayLike<number>) => Array.from({ length: E }, (_, k) => a[n * E + k]);
      const p: PositionScores = {
        preds: at(rec.pred),
        conf: at(rec.conf),
        entropy: at(rec.entropy),
        margin: at(rec.margin),
      };
      for (const kind of ['confidence', 'entropy', 'margin'] as const)
        for (const tau of grid)
          assert.equal(tokenExit(p, kind, tau), scoreExit(rec, n, kind, tau), `${kind} ${tau} #${n}`);
      for (let t = 0; t <= E; t++)
        assert.equal(tokenExit(p, 'patience', t), patienceExit(rec, n, t), `patience ${t} #${n}`);
    }
  });
});

describe('the threshold the token view colours by', () => {
  it("is a slider position's curve point (null: the full model), clamped to the curve", () => {
    const curve = {
      kind: 'confidence',
      totalPoints: 3,
      thinned: false,
      points: [null, 0.9, 0.5].map((threshold) => ({ threshold })),
    } as unknown as Curve;
    assert.equal(sliderThreshold(curve, 0), null);
    assert.equal(sliderThreshold(curve, 1), 0.9);
    assert.equal(sliderThreshold(curve, 99), 0.5);
    assert.equal(sliderThreshold(curve, -3), null);
    assert.equal(sliderThreshold({ ...curve, points: [] }, 0), null);
  });

  it("is rounded to the view's 6 digits for a score policy, so a position at the threshold fires", () => {
    const tau = 0.3468264000661925; // a suggestion: an observed confidence
    const shown = Math.round(tau * 1e6) / 1e6; // the view's copy of that confidence: 0.346826, below τ
    assert.equal(
      tokenExit(position([1, 1, 1], { conf: [shown, 0.2, 0.2] }), 'confidence', tau),
      2,
      'against the unrounded threshold exit 0 would not fire: the final exit',
    );
    assert.equal(viewThreshold('confidence', tau), 0.346826);
    assert.equal(
      tokenExit(position([1, 1, 1], { conf: [shown, 0.2, 0.2] }), 'confidence', viewThreshold('confidence', tau)),
      0,
    );
    assert.equal(viewThreshold('patience', 2), 2);
    assert.equal(viewThreshold('entropy', null), null);
  });

  it('reads as the policy rule', () => {
    assert.equal(ruleText('confidence', 0.21904), 'confidence ≥ 0.2190');
    assert.equal(ruleText('entropy', 0.5), 'entropy ≤ 0.5000');
    assert.equal(ruleText('patience', 2), 'patience t = 2');
    assert.equal(ruleText('margin', null), 'margin: none fires (full model)');
    assert.equal(ruleText('patience', 0), 'patience: none fires (full model)');
  });
});

describe('how tokens are written', () => {
  it('from the vocabulary, else <id>; ids without one', () => {
    assert.equal(tokenString({ 5: 'x' }, 5), 'x');
    assert.equal(tokenString({ 5: 'x' }, 7), '<7>');
    assert.equal(tokenString(null, 7), '7');
    assert.equal(tokenString(null, -1), 'non-finite');
  });

  it('with white space visible in tooltips and line breaks marked in text', () => {
    assert.equal(visibleToken(' a\n'), '␣a↵');
    assert.equal(visibleToken('\t\u0001'), '⇥\\u0001');
    assert.equal(visibleToken(''), '∅');
    assert.equal(textToken(' the'), ' the');
    assert.equal(textToken('a\nb'), 'a↵\nb');
    assert.equal(textToken('\u007f'), '\\u007f');
  });

  it('each exit its hue and underline style; the final exit neutral', () => {
    assert.equal(exitClasses(0, 4), 'xh0 xs0');
    assert.equal(exitClasses(2, 4), 'xh2 xs2');
    assert.equal(exitClasses(3, 4), 'xf xsn');
    assert.equal(exitClasses(7, 12), 'xh1 xs3');
  });
});
