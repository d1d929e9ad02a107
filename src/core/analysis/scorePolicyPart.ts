/**
 * One score policy's share of the analysis, as a task that runs on any thread: its exact curve
 * (thinned for the report), its own frontier candidates, its grid points, and with a subset
 * the threshold chosen on it and the counts there.
 */
import type { Curve, CurvePoint, GridPolicy } from '../../shared/reportTypes';
import { ExitRecords } from '../records/records';
import { TargetChooser, Thinning, spacingFor, toPoint, withPointAt } from './curvePoints';
import { OverthinkingFigures, overthinkingFigures } from './exitFigures';
import { CandidateList, costsAscend, paretoOrder } from './paretoFrontier';
import { PatienceCounts, patienceCounts } from './patienceCounts';
import { DEFAULT_GRID } from './policies';
import { ScorePolicy, SweepCounts, histogramCost, sweepScorePolicy } from './sweep';

/** What one score policy's sweep contributes; plain data, so that it can come from a worker thread. */
export interface ScorePolicyPart {
  curve: Curve;
  /** The curve's own frontier, by ascending cost. */
  candidates: CandidateList;
  grid: GridPolicy[];
  /** The threshold chosen on the subset, when there is one. */
  chosen: number | null;
  /**
   * With a subset: the counts at the chosen threshold over the subset and over the other
   * samples (all minus the subset), read off the sweep.
   */
  chosenCounts: ChosenCounts | null;
  /** The overthinking figures, from the task that was asked for them. */
  figures?: OverthinkingFigures;
  /** The patience counts, from the task that was asked for them, if its thread claimed them. */
  patience?: PatienceCounts;
}

export interface ScorePolicyTask {
  rec: ExitRecords;
  kind: ScorePolicy;
  exitMacs: readonly number[];
  baselineMacs: number;
  maxPoints: number;
  subset: { mask: Uint8Array; target: number } | null;
  /** Also compute the overthinking figures (exitFigures.ts) after the sweep, on the same thread. */
  figures?: boolean;
  /**
   * With `figures`: a shared word that another thread may claim the figures by first (set to
   * non-zero); this thread computes them only if it claims them itself.
   */
  claim?: Int32Array;
  /**
   * A shared word: after its sweep (and the figures), this task's thread works out the patience
   * counts if it claims the word first (the thread that started the analysis tries too).
   */
  patience?: Int32Array;
}

/** Claim values of ScorePolicyTask.claim: taken by the thread that runs the task, or by the one that started it. */
export const FIGURES_HERE = 2;

/** A policy's counts at its chosen setting: over the subset (the calibration split), and over the samples outside it (the test split). */
export interface ChosenCounts {
  subset: SweepCounts;
  rest: SweepCounts;
}

/** The counts outside the subset: all minus the subset's. */
export function restOf(all: SweepCounts, subset: SweepCounts): SweepCounts {
  return {
    count: all.count - subset.count,
    correct: all.correct - subset.correct,
    agree: all.agree - subset.agree,
    hist: all.hist.map((h, k) => h - subset.hist[k]),
  };
}

/** One score policy: its exact curve (thinned for the report), own frontier, grid and subset choice. */
export function scorePolicyPart(task: ScorePolicyTask): ScorePolicyPart {
  const { rec, kind, exitMacs, baselineMacs, maxPoints, subset } = task;
  const N = rec.sampleCount;
  const useAccuracy = rec.labels !== null;
  let subsetCount = 0;
  if (subset) for (let n = 0; n < N; n++) subsetCount += subset.mask[n] ? 1 : 0;
  let thinning = new Thinning(0, 1);
  let total = 0;
  const points: CurvePoint[] = [];
  // Frontier of this curve, kept as a stack (points arrive with non-increasing cost, so a
  // new point removes the ones it dominates from the top). That holds when the exits' costs
  // do not decrease with depth (static MACs always; user costs need not): otherwise every
  // point is kept and the frontier is sorted out after the sweep.
  const monotone = costsAscend(exitMacs);
  let sCost = new Float64Array(0);
  let sQuality = new Float64Array(0);
  let sThreshold = new Float64Array(0);
  let top = 0;
  const chooser = subset ? new TargetChooser(subsetCount, useAccuracy, subset.target) : null;
  const thresholds = DEFAULT_GRID[kind];
  const grid: GridPolicy[] = new Array(thresholds.length);
  const replay = sweepScorePolicy(
    rec,
    kind,
    exitMacs,
    {
      start(count) {
        total = count;
        thinning = new Thinning(count, spacingFor(count, maxPoints));
        sCost = new Float64Array(count);
        sQuality = new Float64Array(count);
        sThreshold = new Float64Array(count);
      },
      point(index, threshold, correct, agree, costSum, hist) {
        if (thinning.keep(index)) points.push(toPoint(rec, threshold, correct, agree, costSum, hist, baselineMacs));
        const cost = costSum / N;
        // The quality as a count (divided by N once the frontier is known): a larger count is a larger share.
        const good = useAccuracy ? correct : agree;
        while (monotone && top > 0 && sQuality[top - 1] <= good) top--;
        if (!monotone || top === 0 || sCost[top - 1] !== cost) {
          sCost[top] = cost;
          sQuality[top] = good;
          sThreshold[top] = threshold === null ? NaN : threshold;
          top++;
        }
      },
    },
    chooser && subset ? { mask: subset.mask, visitor: chooser } : undefined,
    {
      thresholds,
      visit(probe, correct, agree, costSum, hist) {
        const { threshold: _t, ...outcome } = toPoint(rec, null, correct, agree, costSum, hist, baselineMacs);
        grid[probe] = { kind, threshold: thresholds[probe], ...outcome };
      },
    },
  );
  // The stack holds this curve's own frontier, cost descending from the bottom (with
  // non-monotone costs: every point in sweep order, sorted out here).
  const order = monotone ? null : paretoOrder(sCost, sQuality, top);
  const kept = order ? order.length : top;
  const candidates: CandidateList = {
    kind,
    cost: new Float64Array(kept),
    quality: new Float64Array(kept),
    threshold: new Float64Array(kept),
  };
  for (let i = 0; i < kept; i++) {
    const t = order ? order[i] : top - 1 - i;
    candidates.cost[i] = sCost[t];
    candidates.quality[i] = sQuality[t] / N;
    candidates.threshold[i] = sThreshold[t];
  }
  let chosenCounts: ChosenCounts | null = null;
  let curvePoints = points;
  if (chooser) {
    const { all, part } = replay(chooser.threshold);
    chosenCounts = { subset: part!, rest: restOf(all, part!) };
    // The chosen threshold's own point on the whole set, should the thinning have dropped it.
    const costSum = histogramCost(all.hist, exitMacs);
    const exact = toPoint(rec, chooser.threshold, all.correct, all.agree, costSum, all.hist, baselineMacs);
    curvePoints = withPointAt(kind, points, exact);
  }
  const part: ScorePolicyPart = {
    curve: { kind, totalPoints: total, points: curvePoints, thinned: curvePoints.length < total },
    candidates,
    grid,
    chosen: chooser ? chooser.threshold : null,
    chosenCounts,
  };
  if (task.figures && (!task.claim || Atomics.compareExchange(task.claim, 0, 0, FIGURES_HERE - 1) === 0))
    part.figures = overthinkingFigures(rec, exitMacs, baselineMacs);
  if (task.patience && Atomics.compareExchange(task.patience, 0, 0, FIGURES_HERE - 1) === 0)
    part.patience = patienceCounts(rec, subset);
  return part;
}
