/**
 * The Pareto frontier a report keeps (frontierForReport): small frontiers whole, large ones
 * thinned along their length with both ends, and no dropped point far from a kept one.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FrontierCandidate } from '../../src/core/analysis/analyze';
import { TARGET_EPS, TargetChooser, Thinning, keepPoint, spacingFor } from '../../src/core/analysis/curvePoints';
import { analysePolicies, exactCurves } from '../../src/core/analysis/curves';
import { frontierForReport } from '../../src/core/analysis/frontierPoints';
import { mulberry32 } from '../../src/core/analysis/split';
import { sweepScorePolicy } from '../../src/core/analysis/sweep';
import { analyze } from '../../src/core/analysis/analyze';
import { allocateRecords, fillExitRecords } from '../../src/core/records/records';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { fixture } from './helpers';

const point = (meanCost: number, quality: number, threshold = meanCost): FrontierCandidate => ({
  kind: 'confidence',
  threshold,
  meanCost,
  quality,
});

describe('the frontier a report keeps', () => {
  it('keeps a frontier of at most maxPoints whole', () => {
    const f = [point(0.2, 0.5), point(0.5, 0.7), point(1, 0.9)];
    assert.deepEqual(frontierForReport(f, 3), f);
  });

  it('keeps the first point of each step along the frontier, and the last (worked by hand)', () => {
    // Costs e^0..e^4 and qualities 0..1: scaled log cost and quality are both 0, .25, .5, .75, 1,
    // so positions are 0, .5, 1, 1.5, 2. maxPoints 3 gives 2 steps of length 1: points 0 and 1
    // fall in step 0, points 2 and 3 in step 1; keep 0, 2, and the last, 4.
    const f = [0, 1, 2, 3, 4].map((i) => point(Math.exp(i), i / 4));
    assert.deepEqual(frontierForReport(f, 3), [f[0], f[2], f[4]]);
  });

  it('thins a long frontier to at most maxPoints, in order, ends kept, no point dropped far from a kept one', () => {
    // A staircase crowded at low cost, as exact curves make it: 20,000 points.
    const n = 20000;
    const f = Array.from({ length: n }, (_, i) =>
      point(0.08 + 0.92 * (i / (n - 1)) ** 3, 0.3 + 0.6 * Math.sqrt(i / (n - 1))),
    );
    const max = 500;
    const kept = frontierForReport(f, max);
    assert.ok(kept.length <= max && kept.length > max / 2, `${kept.length} points`);
    assert.equal(kept[0], f[0]);
    assert.equal(kept[kept.length - 1], f[n - 1]);
    const index = kept.map((p) => f.indexOf(p));
    for (let i = 1; i < index.length; i++)
      assert.ok(index[i] > index[i - 1], "kept points are the frontier's own, in order");
    // Distance along the frontier, computed here on its own: scaled log cost plus scaled quality.
    const lc = (p: FrontierCandidate) => (Math.log(p.meanCost) - Math.log(0.08)) / (Math.log(1) - Math.log(0.08));
    const q = (p: FrontierCandidate) => (p.quality - 0.3) / 0.6;
    let k = 0;
    for (let i = 0; i < n; i++) {
      while (k + 1 < index.length && index[k + 1] <= i) k++;
      const gap = lc(f[i]) + q(f[i]) - (lc(f[index[k]]) + q(f[index[k]]));
      assert.ok(gap >= 0 && gap < 2 / (max - 1) + 1e-12, `point ${i} is ${gap} from the kept point before it`);
    }
  });

  it('a zero-cost first point scales cost linearly instead of on a log scale', () => {
    const f = Array.from({ length: 100 }, (_, i) => point(i / 99, i / 99));
    const kept = frontierForReport(f, 10);
    assert.ok(kept.length <= 10);
    assert.equal(kept[0], f[0]);
    assert.equal(kept[kept.length - 1], f[99]);
  });

  it("a report carries the whole frontier's size beside the points it keeps", async () => {
    const r = await runAnalyze({ type: 'analyze', id: 'f', logitsPath: fixture('logits_ties.npz') }, () => undefined);
    assert.ok(r.curves.frontierTotalPoints !== undefined && r.curves.frontierTotalPoints >= r.curves.frontier.length);
  });
  it('the analysis keeps the same points as frontierForReport on the whole frontier (both labelled and not)', async () => {
    for (const labelled of [true, false]) {
      const N = 3000;
      const E = 5;
      const C = 4;
      const rand = mulberry32(labelled ? 8 : 9);
      const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
      const rec = allocateRecords(N, E, C, labelled ? labels : null);
      for (let k = 0; k < E; k++) {
        const z = Float32Array.from(
          { length: N * C },
          (_, i) => Math.round((rand() - 0.5) * 40) / 8 + (i % C === labels[Math.floor(i / C)] ? k / 3 : 0),
        );
        fillExitRecords(rec, z, 0, C, N, 0, k);
      }
      const costs = [1, 2, 3, 4, 5].map((c) => c / 5);
      const whole = exactCurves(rec, costs, 1).frontier;
      assert.ok(whole.length > 40, `a frontier long enough to thin (${whole.length} points)`);
      const r = await analyze({
        records: rec,
        calibration: null,
        exitNames: ['0', '1', '2', '3', '4'],
        exitMacs: costs,
        baselineMacs: 1,
        maxAccuracyDrop: 0.01,
        maxFrontierPoints: 40,
      });
      assert.deepEqual(r.curves.frontier, frontierForReport(whole, 40));
      assert.equal(r.curves.frontierTotalPoints, whole.length);
      const small = await analyze({
        records: rec,
        calibration: null,
        exitNames: ['0', '1', '2', '3', '4'],
        exitMacs: costs,
        baselineMacs: 1,
        maxAccuracyDrop: 0.01,
        maxFrontierPoints: whole.length,
      });
      assert.deepEqual(small.curves.frontier, whole);
    }
  });
});

describe('thinning a curve for the report', () => {
  it('keeps exactly the points keepPoint keeps, with few divisions', () => {
    const rand = mulberry32(5);
    const cases: [number, number][] = [
      [1, 400],
      [2, 2],
      [399, 400],
      [400, 400],
      [401, 400],
      [402, 400],
      [1000, 3],
      [12345, 400],
      [99991, 7],
      [5_500_001, 400],
      [5_499_999, 1000],
    ];
    for (let i = 0; i < 40; i++) cases.push([2 + Math.floor(rand() * 3_000_000), 2 + Math.floor(rand() * 1200)]);
    for (const [count, maxPoints] of cases) {
      const spacing = spacingFor(count, maxPoints);
      const thinning = new Thinning(count, spacing);
      let kept = 0;
      for (let index = 0; index < count; index++) {
        const want = keepPoint(index, count, spacing);
        if (thinning.keep(index) !== want)
          assert.fail(`count ${count}, at most ${maxPoints}: point ${index} ${want ? 'kept' : 'dropped'} by keepPoint`);
        if (want) kept++;
      }
      assert.ok(kept <= Math.max(maxPoints, count <= maxPoints ? count : 0), `count ${count}: ${kept} kept`);
    }
  });
});

describe('choosing the cheapest point that meets a target', () => {
  it('picks what comparing shares (count / total) point by point picks', () => {
    const rand = mulberry32(8);
    for (let trial = 0; trial < 400; trial++) {
      const total = trial % 50 === 0 ? 0 : 1 + Math.floor(rand() * (trial % 3 === 0 ? 7 : 5000));
      const labelled = rand() < 0.5;
      let target = trial % 7 === 0 ? 1 - TARGET_EPS / 2 : trial % 11 === 0 ? 0 : rand();
      if (trial % 5 === 0 && total > 0) {
        // A target whose slack lands exactly on a share k / total, where >= and > differ.
        const exact = Math.floor(rand() * (total + 1)) / total;
        if (exact + TARGET_EPS - TARGET_EPS === exact) target = exact + TARGET_EPS;
      }
      const chooser = new TargetChooser(total, labelled, target);
      // The same rule on shares: meets when share >= target - eps; cheaper wins, then the larger share, then the earlier point.
      let found = false;
      let best: number | null = null;
      let bestCost = Infinity;
      let bestShare = -Infinity;
      for (let i = 0; i < 60; i++) {
        const correct = Math.floor(rand() * (total + 1));
        const agree = Math.floor(rand() * (total + 1));
        const costSum = Math.floor(rand() * 8) / 4;
        const threshold = i === 0 ? null : rand();
        const share = (labelled ? correct : agree) / total;
        assert.equal(
          chooser.wants(correct, agree),
          share >= target - TARGET_EPS,
          `wants ${correct}/${agree} of ${total}, target ${target}`,
        );
        chooser.point(i, threshold, correct, agree, costSum);
        if (
          share >= target - TARGET_EPS &&
          (!found || costSum < bestCost || (costSum === bestCost && share > bestShare))
        ) {
          found = true;
          best = threshold;
          bestCost = costSum;
          bestShare = share;
        }
      }
      assert.equal(chooser.found, found);
      assert.equal(chooser.threshold, best);
    }
  });
});

describe("the sweep's events", () => {
  it('are the same whether written into room for all of them or counted first', () => {
    const rand = mulberry32(9);
    const N = 500;
    const E = 5;
    const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * 3));
    const rec = allocateRecords(N, E, 3, labels);
    for (let k = 0; k < E; k++)
      fillExitRecords(
        rec,
        Float32Array.from({ length: N * 3 }, () => Math.round(rand() * 6) / 2),
        0,
        3,
        N,
        0,
        k,
      );
    const mask = Uint8Array.from({ length: N }, () => (rand() < 0.5 ? 1 : 0));
    for (const kind of ['confidence', 'entropy', 'margin'] as const) {
      const run = (limit: number) => {
        const points: unknown[] = [];
        const record = (tag: string) => ({
          point: (i: number, t: number | null, c: number, a: number, cost: number, hist: Int32Array) =>
            points.push([tag, i, t, c, a, cost, Array.from(hist)]),
        });
        const replay = sweepScorePolicy(
          rec,
          kind,
          [1, 2, 3, 4, 5],
          record('all'),
          { mask, visitor: record('subset') },
          undefined,
          limit,
        );
        return { points, at: replay(0.5) };
      };
      const fused = run(N * (E - 1));
      const counted = run(0);
      assert.ok(fused.points.length > 10, kind);
      assert.deepEqual(counted, fused, kind);
    }
  });
});

describe("the frontier whatever the exits' costs", () => {
  /** The non-dominated (cost, quality) pairs among all points, by a pairwise check. */
  function bruteFrontier(points: { cost: number; quality: number }[]): string[] {
    const keep = points.filter(
      (p) =>
        !points.some((o) => o.cost <= p.cost && o.quality >= p.quality && (o.cost < p.cost || o.quality > p.quality)),
    );
    return [...new Set(keep.map((p) => `${p.cost}|${p.quality}`))].sort();
  }
  function tiedRecords(N: number, E: number, C: number, seed: number, labelled: boolean) {
    const rand = mulberry32(seed);
    const labels = labelled ? Int32Array.from({ length: N }, () => Math.floor(rand() * C)) : null;
    const rec = allocateRecords(N, E, C, labels);
    for (let k = 0; k < E; k++)
      fillExitRecords(
        rec,
        Float32Array.from({ length: N * C }, () => Math.floor(rand() * 4)),
        0,
        C,
        N,
        0,
        k,
      );
    return rec;
  }

  it('costs that fall with depth (user costs need not rise): the frontier is every point no other beats, as with rising costs', () => {
    const rand = mulberry32(5);
    let falling = 0;
    for (let trial = 0; trial < 40; trial++) {
      const E = 2 + (trial % 4);
      const costs = Array.from({ length: E }, () => 1 + Math.floor(rand() * 5));
      if (costs.some((c, k) => k > 0 && c < costs[k - 1])) falling++;
      const labelled = trial % 3 !== 0;
      const rec = tiedRecords(30 + trial, E, 3, 100 + trial, labelled);
      const result = analysePolicies(rec, costs, costs[E - 1], { maxPoints: 1e9 });
      const all = result.curves.flatMap((c) =>
        c.points.map((p) => ({ cost: p.meanCost, quality: (labelled ? p.accuracy : p.agreement)! })),
      );
      const got = [...new Set(result.frontier.map((p) => `${p.meanCost}|${p.quality}`))].sort();
      assert.deepEqual(got, bruteFrontier(all), `trial ${trial}, costs ${costs}`);
      // Each frontier point is a point of its own curve, at its threshold.
      for (const f of result.frontier) {
        const curve = result.curves.find((c) => c.kind === f.kind)!;
        assert.ok(
          curve.points.some((p) => p.threshold === f.threshold && p.meanCost === f.meanCost),
          `trial ${trial}: ${JSON.stringify(f)}`,
        );
      }
    }
    assert.ok(falling >= 20, `${falling} trials with falling costs`);
  });

  it('the case found by an independent check: exit costs 1, 3, 2 (worked by hand)', async () => {
    // Predictions: exit 0 [1, 0, 1], exits 1 and 2 [0, 1, 0]; labels [0, 1, 1]. Confidences at
    // exit 0: 0.73, 0.98, 0.98 (σ(1), σ(4), σ(4)); at exit 1: 0.95, 0.95, 0.73.
    const rec = allocateRecords(3, 3, 2, Int32Array.from([0, 1, 1]));
    fillExitRecords(rec, Float32Array.from([0, 1, 2, -2, -2, 2]), 0, 2, 3, 0, 0);
    fillExitRecords(rec, Float32Array.from([2, -1, -1, 2, 0, -1]), 0, 2, 3, 0, 1);
    fillExitRecords(rec, Float32Array.from([2, -1, 0, 1, 0, -2]), 0, 2, 3, 0, 2);
    const result = analysePolicies(rec, [1, 3, 2], 2, { maxPoints: 1e9 });
    // Confidence τ = σ(4) ≈ 0.982: samples 1 and 2 exit at 0 (cost 1; sample 2 right), sample 0
    // goes on to exit 1 (0.95 < τ) and then the final exit (cost 2, right): mean cost 4/3,
    // accuracy 2/3. It beats (5/3, 2/3), which the stack kept when costs were assumed to rise.
    const two = result.frontier.filter((p) => Math.abs(p.quality - 2 / 3) < 1e-12);
    assert.equal(two.length, 1, JSON.stringify(result.frontier));
    assert.ok(Math.abs(two[0].meanCost - 4 / 3) < 1e-12, JSON.stringify(two[0]));
  });
});
