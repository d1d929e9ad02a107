import type * as ort from 'onnxruntime-node';
import { throwIfCancelled } from '../core/errors';
import { NumericArray } from '../core/npy/npy';
import { BatchReader, SampleBinding } from '../core/samples/samples';

/** One batch as the session saw it: rows first..first+rows-1 of the set, `fed` rows run (a fixed batch pads). */
export interface InferredBatch {
  outputs: ort.InferenceSession.OnnxValueMapType;
  /** The batch's rows as read (before padding), one array per bound input. */
  data: NumericArray[];
  first: number;
  rows: number;
  fed: number;
}

/**
 * The inference of one set: which outputs every batch fetches and what is done with them. The
 * consumer turns a batch's outputs into records (sampleRun.ts, tokenRun.ts); an output read
 * besides the exit logits is fetched here and read there.
 */
export interface BatchConsumer {
  fetches: readonly string[];
  /** Reads one batch's outputs, in row order. */
  consume(batch: InferredBatch): void;
}

export interface BatchRun {
  session: ort.InferenceSession;
  binding: SampleBinding;
  /** Rows per batch (the model's fixed batch when it has one). */
  step: number;
  feeds: (data: NumericArray[], rows: number) => Record<string, ort.Tensor>;
  consumer: BatchConsumer;
  /** The error for a batch the session failed on. */
  runError: (err: unknown, first: number, rows: number) => Error;
  /** After each batch: the rows done so far. */
  afterBatch: (rowsDone: number) => void;
  signal?: AbortSignal;
}

/** Runs the session over the set batch by batch, reading the next batch while one runs. */
export async function runBatches(r: BatchRun): Promise<void> {
  const { binding, step } = r;
  const N = binding.sampleCount;
  const reader = await BatchReader.open(binding);
  try {
    let next: Promise<NumericArray[]> | null = reader.next(Math.min(step, N));
    for (let first = 0; first < N; first += step) {
      throwIfCancelled(r.signal);
      const rows = Math.min(step, N - first);
      const data = await next!;
      // Read the next batch while this one runs.
      const after = first + rows;
      next = after < N ? reader.next(Math.min(step, N - after)) : null;
      next?.catch(() => undefined);
      const fed = binding.fixedBatch ?? rows;
      let outputs: ort.InferenceSession.OnnxValueMapType;
      try {
        // Its error is thrown and reported by the caller; the session's log level keeps ORT from printing it too.
        outputs = await r.session.run(r.feeds(data, rows), r.consumer.fetches as string[]);
      } catch (err) {
        throw r.runError(err, first, rows);
      }
      r.consumer.consume({ outputs, data, first, rows, fed });
      r.afterBatch(after);
    }
  } finally {
    await reader.close();
  }
}
