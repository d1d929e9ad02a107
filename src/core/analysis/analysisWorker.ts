/**
 * Worker thread for parallel.ts. With `{ job: 'sweeps', tasks }` it runs those score-policy
 * sweeps and posts their parts back; with `{ job: 'fill', rec }` it fills the shared records
 * from each chunk of logits it is sent and answers with the chunk's id.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FillChunk, WorkerData, fillChunk } from './chunks';
import { scorePolicyPart } from './curves';

const data = workerData as WorkerData;
if (data.job === 'sweeps') {
  const parts = data.tasks.map(scorePolicyPart);
  // The frontier candidates' memory moves to the main thread rather than being copied.
  parentPort?.postMessage(parts, parts.flatMap((p) => [p.candidates.cost.buffer, p.candidates.quality.buffer, p.candidates.threshold.buffer] as ArrayBuffer[]));
} else {
  const rec = data.rec;
  parentPort?.on('message', (c: FillChunk) => {
    fillChunk(rec, c);
    parentPort?.postMessage(c.id);
  });
}
