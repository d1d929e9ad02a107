import { ExitRecords } from '../records/records';
import { fires } from '../../shared/policyRule';
import type { Guarantee, PolicyKind, RiskLoss } from '../../shared/reportTypes';
import { binomialCdf } from './binomial';
import { outcomeOfExits, patienceExit, scoreExit } from './policies';
import type { SampleSet } from './suggest';

/**
 * Thresholds with a guarantee (docs/metrics.md "Thresholds with a guarantee"): Learn-then-Test
 * (Angelopoulos, Bates et al. 2021) as RC-EENN (Jazbec et al. 2024) applies it to early exits.
 *
 * Per policy, a grid fixed before the data is seen, ordered from the most conservative
 * threshold: confidence and margin τ = (1000 − j)/1000, entropy τ = j/1000 (j = 0..1000),
 * patience t = E−1 down to 1. Fixed-sequence testing certifies grid points in that order while
 * the exact binomial p-value P(Binomial(n, ε) ≤ k(λ)) ≤ δ and stops at the first that fails;
 * λ̂ is the last certified. With probability ≥ 1 − δ over the calibration draw, R(λ̂) ≤ ε.
 *
 * A non-finite output never fires (as for every policy, analysis/policies.ts), and its
 * prediction (−1) differs from every class.
 */

/** Grid steps of the score policies: τ moves in steps of 1/RISK_GRID_STEPS. */
export const RISK_GRID_STEPS = 1000;

export interface RiskSettings {
  epsilon: number;
  delta: number;
  loss: RiskLoss;
}

/** The grid of a policy, most conservative first (patience needs the exit count). */
export function riskGrid(kind: PolicyKind, exitCount: number): number[] {
  if (kind === 'patience') return Array.from({ length: Math.max(0, exitCount - 1) }, (_, j) => exitCount - 1 - j);
  return Array.from({ length: RISK_GRID_STEPS + 1 }, (_, j) =>
    kind === 'entropy' ? j / RISK_GRID_STEPS : (RISK_GRID_STEPS - j) / RISK_GRID_STEPS,
  );
}

/** Loss of a sample that exits with prediction `p`, given its final prediction and label. */
function lossOf(loss: RiskLoss, p: number, final: number, label: number): number {
  if (loss === 'consistency') return p !== final ? 1 : 0;
  return p !== label && final === label ? 1 : 0;
}

/**
 * k(λ_j) for every grid point j: the calibration losses at each threshold of the grid, in
 * O(n·E + grid). For a score policy, exit k fires from grid index J_k on (the grid only loosens);
 * the exit at j is the first k with J_k ≤ j, so the exit changes only where the prefix minimum
 * of J_k drops: the sample's loss at exit k covers the grid indices [P_k, P_{k−1}). The final
 * exit's loss is 0 for both losses.
 */
export function lossCounts(set: SampleSet, kind: PolicyKind, loss: RiskLoss): Int32Array {
  const { rec } = set;
  const E = rec.exitCount;
  const grid = riskGrid(kind, E);
  const G = grid.length;
  const diff = new Int32Array(G + 1);
  const labels = rec.labels;
  if (loss === 'gap' && !labels) throw new Error('The gap loss needs labels.');
  const M = set.samples ? set.samples.length : rec.sampleCount;
  const firstFire = new Int32Array(Math.max(1, E));
  for (let i = 0; i < M; i++) {
    const n = set.samples ? set.samples[i] : i;
    const base = n * E;
    const final = rec.pred[base + E - 1];
    const label = labels ? labels[n] : -1;
    if (kind === 'patience') {
      // The first exit at which the counter reaches each t (E − 1: never).
      firstFire.fill(E - 1);
      let counter = 0;
      for (let k = 1; k < E; k++) {
        counter = rec.pred[base + k] >= 0 && rec.pred[base + k] === rec.pred[base + k - 1] ? counter + 1 : 0;
        if (counter > 0 && firstFire[counter] === E - 1 && counter < E) firstFire[counter] = k;
      }
      // Grid index j is t = E − 1 − j.
      for (let j = 0; j < G; j++) {
        const e = firstFire[E - 1 - j];
        if (e < E - 1) {
          const l = lossOf(loss, rec.pred[base + e], final, label);
          if (l) {
            diff[j]++;
            diff[j + 1]--;
          }
        }
      }
      continue;
    }
    let before = G; // P_{k−1}: grid indices from here on already exit earlier
    for (let k = 0; k < E - 1 && before > 0; k++) {
      const at = base + k;
      if (rec.pred[at] < 0) continue;
      const score = kind === 'confidence' ? rec.conf[at] : kind === 'entropy' ? rec.entropy[at] : rec.margin[at];
      const from = firstFiringIndex(kind, score, grid);
      if (from < before) {
        if (lossOf(loss, rec.pred[at], final, label)) {
          diff[from]++;
          diff[before]--;
        }
        before = from;
      }
    }
  }
  const counts = new Int32Array(G);
  let run = 0;
  for (let j = 0; j < G; j++) counts[j] = run += diff[j];
  return counts;
}

