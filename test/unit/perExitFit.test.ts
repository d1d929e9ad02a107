/**
 * The per-exit threshold fit: the coordinate descent against a direct one that evaluates every
 * candidate from scratch, and the whole search (small problems) against a brute force.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../src/core/analysis/split';
import { fitPerExitThresholds } from '../../src/core/analysis/suggest';
import { ExitRecords, allocateRecords, fillExitRecords } from '../../src/core/records/records';

/** Records with coarse logits, so that many confidences tie across samples. */
function tiedRecords(N: number, E: number, C: number, seed: number, labelled: boolean): ExitRecords {
  const rand = mulberry32(seed);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const rec = allocateRecords(N, E, C, labelled ? labels : null);
  for (let k = 0; k < E; k++) {
    const z = Float32Array.from(
      { length: N * C },
      (_, i) => Math.round((rand() - 0.5) * 4) + (i % C === labels[Math.floor(i / C)] && rand() < 0.3 + k / E ? 2 : 0),
    );
    fillExitRecords(rec, z, 0, C, N, 0, k);
  }
  return rec;
}

/** Coordinate descent written out: each candidate τ_k is evaluated by running every sample through the policy. */
function referenceFit(
  rec: ExitRecords,
  samples: number[],
  costs: number[],
  target: number,
  start: number | null,
  passes = 2,
): (number | null)[] {
  const E = rec.exitCount;
  const last = E - 1;
  const tau: number[] = new Array(last).fill(start ?? Infinity);
  const M = samples.length;
  const evaluate = (t: number[]) => {
    const hist = new Array(E).fill(0);
    let good = 0;
    for (const n of samples) {
      let e = last;
      for (let j = 0; j < last; j++)
        if (rec.conf[n * E + j] >= t[j]) {
          e = j;
          break;
        }
      hist[e]++;
      const want = rec.labels ? rec.labels[n] : rec.pred[n * E + last];
      if (rec.pred[n * E + e] === want) good++;
    }
    let cost = 0;
    for (let j = 0; j < E; j++) cost += hist[j] * costs[j];
    return { cost, quality: good / M };
  };
  for (let pass = 0; pass < passes; pass++) {
    for (let k = 0; k < last; k++) {
      // Candidates: never exit at k, then every distinct confidence at k of a sample that reaches k, highest first.
      const values = new Set<number>();
      for (const n of samples) {
        let reaches = true;
        for (let j = 0; j < k; j++) if (rec.conf[n * E + j] >= tau[j]) reaches = false;
        if (reaches) values.add(rec.conf[n * E + k]);
      }
      const candidates = [Infinity, ...[...values].sort((a, b) => b - a)];
      let best: { t: number; cost: number; quality: number } | null = null;
      for (const t of candidates) {
        const r = evaluate(tau.map((v, j) => (j === k ? t : v)));
        if (r.quality < target - 1e-12) continue;
        if (!best || r.cost < best.cost || (r.cost === best.cost && r.quality > best.quality)) best = { t, ...r };
      }
      if (best) tau[k] = best.t;
    }
  }
  return tau.map((t) => (Number.isFinite(t) ? t : null));
}

describe('per-exit threshold fit', () => {
  const cases: [string, number, number, boolean, number[] | null][] = [
    ['5 exits, integer costs, labelled', 5, 3, true, [1, 2, 3, 4, 5]],
    ['6 exits, fractional costs, labelled', 6, 4, true, null],
    ['4 exits, unlabelled', 4, 3, false, null],
    ['32 exits (every bit of the words)', 32, 3, true, null],
    ['34 exits (more than a word of exit bits)', 34, 3, true, null],
  ];
  for (const [name, E, C, labelled, costs] of cases) {
    it(`${name}: the same thresholds as the direct coordinate descent`, () => {
      const N = E > 20 ? 120 : 400;
      const rec = tiedRecords(N, E, C, 100 + E, labelled);
      const exitCosts = costs ?? Array.from({ length: E }, (_, k) => (k + 1) / E);
      const samples = Array.from({ length: N }, (_, n) => n).filter((n) => n % 3 !== 1);
      const set = { rec, samples: Int32Array.from(samples) };
      for (const [target, start] of [
        [0.3, null],
        [0.5, 0.6],
        [0.45, 0.9],
        [2, null],
      ] as [number, number | null][]) {
        const want = referenceFit(rec, samples, exitCosts, target, start);
        // exactBudget 0: the coordinate descent itself, whatever the size.
        assert.deepEqual(
          fitPerExitThresholds(set, exitCosts, target, start, 2, 0),
          want,
          `target ${target}, start ${start}`,
        );
      }
      // Ties are present: some confidence is shared by several samples at one exit.
      const seen = new Set<number>();
      let tie = false;
      for (const n of samples) {
        const c = rec.conf[n * E];
        if (seen.has(c)) tie = true;
        seen.add(c);
      }
      assert.ok(tie);
    });
  }
});

