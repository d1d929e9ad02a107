import type * as ort from 'onnxruntime-node';
import { firstCorrectExit } from '../core/analysis/overthinking';
import { ExitLensError } from '../core/errors';
import { NumericArray } from '../core/npy/npy';
import { ExitRecords, allocateRecords, fillExitRecords } from '../core/records/records';
import { DRILLDOWN_LIMIT, drilldownSample, inputPreview } from '../core/report/drilldown';
import { SampleBinding } from '../core/samples/samples';
import type { Drilldown } from '../shared/reportTypes';
import { BatchConsumer, InferredBatch, runBatches } from './batches';
import { ExitPlan } from './exitPlan';
import { batchFeeds, logitsOf, ortRunMessage } from './feeds';
import { loadOrt } from './providers';

/**
 * Profiling a classifier's exits: one record per sample and exit, read from each exit's [N, C]
 * logits (or one stacked [N, E, C] / [E, N, C] output), and the destructive samples kept with a
 * preview of their input for the drill-down.
 */

export interface SampleRunContext {
  session: ort.InferenceSession;
  binding: SampleBinding;
  plan: ExitPlan;
  /** The asked batch size (a model with a fixed batch runs at that). */
  batchSize: number;
  labels: Int32Array | null;
  progress: (done: number, force?: boolean) => void;
  signal?: AbortSignal;
  drilldown?: Drilldown;
}

/** Runs the session over a sample set, batch by batch, into exit records. */
export async function inferSampleRecords(c: SampleRunContext): Promise<ExitRecords> {
  const { binding, plan } = c;
  const N = binding.sampleCount;
  const rec = allocateRecords(N, plan.exitCount, plan.classCount, c.labels);
  const fixed = binding.fixedBatch;
  const step = fixed ?? c.batchSize;
  const consumer = logitsConsumer(plan, rec);
  await runBatches({
    session: c.session,
    binding,
    step,
    feeds: batchFeeds(loadOrt(), binding),
    consumer: {
      fetches: consumer.fetches,
      consume: (b) => {
        consumer.consume(b);
        if (c.drilldown && c.labels) captureDestructive(rec, binding, b.data, b.first, b.rows, c.drilldown);
      },
    },
    runError: (err, n, rows) => {
      const batchNo = Math.floor(n / step) + 1;
      // A short last batch failing after full ones: a shape in the graph is tied to a batch size.
      const shortAfterFull = !fixed && n > 0 && rows < step;
      return new ExitLensError(
        'inference-failed',
        `ONNX Runtime failed on samples ${n}..${n + rows - 1} (batch ${batchNo}, ${rows} sample${rows === 1 ? '' : 's'}${n > 0 ? `; the batches before it had ${step} and ran` : ''}): ${ortRunMessage(err)}`,
        fixed
          ? 'Check the sample set against the model inputs.'
          : shortAfterFull
            ? `The model seems to accept only some batch sizes (a shape fixed at export): re-export it with a dynamic batch axis, or set the batch size to 1, or to one that divides ${N} so that no batch is short (--batch, or the exitLens.batchSize setting).`
            : 'If the model only works at a fixed batch size, set the batch size to it (--batch, or the exitLens.batchSize setting; e.g. 1).',
      );
    },
    afterBatch: (done) => c.progress(done),
    signal: c.signal,
  });
  c.progress(N, true);
  return rec;
}

/** Fills the records of a batch's rows from its exits' logits, after checking their shapes. */
function logitsConsumer(plan: ExitPlan, rec: ExitRecords): BatchConsumer {
  const E = plan.exitCount;
  const C = plan.classCount;
  return {
    fetches: plan.fetches,
    consume: ({ outputs, first, rows, fed }: InferredBatch) => {
      if (plan.layout.kind === 'per-output') {
        for (let k = 0; k < E; k++) {
          const t = outputs[plan.fetches[k]] as ort.Tensor;
          if (t.dims.length !== 2 || Number(t.dims[0]) !== fed || Number(t.dims[1]) !== C) {
            throw new ExitLensError(
              'inference-failed',
              `Exit output "${plan.fetches[k]}" has shape [${t.dims.join(', ')}] for a batch of ${fed}; expected [${fed}, ${C}].`,
              'Map the exits explicitly with --exits.',
            );
          }
          fillExitRecords(rec, logitsOf(t), 0, C, rows, first, k);
        }
        return;
      }
      const t = outputs[plan.fetches[0]] as ort.Tensor;
      const z = logitsOf(t);
      const nec = plan.layout.layout === 'NEC';
      const want = nec ? [fed, E, C] : [E, fed, C];
      if (t.dims.map(Number).join() !== want.join()) {
        throw new ExitLensError(
          'inference-failed',
          `Stacked exit output has shape [${t.dims.join(', ')}] for a batch of ${fed}; expected [${want.join(', ')}].`,
          'Map the exits explicitly with --exits name:NEC or name:ENC.',
        );
      }
      for (let k = 0; k < E; k++) {
        if (nec) fillExitRecords(rec, z, k * C, E * C, rows, first, k);
        else fillExitRecords(rec, z, k * fed * C, C, rows, first, k);
      }
    },
  };
}

/** Records the batch's destructive samples (right earlier, wrong at the end) with an input preview. */
function captureDestructive(
  rec: ExitRecords,
  binding: SampleBinding,
  data: NumericArray[],
  first: number,
  rows: number,
  out: Drilldown,
): void {
  const E = rec.exitCount;
  const input = binding.inputs[0];
  const perRow = input.rowShape.reduce((a, b) => a * b, 1);
  const integer = !input.input.dtype.startsWith('float');
  for (let i = 0; i < rows; i++) {
    const n = first + i;
    if (rec.pred[n * E + E - 1] === rec.labels![n] || firstCorrectExit(rec, n) < 0) continue;
    out.destructiveCount++;
    if (out.samples.length >= DRILLDOWN_LIMIT) continue;
    const row = data[0].subarray(i * perRow, (i + 1) * perRow);
    const values = row instanceof BigInt64Array ? Array.from(row, Number) : (row as ArrayLike<number>);
    const preview = input.input.dtype === 'float16' ? undefined : inputPreview(values, input.rowShape, integer);
    out.samples.push(drilldownSample(rec, n, preview));
  }
}
