/**
 * Axis tick labels and chart domains, without the DOM or d3 (the unit tests import this file).
 */

/**
 * Labels for an axis' tick values: the fewest digits (from `minDigits`) at which no two labels
 * read the same, so a narrow domain reads "99.6%, 99.8%, 100.0%" rather than "100%" three
 * times. If even `maxDigits` leaves two alike, the repeats after the first are left blank.
 */
export function tickLabels(
  values: readonly number[],
  format: (v: number, digits: number) => string,
  minDigits = 0,
  maxDigits = 6,
): string[] {
  for (let digits = minDigits; digits <= maxDigits; digits++) {
    const labels = values.map((v) => format(v, digits));
    if (new Set(labels).size === labels.length) return labels;
  }
  const seen = new Set<string>();
  return values.map((v) => {
    const label = format(v, maxDigits);
    if (seen.has(label)) return '';
    seen.add(label);
    return label;
  });
}

/**
 * A domain around some points with a margin on each side, `pad` of its span (or of the value,
 * when all the points are equal). With `log`, the margin is taken on the logarithm and
 * non-positive values are skipped. Null when no point is usable.
 */
export function domainAround(values: readonly number[], pad = 0.15, log = false): [number, number] | null {
  const usable = values.filter((v) => Number.isFinite(v) && (!log || v > 0)).map((v) => (log ? Math.log(v) : v));
  if (usable.length === 0) return null;
  let lo = Math.min(...usable);
  let hi = Math.max(...usable);
  const span = hi - lo > 0 ? hi - lo : Math.abs(hi) || 1;
  lo -= span * pad;
  hi += span * pad;
  return log ? [Math.exp(lo), Math.exp(hi)] : [lo, hi];
}
