import { pct } from './format';
import { qualityOf } from './quality';
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

/** What every certified threshold promises, from the risk settings (ε, δ and the loss). */
export function promiseSentence(risk: Pick<Guarantee, 'epsilon' | 'delta' | 'loss'>): string {
  return `With probability ≥ ${plainPct(1 - risk.delta)}, at most ${plainPct(risk.epsilon)} of samples ${lossWords(risk)}.`;
}

/** The guarantee in one sentence; for an uncertified policy, what that means and what to do. */
export function guaranteeSentence(g: Guarantee): string {
  if (g.threshold === null)
    return `No threshold is certified for ${g.policy}: even the most conservative one could not be shown to keep the risk within ${plainPct(g.epsilon)} at δ = ${g.delta} from ${g.n} calibration samples, so the guarantee holds only for the full model. More calibration samples or a larger ε can certify one.`;
  return promiseSentence(g);
}

/** The settings a guarantee was certified at, in short: "ε 5%, δ 10%". */
export function riskSettingsText(g: Pick<Guarantee, 'epsilon' | 'delta'>): string {
  return `ε ${plainPct(g.epsilon)}, δ ${plainPct(g.delta)}`;
}

/**
 * The certified threshold a user would pick first: of the policies with one certified, the one
 * with the highest speed-up on the test split (the earlier policy on a tie); null when none is
 * certified or the report has no guarantees.
 */
export function bestGuarantee(gs: readonly Guarantee[] | undefined): Guarantee | null {
  let best: Guarantee | null = null;
  for (const g of gs ?? []) {
    if (g.threshold === null) continue;
    if (!best || (g.test.speedup ?? -Infinity) > (best.test.speedup ?? -Infinity)) best = g;
  }
  return best;
}

/** "certified τ ≥ 0.937" style: the rule at the certified threshold, or "none certified". */
export function certifiedRule(g: Guarantee): string {
  if (g.threshold === null) return 'none certified';
  if (g.policy === 'patience') return `patience ${g.threshold}`;
  const op = g.policy === 'entropy' ? '≤' : '≥';
  const short = g.policy === 'confidence' ? 'conf' : g.policy;
  return `${short} ${op} ${g.threshold}`;
}

/** "certified conf ≥ 0.93 (ε 5%, δ 10%)", or "none certified (ε 5%, δ 10%)". */
export function certifiedNote(g: Guarantee): string {
  return `${g.threshold === null ? '' : 'certified '}${certifiedRule(g)} (${riskSettingsText(g)})`;
}

/**
 * The CodeLens tooltip's words on the two kinds of confidence threshold, starting with a space:
 * the suggested one meets its target on calibration only, the certified one has a guarantee.
 * Empty for a report without guarantees.
 */
export function suggestedVsCertified(gs: readonly Guarantee[] | undefined): string {
  const g = gs?.find((x) => x.policy === 'confidence');
  if (!g) return '';
  return ` The suggested threshold meets its target on the calibration split only; ${certifiedNote(g)}: ${guaranteeSentence(g)}`;
}

/** The quality a suggestion's target is read on, on its test split. */
export function testQuality(s: Suggestion): number | null {
  return qualityOf(s.targetMetric === 'accuracy', s.test);
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
