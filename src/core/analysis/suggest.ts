import { ExitRecords } from '../records';
import { keyValue, sortDescending } from './argsort';
import { TargetChooser, analysePolicies, costsAreExact, histogramCost } from './curves';
import { PolicyKind, PolicyOutcome, outcomeOfExits, patienceExit, perExitThresholdExit, scoreExit } from './policies';

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

/** A sample set for the suggestions: the records, and which samples (null = all of them). */
export interface SampleSet {
  rec: ExitRecords;
  samples: Int32Array | null;
}

export function wholeSet(rec: ExitRecords): SampleSet {
  return { rec, samples: null };
}

function sizeOf(set: SampleSet): number {
  return set.samples ? set.samples.length : set.rec.sampleCount;
}

function indicesOf(set: SampleSet): Int32Array {
  if (set.samples) return set.samples;
  const all = new Int32Array(set.rec.sampleCount);
  for (let i = 0; i < all.length; i++) all[i] = i;
  return all;
}

export function targetFor(set: SampleSet, maxAccuracyDrop: number): number {
  const { exitCount: E, labels, pred } = set.rec;
  if (!labels) return 1 - maxAccuracyDrop;
  const M = sizeOf(set);
  let correct = 0;
  for (let i = 0; i < M; i++) {
    const n = set.samples ? set.samples[i] : i;
    if (pred[n * E + E - 1] === labels[n]) correct++;
  }
  return correct / M - maxAccuracyDrop;
}

/**
 * Per-exit confidence thresholds by coordinate descent: for each exit in turn, every distinct
 * calibration confidence is tried as τ_k with the others fixed (an exact sweep), keeping the
 * cheapest vector that meets the target (equal cost: higher quality, then the higher τ_k).
 * Two passes, starting from `start` at every exit.
 */
/** Exits up to which the fit keeps, per sample, which exits fire and are right as bits of two words. */
const FIRE_BITS = 32;

export function fitPerExitThresholds(set: SampleSet, exitMacs: readonly number[], target: number, start: number | null, passes = 2): (number | null)[] {
  const { exitCount: E, labels, pred, conf } = set.rec;
  const last = E - 1;
  const samples = indicesOf(set);
  const M = samples.length;
  const tau = new Array<number>(Math.max(0, last)).fill(start ?? Infinity);
  // Per exit, the set's samples by descending confidence there (sorted once, reused by every pass).
  const byConf: Uint32Array[] = [];
  const sortedConf: Float64Array[] = [];
  const confAt = new Float64Array(M);
  for (let k = 0; k < last; k++) {
    for (let i = 0; i < M; i++) confAt[i] = conf[samples[i] * E + k];
    const keys = sortDescending(confAt);
    byConf.push(keys.pay);
    const values = new Float64Array(M);
    for (let j = 0; j < M; j++) values[j] = keyValue(keys, j);
    sortedConf.push(values);
  }
  const exact = costsAreExact(exitMacs, M);
  const hist = new Float64Array(E);
  /** One coordinate step at exit k, from the initial counts: the sweep over τ_k, then τ_k set to the choice. */
  const step = (k: number, good: number, leave: (j: number) => number, gain: (j: number) => number): void => {
    const cost = () => (exact ? costSum : histogramCost(hist, exitMacs));
    let costSum = histogramCost(hist, exitMacs);
    const chooser = new TargetChooser(M, true, target);
    chooser.point(0, null, good, good, cost());
    const values = sortedConf[k];
    let index = 0;
    for (let j = 0; j < M; ) {
      const v = values[j];
      let changed = false;
      for (; j < M && values[j] === v; j++) {
        const from = leave(j);
        if (from < 0) continue;
        changed = true;
        hist[from]--;
        hist[k]++;
        if (exact) costSum += exitMacs[k] - exitMacs[from];
        good += gain(j);
      }
      if (changed) {
        index++;
        if (chooser.wants(good, good)) chooser.point(index, v, good, good, cost());
      }
    }
    if (chooser.found) tau[k] = chooser.threshold ?? Infinity;
  };
  if (E <= FIRE_BITS) {
    // Up to 32 exits: per sample, which exits fire under the current thresholds (bit j:
    // conf_j >= τ_j) and at which it is right (or agrees), one bit per exit, side by side. A
    // sample's exit before k and its exit after k are the lowest fired bits below and above k.
    const bits = new Uint32Array(2 * M);
    for (let i = 0; i < M; i++) {
      const n = samples[i];
      const base = n * E;
      const want = labels ? labels[n] : pred[base + last];
      let fired = 0;
      let right = 0;
      for (let e = 0; e < E; e++) if (pred[base + e] === want) right |= 1 << e;
      for (let j = 0; j < last; j++) if (conf[base + j] >= tau[j]) fired |= 1 << j;
      bits[2 * i] = fired;
      bits[2 * i + 1] = right;
    }
    // By position in exit k's order: the exit a sample leaves to exit at k (-1: it does not reach k), and the change in right answers.
    const leave = new Int32Array(M);
    const gain = new Int8Array(M);
    for (let pass = 0; pass < passes; pass++) {
      for (let k = 0; k < last; k++) {
        const order = byConf[k];
        const below = (1 << k) - 1;
        const above = k + 1;
        hist.fill(0);
        let good = 0;
        for (let j = 0; j < M; j++) {
          const i = order[j];
          const fired = bits[2 * i];
          const right = bits[2 * i + 1];
          const low = fired & below;
          let e: number;
          if (low !== 0) {
            e = 31 - Math.clz32(low & -low);
            leave[j] = -1;
          } else {
            const high = fired >>> above;
            e = high !== 0 ? above + 31 - Math.clz32(high & -high) : last;
            leave[j] = e;
            gain[j] = ((right >>> k) & 1) - ((right >>> e) & 1);
          }
          hist[e]++;
          good += (right >>> e) & 1;
        }
        step(k, good, (j) => leave[j], (j) => gain[j]);
        // Bit k again under the (possibly new) τ_k: set for the samples sorted before the first confidence below it.
        const bit = 1 << k;
        const t = tau[k];
        const values = sortedConf[k];
        for (let i = 0; i < M; i++) bits[2 * i] &= ~bit;
        for (let j = 0; j < M && values[j] >= t; j++) bits[2 * order[j]] |= bit;
      }
    }
  } else {
    // right[i * E + e]: sample i (of the set) is right (or agrees, unlabelled) at exit e.
    const right = new Uint8Array(M * E);
    for (let i = 0; i < M; i++) {
      const n = samples[i];
      const want = labels ? labels[n] : pred[n * E + last];
      for (let e = 0; e < E; e++) right[i * E + e] = pred[n * E + e] === want ? 1 : 0;
    }
    const reaches = new Uint8Array(M);
    const contExit = new Int32Array(M);
    const contRight = new Uint8Array(M);
    for (let pass = 0; pass < passes; pass++) {
      for (let k = 0; k < last; k++) {
        // Samples that reach exit k, and their outcome if they do not exit there.
        hist.fill(0);
        let good = 0;
        for (let i = 0; i < M; i++) {
          const base = samples[i] * E;
          let e = -1;
          for (let j = 0; j < k; j++) if (conf[base + j] >= tau[j]) { e = j; break; }
          reaches[i] = e < 0 ? 1 : 0;
          if (e < 0) {
            e = last;
            for (let j = k + 1; j < last; j++) if (conf[base + j] >= tau[j]) { e = j; break; }
            contExit[i] = e;
            contRight[i] = right[i * E + e];
          }
          hist[e]++;
          good += right[i * E + e];
        }
        const order = byConf[k];
        step(
          k,
          good,
          (j) => (reaches[order[j]] ? contExit[order[j]] : -1),
          (j) => right[order[j] * E + k] - contRight[order[j]],
        );
      }
    }
  }
  return tau.map((t) => (Number.isFinite(t) ? t : null));
}

