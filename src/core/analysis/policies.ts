import { ExitRecords } from '../records/records';
import { fires } from '../../shared/policyRule';
import type { PolicyKind, PolicyOutcome } from '../../shared/reportTypes';

/**
 * Exit policies of docs/metrics.md "Policies and curves". Every policy ends at E-1 if nothing fires.
 * Exit Lens's own conventions: ≥ for confidence and margin, ≤ for entropy (normalised),
 * patience counted from 0 at exit 0 (PABEE), fallback to the final exit. A non-finite output
 * (prediction -1; its stand-in scores are confidence 0, margin 0, entropy 1) never fires, and
 * for patience its prediction equals no other.
 */

/** Exit index of one sample under a score policy: first k with score_k ≥ τ (entropy: ≤ τ). */
export function scoreExit(
  rec: ExitRecords,
  n: number,
  kind: 'confidence' | 'entropy' | 'margin',
  threshold: number,
): number {
  const E = rec.exitCount;
  const base = n * E;
  for (let k = 0; k < E - 1; k++) {
    const at = base + k;
    // A non-finite output (prediction -1) never fires, whatever its stand-in score.
    if (rec.pred[at] < 0) continue;
    if (
      fires(
        kind,
        kind === 'confidence' ? rec.conf[at] : kind === 'entropy' ? rec.entropy[at] : rec.margin[at],
        threshold,
      )
    )
      return k;
  }
  return E - 1;
}

/**
 * PABEE (Zhou et al. 2020, pabee/modeling_albert.py): the counter is 0 at exit 0; at each
 * k ≥ 1 it increments when pred_k = pred_{k-1}, else resets to 0; exit at the first k where
 * it equals t. t = 0 means no early exit.
 */
export function patienceExit(rec: ExitRecords, n: number, patience: number): number {
  const E = rec.exitCount;
  if (patience <= 0) return E - 1;
  const base = n * E;
  let counter = 0;
  for (let k = 1; k < E; k++) {
    // A non-finite prediction (-1) equals no other, not even another -1.
    counter = rec.pred[base + k] >= 0 && rec.pred[base + k] === rec.pred[base + k - 1] ? counter + 1 : 0;
    if (counter === patience) return k;
  }
  return E - 1;
}

/** Per-exit confidence thresholds τ_0..τ_{E-2}: exit at the first k with conf_k ≥ τ_k. */
export function perExitThresholdExit(rec: ExitRecords, n: number, thresholds: readonly number[]): number {
  const E = rec.exitCount;
  for (let k = 0; k < E - 1; k++) if (rec.pred[n * E + k] >= 0 && rec.conf[n * E + k] >= thresholds[k]) return k;
  return E - 1;
}

/**
 * The outcome of a policy given each sample's exit, over all samples or the listed ones.
 * meanCost = Σ_k hist[k]·cost(k) / N, so that equal histograms have equal costs.
 */
export function outcomeOf(
  rec: ExitRecords,
  exitOf: (n: number) => number,
  exitMacs: readonly number[],
  baselineMacs: number,
  samples: Int32Array | null = null,
): PolicyOutcome {
  const N = samples ? samples.length : rec.sampleCount;
  const exits = new Int32Array(N);
  for (let i = 0; i < N; i++) exits[i] = exitOf(samples ? samples[i] : i);
  return outcomeOfExits(rec, exits, exitMacs, baselineMacs, samples);
}

/** outcomeOf given the exits: exits[i] is the exit of sample samples[i] (of sample i, without a list). */
export function outcomeOfExits(
  rec: ExitRecords,
  exits: Int32Array,
  exitMacs: readonly number[],
  baselineMacs: number,
  samples: Int32Array | null = null,
): PolicyOutcome {
  const { exitCount: E, labels } = rec;
  const N = samples ? samples.length : rec.sampleCount;
  const counts = new Int32Array(E + 1);
  // The counting loop is a small function of its own, so that V8 optimises it by itself (a
  // loop optimised inside this function would be deoptimised by the code after it on a cold first call).
  const correct = countExits(
    rec.pred,
    labels ?? NO_SAMPLES,
    labels !== null,
    exits,
    samples ?? NO_SAMPLES,
    samples !== null,
    N,
    E,
    counts,
  );
  return outcomeOfCounts(labels !== null, N, counts.subarray(0, E), correct, counts[E], exitMacs, baselineMacs);
}

/** A policy's outcome over N samples from its exit histogram and its correct and agreeing counts. */
export function outcomeOfCounts(
  labelled: boolean,
  N: number,
  histogram: ArrayLike<number>,
  correct: number,
  agree: number,
  exitMacs: readonly number[],
  baselineMacs: number,
): PolicyOutcome {
  const hist = Array.from(histogram);
  const cost = histogramCostOf(hist, exitMacs);
  const meanCost = cost / N;
  return {
    accuracy: labelled ? correct / N : null,
    agreement: agree / N,
    meanCost,
    speedup: meanCost > 0 ? baselineMacs / meanCost : null,
    saving: baselineMacs > 0 ? 1 - meanCost / baselineMacs : null,
    exitHistogram: hist,
  };
}

/** Stands in for an absent label or sample list, so that the loops see one array type. */
const NO_SAMPLES = new Int32Array(0);

/**
 * Counts the exits into counts[0..E) and the samples that agree with the final exit into
 * counts[E]; returns the number of correct samples (0 when not `labelled`). Sample i is
 * samples[i] when `listed`, else i.
 */
function countExits(
  pred: Int32Array,
  labels: Int32Array,
  labelled: boolean,
  exits: Int32Array,
  samples: Int32Array,
  listed: boolean,
  N: number,
  E: number,
  counts: Int32Array,
): number {
  let correct = 0;
  let agree = 0;
  for (let i = 0; i < N; i++) {
    const n = listed ? samples[i] : i;
    const e = exits[i];
    counts[e]++;
    const p = pred[n * E + e];
    if (labelled && p === labels[n]) correct++;
    if (p === pred[n * E + E - 1]) agree++;
  }
  counts[E] = agree;
  return correct;
}

/** Σ_k hist[k]·cost(k), in order of k. */
function histogramCostOf(hist: readonly number[], exitMacs: readonly number[]): number {
  let cost = 0;
  for (let k = 0; k < hist.length; k++) cost += hist[k] * exitMacs[k];
  return cost;
}

export function policyOutcome(
  rec: ExitRecords,
  kind: PolicyKind,
  threshold: number,
  exitMacs: readonly number[],
  baselineMacs: number,
): PolicyOutcome {
  const exitOf =
    kind === 'patience'
      ? (n: number) => patienceExit(rec, n, threshold)
      : (n: number) => scoreExit(rec, n, kind, threshold);
  return outcomeOf(rec, exitOf, exitMacs, baselineMacs);
}

export const DEFAULT_GRID: Readonly<Record<'confidence' | 'entropy' | 'margin', readonly number[]>> = {
  confidence: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
  entropy: [0.05, 0.1, 0.2, 0.3, 0.5],
  margin: [0.1, 0.3, 0.5, 0.7, 0.9],
};
