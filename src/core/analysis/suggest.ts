import { ExitRecords } from '../records';
import { argsortDescending } from './argsort';
import { sweepScorePolicy } from './curves';
import { PolicyKind, PolicyOutcome, outcomeOf, patienceExit, perExitThresholdExit, policyOutcome } from './policies';

/**
 * Suggested thresholds (METRICS.md "Suggested thresholds"): fitted on a calibration split,
 * reported on a held-out test split. Target: the lowest mean cost whose accuracy is at least
 * the final exit's accuracy minus `maxAccuracyDrop` on the calibration split (agreement with
 * the final exit when unlabelled, whose final value is 1).
 *
 * Choices where METRICS.md is silent: the threshold returned is the calibration value at
 * which the chosen operating point starts (an observed confidence/entropy/margin), ties in
 * cost go to the higher quality, then to the more conservative threshold.
 */
export type SuggestionPolicy = PolicyKind | 'per-exit';

export interface SplitFigures extends PolicyOutcome {
  sampleCount: number;
}

export interface Suggestion {
  policy: SuggestionPolicy;
  /** A number, null when no early exit meets the target (run the full model), or one per exit 0..E-2 for `per-exit` (null = never exit there). */
  threshold: number | null | (number | null)[];
  /** What the target was read on. */
  targetMetric: 'accuracy' | 'agreement';
  target: number;
  calibration: SplitFigures;
  test: SplitFigures;
  /** True for the best of all policies on the calibration split. */
  best: boolean;
}

interface Choice {
  threshold: number | null;
  costSum: number;
  quality: number;
}

function qualityCount(rec: ExitRecords, correct: number, agree: number): number {
  return rec.labels ? correct : agree;
}

export function targetFor(rec: ExitRecords, maxAccuracyDrop: number): number {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  if (!labels) return 1 - maxAccuracyDrop;
  let correct = 0;
  for (let n = 0; n < N; n++) if (pred[n * E + E - 1] === labels[n]) correct++;
  return correct / N - maxAccuracyDrop;
}

const EPS = 1e-12;

function better(a: Choice, b: Choice | null): boolean {
  return !b || a.costSum < b.costSum || (a.costSum === b.costSum && a.quality > b.quality);
}

function chooseScoreThreshold(rec: ExitRecords, kind: 'confidence' | 'entropy' | 'margin', exitMacs: readonly number[], target: number): number | null {
  let found = false;
  let bestThreshold: number | null = null;
  let bestCost = Infinity;
  let bestQuality = -Infinity;
  sweepScorePolicy(rec, kind, exitMacs, {
    point(_i, threshold, correct, agree, costSum) {
      const quality = qualityCount(rec, correct, agree) / rec.sampleCount;
      if (quality < target - EPS) return;
      if (!found || costSum < bestCost || (costSum === bestCost && quality > bestQuality)) {
        found = true;
        bestThreshold = threshold;
        bestCost = costSum;
        bestQuality = quality;
      }
    },
  });
  return bestThreshold;
}

function choosePatience(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number, target: number): number | null {
  // The full model (t = 0) first, then t = E-1 .. 1: ties go to the more conservative setting.
  const full = policyOutcome(rec, 'patience', 0, exitMacs, baselineMacs);
  const fullQuality = rec.labels ? full.accuracy! : full.agreement;
  let best: Choice | null = fullQuality >= target - EPS ? { threshold: null, costSum: full.meanCost * rec.sampleCount, quality: fullQuality } : null;
  for (let t = rec.exitCount - 1; t >= 1; t--) {
    const o = policyOutcome(rec, 'patience', t, exitMacs, baselineMacs);
    const quality = (rec.labels ? o.accuracy! : o.agreement);
    if (quality < target - EPS) continue;
    const c = { threshold: t, costSum: o.meanCost * rec.sampleCount, quality };
    if (better(c, best)) best = c;
  }
  return best ? best.threshold : null;
}

/**
 * Per-exit confidence thresholds by coordinate descent: for each exit in turn, every distinct
 * calibration confidence is tried as τ_k with the others fixed (an exact sweep), keeping the
 * cheapest vector that meets the target. Two passes, starting from `start` at every exit.
 */
