/** The parallel sweeps (worker threads) give exactly what the inline sweeps give, and fall back inline. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { ScorePolicyRunner, analysePolicies, analysePoliciesWith, inlineRunner } from '../../src/core/analysis/curves';
import { ScorePolicyTask } from '../../src/core/analysis/scorePolicyPart';
import { ParallelStats, SpareWorker, fillPool, parallelRunner, workersStarted } from '../../src/core/analysis/parallel';
import { mulberry32, seededSplit, subsetRecords } from '../../src/core/analysis/split';
import { suggestThresholds } from '../../src/core/analysis/suggest';
import { analyze } from '../../src/core/analysis/analyze';
import { readLogitsFile } from '../../src/core/samples/logitsFile';
import { allocateRecords, fillExitRecords } from '../../src/core/records/records';
import { fixture } from './helpers';

function randomRecords(N: number, E: number, C: number, seed: number) {
  const rand = mulberry32(seed);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const rec = allocateRecords(N, E, C, labels);
  for (let k = 0; k < E; k++) {
    const z = Float32Array.from(
      { length: N * C },
      (_, i) => (rand() - 0.5) * (1 + k) + (i % C === labels[Math.floor(i / C)] ? 0.4 * k : 0),
    );
    fillExitRecords(rec, z, 0, C, N, 0, k);
  }
  return rec;
}

describe('parallel sweeps', () => {
  it('worker threads reproduce the inline analysis exactly', async () => {
    const rec = randomRecords(3000, 5, 4, 11);
    const mask = Uint8Array.from({ length: 3000 }, (_, n) => (n % 3 === 0 ? 1 : 0));
    const options = { maxPoints: 50, subset: { mask, target: 0.3 } };
    const inline = analysePolicies(rec, [1, 2, 3, 4, 5], 5, options);
    let stats: ParallelStats | null = null;
    const parallel = await analysePoliciesWith(
      parallelRunner({ minWork: 0, cores: 2, onDone: (s) => (stats = s) }),
      rec,
      [1, 2, 3, 4, 5],
      5,
      options,
    );
    assert.deepEqual(
      stats,
      { onWorkers: 2, inline: 1, patience: 'here' },
      'entropy and margin ran on worker threads, patience here while they did',
    );
    assert.deepEqual(parallel, inline);
    assert.ok(inline.chosen && inline.frontier.length > 1);
  });
  it('records not on shared memory, or one core, run inline with the same result', async () => {
    const rec = randomRecords(500, 4, 3, 12);
    const copy = subsetRecords(
      rec,
      Int32Array.from({ length: 500 }, (_, i) => i),
    ); // plain ArrayBuffers
    const want = await analysePoliciesWith(inlineRunner, rec, [1, 2, 3, 4], 4);
    const seen: ParallelStats[] = [];
    const onDone = (s: ParallelStats) => seen.push(s);
    assert.deepEqual(
      await analysePoliciesWith(parallelRunner({ minWork: 0, cores: 2, onDone }), copy, [1, 2, 3, 4], 4),
      want,
    );
    assert.deepEqual(
      await analysePoliciesWith(parallelRunner({ minWork: 0, cores: 1, onDone }), rec, [1, 2, 3, 4], 4),
      want,
    );
    assert.deepEqual(
      await analysePoliciesWith(parallelRunner({ minWork: Infinity, cores: 2, onDone }), rec, [1, 2, 3, 4], 4),
      want,
    );
    assert.deepEqual(seen, [
      { onWorkers: 0, inline: 3, patience: 'here' },
      { onWorkers: 0, inline: 3, patience: 'here' },
      { onWorkers: 0, inline: 3, patience: 'here' },
    ]);
  });
});

/** Coarse logits: many samples share confidences, margins and entropies (ties in every sweep and fit). */
function tiedRecords(N: number, E: number, C: number, seed: number) {
  const rand = mulberry32(seed);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const rec = allocateRecords(N, E, C, labels);
  for (let k = 0; k < E; k++) {
    const z = Float32Array.from(
      { length: N * C },
      (_, i) => Math.round((rand() - 0.5) * 3) + (i % C === labels[Math.floor(i / C)] && rand() < 0.3 + k / E ? 2 : 0),
    );
    fillExitRecords(rec, z, 0, C, N, 0, k);
  }
  return rec;
}

