/**
 * The policies' analysis: the three score-policy sweeps (scorePolicyPart.ts), inline or on
 * another thread (parallel.ts), and patience (patienceCounts.ts), finished into the exact
 * curves, the Pareto frontier across them, the default grid, and with a subset (the calibration
 * split) the setting each policy would choose on it.
 */
import type { Curve, CurvePoint, FrontierCandidate, GridPolicy, PolicyKind } from '../../shared/reportTypes';
import { ExitRecords } from '../records/records';
import { DEFAULT_CURVE_POINTS, TargetChooser, toPoint } from './curvePoints';
import type { OverthinkingFigures } from './exitFigures';
import { frontierKeep } from './frontierPoints';
import { frontierPoint, mergeFrontiers } from './paretoFrontier';
import { PatienceCounts, patienceCounts } from './patienceCounts';
import {
  ChosenCounts,
  FIGURES_HERE,
  ScorePolicyPart,
  ScorePolicyTask,
  restOf,
  scorePolicyPart,
} from './scorePolicyPart';
import { SweepCounts, histogramCost } from './sweep';

export interface CurveSet {
  curves: Curve[];
  frontier: FrontierCandidate[];
}

export interface PolicyAnalysis extends CurveSet {
  /** The default grid (policies.ts DEFAULT_GRID, then patience t = 1..E-1), read off the sweeps. */
  grid: GridPolicy[];
  /** With a subset: per policy, the threshold chosen on the subset for the target (null: the full model). */
  chosen: Record<PolicyKind, number | null> | null;
  /** With a subset: per policy, the counts at its chosen setting over the subset and over the other samples. */
  chosenCounts: Record<PolicyKind, ChosenCounts> | null;
  /** The overthinking figures, when asked for (options.figures). */
  figures?: OverthinkingFigures;
  /** With options.reportFrontierPoints: how many points the whole frontier has. */
  frontierTotalPoints?: number;
}

export interface PolicyAnalysisOptions {
  /** Cap on the points kept per curve in the report (the frontier uses all of them). */
  maxPoints?: number;
  /** The calibration split: samples with mask[n] = 1, and the quality target to choose thresholds for. */
  subset?: { mask: Uint8Array; target: number };
  /** Also the overthinking figures (exitFigures.ts), computed beside the sweeps. */
  figures?: boolean;
  /** Keep only the frontier points a report keeps (frontierPoints.ts, at most this many), and say how many there were. */
  reportFrontierPoints?: number;
}

/**
 * Runs the three score policies' parts: inline, or partly on a worker thread (parallel.ts).
 * `whileWaiting`, if given, is called once on this thread with the parts done so far (null for
 * the others), before the runner waits for any other thread: the caller's own work goes there.
 */
export type ScorePolicyRunner = (tasks: ScorePolicyTask[], whileWaiting?: WhileWaiting) => Promise<ScorePolicyPart[]>;

/**
 * The caller's own work while other threads sweep. It may be async: it yields between its
 * steps so that a cancel (a signal, an engine message) is seen between them.
 */
export type WhileWaiting = (done: (ScorePolicyPart | null)[]) => void | Promise<void>;

/** Lets pending events run (a cancel, a message), between steps of long synchronous work. */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function policyTasks(
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
  options: PolicyAnalysisOptions,
): ScorePolicyTask[] {
  const maxPoints = options.maxPoints ?? DEFAULT_CURVE_POINTS;
  const subset = options.subset ?? null;
  const tasks: ScorePolicyTask[] = SCORE_POLICIES.map((kind) => ({
    rec,
    kind,
    exitMacs,
    baselineMacs,
    maxPoints,
    subset,
  }));
  // The overthinking figures go with the last sweep, which a parallel runner does not keep on this thread.
  if (options.figures) tasks[tasks.length - 1].figures = true;
  return tasks;
}

const SCORE_POLICIES = ['confidence', 'entropy', 'margin'] as const;

