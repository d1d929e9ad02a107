import { ExitRecords } from '../records/records';
import { keyValues, sortDescending } from './argsort';
import { TargetChooser } from './curvePoints';
import { analysePolicies } from './curves';
import { ChosenCounts } from './scorePolicyPart';
import { SweepCounts, costsAreExact, histogramCost } from './sweep';
import { outcomeOfCounts } from './policies';
import type { PolicyKind, SplitFigures, Suggestion, SuggestionPolicy } from '../../shared/reportTypes';
import { qualityMetric, qualityOf } from '../../shared/quality';

/**
 * Suggested thresholds (docs/metrics.md "Suggested thresholds"): fitted on a calibration split,
 * reported on a held-out test split. Target: the lowest mean cost whose accuracy is at least
 * the final exit's accuracy minus `maxAccuracyDrop` on the calibration split (agreement with
 * the final exit when unlabelled, whose final value is 1).
 *
 * Choices where the definitions are silent: the threshold returned is the calibration value at
 * which the chosen operating point starts (an observed confidence/entropy/margin), ties in
 * cost go to the higher quality, then to the more conservative threshold.
 */

/** A suggestion's figures on the calibration split and on the test split. */
export interface SuggestionFigures {
  calibration: SplitFigures;
  test: SplitFigures;
}

/**
 * The figures at a policy's chosen setting from the counts its sweep read off, on a split of one
 * record set: the calibration split is the sweep's subset, the test split the other samples.
 */
export function chosenFigures(
  counts: ChosenCounts,
  labelled: boolean,
  exitMacs: readonly number[],
  baselineMacs: number,
): SuggestionFigures {
  const figures = (c: SweepCounts): SplitFigures => ({
    sampleCount: c.count,
    ...outcomeOfCounts(labelled, c.count, c.hist, c.correct, c.agree, exitMacs, baselineMacs),
  });
  return { calibration: figures(counts.subset), test: figures(counts.rest) };
}