describe('the analysis on two threads', () => {
  it('gives exactly the inline analysis, with the other work done while the worker sweeps', async () => {
    const rec = tiedRecords(4000, 6, 4, 21);
    const costs = [1, 2, 3, 4, 5, 6].map((c) => c / 6);
    const input = {
      records: rec,
      calibration: null,
      exitNames: ['a', 'b', 'c', 'd', 'e', 'f'],
      exitMacs: costs,
      baselineMacs: 1,
      maxAccuracyDrop: 0.02,
      maxCurvePoints: 40,
    };
    const inline = await analyze(input);
    let stats: ParallelStats | null = null;
    const parallel = await analyze({
      ...input,
      runner: parallelRunner({ minWork: 0, cores: 2, onDone: (s) => (stats = s) }),
    });
    assert.equal(stats!.onWorkers, 2);
    assert.equal(stats!.inline, 1);
    assert.ok(stats!.figures === 'here' || stats!.figures === 'worker');
    assert.deepEqual(parallel, inline);
    // The suggestions (per-exit fit included) are those fitted on their own, from the split alone.
    const split = seededSplit(rec.sampleCount);
    assert.deepEqual(
      parallel.suggestions,
      suggestThresholds({ rec, samples: split.calibration }, { rec, samples: split.test }, costs, 1, 0.02),
    );
    assert.ok(
      parallel.suggestions.some(
        (s) => s.policy === 'per-exit' && Array.isArray(s.threshold) && s.threshold.some((t) => t !== null),
      ),
    );
    // A worker that is not available: everything on this thread, the same result.
    assert.deepEqual(await analyze({ ...input, runner: parallelRunner({ minWork: 0, cores: 1 }) }), inline);
    // A runner that never calls back: the per-exit metrics and the rest are still there.
    const silent = await analyze({ ...input, runner: (tasks) => inlineRunner(tasks) });
    assert.equal(silent.exits.length, 6);
    assert.deepEqual(silent, inline);
  });
});

describe('the overthinking figures and the patience counts beside the sweeps', () => {
  const rec = tiedRecords(3000, 5, 4, 31);
  const costs = [1, 2, 3, 4, 5];
  const options = { maxPoints: 30, figures: true };
  it('are the same whichever thread works them out: the worker when this thread is busy', async () => {
    const inline = analysePolicies(rec, costs, 5, options);
    assert.ok(inline.figures && inline.figures.overthinking && inline.figures.destructive.length === 5);
    let stats: ParallelStats | null = null;
    // This thread stays busy long enough for the worker to finish its sweeps and take the figures and patience.
    const busy = () => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    };
    const late = await analysePoliciesWith(
      parallelRunner({ minWork: 0, cores: 2, onDone: (s) => (stats = s) }),
      rec,
      costs,
      5,
      options,
      busy,
    );
    assert.deepEqual(stats, { onWorkers: 2, inline: 1, figures: 'worker', patience: 'worker' });
    assert.deepEqual(late, inline);
    // Not busy: this thread takes them before the worker is done (or even started).
    const early = await analysePoliciesWith(
      parallelRunner({ minWork: 0, cores: 2, onDone: (s) => (stats = s) }),
      rec,
      costs,
      5,
      options,
    );
    assert.deepEqual(early, inline);
    // No worker at all.
    const alone = await analysePoliciesWith(
      parallelRunner({ minWork: 0, cores: 1, onDone: (s) => (stats = s) }),
      rec,
      costs,
      5,
      options,
    );
    assert.deepEqual(stats, { onWorkers: 0, inline: 3, figures: 'here', patience: 'here' });
    assert.deepEqual(alone, inline);
  });
  it('a worker that claims them and then dies: they are worked out here, the same', async () => {
    const inline = analysePolicies(rec, costs, 5, options);
    // Stands in for a kept worker: it takes both claim words as soon as it is sent the sweeps,
    // as a real one does once its sweeps are done, and then exits without an answer.
    const claimed: string[] = [];
    class DyingWorker extends EventEmitter {
      postMessage(m: { tasks: ScorePolicyTask[] }): void {
        for (const t of m.tasks) {
          if (t.claim && Atomics.compareExchange(t.claim, 0, 0, 1) === 0) claimed.push('figures');
          if (t.patience && Atomics.compareExchange(t.patience, 0, 0, 1) === 0) claimed.push('patience');
        }
        setImmediate(() => this.emit('exit', 1));
      }
      terminate(): Promise<number> {
        return Promise.resolve(1);
      }
    }
    const worker = new SpareWorker(new DyingWorker() as unknown as Worker);
    let stats: ParallelStats | null = null;
    const result = await analysePoliciesWith(
      parallelRunner({ worker, cores: 2, onDone: (s) => (stats = s) }),
      rec,
      costs,
      5,
      options,
    );
    assert.deepEqual(claimed, ['figures', 'patience'], 'the worker took both first');
    assert.deepEqual(stats, { onWorkers: 0, inline: 3, figures: 'here', patience: 'here', reused: true });
    assert.deepEqual(result, inline);
  });
});

