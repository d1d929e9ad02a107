import { ExitRecords } from '../records';
import { ExitLensError } from '../errors';
import { allocateKeys, keyValue, setKey, SortedKeys, sortKeys } from './argsort';
import { OverthinkingFigures, overthinkingFigures } from './exitFigures';
import { same } from './same';
import { frontierKeep } from './frontierPoints';
import { DEFAULT_GRID } from './policies';
import type { Curve, CurvePoint, FrontierCandidate, GridPolicy, PolicyKind } from '../../shared/reportTypes';

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

export interface SweepVisitor {
  /** Called once before the points with how many there will be. */
  start?(pointCount: number): void;
  /** If given and false for a point's counts, `point` is not called for it (its cost is not worked out). */
  wants?(correct: number, agree: number): boolean;
  /** Called per point, in order of descending threshold (non-increasing cost). `hist` is live: copy it to keep it. */
  point(index: number, threshold: number | null, correct: number, agree: number, costSum: number, hist: Int32Array): void;
}

/** A second sweep, over the samples with mask[n] = 1, run alongside the first on the same sorted events. */
export interface SubsetSweep {
  mask: Uint8Array;
  visitor: SweepVisitor;
}

/** Thresholds at which to read the state of the sweep (the outcome of that threshold), in any order. */
export interface SweepProbes {
  thresholds: readonly number[];
  visit(probe: number, correct: number, agree: number, costSum: number, hist: Int32Array): void;
}

/** Exits are packed with the correctness changes into one payload word per event. */
const EXIT_BITS = 13;
export const MAX_SWEEP_EXITS = 1 << EXIT_BITS;
const EXIT_MASK = MAX_SWEEP_EXITS - 1;
const SUBSET_BIT = 1 << 30;

/** Running totals of one sweep: correct and agreeing counts, the exit histogram and the cost. */
class SweepState {
  readonly hist: Int32Array;
  correct = 0;
  agree = 0;
  private costSum = 0;
  constructor(private readonly macs: Float64Array, private readonly exactCost: boolean, E: number) {
    this.hist = new Int32Array(E);
  }
  /** Moves one sample from exit a to exit b. */
  move(a: number, b: number, dCorrect: number, dAgree: number): void {
    this.correct += dCorrect;
    this.agree += dAgree;
    this.hist[a]--;
    this.hist[b]++;
    if (this.exactCost) this.costSum += this.macs[b] - this.macs[a];
  }
  /** move(a, b, dCorrect, dAgree) when f is 1; nothing when f is 0. */
  moveBy(a: number, b: number, dCorrect: number, dAgree: number, f: number): void {
    this.correct += dCorrect * f;
    this.agree += dAgree * f;
    this.hist[a] -= f;
    this.hist[b] += f;
    if (this.exactCost) this.costSum += (this.macs[b] - this.macs[a]) * f;
  }
  /** Σ_k hist[k]·cost(k): incremental when costs are integers (exact), else from the histogram, so equal histograms cost the same. */
  cost(): number {
    if (this.exactCost) return this.costSum;
    const hist = this.hist;
    const macs = this.macs;
    const E = hist.length;
    let c = 0;
    for (let k = 0; k < E; k++) c += hist[k] * macs[k];
    return c;
  }
  reset(count: number, correct: number): void {
    this.hist.fill(0);
    this.hist[this.hist.length - 1] = count;
    this.correct = correct;
    this.agree = count;
    this.costSum = count * this.macs[this.hist.length - 1];
  }
}

/** True when Σ hist·cost is exact in float64 for these costs and N samples. */
export function costsAreExact(exitMacs: readonly number[], sampleCount: number): boolean {
  return exitMacs.every((c) => Number.isInteger(c) && Math.abs(c) * Math.max(1, sampleCount) < 2 ** 53);
}

/** Σ_k hist[k]·cost(k), the total cost of an exit histogram. */
export function histogramCost(hist: ArrayLike<number>, exitMacs: readonly number[]): number {
  let c = 0;
  for (let k = 0; k < hist.length; k++) c += hist[k] * exitMacs[k];
  return c;
}