/** The first grid index at which a score fires (G when it never does), by the exact rule of `fires`. */
function firstFiringIndex(kind: PolicyKind, score: number, grid: readonly number[]): number {
  const G = grid.length;
  if (!(score === score)) return G;
  // The grid is j/1000 or (1000 − j)/1000: start from the nearest index, then settle by `fires` itself.
  let j =
    kind === 'entropy' ? Math.ceil(score * RISK_GRID_STEPS) : Math.ceil(RISK_GRID_STEPS - score * RISK_GRID_STEPS);
  j = Math.min(G, Math.max(0, j));
  while (j > 0 && fires(kind, score, grid[j - 1])) j--;
  while (j < G && !fires(kind, score, grid[j])) j++;
  return j;
}

/** Fixed-sequence testing over the grid: how many points are certified, and the p-value of each one tested. */
export function fixedSequence(
  counts: ArrayLike<number>,
  n: number,
  epsilon: number,
  delta: number,
): { certified: number; pValues: number[] } {
  const pValues: number[] = [];
  const memo = new Map<number, number>();
  for (let j = 0; j < counts.length; j++) {
    const k = counts[j];
    let p = memo.get(k);
    if (p === undefined) {
      p = binomialCdf(k, n, epsilon);
      memo.set(k, p);
    }
    pValues.push(p);
    if (!(p <= delta)) return { certified: j, pValues };
  }
  return { certified: counts.length, pValues };
}

/** The exit of sample n under a policy at a threshold (null: the full model). */
function exitAt(rec: ExitRecords, n: number, kind: PolicyKind, threshold: number | null): number {
  if (threshold === null) return rec.exitCount - 1;
  return kind === 'patience' ? patienceExit(rec, n, threshold) : scoreExit(rec, n, kind, threshold);
}

/** The guarantee of one policy: fitted on `calib`, reported on `test`. */
export function certify(
  calib: SampleSet,
  test: SampleSet,
  kind: PolicyKind,
  settings: RiskSettings,
  exitMacs: readonly number[],
  baselineMacs: number,
): Guarantee {
  const { epsilon, delta, loss } = settings;
  const E = calib.rec.exitCount;
  const grid = riskGrid(kind, E);
  const counts = lossCounts(calib, kind, loss);
  const n = calib.samples ? calib.samples.length : calib.rec.sampleCount;
  const { certified, pValues } = fixedSequence(counts, n, epsilon, delta);
  const threshold = certified > 0 ? grid[certified - 1] : null;
  const losses = certified > 0 ? counts[certified - 1] : 0;
  // On the test split: the exits at λ̂ (the full model when nothing is certified), the usual figures and the realised risk.
  const rec = test.rec;
  const M = test.samples ? test.samples.length : rec.sampleCount;
  const exits = new Int32Array(M);
  let testLosses = 0;
  const canScore = loss === 'consistency' || rec.labels !== null;
  for (let i = 0; i < M; i++) {
    const s = test.samples ? test.samples[i] : i;
    const e = exitAt(rec, s, kind, threshold);
    exits[i] = e;
    if (canScore)
      testLosses += lossOf(
        loss,
        rec.pred[s * rec.exitCount + e],
        rec.pred[s * rec.exitCount + rec.exitCount - 1],
        rec.labels ? rec.labels[s] : -1,
      );
  }
  const outcome = outcomeOfExits(rec, exits, exitMacs, baselineMacs, test.samples);
  return {
    policy: kind,
    loss,
    epsilon,
    delta,
    n,
    threshold,
    pValue: certified > 0 ? pValues[certified - 1] : null,
    certifiedCount: certified,
    gridSize: grid.length,
    calibration: { losses, risk: n > 0 ? losses / n : 0 },
    test: { sampleCount: M, risk: canScore && M > 0 ? testLosses / M : null, ...outcome },
  };
}

export const RISK_POLICIES: readonly PolicyKind[] = ['confidence', 'entropy', 'margin', 'patience'];

/** The guarantees of every policy. */
export function certifyAll(
  calib: SampleSet,
  test: SampleSet,
  settings: RiskSettings,
  exitMacs: readonly number[],
  baselineMacs: number,
): Guarantee[] {
  return RISK_POLICIES.map((kind) => certify(calib, test, kind, settings, exitMacs, baselineMacs));
}
