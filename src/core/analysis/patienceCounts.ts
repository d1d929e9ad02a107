/**
 * The patience policy for every t = 1..E-1 in one pass over the records: exit histograms, right
 * and agreeing counts, over all samples and over the subset (the calibration split).
 */
import { ExitRecords } from '../records/records';
import { same } from './same';

/** Per patience t = 1..E-1: exit histograms, right and agreeing counts, over all samples and over the subset. */
export interface PatienceCounts {
  T: number;
  pHist: Int32Array;
  pCorrect: Float64Array;
  pAgree: Float64Array;
  sHist: Int32Array;
  sCorrect: Float64Array;
  sAgree: Float64Array;
  sFinalCorrect: number;
}

export function patienceCounts(rec: ExitRecords, subset: { mask: Uint8Array } | null): PatienceCounts {
  const N = rec.sampleCount;
  const E = rec.exitCount;
  // Patience t = 1..E-1 in one pass: the counter rises by one at a time from 0, so the first
  // exit where it equals t is where it first climbs to t.
  const T = E - 1;
  const pHist = new Int32Array(Math.max(0, T) * E);
  const pCorrect = new Float64Array(T + 1);
  const pAgree = new Float64Array(T + 1);
  const sHist = new Int32Array(subset ? Math.max(0, T) * E : 0);
  const sCorrect = new Float64Array(T + 1);
  const sAgree = new Float64Array(T + 1);
  let sFinalCorrect = 0;
  const reach = new Int32Array(E);
  for (let n = 0; n < N; n++) {
    const base = n * E;
    // reach[t] for t <= top (the highest count); above it, the final exit.
    let counter = 0;
    let top = 0;
    for (let k = 1; k < E; k++) {
      // A non-finite prediction (-1) equals no other, not even another -1: the counter resets.
      const pk = rec.pred[base + k];
      counter = (counter + 1) * same(pk, rec.pred[base + k - 1]) * (~pk >>> 31);
      if (counter > top) {
        top = counter;
        reach[counter] = k;
      }
    }
    const y = rec.labels ? rec.labels[n] : -2;
    const pf = rec.pred[base + E - 1];
    // Right, agreeing and in the subset as 0 or 1, so that the counts need no data-dependent branches.
    const inSubset = subset !== null && subset.mask[n] === 1;
    if (inSubset && pf === y) sFinalCorrect++;
    if (inSubset) {
      for (let t = 1; t <= T; t++) {
        const e = t <= top ? reach[t] : E - 1;
        const p = rec.pred[base + e];
        const right = same(p, y);
        const agree = same(p, pf);
        pHist[(t - 1) * E + e]++;
        pCorrect[t] += right;
        pAgree[t] += agree;
        sHist[(t - 1) * E + e]++;
        sCorrect[t] += right;
        sAgree[t] += agree;
      }
    } else {
      for (let t = 1; t <= T; t++) {
        const e = t <= top ? reach[t] : E - 1;
        const p = rec.pred[base + e];
        pHist[(t - 1) * E + e]++;
        pCorrect[t] += same(p, y);
        pAgree[t] += same(p, pf);
      }
    }
  }
  return { T, pHist, pCorrect, pAgree, sHist, sCorrect, sAgree, sFinalCorrect };
}
