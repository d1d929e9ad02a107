/** The per-exit threshold fit against a direct coordinate descent that evaluates every candidate from scratch. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../src/core/analysis/split';
import { fitPerExitThresholds } from '../../src/core/analysis/suggest';
import { ExitRecords, allocateRecords, fillExitRecords } from '../../src/core/records';

/** Records with coarse logits, so that many confidences tie across samples. */
function tiedRecords(N: number, E: number, C: number, seed: number, labelled: boolean): ExitRecords {
  const rand = mulberry32(seed);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const rec = allocateRecords(N, E, C, labelled ? labels : null);
  for (let k = 0; k < E; k++) {
    const z = Float32Array.from({ length: N * C }, (_, i) => Math.round((rand() - 0.5) * 4) + (i % C === labels[Math.floor(i / C)] && rand() < 0.3 + k / E ? 2 : 0));
    fillExitRecords(rec, z, 0, C, N, 0, k);
  }
  return rec;
}

/** Coordinate descent written out: each candidate τ_k is evaluated by running every sample through the policy. */
function referenceFit(rec: ExitRecords, samples: number[], costs: number[], target: number, start: number | null, passes = 2): (number | null)[] {
  const E = rec.exitCount;
  const last = E - 1;
  const tau: number[] = new Array(last).fill(start ?? Infinity);
  const M = samples.length;
  const evaluate = (t: number[]) => {
    const hist = new Array(E).fill(0);
    let good = 0;
    for (const n of samples) {
      let e = last;
      for (let j = 0; j < last; j++) if (rec.conf[n * E + j] >= t[j]) { e = j; break; }
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
      for (const [target, start] of [[0.3, null], [0.5, 0.6], [0.45, 0.9], [2, null]] as [number, number | null][]) {
        const want = referenceFit(rec, samples, exitCosts, target, start);
        assert.deepEqual(fitPerExitThresholds(set, exitCosts, target, start), want, `target ${target}, start ${start}`);
      }
      // Ties are present: some confidence is shared by several samples at one exit.
      const seen = new Set<number>();
      let tie = false;
      for (const n of samples) { const c = rec.conf[n * E]; if (seen.has(c)) tie = true; seen.add(c); }
      assert.ok(tie);
    });
  }
});
