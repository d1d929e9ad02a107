/**
 * How a figure is written, the same in every view: the CLI's tables, the Markdown summary and
 * the report webview. A missing or non-finite value is an en dash.
 */

export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)}%`;
}

export function num(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

export function macs(v: number | null | undefined, relative = false): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (relative) return v.toFixed(3);
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)} G`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

export function thresholdText(t: number | null | (number | null)[]): string {
  if (Array.isArray(t)) return `[${t.map((v) => (v === null ? '∞' : v.toFixed(4))).join(', ')}]`;
  if (t === null) return 'none (full model)';
  return Number.isInteger(t) ? String(t) : t.toFixed(4);
}