/** The figures of per-exit thresholds (fitPerExitThresholds) on the calibration and test sets. */
export function perExitFigures(
  calib: SampleSet,
  test: SampleSet,
  thresholds: (number | null)[],
  exitMacs: readonly number[],
  baselineMacs: number,
): SuggestionFigures {
  const pick = [{ policy: 'per-exit' as const, threshold: thresholds }];
  return {
    calibration: figuresOfPicks(calib, pick, exitMacs, baselineMacs)[0],
    test: figuresOfPicks(test, pick, exitMacs, baselineMacs)[0],
  };
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

/** Exits up to which the fit keeps, per sample, which exits fire and are right as bits of two words. */
const FIRE_BITS = 32;

/**
 * Up to this many (combinations of τ_0..τ_{E-3}) × samples, the per-exit fit tries every
 * combination (and sweeps τ_{E-2} exactly for each): the cheapest vector of all. Beyond it,
 * coordinate descent.
 */
export const EXACT_PER_EXIT_BUDGET = 4_000_000;

/**
 * Per-exit confidence thresholds τ_0..τ_{E-2} meeting the target at the lowest mean cost
 * (equal cost: higher quality, then the higher thresholds, τ_0 first). Where the search is
 * small enough (`exactBudget`), every combination of the candidate thresholds (each exit's
 * distinct finite calibration confidences, or never) is tried: the optimum. Otherwise
 * coordinate descent: for each exit in turn, every distinct calibration confidence is tried
 * as τ_k with the others fixed (an exact sweep), keeping the cheapest vector that meets the
 * target (equal cost: higher quality, then the higher τ_k); `passes` passes, starting from
 * `start` at every exit.
 */
export function fitPerExitThresholds(
  set: SampleSet,
  exitMacs: readonly number[],
  target: number,
  start: number | null,
  passes = 2,
  exactBudget = EXACT_PER_EXIT_BUDGET,
): (number | null)[] {
  const { exitCount: E, labels, pred, conf } = set.rec;
  const last = E - 1;
  const samples = indicesOf(set);
  const M = samples.length;
  const tau = new Array<number>(Math.max(0, last)).fill(start ?? Infinity);
  // Per exit, the set's samples by descending confidence there (sorted once, reused by every pass).
  const byConf: Uint32Array[] = [];
  const sortedConf: Float64Array[] = [];
  // The loops are in small functions of their own, so that V8 optimises each once for every
  // exit and pass (a cold first call otherwise re-enters loops of this function unoptimised).
  // Every exit's confidences gathered in one pass over the samples (exit k's at k * M).
  const confAt = new Float64Array(M * Math.max(0, last));
  gatherExits(pred, conf, samples, E, last, confAt);
  for (let k = 0; k < last; k++) {
    const keys = sortDescending(confAt.subarray(k * M, (k + 1) * M));
    byConf.push(keys.pay);
    sortedConf.push(keyValues(keys, M));
  }
  const exact = costsAreExact(exitMacs, M);
  const hist = new Float64Array(E);
  /** One coordinate step at exit k, from the initial counts: the sweep over τ_k, then τ_k set to the choice. */
  const step = (k: number, good: number, leave: Int32Array, gain: Int8Array): void => {
    const chosen = fitStep(
      k,
      good,
      leave,
      gain,
      sortedConf[k],
      hist,
      exitMacs,
      exact,
      M,
      new TargetChooser(M, true, target),
    );
    if (chosen !== undefined) tau[k] = chosen ?? Infinity;
  };
  if (E <= FIRE_BITS && last >= 2) {
    const candidates = exactCandidates(sortedConf, last - 1, M, exactBudget);
    if (candidates) return exactPerExit(set, exitMacs, target, candidates, byConf, sortedConf, exact);
  }
  if (E <= FIRE_BITS) {
    // Up to 32 exits: per sample, which exits fire under the current thresholds (bit j:
    // conf_j >= τ_j) and at which it is right (or agrees), one bit per exit, side by side. A
    // sample's exit before k and its exit after k are the lowest fired bits below and above k.
    const bits = new Uint32Array(2 * M);
    fireBits(pred, conf, labels ?? NO_LABELS, labels !== null, samples, E, tau, bits);
    // By position in exit k's order: the exit a sample leaves to exit at k (-1: it does not reach k), and the change in right answers.
    const leave = new Int32Array(M);
    const gain = new Int8Array(M);
    for (let pass = 0; pass < passes; pass++) {
      for (let k = 0; k < last; k++) {
        const order = byConf[k];
        hist.fill(0);
        const good = exitsAround(k, last, order, bits, leave, gain, hist, M);
        step(k, good, leave, gain);
        // Bit k again under the (possibly new) τ_k: set for the samples sorted before the first confidence below it.
        resetFireBit(bits, order, sortedConf[k], k, tau[k], M);
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
    const leave = new Int32Array(M);
    const gain = new Int8Array(M);
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
          for (let j = 0; j < k; j++)
            if (conf[base + j] >= tau[j] && pred[base + j] >= 0) {
              e = j;
              break;
            }
          reaches[i] = e < 0 ? 1 : 0;
          if (e < 0) {
            e = last;
            for (let j = k + 1; j < last; j++)
              if (conf[base + j] >= tau[j] && pred[base + j] >= 0) {
                e = j;
                break;
              }
            contExit[i] = e;
            contRight[i] = right[i * E + e];
          }
          hist[e]++;
          good += right[i * E + e];
        }
        const order = byConf[k];
        for (let j = 0; j < M; j++) {
          const i = order[j];
          leave[j] = reaches[i] ? contExit[i] : -1;
          gain[j] = right[i * E + k] - contRight[i];
        }
        step(k, good, leave, gain);
      }
    }
  }
  return tau.map((t) => (Number.isFinite(t) ? t : null));
}

