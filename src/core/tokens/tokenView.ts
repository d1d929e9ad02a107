import { NumericArray } from '../npy/npy';
import { ExitRecords } from '../records/records';
import { TokenPositions } from './tokens';
import type { TokenView } from '../../shared/reportTypes';

/** Sequences and tokens per sequence the token view shows at most. */
export const TOKEN_VIEW_SEQUENCES = 12;
export const TOKEN_VIEW_TOKENS = 256;

/**
 * The token view's data from the records of the first sequences: `ids` and `mask` hold the
 * first `rows` sequences of T tokens (mask null: every token is real). Scores are rounded to 6
 * digits (the view compares them with a slider's threshold; the report's figures use the
 * records themselves). `vocab`: id → display string, of which only the ids shown are kept.
 */
export function buildTokenView(
  rec: ExitRecords,
  positions: TokenPositions,
  ids: NumericArray,
  mask: NumericArray | null,
  rows: number,
  T: number,
  vocab: readonly string[] | null,
  vocabPath: string | null,
): TokenView {
  const E = rec.exitCount;
  const round = (v: number) => Math.round(v * 1e6) / 1e6;
  const shown = Math.min(T, TOKEN_VIEW_TOKENS);
  const used = new Set<number>();
  const sequences: TokenView['sequences'] = [];
  for (let r = 0; r < Math.min(rows, TOKEN_VIEW_SEQUENCES); r++) {
    const seqIds = Array.from({ length: shown }, (_, t) => Number(ids[r * T + t]));
    const seqMask = Array.from({ length: shown }, (_, t) => (mask ? Number(mask[r * T + t]) : 1));
    seqIds.forEach((id) => used.add(id));
    const list: TokenView['sequences'][number]['positions'] = [];
    for (let p = positions.seqStart[r]; p < positions.seqStart[r + 1]; p++) {
      const t = positions.t[p];
      if (t + 1 >= shown) break;
      const at = (k: number) => p * E + k;
      const preds = Array.from({ length: E }, (_, k) => rec.pred[at(k)]);
      preds.forEach((id) => used.add(id));
      list.push({
        t,
        sample: p,
        label: rec.labels ? rec.labels[p] : -1,
        preds,
        conf: Array.from({ length: E }, (_, k) => round(rec.conf[at(k)])),
        entropy: Array.from({ length: E }, (_, k) => round(rec.entropy[at(k)])),
        margin: Array.from({ length: E }, (_, k) => round(rec.margin[at(k)])),
      });
    }
    sequences.push({ index: r, ids: seqIds, mask: seqMask, truncated: T > shown, positions: list });
  }
  let shownVocab: Record<string, string> | null = null;
  if (vocab) {
    shownVocab = {};
    for (const id of [...used].sort((a, b) => a - b)) if (id >= 0 && id < vocab.length) shownVocab[id] = vocab[id];
  }
  return { sequences, vocab: shownVocab, vocabPath };
}
