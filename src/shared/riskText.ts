import { pct } from './format';
import type { Guarantee, Suggestion } from './reportTypes';

/**
 * Plain words for the risk-controlled thresholds (docs/metrics.md "Thresholds with a
 * guarantee"), for every view: the CLI's summaries, the report, the sidebar and CodeLens.
 */

/** What one loss counts, as the end of "at most ε of samples …". */
export function lossWords(g: Pick<Guarantee, 'loss'>): string {
  return g.loss === 'gap'
    ? 'get a wrong answer the full model would have got right'
    : 'get a different answer from the full model';
}

/** The percentage without trailing zeros: 5%, 2.5%, 0.1%. */
function plainPct(v: number): string {
  return `${Number((v * 100).toPrecision(6))}%`;
}

/** The guarantee in one sentence; for an uncertified policy, what that means and what to do. */
export function guaranteeSentence(g: Guarantee): string {
  if (g.threshold === null)
    return `No threshold is certified for ${g.policy}: even the most conservative one could not be shown to keep the risk within ${plainPct(g.epsilon)} at δ = ${g.delta} from ${g.n} calibration samples, so the guarantee holds only for the full model. More calibration samples or a larger ε can certify one.`;
  return `With probability ≥ ${plainPct(1 - g.delta)}, at most ${plainPct(g.epsilon)} of samples ${lossWords(g)}.`;
}

/** "certified τ ≥ 0.937" style: the rule at the certified threshold, or "none certified". */
export function certifiedRule(g: Guarantee): string {
  if (g.threshold === null) return 'none certified';
  if (g.policy === 'patience') return `patience ${g.threshold}`;
  const op = g.policy === 'entropy' ? '≤' : '≥';
  const short = g.policy === 'confidence' ? 'conf' : g.policy;
  return `${short} ${op} ${g.threshold}`;
}

/** The quality a suggestion's target is read on, on its test split. */
export function testQuality(s: Suggestion): number | null {
  return s.targetMetric === 'accuracy' ? s.test.accuracy : s.test.agreement;
}

/**
 * True when a heuristic suggestion, met on calibration, falls short of its target on the test
 * split: the case the guarantees are for.
 */
export function missesTargetOnTest(s: Suggestion): boolean {
  const q = testQuality(s);
  return q !== null && q < s.target;
}

/** The short words of a suggestion's shortfall: "test 98.61% < target 98.72%". */
export function shortfallText(s: Suggestion): string {
  return `test ${pct(testQuality(s), 2)} < target ${pct(s.target, 2)}`;
}
