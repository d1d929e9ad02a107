import type { ExitRecords } from './records';
import { DEFAULT_GRID } from '../analysis/policies';
import type { StatisticsPrecision } from '../onnx/exitStatistics';

/**
 * Per-sample records from the statistics computed in the graph (exitStatistics.ts), and how far
 * each figure can be from the float64 path's (core/records.ts fillExitRecords, which METRICS.md's
 * reference agrees with): docs/metrics.md "Statistics in the graph".
 *
 * From the graph: m and z2 (the two largest logits), the argmax, the smallest logit, r = Σ_{c≠argmax}
 * e^{z_c − m} and t = Σ_c e^{z_c − m}(z_c − m) in float64, and the label's logit. Then, exactly as
 * fillExitRecords does: s = 1 + r, conf = 1/s, margin = conf − e^{z2 − m}/s, entropy
 * (ln s − t/s)/ln C clamped to [0, 1], ln p[y] = z_y − m − ln s. The prediction, the finiteness and
 * e^{z2 − m} are exact (the same float32 logits, compared and subtracted in float64); only r and t
 * carry the graph's rounding, which is bounded here from the computed values themselves:
 *
 * - a term e^{d} is computed from d rounded to the precision of the differences (relative error
 *   2^-24 in float32, 2^-53 in float64: an error |d|·u in e^{d}) by an exponential with relative
 *   error η (η32 for the runtime's float32 Exp, η64 for its float64 Exp), and the float64 path's own
 *   Math.exp is off by at most one ulp (ηjs); so |ê − e| ≤ e(|d|u + η + ηjs);
 * - the float64 sums of n terms, in any order, are off by at most γ_n Σ|terms|, γ_n = n·2^-53/(1 − n·2^-53);
 * - Σ_{c≠argmax} e_c|d_c| = |t|, and every |d| ≤ D = m − min z.
 * Hence |r̂ − r| ≤ u|t| + (η + ηjs + γ_C) r and |t̂ − t| ≤ |t|(u(D + 3) + η + ηjs + γ_C), each with a
 * margin of 0.1% for second-order terms, plus C·2^-126·max(1, D) for terms the float32 exponential
 * flushes to zero. A row is certain where these bounds leave one float64 value (a confidence that
 * rounds to 1 either way, a margin of a tie, an entropy clamped to 0 or 1); otherwise it gets an
 * interval, and certify() says which rows must be recomputed exactly.
 */

/** Relative error bound of ONNX Runtime's float32 Exp (MLAS), with margin: test/unit/exitStatistics.test.ts measures it. */
export const EXP32_ERROR = 2 ** -21;
/** Relative error bound of ONNX Runtime's float64 Exp, with margin. */
export const EXP64_ERROR = 2 ** -49;
/** Math.exp (V8's fdlibm port) is within one ulp. */
const EXP_JS_ERROR = 2 ** -52;
const U64 = 2 ** -53;

/** A figure's distance from the float64 path's, per sample and exit: 0 when it is certainly the same value. */
export interface RecordBounds {
  conf: Float32Array;
  margin: Float32Array;
  entropy: Float32Array;
  /** 1 where the statistics could not be read at all (a sum that overflowed): recompute. */
  recompute: Uint8Array;
}

export function allocateBounds(size: number): RecordBounds {
  return {
    conf: new Float32Array(size),
    margin: new Float32Array(size),
    entropy: new Float32Array(size),
    recompute: new Uint8Array(size),
  };
}

/** One exit's statistics for a batch, as fetched: `top` and `idx` are [..., 2], `min` and `zy` [..., 1]. */
export interface StatisticsBatch {
  top: ArrayLike<number>;
  idx: BigInt64Array | ArrayLike<number>;
  min: ArrayLike<number>;
  r: Float64Array;
  t: Float64Array;
  zy: ArrayLike<number> | null;
  precision: StatisticsPrecision;
}

/** A float32 at least |x| (a bound stored in single precision is rounded up). */
function upper32(x: number): number {
  const f = Math.fround(x);
  if (f >= x) return f;
  return Math.fround(f * (1 + 2 ** -23) + Number.MIN_VALUE);
}

const gamma = (n: number) => (n * U64) / (1 - n * U64);

