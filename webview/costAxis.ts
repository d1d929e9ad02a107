import type { LatencyFigures, Report } from '../src/shared/reportTypes';
import { pct, thresholdText } from '../src/shared/format';
import { providerName } from '../src/shared/providerText';

/**
 * The report's two costs (docs/metrics.md "Cost"): the static MACs of every exit, and, with
 * --cost measured, the latency measured on the run's provider. With measured costs the
 * policies' mean cost, speed-up, curves and frontier are in ms per sample; the MAC-based
 * figures of a point are worked out here from its exit histogram. No DOM.
 */

/** Which cost the trade-off chart's speed-up axis is read from. */
export type CostAxis = 'measured' | 'macs';

export interface MeasuredCost {
  baseline: LatencyFigures;
  /** Each exit's latency (exits[k].latency). */
  exits: LatencyFigures[];
  /** The provider's display name (CPU, CUDA…). */
  provider: string;
  precision: string;
  batchSize: number;
  method: string;
}

/** The measured costs when the report's figures are measured latencies, else null. */
export function measuredCost(r: Report): MeasuredCost | null {
  const m = r.cost.measured;
  const baseline = r.baselineLatency;
  if (r.cost.source !== 'measured' || !m || m.unavailable !== null || !baseline) return null;
  const exits = r.exits.map((e) => e.latency);
  if (exits.some((l) => !l)) return null;
  return {
    baseline,
    exits: exits as LatencyFigures[],
    provider: providerName(m.provider),
    precision: m.precision,
    batchSize: baseline.batchSize,
    method: m.method,
  };
}

/** Mean MACs per sample of an exit histogram: Σ hist[k]·macs[k] / Σ hist[k] (NaN when it counts no sample). */
export function meanMacs(exitMacs: number[], hist: number[]): number {
  let samples = 0;
  let total = 0;
  hist.forEach((h, k) => {
    samples += h;
    total += h * (exitMacs[k] ?? NaN);
  });
  return samples > 0 ? total / samples : NaN;
}

/** Speed-up by MACs of an operating point, from its exit histogram: baseline MACs / mean MACs. */
export function macsSpeedup(r: Pick<Report, 'exits' | 'baselineMacs'>, hist: number[]): number {
  const mean = meanMacs(
    r.exits.map((e) => e.macs),
    hist,
  );
  return mean > 0 ? r.baselineMacs / mean : NaN;
}

/** A point of a policy's curve as the axis reads it. */
export interface CostPoint {
  meanCost: number;
  exitHistogram: number[];
}

export interface TradeoffAxis {
  axis: CostAxis;
  label: string;
  /** A curve point's speed-up on this axis. */
  x(p: CostPoint): number;
  /** The full model's (the final exit's) speed-up. */
  fullX: number;
  /**
   * The Pareto frontier on this axis, from the report's frontier (in the report's own cost), or,
   * on the MACs axis of a measured report, through the curves' points as the report keeps them.
   */
  frontier(): [number, number][];
}

/**
 * The trade-off chart's speed-up axis: the report's own cost (MACs, or the measured latency
 * with --cost measured), or, for a measured report, the MACs worked out from each point's
 * histogram.
 */