/**
 * Runs the exact sweep for one score policy over the records, and optionally over a subset
 * of the samples (the calibration split) on the same sorted events, and reads the outcome at
 * given thresholds (the policy grid).
 */
export function sweepScorePolicy(
  rec: ExitRecords,
  kind: ScorePolicy,
  exitMacs: readonly number[],
  visitor: SweepVisitor,
  subset?: SubsetSweep,
  probes?: SweepProbes,
  /** Up to this many possible events (N x (E-1)), they are written without counting them first. */
  fusedMaxEvents = FUSED_MAX_EVENTS,
): SweepReplay {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  if (E > MAX_SWEEP_EXITS) throw new ExitLensError('bad-argument', `The model has ${E} exits; Exit Lens handles at most ${MAX_SWEEP_EXITS}.`, 'Map fewer outputs as exits.');
  // Entropy fires on h <= τ: sweep its negation, so every policy fires on score >= τ.
  const src = kind === 'confidence' ? rec.conf : kind === 'margin' ? rec.margin : rec.entropy;
  const sign = kind === 'entropy' ? -1 : 1;
  const mask = subset?.mask ?? null;
  // The loops are in small functions of their own, so that V8 optimises each by itself (the
  // first, cold call otherwise deoptimises a loop optimised inside this function once the
  // code after it first runs).
  // A sample has at most E-1 events: up to fusedMaxEvents of those, the events are written
  // into that much room in one pass; beyond it they are counted first, to allocate exactly.
  const most = N * Math.max(0, E - 1);
  const room = allocateKeys(most <= fusedMaxEvents ? most : countEvents(src, sign, pred, N, E));
  const count = fillEvents(src, sign, pred, labels ?? NO_LABELS, labels !== null, mask ?? NO_MASK, N, E, room);
  const keys: SortedKeys = count === room.count ? room : { hi: room.hi.subarray(0, count), lo: room.lo.subarray(0, count), pay: room.pay.subarray(0, count), count };
  const distinct = sortKeys(keys);

  // Start: nothing fires, every sample at the final exit.
  const macs = Float64Array.from(exitMacs);
  const exact = costsAreExact(exitMacs, N);
  const all = new SweepState(macs, exact, E);
  const start = startCounts(pred, labels ?? NO_LABELS, labels !== null, mask ?? NO_MASK, N, E);
  all.reset(N, start[0]);
  const part = mask ? new SweepState(macs, exact, E) : null;
  part?.reset(start[1], start[2]);
  const probeOrder = probes ? probes.thresholds.map((_, p) => p).sort((a, b) => sign * probes.thresholds[b] - sign * probes.thresholds[a]) : [];
  visitor.start?.(distinct + 1);
  visitor.point(0, null, all.correct, all.agree, all.cost(), all.hist);
  if (part) subset!.visitor.point(0, null, part.correct, part.agree, part.cost(), part.hist);
  const p = runSweep(keys, count, sign, all, part, visitor, subset?.visitor ?? null, probes ?? null, probeOrder);
  if (probes) for (let q = p; q < probeOrder.length; q++) probes.visit(probeOrder[q], all.correct, all.agree, all.cost(), all.hist);
  return (threshold) => {
    // The state at a threshold: the state before the first event or after the last, with the
    // events between it and the threshold fired or taken back, whichever are fewer.
    const state = (samples: number, correct: number, agree: number, hist: ArrayLike<number> | null): SweepCounts => {
      const h = hist ? Array.from(hist) : new Array<number>(E).fill(0);
      if (!hist) h[E - 1] = samples;
      return { count: samples, correct, agree, hist: h };
    };
    // The number of events whose value is at least the threshold: those whose key is at most its key.
    let m = 0;
    if (threshold !== null) {
      const at = allocateKeys(1);
      setKey(at, 0, sign * threshold, 0);
      m = keysAtMost(keys, count, at.hi[0], at.lo[0]);
    }
    if (m <= count - m) {
      const a = state(N, start[0], N, null);
      const b = mask ? state(start[1], start[2], start[1], null) : null;
      applyEvents(keys.pay, 0, m, 1, a, b);
      return { all: a, part: b };
    }
    const a = state(N, all.correct, all.agree, all.hist);
    const b = part ? state(start[1], part.correct, part.agree, part.hist) : null;
    applyEvents(keys.pay, m, count, -1, a, b);
    return { all: a, part: b };
  };
}

