import { ExitRecords, fillExitRecords } from '../records/records';
import type { ScorePolicyTask } from './scorePolicyPart';

/** What parallel.ts hands a worker thread (analysisThread.ts). */
export type WorkerData = { job: 'sweeps'; tasks: ScorePolicyTask[] } | { job: 'fill'; rec: ExitRecords };

/** Sweeps asked of a fill worker once its chunks are done (the worker is reused rather than a new one started). */
export interface SweepsMessage {
  job: 'sweeps';
  tasks: ScorePolicyTask[];
}

/** A chunk of logits to turn into records: exits exit..exit+exitCount-1 of rows samples from firstSample. */
export interface FillChunk {
  id: number;
  logits: Float32Array | Float64Array;
  offset: number;
  stride: number;
  rows: number;
  firstSample: number;
  exit: number;
  exitCount: number;
}

export function fillChunk(rec: ExitRecords, c: FillChunk): void {
  for (let j = 0; j < c.exitCount; j++)
    fillExitRecords(rec, c.logits, c.offset + j * rec.classCount, c.stride, c.rows, c.firstSample, c.exit + j);
}
