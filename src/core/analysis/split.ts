import { ExitRecords } from '../records/records';

/** Seed of the calibration/test split used when no calibration set is given. */
export const SPLIT_SEED = 20190609;
export const SPLIT_CALIBRATION_FRACTION = 0.5;

/** mulberry32: a small, well-known 32-bit PRNG; deterministic across platforms. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Deterministic split of 0..N-1: a seeded Fisher–Yates shuffle; the first half (rounded down)
 * is the calibration split. Both index lists are returned in ascending order.
 */
export function seededSplit(
  sampleCount: number,
  seed = SPLIT_SEED,
  fraction = SPLIT_CALIBRATION_FRACTION,
): { calibration: Int32Array; test: Int32Array } {
  const idx = new Int32Array(sampleCount);
  for (let i = 0; i < sampleCount; i++) idx[i] = i;
  const rand = mulberry32(seed);
  for (let i = sampleCount - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  const cut = Math.floor(sampleCount * fraction);
  // Both halves in ascending order, without sorting: mark the calibration samples, then collect.
  const inCalibration = new Uint8Array(sampleCount);
  for (let i = 0; i < cut; i++) inCalibration[idx[i]] = 1;
  const calibration = new Int32Array(cut);
  const test = new Int32Array(sampleCount - cut);
  for (let n = 0, c = 0, t = 0; n < sampleCount; n++) {
    if (inCalibration[n]) calibration[c++] = n;
    else test[t++] = n;
  }
  return { calibration, test };
}

/** The records of a subset of samples, in the given order. */
export function subsetRecords(rec: ExitRecords, samples: Int32Array): ExitRecords {
  const E = rec.exitCount;
  const M = samples.length;
  const out: ExitRecords = {
    sampleCount: M,
    exitCount: E,
    classCount: rec.classCount,
    pred: new Int32Array(M * E),
    conf: new Float64Array(M * E),
    margin: new Float64Array(M * E),
    entropy: new Float64Array(M * E),
    logpLabel: new Float64Array(M * E),
    finite: new Uint8Array(M * E),
    labels: rec.labels ? new Int32Array(M) : null,
  };
  for (let i = 0; i < M; i++) {
    const n = samples[i];
    const src = n * E;
    const dst = i * E;
    out.pred.set(rec.pred.subarray(src, src + E), dst);
    out.conf.set(rec.conf.subarray(src, src + E), dst);
    out.margin.set(rec.margin.subarray(src, src + E), dst);
    out.entropy.set(rec.entropy.subarray(src, src + E), dst);
    out.logpLabel.set(rec.logpLabel.subarray(src, src + E), dst);
    out.finite.set(rec.finite.subarray(src, src + E), dst);
    if (out.labels && rec.labels) out.labels[i] = rec.labels[n];
  }
  return out;
}