/** Counts of samples at a threshold: how many, right, agreeing with the final exit, and per exit. */
export interface SweepCounts {
  count: number;
  correct: number;
  agree: number;
  hist: number[];
}

/** The sweep's state at a threshold (null: nothing fires), over all samples and over the subset. */
export type SweepReplay = (threshold: number | null) => { all: SweepCounts; part: SweepCounts | null };

/** How many of the sorted keys are at most (kh, kl) (unsigned, hi then lo): a binary search. */
function keysAtMost(keys: SortedKeys, count: number, kh: number, kl: number): number {
  const { hi, lo } = keys;
  let a = 0;
  let b = count;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (hi[mid] < kh || (hi[mid] === kh && lo[mid] <= kl)) a = mid + 1;
    else b = mid;
  }
  return a;
}

/** Fires (s = 1) or takes back (s = -1) the sorted events j0..j1-1, in a (all samples) and b (the subset's, when given). */
function applyEvents(pay: Uint32Array, j0: number, j1: number, s: number, a: SweepCounts, b: SweepCounts | null): void {
  for (let j = j0; j < j1; j++) {
    const w = pay[j];
    const from = w & EXIT_MASK;
    const to = (w >>> EXIT_BITS) & EXIT_MASK;
    const dCorrect = ((w >>> 26) & 3) - 1;
    const dAgree = ((w >>> 28) & 3) - 1;
    a.hist[from] -= s;
    a.hist[to] += s;
    a.correct += s * dCorrect;
    a.agree += s * dAgree;
    if (b && w & SUBSET_BIT) {
      b.hist[from] -= s;
      b.hist[to] += s;
      b.correct += s * dCorrect;
      b.agree += s * dAgree;
    }
  }
}

/** Most events (N x (E-1)) written without counting them first: 12 bytes each. */
export const FUSED_MAX_EVENTS = 1 << 24;

/** Stand-ins for absent labels and mask, so that the loops see one array type. */
const NO_LABELS = new Int32Array(0);
const NO_MASK = new Uint8Array(0);

/** The number of records (strict increases of the running maximum of sign·src over exits 0..E-2) of all samples. */
function countEvents(src: Float64Array, sign: number, pred: Int32Array, N: number, E: number): number {
  const last = E - 1;
  let count = 0;
  for (let n = 0; n < N; n++) {
    let best = -Infinity;
    const base = n * E;
    for (let k = 0; k < last; k++) {
      // A non-finite output (prediction -1) never fires: it is no record, whatever its score.
      const s = pred[base + k] < 0 ? -Infinity : sign * src[base + k];
      if (s > best) {
        best = s;
        count++;
      }
    }
  }
  return count;
}

/**
 * Per event, into keys from position 0 (returns how many): its key (its value), and in the
 * payload what it changes when it fires: the sample moves from exit `from` to exit `to`, which
 * changes correctness and agreement by -1, 0 or +1.
 * Without labels (`labelled` false) nothing is correct; mask may be empty (no subset).
 */
