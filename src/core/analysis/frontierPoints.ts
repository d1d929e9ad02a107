import type { FrontierCandidate } from './curves';

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
export function frontierForReport(frontier: readonly FrontierCandidate[], maxPoints = MAX_FRONTIER_POINTS): FrontierCandidate[] {
  const n = frontier.length;
  if (n <= maxPoints || maxPoints < 2) return frontier.slice();
  const first = frontier[0];
  const last = frontier[n - 1];
  const logCost = first.meanCost > 0;
  const c0 = logCost ? Math.log(first.meanCost) : first.meanCost;
  const cSpan = (logCost ? Math.log(last.meanCost) : last.meanCost) - c0;
  const qSpan = last.quality - first.quality;
  const position = (p: FrontierCandidate) =>
    (cSpan > 0 ? ((logCost ? Math.log(p.meanCost) : p.meanCost) - c0) / cSpan : 0) + (qSpan > 0 ? (p.quality - first.quality) / qSpan : 0);
  // Position runs from 0 to 2: keep the first point of each of maxPoints - 1 equal steps, and the last.
  const steps = maxPoints - 1;
  const out: FrontierCandidate[] = [];
  let lastStep = -1;
  for (let i = 0; i < n - 1; i++) {
    const step = Math.min(steps - 1, Math.floor((position(frontier[i]) / 2) * steps));
    if (step > lastStep) {
      out.push(frontier[i]);
      lastStep = step;
    }
  }
  out.push(last);
  return out;
}
