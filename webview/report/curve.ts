import type { Curve, CurvePoint, PolicyKind } from '../../src/shared/reportTypes';
import { fires } from '../../src/shared/policyRule';

/**
 * The pure parts of the trade-off card's controls (no DOM, no d3): the policies' names and
 * colours, the curve point in force at a threshold, which way a slider is stricter, and how a
 * point's threshold reads.
 */
export const POLICY_CLASS: Record<string, string> = {
  confidence: 'c-conf',
  entropy: 'c-ent',
  margin: 'c-margin',
  patience: 'c-pat',
  'per-exit': 'c-perexit',
};

export const POLICY_LABEL: Record<string, string> = {
  confidence: 'Confidence ≥ τ',
  entropy: 'Entropy ≤ τ',
  margin: 'Margin ≥ τ',
  patience: 'Patience t',
  'per-exit': 'Per-exit confidence',
};

/** The curve point in force at a threshold (the policy's own comparison). */
export function pointAt(curve: Pick<Curve, 'kind' | 'points'>, threshold: number | null): number {
  if (threshold === null) return 0;
  let at = 0;
  curve.points.forEach((p, i) => {
    if (p.threshold === null) return;
    // A point's threshold is the score that fires there: the point is in force when that score
    // fires at the chosen threshold (the analysis' own rule, src/shared/policyRule.ts).
    if (fires(curve.kind, p.threshold, threshold)) at = i;
  });
  return at;
}

/** Whether moving a curve's slider right (to later points) makes the policy stricter: fewer early exits. */
export function sliderStricterRight(curve: Pick<Curve, 'points'>): boolean {
  const first = curve.points[0];
  const last = curve.points[curve.points.length - 1];
  return Boolean(first && last && first.speedup !== null && last.speedup !== null && last.speedup < first.speedup);
}

/**
 * The words at a slider's two ends. Which way is stricter: the curve runs from the full model to
 * the most exits for the score policies, the other way for patience (a larger t waits longer).
 */
export function sliderEnds(curve: Pick<Curve, 'points'>): [left: string, right: string] {
  return sliderStricterRight(curve) ? ['← faster', 'stricter →'] : ['← stricter', 'faster →'];
}

/** A curve point's threshold as the slider's readout writes it ("τ = 0.5000", "t = 2", the full model). */
export function thresholdReadout(kind: PolicyKind, p: Pick<CurvePoint, 'threshold'>): string {
  const symbol = kind === 'patience' ? 't' : 'τ';
  if (p.threshold === null)
    return `${symbol} = ${kind === 'patience' ? '0 (no early exit)' : 'none fires (full model)'}`;
  return `${symbol} = ${kind === 'patience' ? String(p.threshold) : p.threshold.toFixed(4)}`;
}