/** Stands in for absent labels, so that the loops see one array type. */
const NO_LABELS = new Int32Array(0);

/**
 * Each of the first `exits` exits' distinct finite confidences, highest first (from its sorted
 * values), or null when the combinations (each exit's values and "never") times M exceed the
 * budget; counting stops as soon as they do.
 */
function exactCandidates(sortedConf: Float64Array[], exits: number, M: number, budget: number): Float64Array[] | null {
  const out: Float64Array[] = [];
  let work = M;
  for (let k = 0; k < exits; k++) {
    const values = sortedConf[k];
    const distinct: number[] = [];
    for (let j = 0; j < M && values[j] !== -Infinity; j++) {
      if (j === 0 || values[j] !== values[j - 1]) {
        distinct.push(values[j]);
        if (work * (distinct.length + 1) > budget) return null;
      }
    }
    work *= distinct.length + 1;
    out.push(Float64Array.from(distinct));
  }
  return out;
}

/**
 * Every combination of τ_0..τ_{E-3} (never, then each candidate, highest first; τ_0 changing
 * slowest), with τ_{E-2} swept exactly for each: the cheapest vector meeting the target, the
 * first found among equals (higher quality, then the higher thresholds, τ_0 first).
 */
function exactPerExit(
  set: SampleSet,
  exitMacs: readonly number[],
  target: number,
  candidates: Float64Array[],
  byConf: Uint32Array[],
  sortedConf: Float64Array[],
  exact: boolean,
): (number | null)[] {
  const { exitCount: E, labels, pred, conf } = set.rec;
  const last = E - 1;
  const K = last - 1; // the exit swept for each combination of the ones before it
  const samples = indicesOf(set);
  const M = samples.length;
  const tau = new Array<number>(last).fill(Infinity);
  const bits = new Uint32Array(2 * M);
  fireBits(pred, conf, labels ?? NO_LABELS, labels !== null, samples, E, tau, bits);
  const leave = new Int32Array(M);
  const gain = new Int8Array(M);
  const hist = new Float64Array(E);
  const at = new Int32Array(K); // per exit before K: 0 = never, i = candidates[k][i - 1]
  let best: { cost: number; count: number; tau: number[] } | null = null;
  for (;;) {
    hist.fill(0);
    const good = exitsAround(K, last, byConf[K], bits, leave, gain, hist, M);
    const chooser = new TargetChooser(M, true, target);
    fitStep(K, good, leave, gain, sortedConf[K], hist, exitMacs, exact, M, chooser);
    if (
      chooser.found &&
      (!best ||
        chooser.chosenCost < best.cost ||
        (chooser.chosenCost === best.cost && chooser.chosenCount > best.count))
    ) {
      best = {
        cost: chooser.chosenCost,
        count: chooser.chosenCount,
        tau: [...tau.slice(0, K), chooser.threshold ?? Infinity],
      };
    }
    // The next combination: the exit before K steps to its next candidate, carrying over.
    let c = K - 1;
    while (c >= 0 && at[c] === candidates[c].length) {
      at[c] = 0;
      tau[c] = Infinity;
      resetFireBit(bits, byConf[c], sortedConf[c], c, Infinity, M);
      c--;
    }
    if (c < 0) break;
    at[c]++;
    tau[c] = candidates[c][at[c] - 1];
    resetFireBit(bits, byConf[c], sortedConf[c], c, tau[c], M);
  }
  // The full model always meets the target (it is the final exit's own figure less the drop).
  return (best?.tau ?? tau).map((t) => (Number.isFinite(t) ? t : null));
}

/**
 * out[k * M + i] = conf at exit k of sample samples[i], for k < exits (M samples); -Infinity
 * for a non-finite output, which never fires (sorted last, never a threshold).
 */
