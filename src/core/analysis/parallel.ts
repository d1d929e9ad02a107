import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { throwIfCancelled } from '../errors';
import { ExitRecords } from '../records/records';
import { FillChunk, SweepsMessage, WorkerData, fillChunk } from './chunks';
import { ScorePolicyRunner, yieldToEvents } from './curves';
import { FIGURES_HERE, ScorePolicyPart, scorePolicyPart } from './scorePolicyPart';
import { OverthinkingFigures, overthinkingFigures } from './exitFigures';

/**
 * The analysis uses a second core where it pays, with worker threads that read and write the
 * same records (allocated on SharedArrayBuffers, so nothing is copied):
 * - the three score-policy sweeps are independent: the first runs on this thread, the others
 *   one after the other on a worker, while this thread goes on with the caller's other work;
 *   the overthinking figures go to whichever of the two is free first;
 * - reading a logits file, chunks of logits are turned into records on a worker, and on this
 *   thread when the worker has enough queued; when the analysis follows, that worker is kept
 *   (a SpareWorker) and runs its sweeps, so that only one worker is started.
 * Small inputs stay on this thread, where starting a worker costs more than it saves. A worker
 * that cannot start or fails is never fatal: its work is done here instead.
 */
export const PARALLEL_MIN_WORK = 2_000_000;

export interface ParallelOptions {
  /**
   * Work below which everything runs on this thread: sample-exit records for the sweeps,
   * logits (records x classes) for filling the records.
   */
  minWork?: number;
  cores?: number;
}

/** How a run went: pieces of work done by workers, and by this thread (including a failed worker's). */
export interface ParallelStats {
  onWorkers: number;
  inline: number;
  /** For sweeps asked for the overthinking figures: the thread that worked them out. */
  figures?: 'worker' | 'here';
  /** For sweeps asked for the patience counts (curves.ts analysePoliciesWith): the thread that worked them out. */
  patience?: 'worker' | 'here';
  /** Sweeps handed to a worker kept from reading the records (SpareWorker) rather than a new one. */
  reused?: boolean;
}

/** Workers started in this process so far (tests check that a kept worker spares a start). */
let started = 0;
export function workersStarted(): number {
  return started;
}

/**
 * A fill worker kept once its records are filled, for the analysis' sweeps (parallelRunner's
 * `worker`). Whoever kept it closes it when done, whatever happened.
 */
export class SpareWorker {
  private gone = false;
  constructor(readonly worker: Worker) {
    // An error or an exit while idle is not fatal: the sweeps then run as if there were no worker.
    worker.on('error', () => (this.gone = true));
    worker.once('exit', () => (this.gone = true));
  }
  get alive(): boolean {
    return !this.gone;
  }
  close(): void {
    this.gone = true;
    void this.worker.terminate();
  }
}

