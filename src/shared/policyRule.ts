import type { PolicyKind } from './reportTypes';

/**
 * The exit-firing rule of the score policies (docs/metrics.md, "Policies and curves"), written
 * once for the analysis (src/core/analysis/policies.ts) and the report's threshold controls:
 * confidence and margin fire at score ≥ τ, entropy (normalised) at score ≤ τ. Exact comparisons,
 * no tolerance: a sample whose score equals τ fires, in the report as in the deployed rule.
 * Patience fires when its counter equals t.
 */
export function fires(kind: PolicyKind, score: number, threshold: number): boolean {
  if (kind === 'entropy') return score <= threshold;
  if (kind === 'patience') return score === threshold;
  return score >= threshold;
}
