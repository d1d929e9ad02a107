import { ExitRecords } from '../records/records';
import { same } from './same';
import type { Overthinking, Transition } from '../../shared/reportTypes';

/** Overthinking (Kaya et al., Shallow-Deep Networks, ICML 2019), as docs/metrics.md "Overthinking" defines it. */

/** f(x) = min{k : pred_k = y}, or -1 when no exit is right. */
export function firstCorrectExit(rec: ExitRecords, n: number): number {
  const E = rec.exitCount;
  const y = rec.labels![n];
  for (let k = 0; k < E; k++) if (rec.pred[n * E + k] === y) return k;
  return -1;
}

export function overthinking(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number): Overthinking | null {
  return overthinkingPass(rec, exitMacs, baselineMacs)?.overthinking ?? null;
}

/** Overthinking, and per exit k the count of samples right at k and wrong at the final exit, in one pass. */
export function overthinkingPass(
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
): { overthinking: Overthinking; rightThenWrong: Int32Array } | null {
  const { sampleCount: N, exitCount: E, labels } = rec;
  if (!labels) return null;
  const last = E - 1;
  const counts = new Int32Array(COUNT_SLOTS + 2 * E + 1 + 4 * Math.max(0, last));
  // The per-sample loop is a function of its own, so that V8 optimises it by itself.
  const oracleCost = overthinkingCounts(rec.pred, labels, Float64Array.from(exitMacs), N, E, counts);
  const hist = Array.from(counts.subarray(HIST, HIST + E + 1));
  const transitions: Transition[] = [];
  for (let k = 0; k < last; k++) {
    const t = TRANS(E) + 4 * k;
    transitions.push({ from: k, to: k + 1, rr: counts[t], rw: counts[t + 1], wr: counts[t + 2], ww: counts[t + 3] });
  }
  const meanOracleCost = oracleCost / N;
  return {
    overthinking: {
      oracleAccuracy: counts[DEFINED] / N,
      destructiveRate: counts[DESTRUCTIVE] / N,
      wastefulRate: counts[WASTEFUL] / N,
      oracleSpeedup: meanOracleCost > 0 ? baselineMacs / meanOracleCost : null,
      firstCorrectHistogram: hist,
      transitions,
      ...settling(rec),
    },
    rightThenWrong: counts.slice(RIGHT_THEN_WRONG(E), RIGHT_THEN_WRONG(E) + E),
  };
}

/**
 * The settling exit s(x) = the smallest k such that pred_j = pred_{E-1} for every j ≥ k (the
 * layer from which the final prediction no longer changes; docs/metrics.md "Token-level exits"),
 * as a histogram over k = 0..E-1 and its mean. Predictions compare as agreement does: a
 * non-finite output (-1) equals another -1.
 */
export function settling(rec: ExitRecords): { settlingHistogram: number[]; meanSettlingExit: number } {
  const { sampleCount: N, exitCount: E, pred } = rec;
  const hist = new Array<number>(E).fill(0);
  let sum = 0;
  for (let n = 0; n < N; n++) {
    const base = n * E;
    const final = pred[base + E - 1];
    let s = E - 1;
    while (s > 0 && pred[base + s - 1] === final) s--;
    hist[s]++;
    sum += s;
  }
  return { settlingHistogram: hist, meanSettlingExit: N > 0 ? sum / N : 0 };
}

/** Slots of overthinkingCounts' counts: the totals, the first-correct histogram (E + 1), right-then-wrong per exit (E), transitions (4 per k < E-1: rr, rw, wr, ww). */
const DEFINED = 0;
const DESTRUCTIVE = 1;
const WASTEFUL = 2;
const COUNT_SLOTS = 3;
const HIST = COUNT_SLOTS;
const RIGHT_THEN_WRONG = (E: number) => HIST + E + 1;
const TRANS = (E: number) => RIGHT_THEN_WRONG(E) + E;

/** Counts every sample into counts (zeroed, slots above); returns the oracle's total cost, summed in sample order. */
function overthinkingCounts(
  pred: Int32Array,
  labels: Int32Array,
  macs: Float64Array,
  N: number,
  E: number,
  counts: Int32Array,
): number {
  const last = E - 1;
  const rtw = RIGHT_THEN_WRONG(E);
  const trans = TRANS(E);
  let oracleCost = 0;
  for (let n = 0; n < N; n++) {
    const y = labels[n];
    const base = n * E;
    // Right (1) or not (0) as numbers, so that the counts need no data-dependent branches.
    const finalRight = same(pred[base + last], y);
    let f = -1;
    let prevRight = same(pred[base], y);
    if (prevRight) f = 0;
    for (let k = 0; k < last; k++) {
      const nextRight = same(pred[base + k + 1], y);
      if (f < 0 && nextRight) f = k + 1;
      counts[rtw + k] += prevRight & (1 - finalRight);
      // rr, rw, wr, ww at 0, 1, 2, 3.
      counts[trans + 4 * k + 2 * (1 - prevRight) + (1 - nextRight)]++;
      prevRight = nextRight;
    }
    if (f >= 0) {
      counts[DEFINED]++;
      counts[HIST + f]++;
      if (!finalRight) counts[DESTRUCTIVE]++;
      else if (f < last) counts[WASTEFUL]++;
    } else counts[HIST + E]++;
    oracleCost += macs[f >= 0 ? f : last];
  }
  return oracleCost;
}