/**
 * Fills the record of sample `n`, exit `k` from row `row` of a batch's statistics, and its bounds.
 * The label (when the records have labels) is rec.labels[n]; its logit is zy[row].
 */
export function fillFromStatistics(
  rec: ExitRecords,
  bounds: RecordBounds,
  s: StatisticsBatch,
  row: number,
  n: number,
  k: number,
): void {
  const C = rec.classCount;
  const at = n * rec.exitCount + k;
  const m = s.top[2 * row];
  const z2 = s.top[2 * row + 1];
  const zmin = s.min[row];
  const r = s.r[row];
  const t = s.t[row];
  // Any NaN makes r (or t) NaN, +∞ makes m +∞, −∞ makes the minimum −∞: non-finite, exactly.
  if (!(m - m === 0) || !(zmin - zmin === 0) || r !== r || t !== t) {
    const overflow = m - m === 0 && zmin - zmin === 0 && r === r && m - zmin > 3.4e38;
    rec.pred[at] = -1;
    rec.conf[at] = 0;
    rec.margin[at] = 0;
    rec.entropy[at] = 1;
    rec.logpLabel[at] = NaN;
    rec.finite[at] = 0;
    // A finite row whose differences overflowed float32: only its logits can say.
    bounds.recompute[at] = overflow ? 1 : 0;
    bounds.conf[at] = bounds.margin[at] = bounds.entropy[at] = 0;
    return;
  }
  const arg = Number(s.idx[2 * row]);
  const sum = 1 + r;
  const lnS = Math.log(sum);
  const conf = 1 / sum;
  const second = Math.exp(z2 - m);
  const lnC = Math.log(C);
  rec.pred[at] = arg;
  rec.conf[at] = conf;
  rec.margin[at] = C > 1 ? conf - second / sum : conf;
  const h = C > 1 ? (lnS - t / sum) / lnC : 0;
  rec.entropy[at] = h < 0 ? 0 : h > 1 ? 1 : h;
  rec.finite[at] = 1;
  if (rec.labels && s.zy) rec.logpLabel[at] = s.zy[row] - m - lnS;

  // Bounds on r and t (see the header).
  const D = m - zmin;
  const f32 = s.precision === 'f32';
  const u = f32 ? 2 ** -24 : U64;
  const eta = (f32 ? EXP32_ERROR : EXP64_ERROR) + EXP_JS_ERROR;
  const g = gamma(C);
  const flushed = f32 ? C * 2 ** -126 * Math.max(1, D) : C * 2 ** -1021 * Math.max(1, D);
  const absT = -t;
  const bR = 1.001 * (u * absT * 1.001 + (eta + g) * r) + flushed;
  const bT = 1.001 * absT * (u * (D + 3) + eta + g) + flushed;
  const sLo = 1 + Math.max(0, r - bR);
  const sHi = 1 + (r + bR);
  // conf = 1/s is monotone in s: the float64 path's value lies between these two, both included.
  const confLo = 1 / sHi;
  const confHi = 1 / sLo;
  bounds.conf[at] = confLo === confHi ? 0 : upper32(Math.max(conf - confLo, confHi - conf) + 2 * ulp(conf));
  bounds.recompute[at] = 0;
  if (C === 1) {
    bounds.margin[at] = bounds.conf[at];
    bounds.entropy[at] = 0;
    return;
  }
  // margin = 1/s − e2/s: e2 is exact, so with s certain the float64 path computes the same value;
  // a tie (e2 = 1) gives 0 either way. Else the spread of s, and the rounding of each part.
  if (second === 1 || sLo === sHi) bounds.margin[at] = 0;
  else {
    const spread = sHi === sLo ? 0 : (1 - second) * (1 / sLo - 1 / sHi);
    bounds.margin[at] = upper32(spread + 2 * ulp(conf) + 2 * ulp(second / sum));
  }
  // entropy = (ln s + |t|/s)/ln C: increasing in |t|, and each part's own rounding.
  const tLo = Math.max(0, absT - bT);
  const tHi = absT + bT;
  const hLo = (Math.log(sLo) + tLo / sHi) / lnC;
  const hHi = (Math.log(sHi) + tHi / sLo) / lnC;
  const slack = (4 * (ulp(lnS) + ulp(absT / sum))) / lnC + 2 * ulp(h);
  const lo = hLo - slack;
  const hi = hHi + slack;
  // Clamped at either end, the entropy is that end whatever the rounding.
  if (hi <= 0 || lo >= 1) bounds.entropy[at] = 0;
  else bounds.entropy[at] = upper32(Math.max(rec.entropy[at] - Math.max(0, lo), Math.min(1, hi) - rec.entropy[at]));
}

