import { ExitRecords } from '../records/records';
import { same } from './same';
import type { ExitMetrics } from '../../shared/reportTypes';

/** Per-exit metrics of docs/metrics.md "Per-exit metrics". Label-based figures are null without labels. */

export const ECE_BINS = 15;

/** The bin edges b/15, b = 0..15, computed as written. */
const EDGES = Float64Array.from({ length: ECE_BINS + 1 }, (_, b) => b / ECE_BINS);

/**
 * The bin b (0..14) with b/15 < conf <= (b+1)/15, or -1 for conf = 0 (no bin holds it).
 * Bin edges are computed as b/15 exactly as written, then the estimate is corrected.
 */
export function eceBin(conf: number): number {
  if (!(conf > 0)) return -1;
  let b = Math.ceil(conf * ECE_BINS) - 1;
  if (b > ECE_BINS - 1) b = ECE_BINS - 1;
  if (b < 0) b = 0;
  while (b > 0 && conf <= EDGES[b]) b--;
  while (b < ECE_BINS - 1 && conf > EDGES[b + 1]) b++;
  return b;
}

export function exitMetrics(rec: ExitRecords): ExitMetrics[] {
  const { sampleCount: N, exitCount: E, labels } = rec;
  const out: ExitMetrics[] = [];
  // One pass over the samples for all exits at once (the records are sample-major, so a pass
  // per exit would read a cache line per value); each exit's sums still add its samples in
  // sample order. The loop is a function of its own, so that V8 optimises it by itself.
  const sums = new Float64Array(SUM_COUNT * E);
  const bins = new Float64Array(3 * ECE_BINS * E);
  if (labels) labelledExitSums(rec.pred, rec.conf, rec.entropy, rec.finite, rec.logpLabel, labels, N, E, sums, bins);
  else unlabelledExitSums(rec.pred, rec.conf, rec.entropy, rec.finite, N, E, sums);
  for (let k = 0; k < E; k++) {
    const s = k * SUM_COUNT;
    const b0 = k * 3 * ECE_BINS;
    let ece: number | null = null;
    if (labels && N > 0) {
      ece = 0;
      for (let b = 0; b < ECE_BINS; b++) {
        const count = bins[b0 + b];
        if (count === 0) continue;
        ece += (count / N) * Math.abs(bins[b0 + ECE_BINS + b] / count - bins[b0 + 2 * ECE_BINS + b] / count);
      }
    }
    const nllCount = sums[s + NLL_COUNT];
    out.push({
      index: k,
      accuracy: labels ? sums[s + CORRECT] / N : null,
      meanConfidence: sums[s + CONF_SUM] / N,
      meanEntropy: sums[s + ENT_SUM] / N,
      ece,
      nll: labels && nllCount > 0 ? sums[s + NLL_SUM] / nllCount : null,
      agreement: sums[s + AGREE] / N,
      nonFiniteCount: sums[s + NON_FINITE],
    });
  }
  return out;
}

/** Slots of the per-exit sums: exit k's are sums[k * SUM_COUNT + slot]. */
const CORRECT = 0;
const CONF_SUM = 1;
const ENT_SUM = 2;
const NLL_SUM = 3;
const NLL_COUNT = 4;
const AGREE = 5;
const NON_FINITE = 6;
const SUM_COUNT = 7;

/**
 * Samples per block of the sums' loops: exit by exit within a block, whose records stay in the
 * caches, with each exit's sums in locals; across blocks each exit's sums carry on, so every
 * sum still adds its samples in sample order.
 */
const BLOCK = 512;

/**
 * Every exit's sums over the samples of a labelled set, in sample order, into sums (zeroed;
 * exit k at k * SUM_COUNT), and per exit k and ECE bin b the count, correct count and
 * confidence sum into bins[45k + b], bins[45k + 15 + b] and bins[45k + 30 + b] (zeroed).
 */
function labelledExitSums(
  pred: Int32Array,
  confs: Float64Array,
  entropy: Float64Array,
  finite: Uint8Array,
  logpLabel: Float64Array,
  labels: Int32Array,
  N: number,
  E: number,
  sums: Float64Array,
  bins: Float64Array,
): void {
  const last = E - 1;
  for (let n0 = 0; n0 < N; n0 += BLOCK) {
    const n1 = Math.min(N, n0 + BLOCK);
    for (let k = 0; k < E; k++) {
      const s = k * SUM_COUNT;
      const b0 = k * 3 * ECE_BINS;
      let correct = sums[s + CORRECT];
      let confSum = sums[s + CONF_SUM];
      let entSum = sums[s + ENT_SUM];
      let nllSum = sums[s + NLL_SUM];
      let nllCount = sums[s + NLL_COUNT];
      let agree = sums[s + AGREE];
      let nonFinite = sums[s + NON_FINITE];
      for (let n = n0; n < n1; n++) {
        const at = n * E + k;
        const p = pred[at];
        const conf = confs[at];
        confSum += conf;
        entSum += entropy[at];
        agree += same(p, pred[n * E + last]);
        const right = same(p, labels[n]);
        correct += right;
        const b = eceBin(conf);
        if (b >= 0) {
          bins[b0 + b]++;
          bins[b0 + ECE_BINS + b] += right;
          bins[b0 + 2 * ECE_BINS + b] += conf;
        }
        if (finite[at]) {
          nllSum -= logpLabel[at];
          nllCount++;
        } else nonFinite++;
      }
      sums[s + CORRECT] = correct;
      sums[s + CONF_SUM] = confSum;
      sums[s + ENT_SUM] = entSum;
      sums[s + NLL_SUM] = nllSum;
      sums[s + NLL_COUNT] = nllCount;
      sums[s + AGREE] = agree;
      sums[s + NON_FINITE] = nonFinite;
    }
  }
}

/** labelledExitSums for an unlabelled set: no correct counts, NLL or bins. */
function unlabelledExitSums(
  pred: Int32Array,
  confs: Float64Array,
  entropy: Float64Array,
  finite: Uint8Array,
  N: number,
  E: number,
  sums: Float64Array,
): void {
  const last = E - 1;
  for (let n0 = 0; n0 < N; n0 += BLOCK) {
    const n1 = Math.min(N, n0 + BLOCK);
    for (let k = 0; k < E; k++) {
      const s = k * SUM_COUNT;
      let confSum = sums[s + CONF_SUM];
      let entSum = sums[s + ENT_SUM];
      let agree = sums[s + AGREE];
      let nonFinite = sums[s + NON_FINITE];
      for (let n = n0; n < n1; n++) {
        const at = n * E + k;
        confSum += confs[at];
        entSum += entropy[at];
        agree += same(pred[at], pred[n * E + last]);
        if (!finite[at]) nonFinite++;
      }
      sums[s + CONF_SUM] = confSum;
      sums[s + ENT_SUM] = entSum;
      sums[s + AGREE] = agree;
      sums[s + NON_FINITE] = nonFinite;
    }
  }
}