function fillEvents(src: Float64Array, sign: number, pred: Int32Array, labels: Int32Array, labelled: boolean, mask: Uint8Array, N: number, E: number, keys: SortedKeys): number {
  const last = E - 1;
  const tos = new Int32Array(E);
  const masked = mask.length > 0;
  let i = 0;
  for (let n = 0; n < N; n++) {
    let best = -Infinity;
    const base = n * E;
    let m = 0;
    for (let k = 0; k < last; k++) {
      // A non-finite output (prediction -1) never fires: it is no record, whatever its score.
      const s = pred[base + k] < 0 ? -Infinity : sign * src[base + k];
      if (s > best) {
        best = s;
        tos[m++] = k;
      }
    }
    const y = labelled ? labels[n] : -2;
    const pf = pred[base + last];
    const flag = masked && mask[n] ? SUBSET_BIT : 0;
    for (let j = 0; j < m; j++) {
      const to = tos[j];
      const from = j + 1 < m ? tos[j + 1] : last;
      const pa = pred[base + from];
      const pb = pred[base + to];
      const dCorrect = same(pb, y) - same(pa, y);
      const dAgree = same(pb, pf) - same(pa, pf);
      setKey(keys, i++, sign * src[base + to], from | (to << EXIT_BITS) | ((dCorrect + 1) << 26) | ((dAgree + 1) << 28) | flag);
    }
  }
  return i;
}

/** [correct at the final exit, subset size, subset correct at the final exit]; mask may be empty (no subset). */
function startCounts(pred: Int32Array, labels: Int32Array, labelled: boolean, mask: Uint8Array, N: number, E: number): [number, number, number] {
  const last = E - 1;
  const masked = mask.length > 0;
  let correct = 0;
  let subsetCount = 0;
  let subsetCorrect = 0;
  for (let n = 0; n < N; n++) {
    const right = labelled && pred[n * E + last] === labels[n] ? 1 : 0;
    correct += right;
    if (masked && mask[n]) {
      subsetCount++;
      subsetCorrect += right;
    }
  }
  return [correct, subsetCount, subsetCorrect];
}

/**
 * Fires the sorted events, group by group of equal value, calling the visitors after each
 * group and the probes before the groups below their thresholds; returns how many probes
 * (in probeOrder) were visited.
 */
function runSweep(
  keys: SortedKeys,
  count: number,
  sign: number,
  all: SweepState,
  part: SweepState | null,
  visitor: SweepVisitor,
  subsetVisitor: SweepVisitor | null,
  probes: SweepProbes | null,
  probeOrder: number[],
): number {
  const { hi, lo, pay } = keys;
  let p = 0;
  let j = 0;
  let r = 0;
  let rs = 0;
  while (j < count) {
    const h = hi[j];
    const l = lo[j];
    const v = keyValue(keys, j);
    // A probe at τ reads the state once every event with value >= τ has fired.
    for (; p < probeOrder.length && sign * probes!.thresholds[probeOrder[p]] > v; p++) probes!.visit(probeOrder[p], all.correct, all.agree, all.cost(), all.hist);
    let touched = false;
    for (; j < count && hi[j] === h && lo[j] === l; j++) {
      const w = pay[j];
      const a = w & EXIT_MASK;
      const b = (w >>> EXIT_BITS) & EXIT_MASK;
      const dCorrect = ((w >>> 26) & 3) - 1;
      const dAgree = ((w >>> 28) & 3) - 1;
      all.move(a, b, dCorrect, dAgree);
      if (part !== null) {
        // In the subset or not is a coin toss: moved by 0 or 1 rather than behind a branch.
        const f = (w >>> 30) & 1;
        part.moveBy(a, b, dCorrect, dAgree, f);
        touched = touched || f === 1;
      }
    }
    r++;
    visitor.point(r, sign * v, all.correct, all.agree, all.cost(), all.hist);
    if (touched) {
      rs++;
      const sv = subsetVisitor!;
      if (!sv.wants || sv.wants(part!.correct, part!.agree)) sv.point(rs, sign * v, part!.correct, part!.agree, part!.cost(), part!.hist);
    }
  }
  return p;
}

/**
 * One curve's candidates for the frontier, by ascending cost (equal cost: higher quality
 * first); typed arrays, so that a worker thread hands them over as plain memory.
 */
export interface CandidateList {
  kind: PolicyKind;
  cost: Float64Array;
  quality: Float64Array;
  /** NaN for no threshold (null: the full model). */
  threshold: Float64Array;
}

