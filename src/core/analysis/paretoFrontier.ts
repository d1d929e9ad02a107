/**
 * The Pareto frontier (lowest cost, highest quality) of the policies' curves: each curve's own
 * candidates in order of cost, and those of every curve merged into one frontier.
 */
import type { FrontierCandidate, PolicyKind } from '../../shared/reportTypes';

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

/**
 * Pareto frontier (lowest cost, highest quality): points no other point beats on one axis
 * without losing on the other, by ascending cost. The lists are merged by cost (equal cost:
 * higher quality, then the earlier list), so of equal points the first list's wins.
 */
export function mergeFrontiers(lists: readonly CandidateList[]): MergedFrontier {
  const L = lists.length;
  const pos = new Int32Array(L);
  const costs = lists.map((l) => l.cost);
  const qualities = lists.map((l) => l.quality);
  let total = 0;
  for (const l of lists) total += l.cost.length;
  const out: MergedFrontier = {
    length: 0,
    list: new Uint8Array(total),
    index: new Int32Array(total),
    cost: new Float64Array(total),
    quality: new Float64Array(total),
  };
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
export interface MergedFrontier {
  length: number;
  list: Uint8Array;
  index: Int32Array;
  cost: Float64Array;
  quality: Float64Array;
}

/** Point i of a merged frontier as the report's object. */
export function frontierPoint(lists: readonly CandidateList[], f: MergedFrontier, i: number): FrontierCandidate {
  const list = lists[f.list[i]];
  const t = list.threshold[f.index[i]];
  return { kind: list.kind, threshold: Number.isNaN(t) ? null : t, meanCost: f.cost[i], quality: f.quality[i] };
}
