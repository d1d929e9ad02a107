/** The parallel sweeps (worker threads) give exactly what the inline sweeps give, and fall back inline. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analysePolicies, analysePoliciesWith, inlineRunner } from '../../src/core/analysis/curves';
import { ParallelStats, parallelRunner } from '../../src/core/analysis/parallel';
import { mulberry32, subsetRecords } from '../../src/core/analysis/split';
import { allocateRecords, fillExitRecords } from '../../src/core/records';

function randomRecords(N: number, E: number, C: number, seed: number) {
  const rand = mulberry32(seed);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const rec = allocateRecords(N, E, C, labels);
  for (let k = 0; k < E; k++) {
    const z = Float32Array.from({ length: N * C }, (_, i) => (rand() - 0.5) * (1 + k) + (i % C === labels[Math.floor(i / C)] ? 0.4 * k : 0));
    fillExitRecords(rec, z, 0, C, N, 0, k);
  }
  return rec;
}

describe('parallel sweeps', () => {
  it('worker threads reproduce the inline analysis exactly', async () => {
    const rec = randomRecords(3000, 5, 4, 11);
    const mask = Uint8Array.from({ length: 3000 }, (_, n) => n % 3 === 0 ? 1 : 0);
    const options = { maxPoints: 50, subset: { mask, target: 0.3 } };
    const inline = analysePolicies(rec, [1, 2, 3, 4, 5], 5, options);
    let stats: ParallelStats | null = null;
    const parallel = await analysePoliciesWith(parallelRunner({ minRecords: 0, cores: 2, onDone: (s) => (stats = s) }), rec, [1, 2, 3, 4, 5], 5, options);
    assert.deepEqual(stats, { onWorkers: 2, inline: 1 }, 'entropy and margin ran on worker threads');
    assert.deepEqual(parallel, inline);
    assert.ok(inline.chosen && inline.frontier.length > 1);
  });
  it('records not on shared memory, or one core, run inline with the same result', async () => {
    const rec = randomRecords(500, 4, 3, 12);
    const copy = subsetRecords(rec, Int32Array.from({ length: 500 }, (_, i) => i)); // plain ArrayBuffers
    const want = await analysePoliciesWith(inlineRunner, rec, [1, 2, 3, 4], 4);
    const seen: ParallelStats[] = [];
    const onDone = (s: ParallelStats) => seen.push(s);
    assert.deepEqual(await analysePoliciesWith(parallelRunner({ minRecords: 0, cores: 2, onDone }), copy, [1, 2, 3, 4], 4), want);
    assert.deepEqual(await analysePoliciesWith(parallelRunner({ minRecords: 0, cores: 1, onDone }), rec, [1, 2, 3, 4], 4), want);
    assert.deepEqual(await analysePoliciesWith(parallelRunner({ minRecords: 1e9, cores: 2, onDone }), rec, [1, 2, 3, 4], 4), want);
    assert.deepEqual(seen, [{ onWorkers: 0, inline: 3 }, { onWorkers: 0, inline: 3 }, { onWorkers: 0, inline: 3 }]);
  });
});
