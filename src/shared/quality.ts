import type { SamplesInfo } from './reportTypes';

/**
 * The quality figure of a report, named once for the analysis, the summaries and every view
 * (docs/metrics.md "Per-exit metrics"): accuracy against the labels, or, for an unlabelled
 * sample set, agreement with the final exit. A decoder's figures are per token position: token
 * accuracy, or its consistency with the final layer (CALM, Schuster et al., NeurIPS 2022).
 */
export type QualityMetric = 'accuracy' | 'agreement';

/** What a sample set is scored by: its labels where it has them, else the final exit's predictions. */
export type QualitySubject = Pick<SamplesInfo, 'labelled' | 'tokens'>;

/** The metric of a labelled or an unlabelled set: 'accuracy' or 'agreement'. */
export function qualityMetric(labelled: boolean): QualityMetric {
  return labelled ? 'accuracy' : 'agreement';
}

/** The quality of an outcome (an exit, a curve point, a split's figures): its accuracy where labelled, else its agreement. */
export function qualityOf(labelled: boolean, p: { accuracy: number | null; agreement: number }): number | null {
  return labelled ? p.accuracy : p.agreement;
}

/** The metric in words where it stands alone: "accuracy", or "agreement with the final exit". */
export function qualityPhrase(labelled: boolean): string {
  return labelled ? 'accuracy' : 'agreement with the final exit';
}

/** The metric as a CodeLens abbreviates it: "acc" or "agree". */
export function qualityShort(labelled: boolean): 'acc' | 'agree' {
  return labelled ? 'acc' : 'agree';
}

/** What the quality figure is called in a view: a classifier's accuracy or agreement, a decoder's token accuracy or consistency. */
export function qualityName(s: QualitySubject): string {
  if (!s.tokens) return qualityMetric(s.labelled);
  return s.labelled ? 'token accuracy' : 'consistency with the final layer';
}

/** Agreement with the final exit as a view calls it: "consistency with the final layer" for a decoder. */
export function agreementName(s: QualitySubject): string {
  return s.tokens ? 'consistency with the final layer' : 'agreement';
}

/** What one sample is: a token position for a decoder. */
export function unitName(s: QualitySubject): 'positions' | 'samples' {
  return s.tokens ? 'positions' : 'samples';
}
