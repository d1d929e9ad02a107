import { ExitRecords } from '../records';

/** Per-exit metrics of METRICS.md "Per-exit metrics". Label-based figures are null without labels. */
export interface ExitMetrics {
  index: number;
  accuracy: number | null;
  meanConfidence: number;
  meanEntropy: number;
  ece: number | null;
  nll: number | null;
  agreement: number;
  nonFiniteCount: number;
}

export const ECE_BINS = 15;

/**
 * The bin b (0..14) with b/15 < conf <= (b+1)/15, or -1 for conf = 0 (no bin holds it).
 * Bin edges are computed as b/15 exactly as written, then the estimate is corrected.
 */
export function eceBin(conf: number): number {
  if (!(conf > 0)) return -1;
  let b = Math.ceil(conf * ECE_BINS) - 1;
  if (b > ECE_BINS - 1) b = ECE_BINS - 1;
  if (b < 0) b = 0;
  while (b > 0 && conf <= b / ECE_BINS) b--;
  while (b < ECE_BINS - 1 && conf > (b + 1) / ECE_BINS) b++;
  return b;
}

export function exitMetrics(rec: ExitRecords): ExitMetrics[] {
  const { sampleCount: N, exitCount: E, labels } = rec;
  const last = E - 1;
  const out: ExitMetrics[] = [];
  for (let k = 0; k < E; k++) {
    let correct = 0;
    let confSum = 0;
    let entSum = 0;
    let nllSum = 0;
    let nllCount = 0;
    let agree = 0;
    let nonFinite = 0;
    const binCount = new Float64Array(ECE_BINS);
    const binCorrect = new Float64Array(ECE_BINS);
    const binConf = new Float64Array(ECE_BINS);
    for (let n = 0; n < N; n++) {
      const at = n * E + k;
      const pred = rec.pred[at];
      const conf = rec.conf[at];
      confSum += conf;
      entSum += rec.entropy[at];
      if (pred === rec.pred[n * E + last]) agree++;
      if (!rec.finite[at]) nonFinite++;
      if (labels) {
        const right = pred === labels[n] ? 1 : 0;
        correct += right;
        const b = eceBin(conf);
        if (b >= 0) {
          binCount[b]++;
          binCorrect[b] += right;
          binConf[b] += conf;
        }
        if (rec.finite[at]) {
          nllSum -= rec.logpLabel[at];
          nllCount++;
        }
      }
    }
    let ece: number | null = null;
    if (labels && N > 0) {
      ece = 0;
      for (let b = 0; b < ECE_BINS; b++) {
        if (binCount[b] === 0) continue;
        ece += (binCount[b] / N) * Math.abs(binCorrect[b] / binCount[b] - binConf[b] / binCount[b]);
      }
    }
    out.push({
      index: k,
      accuracy: labels ? correct / N : null,
      meanConfidence: confSum / N,
      meanEntropy: entSum / N,
      ece,
      nll: labels && nllCount > 0 ? nllSum / nllCount : null,
      agreement: agree / N,
      nonFiniteCount: nonFinite,
    });
  }
  return out;
}
