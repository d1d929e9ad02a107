import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ExitRecords } from '../records';
import { ScorePolicyPart, ScorePolicyRunner, ScorePolicyTask, scorePolicyPart } from './curves';

/**
 * The three score-policy sweeps are independent, so on a machine with more than one core they
 * run side by side: the first on this thread, the others on worker threads that read the same
 * records (allocated on SharedArrayBuffers, so nothing is copied). Small inputs run inline,
 * where starting a worker would cost more than it saves. A worker that cannot start or fails
 * is not fatal: its sweeps run here instead.
 */
export const PARALLEL_MIN_RECORDS = 2_000_000;

/** The worker script: sweepWorker.js beside the bundle, or the TypeScript source (tests, under tsx). */
function workerScript(): string | null {
  for (const name of ['sweepWorker.js', 'sweepWorker.ts']) {
    const file = path.join(__dirname, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

function isShared(rec: ExitRecords): boolean {
  return [rec.pred, rec.conf, rec.margin, rec.entropy].every((a) => a.buffer instanceof SharedArrayBuffer);
}

function runOnWorker(script: string, tasks: ScorePolicyTask[]): Promise<ScorePolicyPart[] | null> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      // The TypeScript source (tests) runs through tsx's require hook; loader flags do not reach workers.
      worker = script.endsWith('.ts')
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(script)});`, { eval: true, workerData: tasks })
        : new Worker(script, { workerData: tasks });
    } catch {
      resolve(null);
      return;
    }
    const finish = (parts: ScorePolicyPart[] | null) => {
      resolve(parts);
      void worker.terminate();
    };
    worker.once('message', (parts: ScorePolicyPart[]) => finish(parts));
    worker.once('error', () => finish(null));
    worker.once('exit', () => finish(null));
  });
}

/** How a run went: sweeps done by workers, and by this thread (including a failed worker's). */
export interface ParallelStats {
  onWorkers: number;
  inline: number;
}

export interface ParallelOptions {
  minRecords?: number;
  cores?: number;
  onDone?: (stats: ParallelStats) => void;
}

export function parallelRunner(options: ParallelOptions = {}): ScorePolicyRunner {
  const minRecords = options.minRecords ?? PARALLEL_MIN_RECORDS;
  const cores = options.cores ?? os.availableParallelism();
  return async (tasks) => {
    const rec = tasks[0]?.rec;
    const script = workerScript();
    if (!rec || tasks.length < 2 || cores < 2 || rec.sampleCount * rec.exitCount < minRecords || !script || !isShared(rec)) {
      options.onDone?.({ onWorkers: 0, inline: tasks.length });
      return tasks.map(scorePolicyPart);
    }
    const remote = tasks.slice(1).map((task) => runOnWorker(script, [task]));
    const first = scorePolicyPart(tasks[0]);
    const rest = await Promise.all(remote);
    const onWorkers = rest.filter((parts) => parts !== null).length;
    options.onDone?.({ onWorkers, inline: tasks.length - onWorkers });
    return [first, ...rest.map((parts, i) => (parts ? parts[0] : scorePolicyPart(tasks[i + 1])))];
  };
}