function gatherExits(
  pred: Int32Array,
  conf: Float64Array,
  samples: Int32Array,
  E: number,
  exits: number,
  out: Float64Array,
): void {
  const M = samples.length;
  for (let i = 0; i < M; i++) {
    const base = samples[i] * E;
    for (let k = 0; k < exits; k++) out[k * M + i] = pred[base + k] < 0 ? -Infinity : conf[base + k];
  }
}

/**
 * Per sample i of the set (up to 32 exits): bits[2i] has bit j set when conf_j >= τ_j (j < E-1)
 * and bits[2i+1] bit e when the sample is right at exit e (agrees with the final exit, unlabelled).
 */
function fireBits(
  pred: Int32Array,
  conf: Float64Array,
  labels: Int32Array,
  labelled: boolean,
  samples: Int32Array,
  E: number,
  tau: readonly number[],
  bits: Uint32Array,
): void {
  const last = E - 1;
  for (let i = 0; i < samples.length; i++) {
    const n = samples[i];
    const base = n * E;
    const want = labelled ? labels[n] : pred[base + last];
    let fired = 0;
    let right = 0;
    for (let e = 0; e < E; e++) if (pred[base + e] === want) right |= 1 << e;
    for (let j = 0; j < last; j++) if (conf[base + j] >= tau[j] && pred[base + j] >= 0) fired |= 1 << j;
    bits[2 * i] = fired;
    bits[2 * i + 1] = right;
  }
}

/**
 * With τ_k out of play (up to 32 exits): per position j of exit k's order, the exit its
 * sample leaves to exit at k (-1: it exits before k) in leave[j], the change in right answers
 * in gain[j] (only where leave[j] >= 0), each sample's exit counted in hist; returns the right answers.
 */
function exitsAround(
  k: number,
  last: number,
  order: Uint32Array,
  bits: Uint32Array,
  leave: Int32Array,
  gain: Int8Array,
  hist: Float64Array,
  M: number,
): number {
  const below = (1 << k) - 1;
  const above = k + 1;
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
  return good;
}

/** Bit k of the fired words under threshold t: set for the samples sorted before the first confidence below t. */
function resetFireBit(
  bits: Uint32Array,
  order: Uint32Array,
  values: Float64Array,
  k: number,
  t: number,
  M: number,
): void {
  const bit = 1 << k;
  for (let i = 0; i < M; i++) bits[2 * i] &= ~bit;
  for (let j = 0; j < M && values[j] >= t; j++) bits[2 * order[j]] |= bit;
}

/**
 * One coordinate step at exit k: the sweep over τ_k down the sorted confidences `values`,
 * from `good` right answers and the exit histogram `hist` (updated in place), moving the
 * sample at position j from exit leave[j] (when >= 0) to k with gain[j] right answers, each
 * point offered to `chooser` (which keeps the cheapest meeting the target, and its figures).
 * Returns the threshold chosen (null: none of the values), or undefined when nothing meets the target.
 */
function fitStep(
  k: number,
  good: number,
  leave: Int32Array,
  gain: Int8Array,
  values: Float64Array,
  hist: Float64Array,
  exitMacs: readonly number[],
  exact: boolean,
  M: number,
  chooser: TargetChooser,
): number | null | undefined {
  let costSum = histogramCost(hist, exitMacs);
  chooser.point(0, null, good, good, exact ? costSum : histogramCost(hist, exitMacs));
  let index = 0;
  // Non-finite outputs (-Infinity, sorted last) never fire: the sweep stops before them.
  for (let j = 0; j < M && values[j] !== -Infinity;) {
    const v = values[j];
    let changed = false;
    for (; j < M && values[j] === v; j++) {
      const from = leave[j];
      if (from < 0) continue;
      changed = true;
      hist[from]--;
      hist[k]++;
      if (exact) costSum += exitMacs[k] - exitMacs[from];
      good += gain[j];
    }
    if (changed) {
      index++;
      if (chooser.wants(good, good))
        chooser.point(index, v, good, good, exact ? costSum : histogramCost(hist, exitMacs));
    }
  }
  return chooser.found ? chooser.threshold : undefined;
}