export function tradeoffAxis(r: Report, axis: CostAxis): TradeoffAxis {
  const m = measuredCost(r);
  const last = r.exits[r.exitCount - 1];
  const base = m && axis === 'measured' ? m.baseline.batch : r.baselineMacs;
  const fromFrontier = () =>
    r.curves.frontier
      .map((f) => [f.meanCost > 0 ? base / f.meanCost : NaN, f.quality] as [number, number])
      .sort((a, b) => a[0] - b[0]);
  if (m && axis === 'measured') {
    const full = m.exits[r.exitCount - 1].batch;
    return {
      axis,
      label: `speed-up by measured latency (${m.provider}, batch ${m.batchSize})`,
      x: (p) => (p.meanCost > 0 ? base / p.meanCost : NaN),
      fullX: full > 0 ? base / full : NaN,
      frontier: fromFrontier,
    };
  }
  const fullX = last.macs > 0 ? r.baselineMacs / last.macs : NaN;
  if (m)
    return {
      axis: 'macs',
      label: 'speed-up by MACs (baseline MACs / mean MACs)',
      x: (p) => macsSpeedup(r, p.exitHistogram),
      fullX,
      // The analysis worked it out (core/analysis/macsFrontier.ts); meanCost in MACs.
      frontier: () =>
        (r.curves.macsFrontier ?? [])
          .map((f) => [f.meanCost > 0 ? r.baselineMacs / f.meanCost : NaN, f.quality] as [number, number])
          .sort((a, b) => a[0] - b[0]),
    };
  return {
    axis: 'macs',
    label: 'speed-up (baseline MACs / mean MACs)',
    x: (p) => (p.meanCost > 0 ? base / p.meanCost : NaN),
    fullX,
    frontier: fromFrontier,
  };
}

/** How a latency is written: in ms, or in µs for a model whose baseline takes under 0.1 ms per sample. */
export function latencyUnit(baselineMs: number): { unit: 'ms' | 'µs'; scale: number } {
  return baselineMs < 0.1 ? { unit: 'µs', scale: 1000 } : { unit: 'ms', scale: 1 };
}

/** The decimal places that write `v` to `digits` significant digits (0 for 0 and non-finite values). */
function placesFor(v: number, digits: number): number {
  if (!Number.isFinite(v) || v === 0) return 0;
  return Math.max(0, Math.min(8, digits - 1 - Math.floor(Math.log10(Math.abs(v)))));
}

/** A figure to three significant digits, in fixed notation (no exponent). */
export function significant(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '–';
  return v.toFixed(placesFor(v, digits));
}

/**
 * A median and its spread: the median to three significant digits, the spread to as many
 * places, or more where it needs them to show its first digit ("0.711 ± 0.009", "22.6 ± 3.1").
 */
export function plusMinus(median: number, spread: number): string {
  if (!Number.isFinite(median)) return '–';
  const places = placesFor(median, 3);
  return `${median.toFixed(places)} ± ${Number.isFinite(spread) ? spread.toFixed(Math.max(places, placesFor(spread, 1))) : '–'}`;
}

/**
 * The wall time the best suggestion saves per sample on the device that measured it, against
 * the MAC-based saving of the same exits: "Exiting as suggested (margin ≥ 0.3076) saves 4.27 µs
 * per sample (66.1%) on CPU at batch 64, against 62.0% by MACs: …". Null without measured costs.
 */
export function measuredSavingSentence(r: Report): string | null {
  const m = measuredCost(r);
  const best = r.suggestions.find((s) => s.best);
  if (!m || !best) return null;
  const baseline = m.baseline.batch;
  const saved = baseline - best.test.meanCost;
  const share = baseline > 0 ? saved / baseline : NaN;
  const macsMean = meanMacs(
    r.exits.map((e) => e.macs),
    best.test.exitHistogram,
  );
  const macsShare = r.baselineMacs > 0 ? 1 - macsMean / r.baselineMacs : NaN;
  const { unit, scale } = latencyUnit(baseline);
  const rule =
    best.threshold === null
      ? 'no early exit'
      : best.policy === 'per-exit'
        ? `per-exit confidence ${thresholdText(best.threshold)}`
        : best.policy === 'patience'
          ? `patience t = ${thresholdText(best.threshold)}`
          : `${best.policy} ${best.policy === 'entropy' ? '≤' : '≥'} ${thresholdText(best.threshold)}`;
  const verb = saved >= 0 ? 'saves' : 'adds';
  return `Exiting as suggested (${rule}) ${verb} ${significant(Math.abs(saved) * scale)} ${unit} per sample (${pct(Math.abs(share), 1)}) on ${m.provider} at batch ${m.batchSize}, against ${pct(macsShare, 1)} by MACs: ${significant(best.test.meanCost * scale)} ${unit} per sample on the test split instead of ${significant(baseline * scale)} ${unit} for the model without early exits.`;
}
