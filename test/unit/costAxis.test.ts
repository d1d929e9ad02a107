/**
 * The report's two costs (webview/costAxis.ts): a point's MAC-based speed-up from its exit
 * histogram, the trade-off chart's two speed-up axes, the Pareto frontier of the MACs axis, the
 * latency figures' writing and the measured saving of the best suggestion, worked by hand on a
 * three-exit report; and the sidebar's "measured" (runFiles.ts summarize).
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CurvePoint, LatencyFigures, Report } from '../../src/shared/reportTypes';
import { summarize } from '../../src/extension/runFiles';
import {
  latencyUnit,
  macsSpeedup,
  meanMacs,
  measuredCost,
  measuredSavingSentence,
  plusMinus,
  significant,
  tradeoffAxis,
} from '../../webview/costAxis';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);

const lat = (batch: number, batch1: number): LatencyFigures => ({
  batch,
  batch1,
  batchSize: 64,
  spread: { batch: batch / 10, batch1: batch1 / 10 },
  repeats: { batch: 7, batch1: 9 },
});

/** A point of a measured report: mean cost in ms per sample from the exits' latencies at batch 64. */
const EXIT_MS = [0.01, 0.03, 0.062];
function point(hist: number[], accuracy: number, threshold: number | null): CurvePoint {
  const n = hist.reduce((a, b) => a + b, 0);
  const meanCost = hist.reduce((a, h, k) => a + h * EXIT_MS[k], 0) / n;
  return {
    threshold,
    accuracy,
    agreement: accuracy,
    meanCost,
    speedup: 0.06 / meanCost,
    saving: 1 - meanCost / 0.06,
    exitHistogram: hist,
  };
}

/**
 * Three exits of 100, 300 and 520 MACs (the final exit's heads make it dearer than the 500 MACs
 * of the model without early exits), measured at 0.010, 0.030 and 0.062 ms per sample at batch 64
 * against a baseline of 0.060 ms.
 */
function measuredReport(): Report {
  const macs = [100, 300, 520];
  const curve = (kind: 'confidence' | 'entropy' | 'margin' | 'patience', points: CurvePoint[]) => ({
    kind,
    totalPoints: points.length,
    points,
    thinned: false,
  });
  const best = point([2, 1, 1], 0.9, 0.8);
  return {
    exitCount: 3,
    exits: macs.map((m, k) => ({
      index: k,
      name: `exit_${k}`,
      macs: m,
      relativeCost: m / 500,
      latency: lat(EXIT_MS[k], EXIT_MS[k] * 5),
    })),
    baselineMacs: 500,
    baselineLatency: lat(0.06, 0.3),
    cost: {
      source: 'measured',
      measured: { method: 'timed', provider: 'cpu', precision: 'fp32', batchSize: 64, unavailable: null },
      note: '',
      uncostedNodes: [],
      uncountedOps: {},
    },
    curves: {
      confidence: curve('confidence', [point([0, 0, 4], 0.95, null), best]),
      entropy: curve('entropy', [point([4, 0, 0], 0.5, 0.1)]),
      margin: curve('margin', [point([0, 4, 0], 0.85, 0.3)]),
      patience: curve('patience', [point([0, 2, 2], 0.95, 1)]),
      frontier: [{ kind: 'confidence', threshold: 0.8, meanCost: best.meanCost, quality: 0.9 }],
      // As the analysis writes it (its own test: macsFrontier.test.ts): mean MACs 100, 255, 410.
      macsFrontier: [
        { kind: 'entropy', threshold: 0.1, meanCost: 100, quality: 0.5 },
        { kind: 'confidence', threshold: 0.8, meanCost: 255, quality: 0.9 },
        { kind: 'patience', threshold: 1, meanCost: 410, quality: 0.95 },
      ],
      quality: 'accuracy',
    },
    suggestions: [
      {
        policy: 'confidence',
        threshold: 0.8,
        targetMetric: 'accuracy',
        target: 0.9,
        calibration: { ...best, sampleCount: 4 },
        test: { ...best, sampleCount: 4 },
        best: true,
      },
    ],
    samples: { labelled: true, path: 'test.npz' },
    createdAt: '2025-01-01T00:00:00Z',
    executionProvider: null,
    overthinking: null,
  } as unknown as Report;
}

describe('MAC-based speed-up of a point from its exit histogram', () => {
  it('is the baseline MACs over the histogram-weighted mean MACs', () => {
    const r = measuredReport();
    // (2·100 + 1·300 + 1·520) / 4 = 1020 / 4 = 255 MACs; 500 / 255 = 1.96078…
    close(meanMacs([100, 300, 520], [2, 1, 1]), 255, 'mean MACs');
    close(macsSpeedup(r, [2, 1, 1]), 500 / 255, 'speed-up');
    // Every sample at the final exit: 500 / 520, a slow-down, as the table's 104% says.
    close(macsSpeedup(r, [0, 0, 7]), 500 / 520, 'final exit');
    assert.ok(Number.isNaN(macsSpeedup(r, [0, 0, 0])), 'no sample: no speed-up');
  });
});

