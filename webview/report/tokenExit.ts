import type { Curve, PolicyKind } from '../../src/shared/reportTypes';
import { fires } from '../../src/shared/policyRule';

/**
 * The token view's pure parts (no DOM): the exit a policy takes at one token position, the
 * threshold the view colours by, and how a token is written. The exit follows the analysis
 * (src/core/analysis/policies.ts, docs/metrics.md "Policies and curves") with the shared firing
 * rule, so a position's colour is the exit the report counts for it.
 */
export interface PositionScores {
  preds: number[];
  conf: number[];
  entropy: number[];
  margin: number[];
}

/**
 * The exit of one position under a policy at a threshold; null is the full model (no score
 * fires, patience t = 0). Score policies: the first k ≤ E−2 whose score fires (a non-finite
 * output, pred −1, never fires). Patience (PABEE): counter 0 at exit 0, +1 when pred_k =
 * pred_{k−1} (a −1 equals nothing, not even another −1), else 0; exit at the first k where it
 * equals t. Nothing fires: the final exit.
 */
export function tokenExit(p: PositionScores, kind: PolicyKind, threshold: number | null): number {
  const E = p.preds.length;
  if (threshold === null || E === 0) return E - 1;
  if (kind === 'patience') {
    if (threshold <= 0) return E - 1;
    let counter = 0;
    for (let k = 1; k < E; k++) {
      counter = p.preds[k] >= 0 && p.preds[k] === p.preds[k - 1] ? counter + 1 : 0;
      if (fires('patience', counter, threshold)) return k;
    }
    return E - 1;
  }
  const scores = kind === 'confidence' ? p.conf : kind === 'entropy' ? p.entropy : p.margin;
  for (let k = 0; k < E - 1; k++) {
    if (p.preds[k] < 0) continue;
    if (fires(kind, scores[k], threshold)) return k;
  }
  return E - 1;
}

/**
 * The threshold as the view compares it: the token view's scores are rounded to 6 digits
 * (src/core/tokens/tokenView.ts), so a score policy's threshold is rounded the same way, and a
 * position whose score equals the threshold (a suggestion is an observed score) fires as it does
 * in the analysis. Only a score within 5·10⁻⁷ of the threshold may land on the other side.
 */
export function viewThreshold(kind: PolicyKind, threshold: number | null): number | null {
  if (threshold === null || kind === 'patience') return threshold;
  return Math.round(threshold * 1e6) / 1e6;
}

/** The threshold of a policy's slider position (a curve point); null where the point is the full model. */
export function sliderThreshold(curve: Curve, index: number): number | null {
  if (curve.points.length === 0) return null;
  const i = Math.min(Math.max(0, Math.round(index)), curve.points.length - 1);
  return curve.points[i].threshold;
}

/** How a policy at a threshold reads: "confidence ≥ 0.2190", "patience t = 2", "full model". */
export function ruleText(kind: PolicyKind, threshold: number | null): string {
  if (threshold === null || (kind === 'patience' && threshold <= 0)) return `${kind}: none fires (full model)`;
  if (kind === 'patience') return `patience t = ${threshold}`;
  return `${kind} ${kind === 'entropy' ? '≤' : '≥'} ${threshold.toFixed(4)}`;
}

/** A token id's display string: the vocabulary's, else `<id>`; without a vocabulary, the id. */
export function tokenString(vocab: Record<string, string> | null, id: number): string {
  if (id < 0) return 'non-finite';
  if (!vocab) return String(id);
  return vocab[String(id)] ?? `<${id}>`;
}

/**
 * A token written where whitespace must be seen (a tooltip, a legend): a space as ␣, a line
 * break as ↵, a tab as ⇥, other control characters as \u escapes.
 */
export function visibleToken(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ') out += '␣';
    else if (ch === '\n') out += '↵';
    else if (ch === '\r') out += '␍';
    else if (ch === '\t') out += '⇥';
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out === '' ? '∅' : out;
}

/**
 * A token written in running text: as it is, except that a line break shows as ↵ before the
 * break, a tab as ⇥, other control characters as \u escapes (spaces stay spaces: the text keeps
 * its white space, and a coloured space shows as a coloured block).
 */
export function textToken(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\n') out += '↵\n';
    else if (ch === '\r') out += '␍';
    else if (ch === '\t') out += '⇥';
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out === '' ? '∅' : out;
}

/** Early exits' hues (media/report.css .xh0-.xh5) and underline styles (.xs0-.xs3); the final exit is .xf .xsn. */
const HUES = 6;
const STYLES = 4;

/**
 * The classes that colour exit k of E (the token view, its legend and the settling histogram):
 * a hue and an underline style, so that exits differ by more than colour; the final exit is
 * neutral and not underlined.
 */
export function exitClasses(k: number, E: number): string {
  if (k >= E - 1) return 'xf xsn';
  return `xh${k % HUES} xs${k % STYLES}`;
}