/**
 * Pareto frontier (lowest cost, highest quality): points no other point beats on one axis
 * without losing on the other, by ascending cost. The lists are merged by cost (equal cost:
 * higher quality, then the earlier list), so of equal points the first list's wins.
 */
function mergeFrontiers(lists: readonly CandidateList[]): MergedFrontier {
  const L = lists.length;
  const pos = new Int32Array(L);
  const costs = lists.map((l) => l.cost);
  const qualities = lists.map((l) => l.quality);
  let total = 0;
  for (const l of lists) total += l.cost.length;
  const out: MergedFrontier = { length: 0, list: new Uint8Array(total), index: new Int32Array(total), cost: new Float64Array(total), quality: new Float64Array(total) };
  let m = 0;
  let best = -Infinity;
  for (;;) {
    let pick = -1;
    let cp = 0;
    let qp = 0;
    for (let l = 0; l < L; l++) {
      const i = pos[l];
      const cost = costs[l];
      if (i >= cost.length) continue;
      const c = cost[i];
      if (pick < 0 || c < cp || (c === cp && qualities[l][i] > qp)) {
        pick = l;
        cp = c;
        qp = qualities[l][i];
      }
    }
    if (pick < 0) break;
    pos[pick]++;
    if (qp > best) {
      best = qp;
      out.list[m] = pick;
      out.index[m] = pos[pick] - 1;
      out.cost[m] = cp;
      out.quality[m] = qp;
      m++;
    }
  }
  out.length = m;
  return out;
}

/** The merged frontier, compactly: point i is point index[i] of list list[i]. */
interface MergedFrontier {
  length: number;
  list: Uint8Array;
  index: Int32Array;
  cost: Float64Array;
  quality: Float64Array;
}

/** Point i of a merged frontier as the report's object. */
function frontierPoint(lists: readonly CandidateList[], f: MergedFrontier, i: number): FrontierCandidate {
  const list = lists[f.list[i]];
  const t = list.threshold[f.index[i]];
  return { kind: list.kind, threshold: Number.isNaN(t) ? null : t, meanCost: f.cost[i], quality: f.quality[i] };
}

function toPoint(rec: ExitRecords, threshold: number | null, correct: number, agree: number, costSum: number, hist: ArrayLike<number>, baselineMacs: number, count = rec.sampleCount): CurvePoint {
  const meanCost = costSum / count;
  return {
    threshold,
    accuracy: rec.labels ? correct / count : null,
    agreement: agree / count,
    meanCost,
    speedup: meanCost > 0 ? baselineMacs / meanCost : null,
    saving: baselineMacs > 0 ? 1 - meanCost / baselineMacs : null,
    exitHistogram: Array.from(hist),
  };
}

/** Points kept per curve (and on the frontier) in the report. */
export const DEFAULT_CURVE_POINTS = 400;

/** Index spacing that keeps at most `maxPoints` of `count` points, evenly (1: keep all). */
export function spacingFor(count: number, maxPoints: number): number {
  return count > maxPoints ? (count - 1) / (maxPoints - 1) : 1;
}

/** Whether point `index` of `count` is kept at this spacing: the first, the last, and one per step. */
export function keepPoint(index: number, count: number, spacing: number): boolean {
  return spacing === 1 || index === 0 || index === count - 1 || Math.floor(index / spacing) !== Math.floor((index - 1) / spacing);
}

/**
 * keepPoint for the points 0, 1, 2, ... of a curve, in that order, with a division only near
 * the spacing's steps: between steps, floor(index / spacing) cannot change.
 */
export class Thinning {
  private q = -1;
  private nextCheck = 0;
  constructor(private readonly count: number, private readonly spacing: number) {}
  keep(index: number): boolean {
    if (this.spacing === 1 || index === this.count - 1) return true;
    if (index < this.nextCheck) return false;
    const q = Math.floor(index / this.spacing);
    const kept = index === 0 || q !== this.q;
    this.q = q;
    // Up to here, index / spacing stays below q + 1 by at least 1 / spacing, far beyond rounding.
    this.nextCheck = Math.floor((q + 1) * this.spacing) - 1;
    return kept;
  }
}

