import { ScorePolicyRunner, analysePoliciesWith, inlineRunner, yieldToEvents } from './curves';
import { ChosenCounts, ScorePolicyPart } from './scorePolicyPart';
import { overthinkingFigures } from './exitFigures';
import { exitMetrics } from './exitMetrics';
import { MAX_FRONTIER_POINTS } from './frontierPoints';
import { SPLIT_CALIBRATION_FRACTION, SPLIT_SEED, seededSplit } from './split';
import {
  SampleSet,
  SuggestionFigures,
  chosenFigures,
  fitPerExitThresholds,
  perExitFigures,
  suggestThresholds,
  targetFor,
  wholeSet,
} from './suggest';
import { throwIfCancelled } from '../errors';
import { ExitRecords } from '../records/records';
import type {
  Curve,
  ExitMetrics,
  ExitReport,
  GridPolicy,
  Guarantee,
  LatencyFigures,
  Overthinking,
  PolicyKind,
  Report,
  ReportWarning,
  RiskLoss,
  SamplesInfo,
  Suggestion,
  SuggestionPolicy,
} from '../../shared/reportTypes';
import { withPointAt } from './curvePoints';
import { macsFrontier } from './macsFrontier';
import { RiskSettings, certifyAll } from './riskControl';
import { DEFAULT_RISK_DELTA, DEFAULT_RISK_EPSILON } from '../../shared/defaults';
import { qualityMetric } from '../../shared/quality';

/**
 * The analysis that fills the report. The report's types and SCHEMA_VERSION live in
 * src/shared/reportTypes.ts (every view reads them) and are re-exported here.
 */
export * from '../../shared/reportTypes';

export const CONVENTIONS: Record<string, string> = {
  speedup:
    'speedup = baselineMacs / meanCost; saving = 1 - meanCost / baselineMacs (baseline: the model without early exits)',
  cost: 'cost(k) = MACs per sample of the union of the ancestors of exits 0..k (static, batch 1)',
  confidence: 'exit at the first k with max softmax probability >= threshold',
  entropy: 'exit at the first k with normalised entropy (-sum p ln p / ln C) <= threshold',
  margin: 'exit at the first k with top-1 minus top-2 probability >= threshold',
  patience: 'PABEE: counter 0 at exit 0, +1 when pred_k = pred_{k-1} else 0; exit when it equals t',
  fallback: 'every policy ends at the final exit when nothing fires',
  ties: 'argmax ties go to the lowest class index',
  nonFinite:
    'an exit with NaN or infinite logits counts as a wrong prediction (class -1) with confidence 0, margin 0, entropy 1; NLL averages the finite ones; no policy exits there, whatever the threshold, and for patience its prediction equals no other',
  ece: '15 equal-width bins (b/15, (b+1)/15]',
};

export interface AnalysisInput {
  records: ExitRecords;
  /** Separate calibration records; without them a seeded split of `records` is used. */
  calibration: ExitRecords | null;
  exitNames: string[];
  /** The static cost of each exit and of the model without early exits (MACs, or the user's costs). */
  exitMacs: number[];
  baselineMacs: number;
  /**
   * Measured latency (--cost measured): when given, the policies, curves, suggestions and
   * guarantees are costed by it (ms per sample at the run's batch size), the per-exit table keeps
   * the static costs beside each exit's latency, and the curves add the frontier by MACs.
   */
  latency?: { exits: LatencyFigures[]; baseline: LatencyFigures };
  maxAccuracyDrop: number;
  /** Risk control: ε, δ and the loss (default: `gap` with labels, `consistency` without). */
  risk?: { epsilon?: number; delta?: number; loss?: RiskLoss | null };
  maxCurvePoints?: number;
  maxFrontierPoints?: number;
  /** How the score-policy sweeps run: inline by default, or analysis/parallel.ts's parallelRunner. */
  runner?: ScorePolicyRunner;
  /** A cancel stops the analysis between its steps (give the runner the same signal to stop it while it waits). */
  signal?: AbortSignal;
}

export interface AnalysisResult {
  exits: ExitReport[];
  overthinking: Overthinking | null;
  policies: GridPolicy[];
  curves: Report['curves'];
  suggestions: Suggestion[];
  guarantees: Guarantee[];
  /** The risk-control settings used (the loss as chosen, after its default). */
  risk: RiskSettings;
  calibration: SamplesInfo['calibration'];
  warnings: ReportWarning[];
}