describe('the trade-off chart’s speed-up axes', () => {
  it('a measured report reads the measured latency by default, the MACs on request', () => {
    const r = measuredReport();
    const measured = tradeoffAxis(r, 'measured');
    assert.equal(measured.label, 'speed-up by measured latency (CPU, batch 64)');
    // Mean (2·0.010 + 0.030 + 0.062) / 4 = 0.028 ms against 0.060 ms: 2.142857…×.
    close(measured.x(r.suggestions[0].test), 0.06 / 0.028, 'measured x');
    close(measured.fullX, 0.06 / 0.062, 'measured full model');
    assert.deepEqual(measured.frontier(), [[0.06 / r.curves.frontier[0].meanCost, 0.9]]);
    const macs = tradeoffAxis(r, 'macs');
    assert.equal(macs.label, 'speed-up by MACs (baseline MACs / mean MACs)');
    close(macs.x(r.suggestions[0].test), 500 / 255, 'MACs x');
    close(macs.fullX, 500 / 520, 'MACs full model');
    // The report's frontier by MACs as speed-ups, by rising speed-up: 500/410, 500/255, 500/100.
    assert.deepEqual(macs.frontier(), [
      [500 / 410, 0.95],
      [500 / 255, 0.9],
      [5, 0.5],
    ]);
  });

  it('a static report has its one MACs axis, read off the mean cost', () => {
    const r = measuredReport();
    r.cost = { source: 'static', note: '', uncostedNodes: [], uncountedOps: {} };
    delete r.baselineLatency;
    assert.equal(measuredCost(r), null);
    const axis = tradeoffAxis(r, 'measured');
    assert.equal(axis.axis, 'macs');
    assert.equal(axis.label, 'speed-up (baseline MACs / mean MACs)');
    close(axis.x({ meanCost: 250, exitHistogram: [] }), 2, 'baseline / mean cost');
  });
});

describe('latency figures', () => {
  it('µs for a baseline under 0.1 ms per sample, else ms', () => {
    assert.deepEqual(latencyUnit(0.06), { unit: 'µs', scale: 1000 });
    assert.deepEqual(latencyUnit(0.5), { unit: 'ms', scale: 1 });
  });

  it('three significant digits in fixed notation; the spread shows its first digit', () => {
    assert.equal(significant(0.000600015625 * 1000), '0.600');
    assert.equal(significant(1234.5), '1235');
    assert.equal(plusMinus(0.711, 0.009), '0.711 ± 0.009');
    assert.equal(plusMinus(22.6, 3.1), '22.6 ± 3.1');
    assert.equal(plusMinus(6.2, 0.00003), '6.20 ± 0.00003');
    assert.equal(plusMinus(6.2, 0), '6.20 ± 0.00');
  });
});

describe('the wall time the best suggestion saves', () => {
  it('per sample, against the saving by MACs', () => {
    // 0.060 − 0.028 = 0.032 ms = 32.0 µs per sample, 53.3% of 0.060; by MACs 1 − 255/500 = 49.0%.
    assert.equal(
      measuredSavingSentence(measuredReport()),
      'Exiting as suggested (confidence ≥ 0.8000) saves 32.0 µs per sample (53.3%) on CPU at batch 64, against 49.0% by MACs: 28.0 µs per sample on the test split instead of 60.0 µs for the model without early exits.',
    );
  });

  it('nothing when measured cost is unavailable', () => {
    const r = measuredReport();
    r.cost.measured!.unavailable = 'the provider refused a pruned graph.';
    assert.equal(measuredCost(r), null);
    assert.equal(measuredSavingSentence(r), null);
  });
});

describe('the sidebar’s run summary', () => {
  it('says the speed-ups are measured, with the provider and batch size', () => {
    const r = measuredReport();
    r.exits.forEach((e) => Object.assign(e, { accuracy: 0.9, agreement: 1 }));
    const request = {
      modelPath: '/m.onnx',
      logitsPath: null,
      samplesPath: 'test.npz',
      calibPath: null,
      maxAccuracyDrop: 0.01,
    };
    assert.deepEqual(summarize('run', r, request).measured, { provider: 'cpu', batchSize: 64 });
    r.cost = { source: 'static', note: '', uncostedNodes: [], uncountedOps: {} };
    assert.equal(summarize('run', r, request).measured, undefined);
  });
});