/** At least the spacing of float64 values at x (|x|·2^-52, the spacing of a normal number). */
function ulp(x: number): number {
  return Math.abs(x) * 2 ** -52 + Number.MIN_VALUE;
}

/**
 * Thresholds the analysis compares scores with besides the scores themselves: ECE's bin edges
 * b/15, risk control's grid j/1000, the default policy grid, and the grids of the rules on
 * confidence and margin j/20, j/10 and j/100 (docs/metrics.md). A row whose interval holds one is
 * recomputed, as is one whose interval meets another row's.
 */
export function certifiedGrid(kind: 'conf' | 'margin' | 'entropy'): Float64Array {
  const values: number[] = [];
  const steps = (n: number) => {
    for (let j = 0; j <= n; j++) values.push(j / n, (n - j) / n);
  };
  steps(1000);
  steps(100);
  steps(20);
  steps(10);
  if (kind !== 'entropy') for (let b = 0; b <= 15; b++) values.push(b / 15);
  const extra = { conf: DEFAULT_GRID.confidence, margin: DEFAULT_GRID.margin, entropy: DEFAULT_GRID.entropy }[kind];
  values.push(...extra);
  return Float64Array.from(new Set(values)).sort();
}

/** Half-widths above this are recomputed whatever their neighbours, so that means stay within it. */
export const MAX_HALF_WIDTH = 2e-7;

/** The number of values in the sorted array `a` that are < x (strict) or <= x. */
function rank(a: Float64Array, x: number, inclusive: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (inclusive ? a[mid] <= x : a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface BoundedRecords {
  rec: ExitRecords;
  bounds: RecordBounds;
}

/**
 * The rows (sample n times E plus exit k) whose figures must be recomputed from their logits so
 * that every comparison the analysis makes is the float64 path's: a row whose interval (its value
 * ± its bound) meets another row's interval or value in the same score, across every set given
 * (the sample set and the calibration set are compared with each other's thresholds), or holds a
 * grid threshold, or is wider than MAX_HALF_WIDTH. One flag array per set.
 */
export function rowsToRecompute(sets: readonly BoundedRecords[]): Uint8Array[] {
  const flags = sets.map(({ bounds }) => Uint8Array.from(bounds.recompute));
  const kinds = ['conf', 'margin', 'entropy'] as const;
  const total = sets.reduce((s, x) => s + x.rec.sampleCount * x.rec.exitCount, 0);
  for (const kind of kinds) {
    const grid = certifiedGrid(kind);
    const los = new Float64Array(total);
    const his = new Float64Array(total);
    let count = 0;
    for (const { rec, bounds } of sets) {
      const v = rec[kind === 'conf' ? 'conf' : kind];
      const w = bounds[kind];
      for (let i = 0; i < v.length; i++) {
        if (!rec.finite[i]) continue;
        los[count] = v[i] - w[i];
        his[count++] = v[i] + w[i];
      }
    }
    const lo = los.subarray(0, count).sort();
    const hi = his.subarray(0, count).sort();
    sets.forEach(({ rec, bounds }, j) => {
      const v = rec[kind];
      const w = bounds[kind];
      const f = flags[j];
      for (let i = 0; i < v.length; i++) {
        if (!rec.finite[i] || w[i] === 0 || f[i]) continue;
        const a = v[i] - w[i];
        const b = v[i] + w[i];
        // Intervals meeting [a, b]: those starting at or before b, less those ending before a.
        const meeting = rank(lo, b, true) - rank(hi, a, false);
        if (meeting >= 2 || w[i] > MAX_HALF_WIDTH || rank(grid, b, true) > rank(grid, a, false)) f[i] = 1;
      }
    });
  }
  return flags;
}
