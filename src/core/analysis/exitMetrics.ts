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
  const out: ExitMetrics[] = [];
  const sums = new Float64Array(SUM_COUNT);
  const bins = new Float64Array(3 * ECE_BINS);
  for (let k = 0; k < E; k++) {
    // The per-sample loop is a function of its own, called once per exit, so that V8 optimises
    // it once for all exits (a cold first call otherwise re-enters it unoptimised per exit).
    sums.fill(0);
    bins.fill(0);
    if (labels) labelledExitSums(rec.pred, rec.conf, rec.entropy, rec.finite, rec.logpLabel, labels, N, E, k, sums, bins);
    else unlabelledExitSums(rec.pred, rec.conf, rec.entropy, rec.finite, N, E, k, sums);
    let ece: number | null = null;
    if (labels && N > 0) {
      ece = 0;
      for (let b = 0; b < ECE_BINS; b++) {
        const count = bins[b];
        if (count === 0) continue;
        ece += (count / N) * Math.abs(bins[ECE_BINS + b] / count - bins[2 * ECE_BINS + b] / count);
      }
    }
    const nllCount = sums[NLL_COUNT];
    out.push({
      index: k,
      accuracy: labels ? sums[CORRECT] / N : null,
      meanConfidence: sums[CONF_SUM] / N,
      meanEntropy: sums[ENT_SUM] / N,
      ece,
      nll: labels && nllCount > 0 ? sums[NLL_SUM] / nllCount : null,
      agreement: sums[AGREE] / N,
      nonFiniteCount: sums[NON_FINITE],
    });
  }
  return out;
}

/** Slots of the per-exit sums. */
const CORRECT = 0;
const CONF_SUM = 1;
const ENT_SUM = 2;
const NLL_SUM = 3;
const NLL_COUNT = 4;
const AGREE = 5;
const NON_FINITE = 6;
const SUM_COUNT = 7;

/**
 * Exit k's sums over the samples of a labelled set, in sample order, into sums (zeroed), and
 * per ECE bin b the count, correct count and confidence sum into bins[b], bins[15 + b] and
 * bins[30 + b] (zeroed).
 */
function labelledExitSums(pred: Int32Array, confs: Float64Array, entropy: Float64Array, finite: Uint8Array, logpLabel: Float64Array, labels: Int32Array, N: number, E: number, k: number, sums: Float64Array, bins: Float64Array): void {
  const last = E - 1;
  let correct = 0;
  let confSum = 0;
  let entSum = 0;
  let nllSum = 0;
  let nllCount = 0;
  let agree = 0;
  let nonFinite = 0;
  for (let n = 0; n < N; n++) {
    const at = n * E + k;
    const p = pred[at];
    const conf = confs[at];
    confSum += conf;
    entSum += entropy[at];
    if (p === pred[n * E + last]) agree++;
    if (!finite[at]) nonFinite++;
    const right = p === labels[n] ? 1 : 0;
    correct += right;
    const b = eceBin(conf);
    if (b >= 0) {
      bins[b]++;
      bins[ECE_BINS + b] += right;
      bins[2 * ECE_BINS + b] += conf;
    }
    if (finite[at]) {
      nllSum -= logpLabel[at];
      nllCount++;
    }
  }
  sums[CORRECT] = correct;
  sums[CONF_SUM] = confSum;
  sums[ENT_SUM] = entSum;
  sums[NLL_SUM] = nllSum;
  sums[NLL_COUNT] = nllCount;
  sums[AGREE] = agree;
  sums[NON_FINITE] = nonFinite;
}

/** labelledExitSums for an unlabelled set: no correct counts, NLL or bins. */
function unlabelledExitSums(pred: Int32Array, confs: Float64Array, entropy: Float64Array, finite: Uint8Array, N: number, E: number, k: number, sums: Float64Array): void {
  const last = E - 1;
  let confSum = 0;
  let entSum = 0;
  let agree = 0;
  let nonFinite = 0;
  for (let n = 0; n < N; n++) {
    const at = n * E + k;
    confSum += confs[at];
    entSum += entropy[at];
    if (pred[at] === pred[n * E + last]) agree++;
    if (!finite[at]) nonFinite++;
  }
  sums[CONF_SUM] = confSum;
  sums[ENT_SUM] = entSum;
  sums[AGREE] = agree;
  sums[NON_FINITE] = nonFinite;
}
