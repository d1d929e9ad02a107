import { ExitRecords } from '../records';
import { PolicyKind, patienceExit } from './policies';

/**
 * Exact accuracy–cost curves: every distinct threshold of the confidence, entropy and margin
 * policies, from a sweep over sorted per-sample events (not a grid).
 *
 * For a sample, let s_k be its score at exit k (confidence, margin, or minus the entropy) and
 * P_k = max_{j ≤ k} s_j. Under threshold τ it exits at the first k ≤ E-2 with P_k ≥ τ, else at
 * E-1. Each strict increase of P ("record") at exit k with value v is an event: once τ ≤ v
 * the sample moves to exit k from the exit of its next record (or E-1). An event's effect
 * does not depend on the others, so bucketing events by value gives the curve in one pass.
 */
export type ScorePolicy = 'confidence' | 'entropy' | 'margin';

export interface CurvePoint {
  /** The policy's threshold; null for the point where nothing fires (the full model). */
  threshold: number | null;
  accuracy: number | null;
  agreement: number;
  meanCost: number;
  speedup: number | null;
  saving: number | null;
  exitHistogram: number[];
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

function score(rec: ExitRecords, kind: ScorePolicy, at: number): number {
  return kind === 'confidence' ? rec.conf[at] : kind === 'margin' ? rec.margin[at] : -rec.entropy[at];
}

/** Runs the exact sweep for one score policy over the records. */
export function sweepScorePolicy(rec: ExitRecords, kind: ScorePolicy, exitMacs: readonly number[], visitor: SweepVisitor): void {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  const last = E - 1;
  // Count events first, to allocate exactly.
  let count = 0;
  for (let n = 0; n < N; n++) {
    let best = -Infinity;
    for (let k = 0; k < last; k++) {
      const s = score(rec, kind, n * E + k);
      if (s > best) {
        best = s;
        count++;
      }
    }
  }
  const value = new Float64Array(count);
  const sample = new Int32Array(count);
  const to = new Uint16Array(count);
  const from = new Uint16Array(count);
  let i = 0;
  for (let n = 0; n < N; n++) {
    let best = -Infinity;
    const first = i;
    for (let k = 0; k < last; k++) {
      const s = score(rec, kind, n * E + k);
      if (s > best) {
        best = s;
        value[i] = s;
        sample[i] = n;
        to[i] = k;
        from[i] = last;
        if (i > first) from[i - 1] = k;
        i++;
      }
    }
  }
  // Distinct values, descending, and each event's rank among them.
  const sorted = Float64Array.from(value).sort();
  let distinct = 0;
  for (let j = 0; j < sorted.length; j++) if (j === 0 || sorted[j] !== sorted[j - 1]) sorted[distinct++] = sorted[j];
  const levels = sorted.subarray(0, distinct); // ascending
  const bucketStart = new Int32Array(distinct + 1);
  const rank = new Int32Array(count);
  for (let j = 0; j < count; j++) {
    let lo = 0;
    let hi = distinct - 1;
    const v = value[j];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (levels[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    const r = distinct - 1 - lo; // rank 0 = largest value
    rank[j] = r;
    bucketStart[r + 1]++;
  }
  for (let r = 0; r < distinct; r++) bucketStart[r + 1] += bucketStart[r];
  const order = new Int32Array(count);
  const fill = bucketStart.slice(0, distinct);
  for (let j = 0; j < count; j++) order[fill[rank[j]]++] = j;

  // Start: nothing fires, every sample at the final exit.
  const hist = new Int32Array(E);
  hist[last] = N;
  let correct = 0;
  let agree = N;
  if (labels) for (let n = 0; n < N; n++) if (pred[n * E + last] === labels[n]) correct++;
  let costSum = N * exitMacs[last];
  visitor.start?.(distinct + 1);
  visitor.point(0, null, correct, agree, costSum, hist);
  for (let r = 0; r < distinct; r++) {
    for (let j = bucketStart[r]; j < bucketStart[r + 1]; j++) {
      const ev = order[j];
      const n = sample[ev];
      const a = from[ev];
      const b = to[ev];
      const pa = pred[n * E + a];
      const pb = pred[n * E + b];
      const pf = pred[n * E + last];
      if (labels) correct += (pb === labels[n] ? 1 : 0) - (pa === labels[n] ? 1 : 0);
      agree += (pb === pf ? 1 : 0) - (pa === pf ? 1 : 0);
      costSum += exitMacs[b] - exitMacs[a];
      hist[a]--;
      hist[b]++;
    }
    const v = levels[distinct - 1 - r];
    visitor.point(r + 1, kind === 'entropy' ? -v : v, correct, agree, costSum, hist);
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
    // Frontier of this curve, kept as a stack: points arrive with non-increasing cost.
    const stack: FrontierCandidate[] = [];
    sweepScorePolicy(rec, kind, exitMacs, {
      start(count) {
        total = count;
        keepEvery = count > maxPoints ? (count - 1) / (maxPoints - 1) : 1;
      },
      point(index, threshold, correct, agree, costSum, hist) {
        const keep = keepEvery === 1 || index === total - 1 || Math.floor(index / keepEvery) !== Math.floor((index - 1) / keepEvery) || index === 0;
        if (keep) points.push(toPoint(rec, threshold, correct, agree, costSum, hist, baselineMacs));
        const q: FrontierCandidate = { kind, threshold, meanCost: costSum / N, quality: (useAccuracy ? correct : agree) / N };
        while (stack.length && stack[stack.length - 1].quality <= q.quality) stack.pop();
        const top = stack[stack.length - 1];
        if (!top || top.meanCost !== q.meanCost) stack.push(q);
      },
    });
    curves.push({ kind, totalPoints: total, points, thinned: points.length < total });
    candidates.push(...stack.reverse());
  }
  const patiencePoints: CurvePoint[] = [];
  for (let t = 1; t < rec.exitCount; t++) {
    const hist = new Int32Array(rec.exitCount);
    let correct = 0;
    let agree = 0;
    let costSum = 0;
    const E = rec.exitCount;
    for (let n = 0; n < N; n++) {
      const e = patienceExit(rec, n, t);
      hist[e]++;
      const p = rec.pred[n * E + e];
      if (rec.labels && p === rec.labels[n]) correct++;
      if (p === rec.pred[n * E + E - 1]) agree++;
      costSum += exitMacs[e];
    }
    const point = toPoint(rec, t, correct, agree, costSum, hist, baselineMacs);
    patiencePoints.push(point);
    candidates.push({ kind: 'patience', threshold: t, meanCost: point.meanCost, quality: (useAccuracy ? correct : agree) / N });
  }
  curves.push({ kind: 'patience', totalPoints: patiencePoints.length, points: patiencePoints, thinned: false });
  return { curves, frontier: paretoFrontier(candidates) };
}