/** Slack on the accuracy target, so that a point exactly at the target is not lost to rounding. */
export const TARGET_EPS = 1e-12;

/**
 * Picks, among the points of a sweep, the cheapest whose quality (accuracy, or agreement
 * without labels) meets the target; equal cost goes to the higher quality, then to the
 * earlier point (the more conservative threshold). `threshold` stays null when only the full
 * model (the first point) or nothing meets the target.
 */
export class TargetChooser implements SweepVisitor {
  found = false;
  threshold: number | null = null;
  private bestCost = Infinity;
  private bestCount = -Infinity;
  /**
   * The fewest right (or agreeing) samples whose share meets the target, found once with the
   * very test `c / count >= target - TARGET_EPS` (its result only grows with c), so that each
   * point compares counts instead of dividing; a larger count is a strictly larger share.
   */
  private readonly least: number;
  constructor(private readonly count: number, private readonly labelled: boolean, target: number) {
    let a = 0;
    let b = count + 1;
    while (a < b) {
      const m = Math.floor((a + b) / 2);
      if (m / count >= target - TARGET_EPS) b = m;
      else a = m + 1;
    }
    this.least = a;
  }
  /** The chosen point's cost sum (Σ hist·cost) and right (or agreeing) count, once found. */
  get chosenCost(): number {
    return this.bestCost;
  }
  get chosenCount(): number {
    return this.bestCount;
  }
  /** Points below the target are never chosen. */
  wants(correct: number, agree: number): boolean {
    return (this.labelled ? correct : agree) >= this.least;
  }
  point(_index: number, threshold: number | null, correct: number, agree: number, costSum: number): void {
    const q = this.labelled ? correct : agree;
    if (q < this.least) return;
    if (!this.found || costSum < this.bestCost || (costSum === this.bestCost && q > this.bestCount)) {
      this.found = true;
      this.threshold = threshold;
      this.bestCost = costSum;
      this.bestCount = q;
    }
  }
}

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

/** True when no exit costs less than the one before it (cumulative costs, as static MACs always are). */
export function costsAscend(exitMacs: readonly number[]): boolean {
  for (let k = 1; k < exitMacs.length; k++) if (exitMacs[k] < exitMacs[k - 1]) return false;
  return true;
}

/**
 * The Pareto frontier (lowest cost, highest quality) of `n` points given in sweep order, as
 * their indices by ascending cost: a point is kept unless another costs no more and is no
 * worse, one of the two strictly; of equal points, the last in sweep order (as the stack of
 * the monotone case keeps it).
 */
export function paretoOrder(cost: Float64Array, quality: Float64Array, n: number): Int32Array {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => cost[a] - cost[b] || quality[b] - quality[a] || b - a);
  const out: number[] = [];
  let best = -Infinity;
  for (const i of idx) {
    if (quality[i] > best) {
      out.push(i);
      best = quality[i];
    }
  }
  return Int32Array.from(out);
}

/** Claim values of ScorePolicyTask.claim: taken by the thread that runs the task, or by the one that started it. */
export const FIGURES_HERE = 2;

/** A policy's counts at its chosen setting: over the subset (the calibration split), and over the samples outside it (the test split). */
export interface ChosenCounts {
  subset: SweepCounts;
  rest: SweepCounts;
}

/** The samples right at the final exit. */
function finalCorrect(rec: ExitRecords): number {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  if (!labels) return 0;
  let correct = 0;
  for (let n = 0; n < N; n++) if (pred[n * E + E - 1] === labels[n]) correct++;
  return correct;
}

