/**
 * From a sweep's counts to the report's curves: a point's figures, the points a thinned curve
 * keeps, and the cheapest point whose quality meets a target.
 */
import type { CurvePoint, PolicyKind } from '../../shared/reportTypes';
import { fires } from '../../shared/policyRule';
import { ExitRecords } from '../records/records';
import type { SweepVisitor } from './sweep';

/** A sweep's counts at one setting as the report's curve point, over `count` samples. */
export function toPoint(
  rec: ExitRecords,
  threshold: number | null,
  correct: number,
  agree: number,
  costSum: number,
  hist: ArrayLike<number>,
  baselineMacs: number,
  count = rec.sampleCount,
): CurvePoint {
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
  return (
    spacing === 1 ||
    index === 0 ||
    index === count - 1 ||
    Math.floor(index / spacing) !== Math.floor((index - 1) / spacing)
  );
}

/**
 * keepPoint for the points 0, 1, 2, ... of a curve, in that order, with a division only near
 * the spacing's steps: between steps, floor(index / spacing) cannot change.
 */
export class Thinning {
  private q = -1;
  private nextCheck = 0;
  constructor(
    private readonly count: number,
    private readonly spacing: number,
  ) {}
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

/**
 * Puts a point at exactly `point.threshold` into a (thinned) curve's points, in their order, if
 * no point has that threshold: the report's sliders then open at the suggested threshold itself,
 * not at the nearest point the thinning kept. The points run from the strictest (null: nothing
 * fires) on, so the new one goes after every point that fires at its threshold.
 */
export function withPointAt(kind: PolicyKind, points: CurvePoint[], point: CurvePoint): CurvePoint[] {
  const t = point.threshold;
  if (t === null || points.some((p) => p.threshold === t)) return points;
  let at = 0;
  points.forEach((p, i) => {
    if (p.threshold === null || fires(kind, p.threshold, t)) at = i + 1;
  });
  return [...points.slice(0, at), point, ...points.slice(at)];
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
  constructor(
    private readonly count: number,
    private readonly labelled: boolean,
    target: number,
  ) {
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