describe('records filled on two threads', () => {
  const cases: [string, string | undefined, number][] = [
    ['logits_random.npz', undefined, 37], // [E, N, C]
    ['logits_random_perarray.npz', undefined, 37], // one [N, C] array per exit
    ['logits_unlabelled.npz', 'exit_logits:NEC', 1], // read as [N, E, C] (3 samples of 80 exits): every exit of a chunk at once
  ];
  for (const [name, exits, chunk] of cases) {
    it(`${name}${exits ? ` as ${exits}` : ''}: the same records as on one thread, with chunks done by the worker`, async () => {
      const one = await readLogitsFile(fixture(name), { exits, chunk, parallel: { minWork: Infinity } });
      let stats: ParallelStats | null = null;
      const two = await readLogitsFile(fixture(name), {
        exits,
        chunk,
        parallel: { minWork: 0, cores: 2 },
        onParallel: (s) => (stats = s),
      });
      assert.ok(stats!.onWorkers > 0 && stats!.inline > 0, `both threads filled chunks: ${JSON.stringify(stats)}`);
      for (const key of ['pred', 'conf', 'margin', 'entropy', 'logpLabel', 'finite'] as const)
        assert.deepEqual(two.records[key], one.records[key], key);
      assert.deepEqual(two.records.labels, one.records.labels);
    });
  }
});

/** Tied logits (as tiedRecords), for the same records filled through a fill pool. */
function tiedLogits(N: number, E: number, C: number, seed: number) {
  const rand = mulberry32(seed);
  const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
  const z = Array.from({ length: E }, (_, k) =>
    Float32Array.from(
      { length: N * C },
      (_, i) => Math.round((rand() - 0.5) * 3) + (i % C === labels[Math.floor(i / C)] && rand() < 0.3 + k / E ? 2 : 0),
    ),
  );
  return { labels, z };
}