function figures(set: SampleSet, policy: SuggestionPolicy, threshold: number | null | (number | null)[], exitMacs: readonly number[], baselineMacs: number): SplitFigures {
  const rec = set.rec;
  const M = sizeOf(set);
  const samples = set.samples;
  // Each sample's exit, in one loop per policy (a direct call the compiler can inline, not a callback per sample).
  const exits = new Int32Array(M);
  if (policy === 'per-exit') {
    const t = (threshold as (number | null)[]).map((v) => (v === null ? Infinity : v));
    for (let i = 0; i < M; i++) exits[i] = perExitThresholdExit(rec, samples ? samples[i] : i, t);
  } else if (threshold === null) {
    exits.fill(rec.exitCount - 1);
  } else if (policy === 'patience') {
    const v = threshold as number;
    for (let i = 0; i < M; i++) exits[i] = patienceExit(rec, samples ? samples[i] : i, v);
  } else {
    const v = threshold as number;
    for (let i = 0; i < M; i++) exits[i] = scoreExit(rec, samples ? samples[i] : i, policy, v);
  }
  return { sampleCount: M, ...outcomeOfExits(rec, exits, exitMacs, baselineMacs, samples) };
}

/** Suggestions for each policy and the per-exit vector; the cheapest on calibration is marked best. */
export function suggestThresholds(
  calib: SampleSet,
  test: SampleSet,
  exitMacs: readonly number[],
  baselineMacs: number,
  maxAccuracyDrop: number,
  chosen: Record<PolicyKind, number | null> | null = null,
  /** The per-exit thresholds, when already fitted (fitPerExitThresholds from chosen.confidence). */
  perExit?: (number | null)[],
): Suggestion[] {
  const target = targetFor(calib, maxAccuracyDrop);
  const labelled = calib.rec.labels !== null;
  const targetMetric = labelled ? 'accuracy' : 'agreement';
  if (!chosen) {
    // Fitted on their own: the same sweeps as the report's, over the calibration samples.
    const mask = new Uint8Array(calib.rec.sampleCount);
    for (const n of indicesOf(calib)) mask[n] = 1;
    chosen = analysePolicies(calib.rec, exitMacs, baselineMacs, { maxPoints: 2, subset: { mask, target } }).chosen!;
  }
  const picks: { policy: SuggestionPolicy; threshold: number | null | (number | null)[] }[] = (['confidence', 'entropy', 'margin', 'patience'] as const).map((policy) => ({ policy, threshold: chosen[policy] }));
  picks.push({ policy: 'per-exit', threshold: perExit ?? fitPerExitThresholds(calib, exitMacs, target, chosen.confidence) });
  const out: Suggestion[] = picks.map(({ policy, threshold }) => ({
    policy,
    threshold,
    targetMetric,
    target,
    calibration: figures(calib, policy, threshold, exitMacs, baselineMacs),
    test: figures(test, policy, threshold, exitMacs, baselineMacs),
    best: false,
  }));
  let bestIndex = 0;
  const q = (s: Suggestion) => (labelled ? s.calibration.accuracy! : s.calibration.agreement);
  out.forEach((s, i) => {
    const b = out[bestIndex];
    if (s.calibration.meanCost < b.calibration.meanCost || (s.calibration.meanCost === b.calibration.meanCost && q(s) > q(b))) bestIndex = i;
  });
  out[bestIndex].best = true;
  return out;
}
