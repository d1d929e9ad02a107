import { ExitRecords } from '../records';
import { argsortDescending } from './argsort';
import { PolicyKind, PolicyOutcome } from './policies';

/**
 * Exact accuracy–cost curves: every distinct threshold of the confidence, entropy and margin
 * policies, from a sweep over sorted per-sample events (not a grid).
 *
 * For a sample, let s_k be its score at exit k (confidence, margin, or minus the entropy) and
 * P_k = max_{j ≤ k} s_j. Under threshold τ it exits at the first k ≤ E-2 with P_k ≥ τ, else at
 * E-1. Each strict increase of P ("record") at exit k with value v is an event: once τ ≤ v
 * the sample moves to exit k from the exit of its next record (or E-1). An event's effect
 * does not depend on the others, so sorting events by value gives the curve in one pass.
 */
export type ScorePolicy = 'confidence' | 'entropy' | 'margin';

export interface CurvePoint extends PolicyOutcome {
  /** The policy's threshold; null for the point where nothing fires (the full model). */
  threshold: number | null;
}

export interface Curve {
  kind: PolicyKind;
  /** Distinct operating points on the exact curve (before thinning for the report). */
  totalPoints: number;
  /** The points kept in the report: all of them, or evenly spaced ones when there are more than the cap. */
  points: CurvePoint[];
  thinned: boolean;
}

export interface SweepVisitor {
  /** Called once before the points with how many there will be. */
  start?(pointCount: number): void;
  /** Called per point, in order of descending threshold (non-increasing cost). `hist` is live: copy it to keep it. */
  point(index: number, threshold: number | null, correct: number, agree: number, costSum: number, hist: Int32Array): void;
}

/** Runs the exact sweep for one score policy over the records. */
export function sweepScorePolicy(rec: ExitRecords, kind: ScorePolicy, exitMacs: readonly number[], visitor: SweepVisitor): void {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  const last = E - 1;
  // Entropy fires on h <= τ: sweep its negation, so every policy fires on score >= τ.
  const src = kind === 'confidence' ? rec.conf : kind === 'margin' ? rec.margin : rec.entropy;
  const sign = kind === 'entropy' ? -1 : 1;
  // Count events first, to allocate exactly.
  let count = 0;
  for (let n = 0; n < N; n++) {
    let best = -Infinity;
    const base = n * E;
    for (let k = 0; k < last; k++) {
      const s = sign * src[base + k];
      if (s > best) {
        best = s;
        count++;
      }
    }
  }
  // Per event: its value, and what it changes when it fires: the sample moves from exit
  // `from` to exit `to`, which changes correctness and agreement by -1, 0 or +1.
  const value = new Float64Array(count);
  const to = new Uint16Array(count);
  const from = new Uint16Array(count);
  const dCorrect = new Int8Array(count);
  const dAgree = new Int8Array(count);
  let i = 0;
  for (let n = 0; n < N; n++) {
    let best = -Infinity;
    const base = n * E;
    const first = i;
    for (let k = 0; k < last; k++) {
      const s = sign * src[base + k];
      if (s > best) {
        best = s;
        value[i] = s;
        to[i] = k;
        from[i] = last;
        if (i > first) from[i - 1] = k;
        i++;
      }
    }
    const y = labels ? labels[n] : -2;
    const pf = pred[base + last];
    for (let j = first; j < i; j++) {
      const pa = pred[base + from[j]];
      const pb = pred[base + to[j]];
      dCorrect[j] = (pb === y ? 1 : 0) - (pa === y ? 1 : 0);
      dAgree[j] = (pb === pf ? 1 : 0) - (pa === pf ? 1 : 0);
    }
  }
  // Events by descending value (radix argsort); equal values form one operating point.
  const order = argsortDescending(value, count);
  const sorted = new Float64Array(count);
  for (let j = 0; j < count; j++) sorted[j] = value[order[j]];
  let distinct = 0;
  for (let j = 0; j < count; j++) if (j === 0 || sorted[j] !== sorted[j - 1]) distinct++;

  // Start: nothing fires, every sample at the final exit.
  const hist = new Int32Array(E);
  hist[last] = N;
  let correct = 0;
  let agree = N;
  if (labels) for (let n = 0; n < N; n++) if (pred[n * E + last] === labels[n]) correct++;
  let costSum = N * exitMacs[last];
  const macs = Float64Array.from(exitMacs);
  visitor.start?.(distinct + 1);
  visitor.point(0, null, correct, agree, costSum, hist);
  let j = 0;
  let r = 0;
  while (j < count) {
    const v = sorted[j];
    for (; j < count && sorted[j] === v; j++) {
      const ev = order[j];
      const a = from[ev];
      const b = to[ev];
      correct += dCorrect[ev];
      agree += dAgree[ev];
      costSum += macs[b] - macs[a];
      hist[a]--;
      hist[b]++;
    }
    r++;
    visitor.point(r, sign * v, correct, agree, costSum, hist);
  }
}

export interface FrontierCandidate {
  kind: PolicyKind;
  threshold: number | null;
  meanCost: number;
  /** Accuracy, or agreement for an unlabelled set. */
  quality: number;
}

/**
 * Pareto frontier (lowest cost, highest quality): points no other point beats on one axis
 * without losing on the other. Sorted by cost ascending. Equal points: the first given wins.
 */
