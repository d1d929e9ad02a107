import type { Report } from '../src/shared/reportTypes';

/** Small formatting helpers shared by the report view and the snippets it copies (no DOM). */
export const baseName = (p: string): string => p.split(/[\\/]/).pop() ?? p;

export function quality(r: Report): 'accuracy' | 'agreement' {
  return r.samples.labelled ? 'accuracy' : 'agreement';
}

export function speedupText(s: number | null): string {
  return s === null || !Number.isFinite(s) ? '–' : `${s.toFixed(2)}×`;
}