/** The sweeps one after another on this thread. */
export const inlineRunner: ScorePolicyRunner = async (tasks, whileWaiting) => {
  const parts = tasks.map(scorePolicyPart);
  await whileWaiting?.(parts);
  return parts;
};

/**
 * Everything the policies need from the records, in one sweep per score policy and one pass
 * for patience: the exact curves (thinned to at most `maxPoints` per curve for the report),
 * the Pareto frontier across all of them (from every point, not the thinned ones), the
 * default grid, and with a subset, the threshold each policy would choose on it.
 */
export function analysePolicies(
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
  options: PolicyAnalysisOptions = {},
): PolicyAnalysis {
  return finishPolicies(
    rec,
    exitMacs,
    baselineMacs,
    options,
    policyTasks(rec, exitMacs, baselineMacs, options).map(scorePolicyPart),
  );
}

/** analysePolicies with the score-policy sweeps run by `runner` (for instance on two threads). */
export async function analysePoliciesWith(
  runner: ScorePolicyRunner,
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
  options: PolicyAnalysisOptions = {},
  whileWaiting?: WhileWaiting,
): Promise<PolicyAnalysis> {
  // The patience pass needs no sweep: it goes to whichever thread is free first, this one after
  // the caller's work, or the one of the last sweep after that sweep and the overthinking
  // figures (a shared claim word).
  let patience: PatienceCounts | undefined;
  let calledBack = false;
  const claim = new Int32Array(new SharedArrayBuffer(4));
  const tasks = policyTasks(rec, exitMacs, baselineMacs, options);
  tasks[tasks.length - 1].patience = claim;
  const onThisThread = async (done: (ScorePolicyPart | null)[]) => {
    calledBack = true;
    await whileWaiting?.(done);
    if (Atomics.compareExchange(claim, 0, 0, FIGURES_HERE) === 0)
      patience = patienceCounts(rec, options.subset ?? null);
  };
  const parts = await runner(tasks, onThisThread);
  // A runner that never called back still gets the caller's work done, after the sweeps.
  if (!calledBack) await onThisThread(parts);
  // Claimed by the other thread: its counts; a worker that claimed them and then failed:
  // finishPolicies works them out here.
  patience ??= parts.find((p) => p.patience)?.patience;
  return finishPolicies(rec, exitMacs, baselineMacs, options, parts, patience);
}

/** The samples right at the final exit. */
function finalCorrect(rec: ExitRecords): number {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  if (!labels) return 0;
  let correct = 0;
  for (let n = 0; n < N; n++) if (pred[n * E + E - 1] === labels[n]) correct++;
  return correct;
}