/** The counts outside the subset: all minus the subset's. */
function restOf(all: SweepCounts, subset: SweepCounts): SweepCounts {
  return { count: all.count - subset.count, correct: all.correct - subset.correct, agree: all.agree - subset.agree, hist: all.hist.map((h, k) => h - subset.hist[k]) };
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
  const candidates: CandidateList = { kind, cost: new Float64Array(kept), quality: new Float64Array(kept), threshold: new Float64Array(kept) };
  for (let i = 0; i < kept; i++) {
    const t = order ? order[i] : top - 1 - i;
    candidates.cost[i] = sCost[t];
    candidates.quality[i] = sQuality[t] / N;
    candidates.threshold[i] = sThreshold[t];
  }
  let chosenCounts: ChosenCounts | null = null;
  if (chooser) {
    const { all, part } = replay(chooser.threshold);
    chosenCounts = { subset: part!, rest: restOf(all, part!) };
  }
  const part: ScorePolicyPart = { curve: { kind, totalPoints: total, points, thinned: points.length < total }, candidates, grid, chosen: chooser ? chooser.threshold : null, chosenCounts };
  if (task.figures && (!task.claim || Atomics.compareExchange(task.claim, 0, 0, FIGURES_HERE - 1) === 0)) part.figures = overthinkingFigures(rec, exitMacs, baselineMacs);
  if (task.patience && Atomics.compareExchange(task.patience, 0, 0, FIGURES_HERE - 1) === 0) part.patience = patienceCounts(rec, subset);
  return part;
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

function policyTasks(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number, options: PolicyAnalysisOptions): ScorePolicyTask[] {
  const maxPoints = options.maxPoints ?? DEFAULT_CURVE_POINTS;
  const subset = options.subset ?? null;
  const tasks: ScorePolicyTask[] = SCORE_POLICIES.map((kind) => ({ rec, kind, exitMacs, baselineMacs, maxPoints, subset }));
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
export function analysePolicies(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number, options: PolicyAnalysisOptions = {}): PolicyAnalysis {
  return finishPolicies(rec, exitMacs, baselineMacs, options, policyTasks(rec, exitMacs, baselineMacs, options).map(scorePolicyPart));
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
    if (Atomics.compareExchange(claim, 0, 0, FIGURES_HERE) === 0) patience = patienceCounts(rec, options.subset ?? null);
  };
  const parts = await runner(tasks, onThisThread);
  // A runner that never called back still gets the caller's work done, after the sweeps.
  if (!calledBack) await onThisThread(parts);
  // Claimed by the other thread: its counts; a worker that claimed them and then failed:
  // finishPolicies works them out here.
  patience ??= parts.find((p) => p.patience)?.patience;
  return finishPolicies(rec, exitMacs, baselineMacs, options, parts, patience);
}

/** Per patience t = 1..E-1: exit histograms, right and agreeing counts, over all samples and over the subset. */
interface PatienceCounts {
  T: number;
  pHist: Int32Array;
  pCorrect: Float64Array;
  pAgree: Float64Array;
  sHist: Int32Array;
  sCorrect: Float64Array;
  sAgree: Float64Array;
  sFinalCorrect: number;
}

function patienceCounts(rec: ExitRecords, subset: { mask: Uint8Array } | null): PatienceCounts {
  const N = rec.sampleCount;
  const E = rec.exitCount;
  // Patience t = 1..E-1 in one pass: the counter rises by one at a time from 0, so the first
  // exit where it equals t is where it first climbs to t.
  const T = E - 1;
  const pHist = new Int32Array(Math.max(0, T) * E);
  const pCorrect = new Float64Array(T + 1);
  const pAgree = new Float64Array(T + 1);
  const sHist = new Int32Array(subset ? Math.max(0, T) * E : 0);
  const sCorrect = new Float64Array(T + 1);
  const sAgree = new Float64Array(T + 1);
  let sFinalCorrect = 0;
  const reach = new Int32Array(E);
  for (let n = 0; n < N; n++) {
    const base = n * E;
    // reach[t] for t <= top (the highest count); above it, the final exit.
    let counter = 0;
    let top = 0;
    for (let k = 1; k < E; k++) {
      // A non-finite prediction (-1) equals no other, not even another -1: the counter resets.
      const pk = rec.pred[base + k];
      counter = (counter + 1) * same(pk, rec.pred[base + k - 1]) * (~pk >>> 31);
      if (counter > top) {
        top = counter;
        reach[counter] = k;
      }
    }
    const y = rec.labels ? rec.labels[n] : -2;
    const pf = rec.pred[base + E - 1];
    // Right, agreeing and in the subset as 0 or 1, so that the counts need no data-dependent branches.
    const inSubset = subset !== null && subset.mask[n] === 1;
    if (inSubset && pf === y) sFinalCorrect++;
    if (inSubset) {
      for (let t = 1; t <= T; t++) {
        const e = t <= top ? reach[t] : E - 1;
        const p = rec.pred[base + e];
        const right = same(p, y);
        const agree = same(p, pf);
        pHist[(t - 1) * E + e]++;
        pCorrect[t] += right;
        pAgree[t] += agree;
        sHist[(t - 1) * E + e]++;
        sCorrect[t] += right;
        sAgree[t] += agree;
      }
    } else {
      for (let t = 1; t <= T; t++) {
        const e = t <= top ? reach[t] : E - 1;
        const p = rec.pred[base + e];
        pHist[(t - 1) * E + e]++;
        pCorrect[t] += same(p, y);
        pAgree[t] += same(p, pf);
      }
    }
  }
  return { T, pHist, pCorrect, pAgree, sHist, sCorrect, sAgree, sFinalCorrect };
}

function finishPolicies(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number, options: PolicyAnalysisOptions, parts: ScorePolicyPart[], patience?: PatienceCounts): PolicyAnalysis {
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
  const { T, pHist, pCorrect, pAgree, sHist, sCorrect, sAgree, sFinalCorrect } = patience ?? patienceCounts(rec, subset);
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
    const at = (hist: Int32Array, correct: number, agree: number, count: number): SweepCounts => ({ count, correct, agree, hist: Array.from(hist) });
    const finalOnly = new Int32Array(E);
    finalOnly[E - 1] = subsetCount;
    const subsetAt = t === null ? at(finalOnly, sFinalCorrect, subsetCount, subsetCount) : at(sHist.subarray((t - 1) * E, t * E), sCorrect[t], sAgree[t], subsetCount);
    let all: SweepCounts;
    if (t === null) {
      const allFinal = new Int32Array(E);
      allFinal[E - 1] = N;
      all = at(allFinal, finalCorrect(rec), N, N);
    } else all = at(pHist.subarray((t - 1) * E, t * E), pCorrect[t], pAgree[t], N);
    chosenCounts = { confidence: parts[0].chosenCounts!, entropy: parts[1].chosenCounts!, margin: parts[2].chosenCounts!, patience: { subset: subsetAt, rest: restOf(all, subsetAt) } };
  }
  const merged = mergeFrontiers(candidates);
  let frontier: FrontierCandidate[];
  if (options.reportFrontierPoints !== undefined) {
    const keep = frontierKeep(merged.cost, merged.quality, merged.length, options.reportFrontierPoints);
    frontier = keep ? keep.map((i) => frontierPoint(candidates, merged, i)) : Array.from({ length: merged.length }, (_, i) => frontierPoint(candidates, merged, i));
  } else frontier = Array.from({ length: merged.length }, (_, i) => frontierPoint(candidates, merged, i));
  const result: PolicyAnalysis = { curves, frontier, grid, chosen, chosenCounts };
  if (options.reportFrontierPoints !== undefined) result.frontierTotalPoints = merged.length;
  const figures = parts.find((p) => p.figures)?.figures;
  if (figures) result.figures = figures;
  return result;
}

/** The exact curves and the frontier (analysePolicies without the rest). */
export function exactCurves(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number, maxPoints = DEFAULT_CURVE_POINTS): CurveSet {
  const { curves, frontier } = analysePolicies(rec, exitMacs, baselineMacs, { maxPoints });
  return { curves, frontier };
}