/** Stands in for an absent sample list (all samples), so that the loops see one array type. */
const NO_SAMPLES = new Int32Array(0);

/** How pickCounts works out a pick's exit. */
const enum PickRule {
  Confidence,
  Entropy,
  Margin,
  Patience,
  PerExit,
  /** No threshold: the full model. */
  Final,
}

const SCORE_RULES: Record<'confidence' | 'entropy' | 'margin', PickRule> = {
  confidence: PickRule.Confidence,
  entropy: PickRule.Entropy,
  margin: PickRule.Margin,
};

/**
 * The picks' figures over one sample set, in one pass over its samples (each sample's records
 * are read once for every pick): per pick, the exit histogram and the correct and agreeing
 * counts, as outcomeOfExits would count them.
 */
function figuresOfPicks(
  set: SampleSet,
  picks: readonly { policy: SuggestionPolicy; threshold: number | null | (number | null)[] }[],
  exitMacs: readonly number[],
  baselineMacs: number,
): SplitFigures[] {
  const rec = set.rec;
  const E = rec.exitCount;
  const M = sizeOf(set);
  const P = picks.length;
  const rules = new Int32Array(P);
  const thresholds = new Float64Array(P);
  // The per-exit picks' thresholds, E-1 per pick (never: +Infinity).
  const vectors = new Float64Array(P * Math.max(0, E - 1));
  picks.forEach(({ policy, threshold }, p) => {
    if (policy === 'per-exit') {
      rules[p] = PickRule.PerExit;
      (threshold as (number | null)[]).forEach((v, k) => (vectors[p * (E - 1) + k] = v === null ? Infinity : v));
    } else if (threshold === null) rules[p] = PickRule.Final;
    else {
      rules[p] = policy === 'patience' ? PickRule.Patience : SCORE_RULES[policy];
      thresholds[p] = threshold as number;
    }
  });
  const stride = E + 2;
  const counts = new Int32Array(P * stride);
  // The loop is a function of its own, so that V8 optimises it by itself.
  pickCounts(
    rec.pred,
    rec.conf,
    rec.entropy,
    rec.margin,
    rec.labels ?? NO_SAMPLES,
    rec.labels !== null,
    set.samples ?? NO_SAMPLES,
    set.samples !== null,
    M,
    E,
    rules,
    thresholds,
    vectors,
    counts,
  );
  return picks.map((_, p) => {
    const at = p * stride;
    return {
      sampleCount: M,
      ...outcomeOfCounts(
        rec.labels !== null,
        M,
        counts.subarray(at, at + E),
        counts[at + E],
        counts[at + E + 1],
        exitMacs,
        baselineMacs,
      ),
    };
  });
}

/**
 * Per pick p and sample (i, or samples[i] when `listed`): its exit under the pick's rule
 * (policies.ts: scoreExit, patienceExit, perExitThresholdExit), counted into counts[p(E+2) + e],
 * with the right answers in counts[p(E+2) + E] and the agreements in counts[p(E+2) + E + 1].
 */