export function fitPerExitThresholds(rec: ExitRecords, exitMacs: readonly number[], target: number, start: number | null, passes = 2): (number | null)[] {
  const { sampleCount: N, exitCount: E, labels, pred, conf } = rec;
  const last = E - 1;
  const tau = new Array<number>(last).fill(start ?? Infinity);
  const right = (n: number, e: number) => {
    const p = pred[n * E + e];
    return (labels ? p === labels[n] : p === pred[n * E + last]) ? 1 : 0;
  };
  const reach = new Int32Array(N);
  const contCost = new Float64Array(N);
  const contRight = new Uint8Array(N);
  for (let pass = 0; pass < passes; pass++) {
    for (let k = 0; k < last; k++) {
      // Samples that reach exit k, and their outcome if they do not exit there.
      let m = 0;
      let fixedCost = 0;
      let fixedRight = 0;
      for (let n = 0; n < N; n++) {
        let e = -1;
        for (let j = 0; j < k; j++) if (conf[n * E + j] >= tau[j]) { e = j; break; }
        if (e >= 0) {
          fixedCost += exitMacs[e];
          fixedRight += right(n, e);
          continue;
        }
        let c = last;
        for (let j = k + 1; j < last; j++) if (conf[n * E + j] >= tau[j]) { c = j; break; }
        reach[m++] = n;
        contCost[n] = exitMacs[c];
        contRight[n] = right(n, c);
      }
      const confAtK = new Float64Array(m);
      for (let i = 0; i < m; i++) confAtK[i] = conf[reach[i] * E + k];
      const order = Array.from(argsortDescending(confAtK), (i) => reach[i]);
      let costSum = fixedCost;
      let good = fixedRight;
      for (const n of order) {
        costSum += contCost[n];
        good += contRight[n];
      }
      let best: Choice | null = good / N >= target - EPS ? { threshold: Infinity, costSum, quality: good / N } : null;
      for (let i = 0; i < order.length; ) {
        const v = conf[order[i] * E + k];
        while (i < order.length && conf[order[i] * E + k] === v) {
          const n = order[i];
          costSum += exitMacs[k] - contCost[n];
          good += right(n, k) - contRight[n];
          i++;
        }
        const c = { threshold: v, costSum, quality: good / N };
        if (c.quality >= target - EPS && better(c, best)) best = c;
      }
      if (best) tau[k] = best.threshold!;
    }
  }
  return tau.map((t) => (Number.isFinite(t) ? t : null));
}

function figures(rec: ExitRecords, exitOf: (n: number) => number, exitMacs: readonly number[], baselineMacs: number): SplitFigures {
  return { sampleCount: rec.sampleCount, ...outcomeOf(rec, exitOf, exitMacs, baselineMacs) };
}

function exitFunction(rec: ExitRecords, policy: SuggestionPolicy, threshold: number | null | (number | null)[]): (n: number) => number {
  if (policy === 'per-exit') {
    const t = (threshold as (number | null)[]).map((v) => (v === null ? Infinity : v));
    return (n) => perExitThresholdExit(rec, n, t);
  }
  if (threshold === null) return () => rec.exitCount - 1;
  const v = threshold as number;
  if (policy === 'patience') return (n) => patienceExit(rec, n, v);
  const E = rec.exitCount;
  return (n) => {
    for (let k = 0; k < E - 1; k++) {
      const at = n * E + k;
      if (policy === 'confidence' ? rec.conf[at] >= v : policy === 'entropy' ? rec.entropy[at] <= v : rec.margin[at] >= v) return k;
    }
    return E - 1;
  };
}

/** Suggestions for each policy and the per-exit vector; the cheapest on calibration is marked best. */
export function suggestThresholds(
  calib: ExitRecords,
  test: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
  maxAccuracyDrop: number,
): Suggestion[] {
  const target = targetFor(calib, maxAccuracyDrop);
  const targetMetric = calib.labels ? 'accuracy' : 'agreement';
  const picks: { policy: SuggestionPolicy; threshold: number | null | (number | null)[] }[] = [];
  for (const kind of ['confidence', 'entropy', 'margin'] as const) {
    picks.push({ policy: kind, threshold: chooseScoreThreshold(calib, kind, exitMacs, target) });
  }
  picks.push({ policy: 'patience', threshold: choosePatience(calib, exitMacs, baselineMacs, target) });
  picks.push({ policy: 'per-exit', threshold: fitPerExitThresholds(calib, exitMacs, target, picks[0].threshold as number | null) });
  const out: Suggestion[] = picks.map(({ policy, threshold }) => ({
    policy,
    threshold,
    targetMetric,
    target,
    calibration: figures(calib, exitFunction(calib, policy, threshold), exitMacs, baselineMacs),
    test: figures(test, exitFunction(test, policy, threshold), exitMacs, baselineMacs),
    best: false,
  }));
  let bestIndex = 0;
  const q = (s: Suggestion) => (calib.labels ? s.calibration.accuracy! : s.calibration.agreement);
  out.forEach((s, i) => {
    const b = out[bestIndex];
    if (s.calibration.meanCost < b.calibration.meanCost || (s.calibration.meanCost === b.calibration.meanCost && q(s) > q(b))) bestIndex = i;
  });
  out[bestIndex].best = true;
  return out;
}