function finishPolicies(
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
  options: PolicyAnalysisOptions,
  parts: ScorePolicyPart[],
  patience?: PatienceCounts,
): PolicyAnalysis {
  const N = rec.sampleCount;
  const E = rec.exitCount;
  const useAccuracy = rec.labels !== null;
  const subset = options.subset ?? null;
  let subsetCount = 0;
  if (subset) for (let n = 0; n < N; n++) subsetCount += subset.mask[n] ? 1 : 0;
  const chosen = subset ? ({} as Record<PolicyKind, number | null>) : null;
  let chosenCounts: Record<PolicyKind, ChosenCounts> | null = null;
  const curves = parts.map((p) => p.curve);
  const candidates = parts.map((p) => p.candidates);
  const grid = parts.flatMap((p) => p.grid);
  if (chosen) SCORE_POLICIES.forEach((kind, i) => (chosen[kind] = parts[i].chosen));
  const { T, pHist, pCorrect, pAgree, sHist, sCorrect, sAgree, sFinalCorrect } =
    patience ?? patienceCounts(rec, subset);
  const patiencePoints: CurvePoint[] = [];
  const patienceCandidates: { t: number; cost: number; quality: number }[] = [];
  for (let t = 1; t <= T; t++) {
    const hist = pHist.subarray((t - 1) * E, t * E);
    const point = toPoint(rec, t, pCorrect[t], pAgree[t], histogramCost(hist, exitMacs), hist, baselineMacs);
    patiencePoints.push(point);
    const { threshold: _t, ...outcome } = point;
    grid.push({ kind: 'patience', threshold: t, ...outcome });
    patienceCandidates.push({ t, cost: point.meanCost, quality: (useAccuracy ? pCorrect[t] : pAgree[t]) / N });
  }
  patienceCandidates.sort((a, b) => a.cost - b.cost || b.quality - a.quality || a.t - b.t);
  candidates.push({
    kind: 'patience',
    cost: Float64Array.from(patienceCandidates, (c) => c.cost),
    quality: Float64Array.from(patienceCandidates, (c) => c.quality),
    threshold: Float64Array.from(patienceCandidates, (c) => c.t),
  });
  curves.push({ kind: 'patience', totalPoints: patiencePoints.length, points: patiencePoints, thinned: false });
  if (chosen && subset) {
    // The full model (t = 0) first, then t = E-1 .. 1: equal cost goes to the more conservative setting.
    const chooser = new TargetChooser(subsetCount, useAccuracy, subset.target);
    chooser.point(0, null, sFinalCorrect, subsetCount, subsetCount * exitMacs[E - 1]);
    for (let t = T; t >= 1; t--) {
      const hist = sHist.subarray((t - 1) * E, t * E);
      chooser.point(t, t, sCorrect[t], sAgree[t], histogramCost(hist, exitMacs));
    }
    chosen.patience = chooser.threshold;
    const t = chooser.threshold;
    // The patience counts at the choice (t = 0, no early exit: everyone at the final exit).
    const at = (hist: Int32Array, correct: number, agree: number, count: number): SweepCounts => ({
      count,
      correct,
      agree,
      hist: Array.from(hist),
    });
    const finalOnly = new Int32Array(E);
    finalOnly[E - 1] = subsetCount;
    const subsetAt =
      t === null
        ? at(finalOnly, sFinalCorrect, subsetCount, subsetCount)
        : at(sHist.subarray((t - 1) * E, t * E), sCorrect[t], sAgree[t], subsetCount);
    let all: SweepCounts;
    if (t === null) {
      const allFinal = new Int32Array(E);
      allFinal[E - 1] = N;
      all = at(allFinal, finalCorrect(rec), N, N);
    } else all = at(pHist.subarray((t - 1) * E, t * E), pCorrect[t], pAgree[t], N);
    chosenCounts = {
      confidence: parts[0].chosenCounts!,
      entropy: parts[1].chosenCounts!,
      margin: parts[2].chosenCounts!,
      patience: { subset: subsetAt, rest: restOf(all, subsetAt) },
    };
  }
  const merged = mergeFrontiers(candidates);
  let frontier: FrontierCandidate[];
  if (options.reportFrontierPoints !== undefined) {
    const keep = frontierKeep(merged.cost, merged.quality, merged.length, options.reportFrontierPoints);
    frontier = keep
      ? keep.map((i) => frontierPoint(candidates, merged, i))
      : Array.from({ length: merged.length }, (_, i) => frontierPoint(candidates, merged, i));
  } else frontier = Array.from({ length: merged.length }, (_, i) => frontierPoint(candidates, merged, i));
  const result: PolicyAnalysis = { curves, frontier, grid, chosen, chosenCounts };
  if (options.reportFrontierPoints !== undefined) result.frontierTotalPoints = merged.length;
  const figures = parts.find((p) => p.figures)?.figures;
  if (figures) result.figures = figures;
  return result;
}

/** The exact curves and the frontier (analysePolicies without the rest). */
export function exactCurves(
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
  maxPoints = DEFAULT_CURVE_POINTS,
): CurveSet {
  const { curves, frontier } = analysePolicies(rec, exitMacs, baselineMacs, { maxPoints });
  return { curves, frontier };
}