describe('the worker that filled the records runs the sweeps', () => {
  const [N, E, C] = [4000, 6, 4];
  const { labels, z } = tiedLogits(N, E, C, 41);
  const costs = [1, 2, 3, 4, 5, 6].map((c) => c / 6);
  const base = {
    calibration: null,
    exitNames: ['a', 'b', 'c', 'd', 'e', 'f'],
    exitMacs: costs,
    baselineMacs: 1,
    maxAccuracyDrop: 0.02,
    maxCurvePoints: 40,
  };
  // The independent path: records filled and analysed on this thread only.
  const alone = allocateRecords(N, E, C, labels);
  for (let k = 0; k < E; k++) fillExitRecords(alone, z[k], 0, C, N, 0, k);
  async function filledOnWorker() {
    const rec = allocateRecords(N, E, C, labels);
    const pool = fillPool(rec, { minWork: 0, cores: 2 });
    for (let k = 0; k < E; k++)
      for (let n = 0; n < N; n += 500) await pool.fill(z[k], n * C, C, Math.min(500, N - n), n, k);
    return { rec, ...(await pool.finishKeeping()) };
  }
  it('with exactly the inline result, and one worker started for both', async () => {
    const inline = await analyze({ ...base, records: alone });
    const before = workersStarted();
    const { rec, stats: fill, worker } = await filledOnWorker();
    try {
      assert.ok(worker && worker.alive, 'the fill worker is kept');
      assert.ok(fill.onWorkers > 0, `the worker filled chunks: ${JSON.stringify(fill)}`);
      let stats: ParallelStats | null = null;
      // minWork: Infinity would keep a new worker from starting: the kept one runs the sweeps anyway.
      const reused = await analyze({
        ...base,
        records: rec,
        runner: parallelRunner({ worker, minWork: Infinity, cores: 2, onDone: (s) => (stats = s) }),
      });
      assert.equal(stats!.reused, true);
      assert.equal(stats!.onWorkers, 2, 'entropy and margin swept on the kept worker');
      assert.equal(workersStarted() - before, 1, 'one worker for reading and sweeping');
      assert.deepEqual(reused, inline);
      assert.ok(reused.suggestions.some((s) => s.policy === 'per-exit'));
      // It can serve another analysis while it lives.
      assert.deepEqual(
        await analyze({ ...base, records: rec, runner: parallelRunner({ worker, minWork: Infinity, cores: 2 }) }),
        inline,
      );
      assert.equal(workersStarted() - before, 1);
    } finally {
      worker?.close();
    }
  });
  it('a kept worker that is gone: the sweeps run here, with the same result', async () => {
    const inline = await analyze({ ...base, records: alone });
    const { rec, worker } = await filledOnWorker();
    assert.ok(worker);
    worker.close();
    assert.equal(worker.alive, false);
    let stats: ParallelStats | null = null;
    const before = workersStarted();
    assert.deepEqual(
      await analyze({
        ...base,
        records: rec,
        runner: parallelRunner({ worker, minWork: Infinity, cores: 2, onDone: (s) => (stats = s) }),
      }),
      inline,
    );
    assert.deepEqual(stats, { onWorkers: 0, inline: 3, figures: 'here', patience: 'here' });
    assert.equal(workersStarted(), before);
    // One core: not used even if alive.
    const second = await filledOnWorker();
    try {
      let one: ParallelStats | null = null;
      assert.deepEqual(
        await analyze({
          ...base,
          records: second.rec,
          runner: parallelRunner({ worker: second.worker, cores: 1, onDone: (s) => (one = s) }),
        }),
        inline,
      );
      assert.deepEqual(one, { onWorkers: 0, inline: 3, figures: 'here', patience: 'here' });
    } finally {
      second.worker?.close();
    }
  });
  it('read from a logits file with keepWorker: the same records, and the worker handed over', async () => {
    const one = await readLogitsFile(fixture('logits_random.npz'), { chunk: 37, parallel: { minWork: Infinity } });
    assert.equal(one.worker, undefined);
    const two = await readLogitsFile(fixture('logits_random.npz'), {
      chunk: 37,
      parallel: { minWork: 0, cores: 2 },
      keepWorker: true,
    });
    try {
      assert.ok(two.worker?.alive);
      for (const key of ['pred', 'conf', 'margin', 'entropy', 'logpLabel', 'finite'] as const)
        assert.deepEqual(two.records[key], one.records[key], key);
      const costs5 = Array.from({ length: one.records.exitCount }, (_, k) => k + 1);
      const input = {
        calibration: null,
        exitNames: costs5.map(String),
        exitMacs: costs5,
        baselineMacs: costs5.length,
        maxAccuracyDrop: 0.01,
      };
      let stats: ParallelStats | null = null;
      assert.deepEqual(
        await analyze({
          ...input,
          records: two.records,
          runner: parallelRunner({ worker: two.worker, onDone: (s) => (stats = s) }),
        }),
        await analyze({ ...input, records: one.records }),
      );
      assert.equal(stats!.reused, true);
    } finally {
      two.worker?.close();
    }
    // Too small for a worker: none is kept.
    const small = await readLogitsFile(fixture('logits_random.npz'), {
      parallel: { minWork: Infinity },
      keepWorker: true,
    });
    assert.equal(small.worker, null);
  });
});

