import type { Curve, FrontierCandidate, PolicyKind } from '../../shared/reportTypes';
import { qualityOf } from '../../shared/quality';
import { paretoOrder } from './paretoFrontier';

/**
 * With measured costs (--cost measured) the report's frontier is by measured latency; this is
 * the frontier by static MACs, for the report's MACs axis: over the curves' points as the report
 * keeps them (thinned curves: their kept points), each point's mean MACs worked out from its exit
 * histogram (Σ hist[k]·cost(k) / N, as every mean cost). Lowest MACs and highest quality, by
 * ascending MACs, as paretoOrder keeps them.
 */
export function macsFrontier(
  curves: Record<PolicyKind, Curve>,
  exitMacs: readonly number[],
  labelled: boolean,
): FrontierCandidate[] {
  const all: FrontierCandidate[] = [];
  for (const kind of ['confidence', 'entropy', 'margin', 'patience'] as const) {
    for (const p of curves[kind].points) {
      const n = p.exitHistogram.reduce((a, b) => a + b, 0);
      if (n === 0) continue;
      let cost = 0;
      for (let k = 0; k < p.exitHistogram.length; k++) cost += p.exitHistogram[k] * exitMacs[k];
      all.push({ kind, threshold: p.threshold, meanCost: cost / n, quality: qualityOf(labelled, p)! });
    }
  }
  const order = paretoOrder(
    Float64Array.from(all, (c) => c.meanCost),
    Float64Array.from(all, (c) => c.quality),
    all.length,
  );
  return Array.from(order, (i) => all[i]);
}
