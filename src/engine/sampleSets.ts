import { MemoryLimit, MemoryPart, checkMemory, recordsMemory } from '../core/io/limits';
import { ArrayFile, openArrayFile } from '../core/npy/arrayFile';
import { ITEM_SIZE, NpyDtype } from '../core/npy/npy';
import { ModelInfo } from '../core/onnx/model';
import { BatchReader, SampleBinding, bindSamples } from '../core/samples/samples';
import type { ProfileRequest } from '../shared/engineProtocol';
import type { InputBinding } from '../shared/reportTypes';

/**
 * A profile's sample sets, opened and bound to the model's inputs, and the check that refuses a
 * run whose memory estimate (from the arrays' headers and the model) is above the limit, before
 * anything large is allocated.
 */

/** An open sample set: its file and how its arrays feed the model. */
export interface SampleSet {
  binding: SampleBinding;
  file: ArrayFile;
}

export async function openSampleSet(
  filePath: string,
  model: ModelInfo,
  labelName: string | undefined,
): Promise<SampleSet> {
  const file = await openArrayFile(filePath);
  try {
    // A decoder's labels are per token [N, T]; they are told from a classifier's once the exits are known.
    const sequenceLabels = model.inputs.some((i) => !i.dtype.startsWith('float') && i.shape?.length === 2);
    return { file, binding: bindSamples(file, model.inputs, labelName, { sequenceLabels }) };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** The report's account of which array fed which input, and any cast. */
export function bindingInfo(b: SampleBinding): InputBinding[] {
  return b.inputs.map((x) => ({
    input: x.input.name,
    array: x.array.name,
    arrayDtype: x.array.header.dtype,
    modelDtype: x.input.dtype,
    cast: x.cast,
  }));
}

/** The memory a profile's batches take while they are read (the ring of buffers, a cast copy, the probe). */
const INPUT_BATCH_COPIES = BatchReader.RING + 2;

function inputsMemory(set: SampleSet, what: string, step: number): MemoryPart {
  const rows = set.binding.fixedBatch ?? Math.min(step, set.binding.sampleCount);
  // A cast input is converted into a second array, of the model's item size.
  const castBytes = (b: SampleBinding['inputs'][number]) =>
    (b.array.rowBytes / ITEM_SIZE[b.array.header.dtype]) * (ITEM_SIZE[b.input.dtype as NpyDtype] ?? 8);
  const perSample = set.binding.inputs.reduce((s, b) => s + b.array.rowBytes + (b.cast ? castBytes(b) : 0), 0);
  return {
    what: `batches of ${what} being read (${rows} samples of ${perSample.toLocaleString('en-US')} bytes, ${INPUT_BATCH_COPIES} copies)`,
    bytes: INPUT_BATCH_COPIES * rows * perSample,
  };
}

/**
 * Records per set when they are not one per sample (a decoder's token positions), and one more
 * part of a decoder's (its positions' index, or a batch's logits) with the hint for when it dominates.
 */
export interface RecordCounts {
  main?: number;
  calib?: number;
  extra?: MemoryPart;
  extraHint?: string;
}

/**
 * Refuses a profile whose estimate is above the limit: the model, the batches, and the records,
 * labels and analysis of `exits` exits (2, the least there can be, before the exits are known).
 */
export function checkProfileMemory(
  req: ProfileRequest,
  limit: MemoryLimit,
  modelBytes: number,
  main: SampleSet,
  calib: SampleSet | null,
  step: number,
  exits: number,
  recordCounts: RecordCounts = {},
): void {
  const parts: MemoryPart[] = [
    { what: "the model (its file, the decoded graph and ONNX Runtime's copy of the weights)", bytes: 3 * modelBytes },
    inputsMemory(main, 'the sample set', step),
    ...recordsMemory(
      'the sample set',
      recordCounts.main ?? main.binding.sampleCount,
      exits,
      Boolean(req.includeRecords),
    ),
  ];
  if (calib)
    parts.push(...recordsMemory('the calibration set', recordCounts.calib ?? calib.binding.sampleCount, exits, false));
  if (recordCounts.extra) parts.push(recordCounts.extra);
  const records = req.includeRecords ? ' Leave out --records (the per-sample records in the JSON), or' : '';
  checkMemory(
    parts,
    limit,
    recordCounts.extra && recordCounts.extraHint && recordCounts.extra.bytes > limit.bytes / 4
      ? recordCounts.extraHint
      : `Profile a smaller sample set (e.g. its first 100,000 samples: np.savez(path, x=x[:100000], label=y[:100000])).${records}${parts[1].bytes > limit.bytes / 4 ? ' Use a smaller batch (--batch).' : ''}`,
  );
}