/** Every combination of thresholds (each exit's distinct finite confidences, or never), evaluated sample by sample. */
function bruteForceFit(
  rec: ExitRecords,
  samples: number[],
  costs: number[],
  target: number,
): { tau: (number | null)[]; cost: number; quality: number } {
  const E = rec.exitCount;
  const last = E - 1;
  const M = samples.length;
  const values: number[][] = [];
  for (let k = 0; k < last; k++) {
    const v = new Set<number>();
    for (const n of samples) if (rec.pred[n * E + k] >= 0) v.add(rec.conf[n * E + k]);
    values.push([Infinity, ...[...v].sort((a, b) => b - a)]);
  }
  let best: { tau: number[]; cost: number; quality: number } | null = null;
  const tau = new Array<number>(last).fill(Infinity);
  const visit = (k: number): void => {
    if (k === last) {
      let cost = 0;
      let good = 0;
      for (const n of samples) {
        let e = last;
        for (let j = 0; j < last; j++)
          if (rec.pred[n * E + j] >= 0 && rec.conf[n * E + j] >= tau[j]) {
            e = j;
            break;
          }
        cost += costs[e];
        const want = rec.labels ? rec.labels[n] : rec.pred[n * E + last];
        if (rec.pred[n * E + e] === want) good++;
      }
      const quality = good / M;
      if (quality < target - 1e-12) return;
      // Cheapest; then higher quality; then the first in the order tried (higher τ, τ_0 first).
      if (!best || cost < best.cost - 1e-12 || (Math.abs(cost - best.cost) <= 1e-12 && quality > best.quality))
        best = { tau: [...tau], cost, quality };
      return;
    }
    for (const t of values[k]) {
      tau[k] = t;
      visit(k + 1);
    }
    tau[k] = Infinity;
  };
  visit(0);
  const b = best!;
  return { tau: b.tau.map((t) => (Number.isFinite(t) ? t : null)), cost: b.cost / M, quality: b.quality };
}

describe('per-exit thresholds, searched whole where the search is small', () => {
  it('the cheapest vector of every combination, as a brute force finds it (3 to 5 exits, labelled and not, NaN outputs, fractional costs)', () => {
    const rand = mulberry32(9);
    let beatsDescent = 0;
    for (let trial = 0; trial < 60; trial++) {
      const E = 3 + (trial % 3);
      const N = E === 5 ? 14 : 30;
      const labelled = trial % 4 !== 3;
      const rec = tiedRecords(N, E, 3, 500 + trial, labelled);
      // Some outputs non-finite.
      if (trial % 5 === 0)
        for (let n = 0; n < N; n += 4) {
          const z = new Float32Array(3).fill(NaN);
          fillExitRecords(rec, z, 0, 3, 1, n, Math.floor(rand() * (E - 1)));
        }
      const costs =
        trial % 2
          ? Array.from({ length: E }, (_, k) => (k + 1) / E + 0.01 * rand())
          : Array.from({ length: E }, (_, k) => k + 1);
      const samples = Array.from({ length: N }, (_, n) => n);
      const set = { rec, samples: null };
      for (const drop of [0, 0.05, 0.2]) {
        let final = 0;
        for (const n of samples)
          if (rec.pred[n * E + E - 1] === (rec.labels ? rec.labels[n] : rec.pred[n * E + E - 1])) final++;
        const target = final / N - drop;
        const want = bruteForceFit(rec, samples, costs, target);
        const got = fitPerExitThresholds(set, costs, target, null);
        assert.deepEqual(got, want.tau, `trial ${trial}, E ${E}, drop ${drop}`);
        const descent = fitPerExitThresholds(set, costs, target, null, 2, 0);
        const costOf = (tau: (number | null)[]) => {
          let c = 0;
          for (const n of samples) {
            let e = E - 1;
            for (let j = 0; j < E - 1; j++)
              if (rec.pred[n * E + j] >= 0 && rec.conf[n * E + j] >= (tau[j] ?? Infinity)) {
                e = j;
                break;
              }
            c += costs[e];
          }
          return c / N;
        };
        if (costOf(descent) > want.cost + 1e-12) beatsDescent++;
      }
    }
    // The whole search finds cheaper vectors than the descent in some of these cases.
    assert.ok(beatsDescent > 0, 'the descent was never beaten');
  });

  it('beyond the budget, the coordinate descent', () => {
    const rec = tiedRecords(60, 4, 3, 77, true);
    const set = { rec, samples: null };
    const costs = [1, 2, 3, 4];
    assert.deepEqual(
      fitPerExitThresholds(set, costs, 0.3, null, 2, 1),
      fitPerExitThresholds(set, costs, 0.3, null, 2, 0),
    );
  });
});
