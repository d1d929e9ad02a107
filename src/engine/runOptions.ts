import { ExitLensError } from '../core/errors';
import type { AnalysisInput } from '../core/analysis/analyze';
import type { CommonOptions } from '../shared/engineProtocol';

/** The options every run kind shares (profile, analyze, merge): checked, and turned into the analysis' settings. */

export function validateCommon(req: {
  maxAccuracyDrop?: number;
  exitCosts?: number[];
  riskEpsilon?: number;
  riskDelta?: number;
  riskLoss?: string;
}): void {
  const fraction = (value: number | undefined, what: string, example: string) => {
    if (value !== undefined && !(value > 0 && value < 1))
      throw new ExitLensError(
        'bad-argument',
        `${what} ${value} is not a fraction in (0, 1).`,
        `Give it as a fraction, e.g. ${example}.`,
      );
  };
  fraction(req.riskEpsilon, 'The risk allowed (--risk)', '--risk 0.05 for at most 5% of samples');
  fraction(req.riskDelta, 'The risk level δ (--delta)', '--delta 0.1 for a guarantee that holds with probability 90%');
  if (req.riskLoss !== undefined && req.riskLoss !== 'gap' && req.riskLoss !== 'consistency')
    throw new ExitLensError(
      'bad-argument',
      `The risk loss "${req.riskLoss}" is not one Exit Lens knows.`,
      'Give --risk-loss gap (an error the full model would not make; needs labels) or --risk-loss consistency (disagreement with the full model; no labels needed).',
    );
  if (req.maxAccuracyDrop !== undefined && !(req.maxAccuracyDrop >= 0 && req.maxAccuracyDrop < 1)) {
    throw new ExitLensError(
      'bad-argument',
      `The allowed accuracy drop ${req.maxAccuracyDrop} is not a fraction in [0, 1).`,
      'Give it as a fraction: 0.01 is one percentage point.',
    );
  }
  if (req.exitCosts && req.exitCosts.some((c) => !(Number.isFinite(c) && c >= 0))) {
    throw new ExitLensError(
      'bad-argument',
      'Exit costs must be non-negative numbers.',
      'Give one cumulative cost per exit, e.g. --exit-costs 1,2,3,4.',
    );
  }
}

/** The request's risk-control options, for analyze(). */
export function riskOptions(req: CommonOptions): AnalysisInput['risk'] {
  return { epsilon: req.riskEpsilon, delta: req.riskDelta, loss: req.riskLoss };
}
