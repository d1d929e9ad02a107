/**
 * The exact binomial lower tail P(Binomial(n, p) ≤ k), for the risk-controlled thresholds
 * (riskControl.ts). The point probabilities follow Loader's saddle-point form ("Fast and accurate
 * computation of binomial probabilities", 2000): exact to a few ulps for every n, with no
 * cancellation between large log-factorials. The tail then sums the point probabilities
 * outward from k by their ratio, until the terms no longer change the sum.
 *
 * Written here rather than taken from a library: the one maintained JavaScript implementation
 * (stdlib's binomial cdf) brings 224 packages for this one function.
 */

const LN_2PI = Math.log(2 * Math.PI);

/** ln(n!) − ((n + ½) ln n − n + ½ ln 2π) for n = 1..15, worked out from the exact factorials. */
const SMALL_STIRLING: number[] = (() => {
  const table = [0];
  let lnFact = 0;
  for (let n = 1; n <= 15; n++) {
    lnFact += Math.log(n);
    table.push(lnFact - ((n + 0.5) * Math.log(n) - n + 0.5 * LN_2PI));
  }
  return table;
})();

/** The error of Stirling's formula for ln(n!), n ≥ 1 an integer. */
function stirlingError(n: number): number {
  if (n <= 15) return SMALL_STIRLING[n];
  const nn = n * n;
  const S0 = 1 / 12;
  const S1 = 1 / 360;
  const S2 = 1 / 1260;
  const S3 = 1 / 1680;
  const S4 = 1 / 1188;
  if (n > 500) return (S0 - S1 / nn) / n;
  if (n > 80) return (S0 - (S1 - S2 / nn) / nn) / n;
  if (n > 35) return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n;
  return (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n;
}

/** x ln(x / m) + m − x, without cancellation when x is near m. */
function deviance(x: number, m: number): number {
  if (Math.abs(x - m) < 0.1 * (x + m)) {
    const v = (x - m) / (x + m);
    let s = (x - m) * v;
    let term = 2 * x * v;
    const v2 = v * v;
    for (let j = 1; j < 1000; j++) {
      term *= v2;
      const next = s + term / (2 * j + 1);
      if (next === s) return next;
      s = next;
    }
    return s;
  }
  return x * Math.log(x / m) + m - x;
}

/** P(Binomial(n, p) = k), for integers 0 ≤ k ≤ n and 0 < p < 1. */
export function binomialPmf(k: number, n: number, p: number): number {
  const q = 1 - p;
  if (k === 0) return Math.exp(n * Math.log1p(-p));
  if (k === n) return Math.exp(n * Math.log(p));
  const lc = stirlingError(n) - stirlingError(k) - stirlingError(n - k) - deviance(k, n * p) - deviance(n - k, n * q);
  const lf = LN_2PI + Math.log(k) + Math.log1p(-k / n);
  return Math.exp(lc - 0.5 * lf);
}

/** Relative size below which a further term no longer changes a tail sum. */
const NEGLIGIBLE = 2 ** -60;

/**
 * P(Binomial(n, p) ≤ k). Below the mean it sums from k down; above it, one minus the upper tail
 * summed from k + 1 up, so that every summed term shrinks and the sum stops early
 * (O(√n) terms).
 */
export function binomialCdf(k: number, n: number, p: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`p must be in [0, 1], got ${p}`);
  if (k < 0) return 0;
  k = Math.floor(k);
  if (k >= n) return 1;
  if (p === 0) return 1;
  if (p === 1) return 0;
  const q = 1 - p;
  if (k <= n * p) {
    // t_{i-1} = t_i · i q / ((n − i + 1) p)
    let term = binomialPmf(k, n, p);
    let sum = term;
    for (let i = k; i > 0 && term > 0; i--) {
      term *= (i * q) / ((n - i + 1) * p);
      sum += term;
      if (term < sum * NEGLIGIBLE) break;
    }
    return Math.min(1, sum);
  }
  // t_{i+1} = t_i · (n − i) p / ((i + 1) q)
  let term = binomialPmf(k + 1, n, p);
  let upper = term;
  for (let i = k + 1; i < n && term > 0; i++) {
    term *= ((n - i) * p) / ((i + 1) * q);
    upper += term;
    if (term < upper * NEGLIGIBLE) break;
  }
  return Math.max(0, 1 - upper);
}