describe('a logits file whose labels are refused after the fill worker has started', () => {
  it('fails with the label named, and the worker is stopped (the test process can exit)', async () => {
    const { writeNpz } = await import('../../bench/npzWriter');
    const { tmpDir } = await import('./helpers');
    const path = await import('node:path');
    const file = path.join(tmpDir(), 'big-bad-labels.npz');
    const N = 100_000;
    const C = 10;
    const logits = (out: Float32Array | BigInt64Array | Int32Array, row: number, rows: number) => {
      for (let i = 0; i < rows * C; i++) (out as Float32Array)[i] = ((row * C + i) % 13) / 4;
    };
    await writeNpz(file, [
      { name: 'exit_0', descr: '<f4', shape: [N, C], fill: logits },
      { name: 'exit_1', descr: '<f4', shape: [N, C], fill: logits },
      {
        name: 'labels',
        descr: '<i8',
        shape: [N],
        fill: (out, row, rows) => {
          for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = row + i === N - 1 ? 10n : BigInt((row + i) % C);
        },
      },
    ]);
    const before = workersStarted();
    await assert.rejects(
      readLogitsFile(file, { parallel: { minWork: 0, cores: 2 } }),
      (err: Error & { code?: string }) => err.code === 'labels-invalid' && /Label 10 at sample 99999/.test(err.message),
    );
    assert.equal(workersStarted() - before, 1, 'the worker had started');
  });
});

describe('a cancel during the analysis', () => {
  const rec = tiedRecords(60_000, 6, 4, 51);
  const input = {
    records: rec,
    calibration: null,
    exitNames: ['a', 'b', 'c', 'd', 'e', 'f'],
    exitMacs: [1, 2, 3, 4, 5, 6],
    baselineMacs: 6,
    maxAccuracyDrop: 0.02,
  };
  const isCancelled = (err: Error & { code?: string }) => err.code === 'cancelled';
  it('stops it between its steps on this thread', async () => {
    const controller = new AbortController();
    let whileWaitingCalled = false;
    const runner: ScorePolicyRunner = (tasks, whileWaiting) => {
      controller.abort();
      return inlineRunner(tasks, (done) => {
        whileWaitingCalled = true;
        return whileWaiting?.(done);
      });
    };
    await assert.rejects(analyze({ ...input, runner, signal: controller.signal }), isCancelled);
    assert.ok(whileWaitingCalled, 'the sweeps ran, then the per-exit work saw the cancel');
    await assert.rejects(analyze({ ...input, signal: AbortSignal.abort() }), isCancelled);
    // A cancel that arrives as an event (a signal handler, an engine message) while the
    // analysis computes: seen at its next step, since each step first lets events run.
    const later = new AbortController();
    setImmediate(() => later.abort());
    await assert.rejects(analyze({ ...input, signal: later.signal }), isCancelled);
  });
  it('stops it at once while this thread waits for the worker, and stops the worker', async () => {
    const controller = new AbortController();
    let stats: ParallelStats | null = null;
    const before = workersStarted();
    const runner = parallelRunner({ minWork: 0, cores: 2, signal: controller.signal, onDone: (s) => (stats = s) });
    // This thread's own work is done at once; the cancel comes while it waits for the worker's sweeps.
    const waiting = analysePoliciesWith(
      runner,
      rec,
      input.exitMacs,
      6,
      { maxPoints: 30, figures: true },
      () => void setTimeout(() => controller.abort(), 0),
    );
    await assert.rejects(waiting, isCancelled);
    assert.equal(workersStarted() - before, 1, 'a worker was sweeping');
    assert.equal(stats, null, 'the run did not finish');
  });
});
