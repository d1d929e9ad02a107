/**
 * The exact sweep of one score policy over the records: every event sorted once and fired in
 * order of descending threshold, with a subset (the calibration split) swept alongside, the
 * state read at given thresholds (the grid), and replayed at any one threshold afterwards.
 */
import { ExitRecords } from '../records/records';
import { ExitLensError } from '../errors';
import { allocateKeys, keyValue, setKey, SortedKeys, sortKeys } from './argsort';
import { same } from './same';

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
  point(
    index: number,
    threshold: number | null,
    correct: number,
    agree: number,
    costSum: number,
    hist: Int32Array,
  ): void;
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
  constructor(
    private readonly macs: Float64Array,
    private readonly exactCost: boolean,
    E: number,
  ) {
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
  if (E > MAX_SWEEP_EXITS)
    throw new ExitLensError(
      'bad-argument',
      `The model has ${E} exits; Exit Lens handles at most ${MAX_SWEEP_EXITS}.`,
      'Map fewer outputs as exits.',
    );
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
  const keys: SortedKeys =
    count === room.count
      ? room
      : { hi: room.hi.subarray(0, count), lo: room.lo.subarray(0, count), pay: room.pay.subarray(0, count), count };
  const distinct = sortKeys(keys);

  // Start: nothing fires, every sample at the final exit.
  const macs = Float64Array.from(exitMacs);
  const exact = costsAreExact(exitMacs, N);
  const all = new SweepState(macs, exact, E);
  const start = startCounts(pred, labels ?? NO_LABELS, labels !== null, mask ?? NO_MASK, N, E);
  all.reset(N, start[0]);
  const part = mask ? new SweepState(macs, exact, E) : null;
  part?.reset(start[1], start[2]);
  const probeOrder = probes
    ? probes.thresholds.map((_, p) => p).sort((a, b) => sign * probes.thresholds[b] - sign * probes.thresholds[a])
    : [];
  visitor.start?.(distinct + 1);
  visitor.point(0, null, all.correct, all.agree, all.cost(), all.hist);
  if (part) subset!.visitor.point(0, null, part.correct, part.agree, part.cost(), part.hist);
  const p = runSweep(keys, count, sign, all, part, visitor, subset?.visitor ?? null, probes ?? null, probeOrder);
  if (probes)
    for (let q = p; q < probeOrder.length; q++)
      probes.visit(probeOrder[q], all.correct, all.agree, all.cost(), all.hist);
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
function fillEvents(
  src: Float64Array,
  sign: number,
  pred: Int32Array,
  labels: Int32Array,
  labelled: boolean,
  mask: Uint8Array,
  N: number,
  E: number,
  keys: SortedKeys,
): number {
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
      setKey(
        keys,
        i++,
        sign * src[base + to],
        from | (to << EXIT_BITS) | ((dCorrect + 1) << 26) | ((dAgree + 1) << 28) | flag,
      );
    }
  }
  return i;
}

/** [correct at the final exit, subset size, subset correct at the final exit]; mask may be empty (no subset). */
function startCounts(
  pred: Int32Array,
  labels: Int32Array,
  labelled: boolean,
  mask: Uint8Array,
  N: number,
  E: number,
): [number, number, number] {
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
    for (; p < probeOrder.length && sign * probes!.thresholds[probeOrder[p]] > v; p++)
      probes!.visit(probeOrder[p], all.correct, all.agree, all.cost(), all.hist);
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
      if (!sv.wants || sv.wants(part!.correct, part!.agree))
        sv.point(rs, sign * v, part!.correct, part!.agree, part!.cost(), part!.hist);
    }
  }
  return p;
}