/** The worker thread's script: analysisThread.js beside the bundle, or the TypeScript source (tests, under tsx). */
function workerScript(): string | null {
  for (const name of ['analysisThread.js', 'analysisThread.ts']) {
    const file = path.join(__dirname, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

function isShared(rec: ExitRecords): boolean {
  return [rec.pred, rec.conf, rec.margin, rec.entropy, rec.logpLabel, rec.finite].every(
    (a) => a.buffer instanceof SharedArrayBuffer,
  );
}

/** A worker for this job, or null when the work should stay on this thread. */
function startWorker(rec: ExitRecords, work: number, data: WorkerData, options: ParallelOptions): Worker | null {
  const cores = options.cores ?? os.availableParallelism();
  if (cores < 2 || work < (options.minWork ?? PARALLEL_MIN_WORK) || !isShared(rec)) return null;
  const script = workerScript();
  if (!script) return null;
  try {
    // The TypeScript source (tests) runs through tsx's require hook; loader flags do not reach workers.
    const worker = script.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(script)});`, { eval: true, workerData: data })
      : new Worker(script, { workerData: data });
    started++;
    return worker;
  } catch {
    return null;
  }
}

/** The first message of a worker, or null if it fails or exits first; the worker is stopped either way. */
function firstMessage<T>(worker: Worker): Promise<T | null> {
  return new Promise((resolve) => {
    const finish = (value: T | null) => {
      resolve(value);
      void worker.terminate();
    };
    worker.once('message', (m: T) => finish(m));
    worker.once('error', () => finish(null));
    worker.once('exit', () => finish(null));
  });
}

/** The parts of sweeps run on a kept worker, or null if it fails or exits first; the worker is left running. */
function sweepsOn(spare: SpareWorker, tasks: SweepsMessage['tasks']): Promise<ScorePolicyPart[] | null> {
  const worker = spare.worker;
  return new Promise((resolve) => {
    const finish = (value: ScorePolicyPart[] | null) => {
      worker.off('message', onMessage);
      worker.off('error', onFail);
      worker.off('exit', onFail);
      resolve(value);
    };
    const onMessage = (m: ScorePolicyPart[]) => finish(m);
    const onFail = () => finish(null);
    worker.on('message', onMessage);
    worker.on('error', onFail);
    worker.on('exit', onFail);
    try {
      worker.postMessage({ job: 'sweeps', tasks } satisfies SweepsMessage);
    } catch {
      finish(null);
    }
  });
}

/** The promise's value, or a `cancelled` error as soon as the signal is aborted. */
function untilCancelled<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      try {
        throwIfCancelled(signal);
      } catch (err) {
        reject(err);
      }
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * `signal`: a cancel stops the run at the next step of this thread's work, or at once while it
 * waits for the worker (a worker started here is then stopped; a kept one is its owner's to close).
 */
export function parallelRunner(
  options: ParallelOptions & {
    onDone?: (stats: ParallelStats) => void;
    worker?: SpareWorker | null;
    signal?: AbortSignal;
  } = {},
): ScorePolicyRunner {
  return async (tasks, whileWaiting) => {
    // Two threads: the first sweep and then the caller's other work here, the rest on one worker.
    const rec = tasks[0]?.rec;
    let rest = tasks.slice(1);
    // The overthinking figures (asked of the last task) go to whichever thread is free first:
    // the worker after its sweeps, or this one after the caller's work; a shared word says which.
    const figuresTask = rest.find((t) => t.figures);
    const claim = figuresTask && rec ? new Int32Array(new SharedArrayBuffer(4)) : null;
    if (claim) rest = rest.map((t) => (t.figures ? { ...t, claim } : t));
    // A worker kept from reading the records takes the sweeps (its start is already paid);
    // otherwise one is started where that pays.
    const spare =
      rec &&
      rest.length > 0 &&
      options.worker?.alive &&
      (options.cores ?? os.availableParallelism()) >= 2 &&
      isShared(rec)
        ? options.worker
        : null;
    const worker =
      !spare && rec && rest.length > 0
        ? startWorker(rec, rec.sampleCount * rec.exitCount, { job: 'sweeps', tasks: rest }, options)
        : null;
    const remote = spare
      ? sweepsOn(spare, rest)
      : worker
        ? firstMessage<ScorePolicyPart[]>(worker)
        : Promise.resolve(null);
    let first: ScorePolicyPart[];
    let figuresHere: OverthinkingFigures | undefined;
    let parts: ScorePolicyPart[] | null;
    try {
      throwIfCancelled(options.signal);
      first = tasks.length > 0 ? [scorePolicyPart(tasks[0])] : [];
      await yieldToEvents();
      throwIfCancelled(options.signal);
      await whileWaiting?.([...first, ...rest.map(() => null)]);
      throwIfCancelled(options.signal);
      if (figuresTask && claim && Atomics.compareExchange(claim, 0, 0, FIGURES_HERE) === 0)
        figuresHere = overthinkingFigures(figuresTask.rec, figuresTask.exitMacs, figuresTask.baselineMacs);
      parts = await untilCancelled(remote, options.signal);
    } catch (err) {
      // A cancel, or the caller's own work failing, while a worker started here still sweeps: stop it.
      if (worker) void worker.terminate();
      throw err;
    }
    const onWorkers = parts ? parts.length : 0;
    const all = [...first, ...(parts ?? rest.map(scorePolicyPart))];
    if (figuresTask) {
      const i = all.findIndex((_, j) => j > 0 && rest[j - 1].figures);
      const part = all[i];
      if (figuresHere) part.figures = figuresHere;
      // A worker that took them and then failed: they are worked out here.
      else if (!part.figures)
        part.figures = overthinkingFigures(figuresTask.rec, figuresTask.exitMacs, figuresTask.baselineMacs);
    }
    const patienceAsked = rest.some((t) => t.patience);
    options.onDone?.({
      onWorkers,
      inline: tasks.length - onWorkers,
      ...(figuresTask ? { figures: figuresHere || !parts ? 'here' : 'worker' } : {}),
      ...(patienceAsked ? { patience: parts?.some((p) => p.patience) ? 'worker' : 'here' } : {}),
      ...(spare ? { reused: true } : {}),
    } as ParallelStats);
    return all;
  };
}

/** Fills records from chunks of logits, on a worker as far as it keeps up and on this thread otherwise. */
export interface FillPool {
  /**
   * Fills (or hands over) one chunk: `rows` samples from `firstSample`, for `exitCount` exits
   * from `exit`, whose logits start at offset + i * stride + j * C; resolves when the pool can
   * take another chunk.
   */
  fill(
    logits: Float32Array | Float64Array,
    offset: number,
    stride: number,
    rows: number,
    firstSample: number,
    exit: number,
    exitCount?: number,
  ): Promise<void>;
  /**
   * Shared memory of `byteLength` bytes for a chunk's logits, which the worker reads without
   * a copy; the memory of a chunk passed to `fill` is handed out again once it is filled.
   */
  buffer(byteLength: number): SharedArrayBuffer;
  /** Resolves once every chunk is in the records; stops the worker. */
  finish(): Promise<ParallelStats>;
  /** As finish, but keeps the worker (when there is one) for the sweeps; the caller closes it. */
  finishKeeping(): Promise<{ stats: ParallelStats; worker: SpareWorker | null }>;
  /** Stops the worker without waiting (after an error or a cancel). */
  close(): void;
}

/** Chunks handed to the worker and not yet confirmed, at most. */
const MAX_IN_FLIGHT = 2;

export function fillPool(rec: ExitRecords, options: ParallelOptions = {}): FillPool {
  let worker = startWorker(rec, rec.sampleCount * rec.exitCount * rec.classCount, { job: 'fill', rec }, options);
  // Chunks the worker has not confirmed, kept so that they can be filled here if it fails.
  const pending = new Map<number, FillChunk>();
  const waiters: (() => void)[] = [];
  let nextId = 0;
  const stats: ParallelStats = { onWorkers: 0, inline: 0 };
  // Chunk memory from buffer(), free again by size once its chunk is done.
  const ours = new WeakSet<SharedArrayBuffer>();
  const free = new Map<number, SharedArrayBuffer[]>();
  const release = (c: FillChunk) => {
    const b = c.logits.buffer;
    if (!(b instanceof SharedArrayBuffer) || !ours.has(b)) return;
    const list = free.get(b.byteLength);
    if (list) list.push(b);
    else free.set(b.byteLength, [b]);
  };
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const fillHere = (c: FillChunk) => {
    fillChunk(rec, c);
    stats.inline++;
    release(c);
  };
  const fail = () => {
    if (!worker) return;
    void worker.terminate();
    worker = null;
    for (const c of pending.values()) fillHere(c);
    pending.clear();
    wake();
  };
  const onMessage = (id: number) => {
    const c = pending.get(id);
    if (c) {
      pending.delete(id);
      stats.onWorkers++;
      release(c);
    }
    wake();
  };
  if (worker) {
    worker.on('message', onMessage);
    worker.once('error', fail);
    worker.once('exit', fail);
  }
  // Only this pool's listeners: removeAllListeners would also drop the Worker's own, which
  // keep its message port referenced while someone listens (a kept worker would go deaf).
  const unlisten = (w: Worker) => {
    w.off('message', onMessage);
    w.off('error', fail);
    w.off('exit', fail);
  };
  const drain = async (limit: number) => {
    while (worker && pending.size > limit) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return {
    buffer(byteLength) {
      const b = free.get(byteLength)?.pop() ?? new SharedArrayBuffer(byteLength);
      ours.add(b);
      return b;
    },
    async fill(logits, offset, stride, rows, firstSample, exit, exitCount = 1) {
      const chunk: FillChunk = { id: nextId++, logits, offset, stride, rows, firstSample, exit, exitCount };
      // The worker takes every chunk it has room for; this thread, which also reads the file,
      // fills the rest, so the two threads share the work as their speeds allow.
      if (worker && pending.size < MAX_IN_FLIGHT) {
        pending.set(chunk.id, chunk);
        worker.postMessage(chunk);
      } else fillHere(chunk);
      await Promise.resolve();
    },
    async finish() {
      await drain(0);
      if (worker) {
        worker.removeAllListeners();
        void worker.terminate();
        worker = null;
      }
      return stats;
    },
    async finishKeeping() {
      await drain(0);
      let spare: SpareWorker | null = null;
      if (worker) {
        unlisten(worker);
        spare = new SpareWorker(worker);
        worker = null;
      }
      return { stats, worker: spare };
    },
    close() {
      if (worker) {
        worker.removeAllListeners();
        void worker.terminate();
        worker = null;
      }
    },
  };
}
