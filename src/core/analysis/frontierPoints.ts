import type { FrontierCandidate } from '../../shared/reportTypes';

/** How many Pareto-frontier points a report keeps (a few per pixel of the widest chart). */
export const MAX_FRONTIER_POINTS = 1000;

/**
 * The Pareto frontier as a report keeps it: all of it, or at most `maxPoints` of its own points
 * spread evenly along its length on the chart's axes (log of mean cost, which is the log
 * speed-up axis, plus quality, each scaled to [0, 1]), with both ends. The frontier over every
 * exact point grows with N (about 70,000 points at N = 10^5); a point dropped here is within
 * 2 / (maxPoints - 1) of that length of a kept point before it, well under a pixel on a
 * chart a few hundred pixels across.
 *
 * `frontier` must be sorted by cost ascending (quality then rises too), as analysePolicies returns it.
 */
export function frontierForReport(
  frontier: readonly FrontierCandidate[],
  maxPoints = MAX_FRONTIER_POINTS,
): FrontierCandidate[] {
  const keep = frontierKeep(
    frontier.map((p) => p.meanCost),
    frontier.map((p) => p.quality),
    frontier.length,
    maxPoints,
  );
  return keep ? keep.map((i) => frontier[i]) : frontier.slice();
}

/**
 * frontierForReport on a frontier given as its costs and qualities (`length` points): the
 * indices of the points kept, ascending, or null to keep them all.
 */
export function frontierKeep(
  cost: ArrayLike<number>,
  quality: ArrayLike<number>,
  length: number,
  maxPoints = MAX_FRONTIER_POINTS,
): number[] | null {
  const n = length;
  if (n <= maxPoints || maxPoints < 2) return null;
  const logCost = cost[0] > 0;
  const c0 = logCost ? Math.log(cost[0]) : cost[0];
  const cSpan = (logCost ? Math.log(cost[n - 1]) : cost[n - 1]) - c0;
  const q0 = quality[0];
  const qSpan = quality[n - 1] - q0;
  const position = (i: number) =>
    (cSpan > 0 ? ((logCost ? Math.log(cost[i]) : cost[i]) - c0) / cSpan : 0) +
    (qSpan > 0 ? (quality[i] - q0) / qSpan : 0);
  // Position runs from 0 to 2: keep the first point of each of maxPoints - 1 equal steps, and the last.
  const steps = maxPoints - 1;
  const out: number[] = [];
  let lastStep = -1;
  for (let i = 0; i < n - 1; i++) {
    const step = Math.min(steps - 1, Math.floor((position(i) / 2) * steps));
    if (step > lastStep) {
      out.push(i);
      lastStep = step;
    }
  }
  out.push(n - 1);
  return out;
}