function pickCounts(
  pred: Int32Array,
  conf: Float64Array,
  entropy: Float64Array,
  margin: Float64Array,
  labels: Int32Array,
  labelled: boolean,
  samples: Int32Array,
  listed: boolean,
  M: number,
  E: number,
  rules: Int32Array,
  thresholds: Float64Array,
  vectors: Float64Array,
  counts: Int32Array,
): void {
  const last = E - 1;
  const P = rules.length;
  const stride = E + 2;
  for (let i = 0; i < M; i++) {
    const n = listed ? samples[i] : i;
    const base = n * E;
    const pf = pred[base + last];
    const y = labelled ? labels[n] : -2;
    for (let p = 0; p < P; p++) {
      const rule = rules[p];
      const t = thresholds[p];
      let e = last;
      // A non-finite output (prediction -1) never fires, and for patience equals no other prediction.
      if (rule === PickRule.Confidence) {
        for (let k = 0; k < last; k++)
          if (conf[base + k] >= t && pred[base + k] >= 0) {
            e = k;
            break;
          }
      } else if (rule === PickRule.Entropy) {
        for (let k = 0; k < last; k++)
          if (entropy[base + k] <= t && pred[base + k] >= 0) {
            e = k;
            break;
          }
      } else if (rule === PickRule.Margin) {
        for (let k = 0; k < last; k++)
          if (margin[base + k] >= t && pred[base + k] >= 0) {
            e = k;
            break;
          }
      } else if (rule === PickRule.Patience) {
        if (t > 0) {
          let counter = 0;
          for (let k = 1; k < E; k++) {
            counter = pred[base + k] >= 0 && pred[base + k] === pred[base + k - 1] ? counter + 1 : 0;
            if (counter === t) {
              e = k;
              break;
            }
          }
        }
      } else if (rule === PickRule.PerExit) {
        const v = p * last;
        for (let k = 0; k < last; k++)
          if (conf[base + k] >= vectors[v + k] && pred[base + k] >= 0) {
            e = k;
            break;
          }
      }
      const at = p * stride;
      counts[at + e]++;
      const q = pred[base + e];
      if (q === y) counts[at + E]++;
      if (q === pf) counts[at + E + 1]++;
    }
  }
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
  /** Figures already worked out (see chosenFigures and perExitFigures), by policy; the rest are counted here. */
  known: Partial<Record<SuggestionPolicy, SuggestionFigures>> | null = null,
): Suggestion[] {
  const target = targetFor(calib, maxAccuracyDrop);
  const labelled = calib.rec.labels !== null;
  const targetMetric = qualityMetric(labelled);
  if (!chosen) {
    // Fitted on their own: the same sweeps as the report's, over the calibration samples.
    const mask = new Uint8Array(calib.rec.sampleCount);
    for (const n of indicesOf(calib)) mask[n] = 1;
    chosen = analysePolicies(calib.rec, exitMacs, baselineMacs, { maxPoints: 2, subset: { mask, target } }).chosen!;
  }
  const picks: { policy: SuggestionPolicy; threshold: number | null | (number | null)[] }[] = (
    ['confidence', 'entropy', 'margin', 'patience'] as const
  ).map((policy) => ({ policy, threshold: chosen[policy] }));
  picks.push({
    policy: 'per-exit',
    threshold: perExit ?? fitPerExitThresholds(calib, exitMacs, target, chosen.confidence),
  });
  // What is not known yet, counted here in one pass per split.
  const left = picks.filter((p) => !known?.[p.policy]);
  const calibLeft = left.length ? figuresOfPicks(calib, left, exitMacs, baselineMacs) : [];
  const testLeft = left.length ? figuresOfPicks(test, left, exitMacs, baselineMacs) : [];
  const calibration = picks.map((p) => (left.includes(p) ? calibLeft[left.indexOf(p)] : known![p.policy]!.calibration));
  const tested = picks.map((p) => (left.includes(p) ? testLeft[left.indexOf(p)] : known![p.policy]!.test));
  const out: Suggestion[] = picks.map(({ policy, threshold }, p) => ({
    policy,
    threshold,
    targetMetric,
    target,
    calibration: calibration[p],
    test: tested[p],
    best: false,
  }));
  let bestIndex = 0;
  const q = (s: Suggestion) => qualityOf(labelled, s.calibration)!;
  out.forEach((s, i) => {
    const b = out[bestIndex];
    if (
      s.calibration.meanCost < b.calibration.meanCost ||
      (s.calibration.meanCost === b.calibration.meanCost && q(s) > q(b))
    )
      bestIndex = i;
  });
  out[bestIndex].best = true;
  return out;
}
