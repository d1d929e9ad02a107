import type { Report } from '../src/shared/reportTypes';
import { qualityOf } from '../src/shared/quality';

/** Small formatting helpers shared by the report view and the snippets it copies (no DOM). */
export const baseName = (p: string): string => p.split(/[\\/]/).pop() ?? p;

export const capitalised = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** An outcome's quality (src/shared/quality.ts) as a number to draw: NaN where a labelled outcome has no accuracy. */
export function qualityValue(r: Report, p: { accuracy: number | null; agreement: number }): number {
  return qualityOf(r.samples.labelled, p) ?? NaN;
}

export function speedupText(s: number | null): string {
  return s === null || !Number.isFinite(s) ? '–' : `${s.toFixed(2)}×`;
}
