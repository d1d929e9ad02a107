/**
 * Worker thread for parallel.ts. With `{ job: 'sweeps', tasks }` it runs those score-policy
 * sweeps and posts their parts back; with `{ job: 'fill', rec }` it fills the shared records
 * from each chunk of logits it is sent and answers with the chunk's id, and, once the records
 * are filled, runs the sweeps of a `{ job: 'sweeps', tasks }` message the same way (so the
 * analysis reuses it instead of starting another worker).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FillChunk, SweepsMessage, WorkerData, fillChunk } from './chunks';
import { ScorePolicyTask, scorePolicyPart } from './scorePolicyPart';

function sweeps(tasks: ScorePolicyTask[]): void {
  const parts = tasks.map(scorePolicyPart);
  // The frontier candidates' memory moves to the main thread rather than being copied.
  parentPort?.postMessage(
    parts,
    parts.flatMap(
      (p) => [p.candidates.cost.buffer, p.candidates.quality.buffer, p.candidates.threshold.buffer] as ArrayBuffer[],
    ),
  );
}

const data = workerData as WorkerData;
if (data.job === 'sweeps') {
  sweeps(data.tasks);
} else {
  const rec = data.rec;
  parentPort?.on('message', (m: FillChunk | SweepsMessage) => {
    if ('job' in m) return sweeps(m.tasks);
    fillChunk(rec, m);
    parentPort?.postMessage(m.id);
  });
}