export async function analyze(input: AnalysisInput): Promise<AnalysisResult> {
  const { records, signal, latency } = input;
  // What the policies are costed by: the measured latency where there is one, else the static costs.
  const exitMacs = latency ? latency.exits.map((l) => l.batch) : input.exitMacs;
  const baselineMacs = latency ? latency.baseline.batch : input.baselineMacs;
  throwIfCancelled(signal);
  const warnings: ReportWarning[] = [];
  if (!records.labels) {
    warnings.push({
      code: 'unlabelled',
      message:
        'The sample set has no labels: only agreement with the final exit is reported (no accuracy, ECE, NLL or overthinking), and suggestions target agreement.',
    });
  }
  // The calibration samples: a separate set, or a seeded split of this one (read through a
  // mask, so that one sweep per policy serves the curves and the suggestions).
  let calibSet: SampleSet | null = null;
  let testSet: SampleSet = wholeSet(records);
  let mask: Uint8Array | null = null;
  let calibration: SamplesInfo['calibration'];
  const calib = input.calibration;
  if (calib) {
    calibSet = wholeSet(calib);
    calibration = {
      source: 'file',
      path: null,
      sampleCount: calib.sampleCount,
      seed: null,
      fraction: null,
      testSampleCount: records.sampleCount,
    };
    if (Boolean(calib.labels) !== Boolean(records.labels)) {
      warnings.push({
        code: 'calibration-labels',
        message:
          "The calibration set and the sample set differ in having labels; suggestions use the calibration set's own target.",
      });
    }
  } else if (records.sampleCount >= 2) {
    const split = seededSplit(records.sampleCount);
    calibSet = { rec: records, samples: split.calibration };
    testSet = { rec: records, samples: split.test };
    mask = new Uint8Array(records.sampleCount);
    for (const n of split.calibration) mask[n] = 1;
    calibration = {
      source: 'split',
      path: null,
      sampleCount: split.calibration.length,
      seed: SPLIT_SEED,
      fraction: SPLIT_CALIBRATION_FRACTION,
      testSampleCount: split.test.length,
    };
    warnings.push({
      code: 'calibration-split',
      message: `No calibration set was given: suggested thresholds are fitted on a seeded ${Math.round(SPLIT_CALIBRATION_FRACTION * 100)}% split of the sample set (seed ${SPLIT_SEED}, ${split.calibration.length} samples) and reported on the other ${split.test.length}. Every other figure uses all ${records.sampleCount} samples. Pass a calibration set for thresholds you can trust.`,
    });
  } else {
    calibration = { source: 'none', path: null, sampleCount: 0, seed: null, fraction: null, testSampleCount: 0 };
    warnings.push({
      code: 'no-suggestions',
      message: 'Too few samples to split for threshold suggestions; none are given.',
    });
  }
  const target = calibSet ? targetFor(calibSet, input.maxAccuracyDrop) : 0;
  // What does not need the sweeps runs beside them, so that both threads stay busy: the
  // overthinking figures (on the worker after its sweeps, or here, whichever is free first), and on this thread the per-exit
  // metrics and, with a split, the per-exit thresholds (they start from the confidence
  // policy's choice on the split, from the first sweep).
  let perExit: (number | null)[] | undefined;
  let perExitKnown: SuggestionFigures | undefined;
  let metrics: ExitMetrics[] = [];
  // Each step yields first, so that a cancel that came during the step before is seen.
  const step = async () => {
    await yieldToEvents();
    throwIfCancelled(signal);
  };
  const alongside = async (done: (ScorePolicyPart | null)[]) => {
    await step();
    metrics = exitMetrics(records);
    const confidence = done[0];
    if (mask && calibSet && confidence) {
      await step();
      perExit = fitPerExitThresholds(calibSet, exitMacs, target, confidence.chosen);
      await step();
      perExitKnown = perExitFigures(calibSet, testSet, perExit, exitMacs, baselineMacs);
    }
  };
  const policies = await analysePoliciesWith(
    input.runner ?? inlineRunner,
    records,
    exitMacs,
    baselineMacs,
    {
      maxPoints: input.maxCurvePoints,
      subset: mask ? { mask, target } : undefined,
      figures: true,
      reportFrontierPoints: input.maxFrontierPoints ?? MAX_FRONTIER_POINTS,
    },
    alongside,
  );
  await step();
  const { destructive, overthinking: over } = policies.figures ?? overthinkingFigures(records, exitMacs, baselineMacs);
  const exits: ExitReport[] = metrics.map((m) => ({
    index: m.index,
    name: input.exitNames[m.index],
    accuracy: m.accuracy,
    meanConfidence: m.meanConfidence,
    meanEntropy: m.meanEntropy,
    ece: m.ece,
    nll: m.nll,
    agreement: m.agreement,
    macs: input.exitMacs[m.index],
    relativeCost: input.baselineMacs > 0 ? input.exitMacs[m.index] / input.baselineMacs : null,
    nonFiniteCount: m.nonFiniteCount,
    destructiveRate: destructive[m.index],
    ...(latency ? { latency: latency.exits[m.index] } : {}),
  }));
  const nonFinite: ReportWarning[] = [];
  for (const m of metrics) {
    if (m.nonFiniteCount > 0) {
      nonFinite.push({
        code: 'non-finite-logits',
        message: `Exit ${m.index} (${input.exitNames[m.index]}) produced NaN or infinite logits for ${m.nonFiniteCount} of ${records.sampleCount} samples; those count as wrong predictions with confidence 0.`,
      });
    }
  }
  const byKind = Object.fromEntries(policies.curves.map((c) => [c.kind, c])) as Record<Curve['kind'], Curve>;
  const suggestions = calibSet
    ? suggestThresholds(
        calibSet,
        testSet,
        exitMacs,
        baselineMacs,
        input.maxAccuracyDrop,
        policies.chosen,
        perExit,
        mask
          ? knownFigures(policies.chosenCounts, perExitKnown, records.labels !== null, exitMacs, baselineMacs)
          : null,
      )
    : [];
  // With a calibration file the suggestions' test figures are the whole sample set's at their
  // threshold, which is the curve's own point there: put it on the curve should the thinning
  // dropped it (a thinned curve), so that the report's sliders open at the suggested threshold. (On
  // the seeded split, scorePolicyPart.ts adds it from the sweep.)
  if (calibration.source === 'file') {
    for (const s of suggestions) {
      if (
        (s.policy === 'confidence' || s.policy === 'entropy' || s.policy === 'margin') &&
        typeof s.threshold === 'number' &&
        // An unthinned curve stays the exact set of the sample set's thresholds.
        byKind[s.policy].thinned
      ) {
        const { sampleCount: _n, ...figures } = s.test;
        byKind[s.policy].points = withPointAt(s.policy, byKind[s.policy].points, {
          threshold: s.threshold,
          ...figures,
        });
      }
    }
  }
  await step();
  const risk = riskSettings(input.risk, calibSet?.rec ?? records, warnings);
  const guarantees = calibSet ? certifyAll(calibSet, testSet, risk, exitMacs, baselineMacs) : [];
  return {
    exits,
    overthinking: over,
    policies: policies.grid,
    curves: {
      confidence: byKind.confidence,
      entropy: byKind.entropy,
      margin: byKind.margin,
      patience: byKind.patience,
      frontier: policies.frontier,
      frontierTotalPoints: policies.frontierTotalPoints,
      quality: qualityMetric(records.labels !== null),
      // The report's MACs axis beside the measured one.
      ...(latency ? { macsFrontier: macsFrontier(byKind, input.exitMacs, records.labels !== null) } : {}),
    },
    suggestions,
    guarantees,
    risk,
    calibration,
    warnings: [...nonFinite, ...warnings],
  };
}