export function paretoFrontier(points: readonly FrontierCandidate[]): FrontierCandidate[] {
  const idx = points.map((_, i) => i);
  idx.sort((a, b) => points[a].meanCost - points[b].meanCost || points[b].quality - points[a].quality || a - b);
  const out: FrontierCandidate[] = [];
  let best = -Infinity;
  for (const i of idx) {
    if (points[i].quality > best) {
      out.push(points[i]);
      best = points[i].quality;
    }
  }
  return out;
}

function toPoint(rec: ExitRecords, threshold: number | null, correct: number, agree: number, costSum: number, hist: ArrayLike<number>, baselineMacs: number): CurvePoint {
  const N = rec.sampleCount;
  const meanCost = costSum / N;
  return {
    threshold,
    accuracy: rec.labels ? correct / N : null,
    agreement: agree / N,
    meanCost,
    speedup: meanCost > 0 ? baselineMacs / meanCost : null,
    saving: baselineMacs > 0 ? 1 - meanCost / baselineMacs : null,
    exitHistogram: Array.from(hist),
  };
}

export interface CurveSet {
  curves: Curve[];
  frontier: FrontierCandidate[];
}

/**
 * The exact curves of the three score policies and patience t = 1..E-1, thinned to at most
 * `maxPoints` per curve for the report, and the Pareto frontier across all of them (computed
 * from every point, not the thinned ones).
 */
export function exactCurves(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number, maxPoints = 400): CurveSet {
  const curves: Curve[] = [];
  const candidates: FrontierCandidate[] = [];
  const N = rec.sampleCount;
  const useAccuracy = rec.labels !== null;
  for (const kind of ['confidence', 'entropy', 'margin'] as const) {
    let keepEvery = 1;
    let total = 0;
    const points: CurvePoint[] = [];
    // Frontier of this curve, kept as a stack in typed arrays (points arrive with
    // non-increasing cost, so a new point removes the ones it dominates from the top).
    let sCost = new Float64Array(0);
    let sQuality = new Float64Array(0);
    let sThreshold = new Float64Array(0);
    let top = 0;
    sweepScorePolicy(rec, kind, exitMacs, {
      start(count) {
        total = count;
        keepEvery = count > maxPoints ? (count - 1) / (maxPoints - 1) : 1;
        sCost = new Float64Array(count);
        sQuality = new Float64Array(count);
        sThreshold = new Float64Array(count);
      },
      point(index, threshold, correct, agree, costSum, hist) {
        const keep = keepEvery === 1 || index === total - 1 || Math.floor(index / keepEvery) !== Math.floor((index - 1) / keepEvery) || index === 0;
        if (keep) points.push(toPoint(rec, threshold, correct, agree, costSum, hist, baselineMacs));
        const cost = costSum / N;
        const quality = (useAccuracy ? correct : agree) / N;
        while (top > 0 && sQuality[top - 1] <= quality) top--;
        if (top === 0 || sCost[top - 1] !== cost) {
          sCost[top] = cost;
          sQuality[top] = quality;
          sThreshold[top] = threshold === null ? NaN : threshold;
          top++;
        }
      },
    });
    curves.push({ kind, totalPoints: total, points, thinned: points.length < total });
    for (let t = top - 1; t >= 0; t--) {
      candidates.push({ kind, threshold: Number.isNaN(sThreshold[t]) ? null : sThreshold[t], meanCost: sCost[t], quality: sQuality[t] });
    }
  }
  // Patience t = 1..E-1 in one pass: the counter rises by one at a time from 0, so the first
  // exit where it equals t is where it first climbs to t.
  const E = rec.exitCount;
  const T = E - 1;
  const pHist = new Int32Array(Math.max(0, T) * E);
  const pCorrect = new Float64Array(T + 1);
  const pAgree = new Float64Array(T + 1);
  const pCost = new Float64Array(T + 1);
  const reach = new Int32Array(E);
  for (let n = 0; n < N; n++) {
    const base = n * E;
    reach.fill(E - 1);
    let counter = 0;
    let top = 0;
    for (let k = 1; k < E; k++) {
      counter = rec.pred[base + k] === rec.pred[base + k - 1] ? counter + 1 : 0;
      if (counter > top) {
        top = counter;
        reach[counter] = k;
      }
    }
    const y = rec.labels ? rec.labels[n] : -2;
    const pf = rec.pred[base + E - 1];
    for (let t = 1; t <= T; t++) {
      const e = reach[t];
      pHist[(t - 1) * E + e]++;
      const p = rec.pred[base + e];
      if (p === y) pCorrect[t]++;
      if (p === pf) pAgree[t]++;
      pCost[t] += exitMacs[e];
    }
  }
  const patiencePoints: CurvePoint[] = [];
  for (let t = 1; t <= T; t++) {
    const point = toPoint(rec, t, pCorrect[t], pAgree[t], pCost[t], pHist.subarray((t - 1) * E, t * E), baselineMacs);
    patiencePoints.push(point);
    candidates.push({ kind: 'patience', threshold: t, meanCost: point.meanCost, quality: (useAccuracy ? pCorrect[t] : pAgree[t]) / N });
  }
  curves.push({ kind: 'patience', totalPoints: patiencePoints.length, points: patiencePoints, thinned: false });
  return { curves, frontier: paretoFrontier(candidates) };
}
