/**
 * Per sample and exit, the compact record the analysis needs (docs/metrics.md "Per sample and exit"), not the
 * logits: prediction, confidence, margin, normalised entropy, log-probability of the label,
 * and whether the logits were finite. Stored sample-major: index n * E + k.
 */
export interface ExitRecords {
  sampleCount: number;
  exitCount: number;
  classCount: number;
  /** argmax p (lowest class index on ties); -1 when the logits were not finite. */
  pred: Int32Array;
  /** max p; 0 when the logits were not finite. */
  conf: Float64Array;
  /** top-1 minus top-2 probability; 0 when not finite. */
  margin: Float64Array;
  /** -Σ p ln p / ln C in [0, 1]; 1 when not finite. */
  entropy: Float64Array;
  /** ln p[y]; NaN without labels or when not finite. */
  logpLabel: Float64Array;
  finite: Uint8Array;
  /** Labels, or null for an unlabelled set. */
  labels: Int32Array | null;
}

/**
 * Records live on SharedArrayBuffers, so that worker threads (analysis/parallel.ts) read them
 * without copies.
 */
export function allocateRecords(
  sampleCount: number,
  exitCount: number,
  classCount: number,
  labels: Int32Array | null,
): ExitRecords {
  const size = sampleCount * exitCount;
  const shared = (bytesPerElement: number) => new SharedArrayBuffer(size * bytesPerElement);
  return {
    sampleCount,
    exitCount,
    classCount,
    pred: new Int32Array(shared(4)),
    conf: new Float64Array(shared(8)),
    margin: new Float64Array(shared(8)),
    entropy: new Float64Array(shared(8)),
    // With labels, fillExitRecords writes every entry (NaN where not finite): no NaN fill first
    // (96 MB at 10^6 samples and 12 exits, on one thread before the records are filled).
    logpLabel: labels ? new Float64Array(shared(8)) : new Float64Array(shared(8)).fill(NaN),
    finite: new Uint8Array(shared(1)),
    labels,
  };
}

/**
 * Fills the records of `rows` samples (from `firstSample`) for exit `exit`, from logits laid
 * out so that sample i's C values start at `offset + i * stride`. Softmax is computed stably
 * in float64 (docs/metrics.md "Per sample and exit"): p = exp(z - max z) / Σ exp(z - max z).
 */
export function fillExitRecords(
  rec: ExitRecords,
  logits: ArrayLike<number>,
  offset: number,
  stride: number,
  rows: number,
  firstSample: number,
  exit: number,
): void {
  const C = rec.classCount;
  const E = rec.exitCount;
  const lnC = Math.log(C);
  const labels = rec.labels;
  for (let i = 0; i < rows; i++) {
    const base = offset + i * stride;
    const n = firstSample + i;
    const at = n * E + exit;
    // Max and argmax (lowest index on ties); `bad` becomes NaN if any logit is NaN or infinite.
    let max = logits[base];
    let arg = 0;
    let bad = max * 0;
    for (let c = 1; c < C; c++) {
      const z = logits[base + c];
      bad += z * 0;
      if (z > max) {
        max = z;
        arg = c;
      }
    }
    if (bad !== 0) {
      rec.pred[at] = -1;
      rec.conf[at] = 0;
      rec.margin[at] = 0;
      rec.entropy[at] = 1;
      rec.logpLabel[at] = NaN;
      rec.finite[at] = 0;
      continue;
    }
    // s = Σ e_c and t = Σ e_c (z_c - max), so that H = ln s - t / s (one exp per class).
    // Both sums are compensated, so that they are (almost always) the correctly rounded sums:
    // logits that are permutations of each other then get bit-identical confidences, and ties
    // between samples stay ties. s starts at the argmax's e = 1 and every other e <= 1, so
    // Fast2Sum is exact for s; t's terms vary in size, so it uses TwoSum.
    let s = 1;
    let sc = 0;
    let t = 0;
    let tc = 0;
    let second = 0; // largest e_c among c != arg (e_arg = 1)
    for (let c = 0; c < C; c++) {
      if (c === arg) continue;
      const d = logits[base + c] - max;
      const e = Math.exp(d);
      const sum = s + e;
      sc += s - sum + e;
      s = sum;
      const ed = e * d;
      const tsum = t + ed;
      const back = tsum - t;
      tc += t - (tsum - back) + (ed - back);
      t = tsum;
      if (e > second) second = e;
    }
    s += sc;
    t += tc;
    const lnS = Math.log(s);
    const conf = 1 / s;
    rec.pred[at] = arg;
    rec.conf[at] = conf;
    rec.margin[at] = C > 1 ? conf - second / s : conf;
    const h = C > 1 ? (lnS - t / s) / lnC : 0;
    rec.entropy[at] = h < 0 ? 0 : h > 1 ? 1 : h;
    rec.finite[at] = 1;
    if (labels) rec.logpLabel[at] = logits[base + labels[n]] - max - lnS;
  }
}