/** ε, δ and the loss, after their defaults: `gap` needs labels on the calibration set, else `consistency` (said in a warning when `gap` was asked for). */
function riskSettings(given: AnalysisInput['risk'], calib: ExitRecords, warnings: ReportWarning[]): RiskSettings {
  const labelled = calib.labels !== null;
  let loss: RiskLoss = given?.loss ?? (labelled ? 'gap' : 'consistency');
  if (loss === 'gap' && !labelled) {
    loss = 'consistency';
    warnings.push({
      code: 'risk-loss-unlabelled',
      message:
        "The 'gap' risk loss needs labels and the calibration samples have none: the guarantees use the 'consistency' loss (disagreement with the final exit) instead.",
    });
  }
  return {
    epsilon: given?.epsilon ?? DEFAULT_RISK_EPSILON,
    delta: given?.delta ?? DEFAULT_RISK_DELTA,
    loss,
  };
}

/** On the seeded split: the suggestions' figures the sweeps read off, and the per-exit ones worked out beside the sweeps. */
function knownFigures(
  counts: Record<PolicyKind, ChosenCounts> | null,
  perExit: SuggestionFigures | undefined,
  labelled: boolean,
  exitMacs: readonly number[],
  baselineMacs: number,
): Partial<Record<SuggestionPolicy, SuggestionFigures>> {
  const known: Partial<Record<SuggestionPolicy, SuggestionFigures>> = {};
  if (counts)
    for (const kind of ['confidence', 'entropy', 'margin', 'patience'] as const)
      known[kind] = chosenFigures(counts[kind], labelled, exitMacs, baselineMacs);
  if (perExit) known['per-exit'] = perExit;
  return known;
}

export function recordsForReport(rec: ExitRecords): NonNullable<Report['records']> {
  return {
    labels: rec.labels ? Array.from(rec.labels) : null,
    pred: Array.from(rec.pred),
    conf: Array.from(rec.conf),
  };
}
