import { ExitLensError } from '../errors';
import { ArrayEntry, ArrayFile, RowReader, readWholeArray } from '../npy/arrayFile';
import {
  NpyDtype,
  NumericArray,
  bytesToTyped,
  elementAsNumber,
  floatToHalf,
  halfToFloat,
  isIntegerDtype,
  typedView,
} from '../npy/npy';
import type { Dim, TensorInfo } from '../../shared/reportTypes';
import { formatShape } from '../onnx/model';
import { displayName } from '../io/text';

/** Array names read as labels when none is configured. */
export const LABEL_NAMES = ['label', 'labels', 'y'];

export interface BoundInput {
  input: TensorInfo;
  array: ArrayEntry;
  /** The dims after the batch dimension, as the array has them. */
  rowShape: number[];
  cast: boolean;
}

export interface SampleBinding {
  inputs: BoundInput[];
  labels: ArrayEntry | null;
  sampleCount: number;
  /** A fixed batch dimension the model requires (1 for many exports), or null when free. */
  fixedBatch: number | null;
  unusedArrays: string[];
}

const MODEL_DTYPES = new Set([
  'float32',
  'float64',
  'float16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'uint16',
  'bool',
]);

function describeArrays(file: ArrayFile): string {
  return (
    file.arrays.map((a) => `  ${displayName(a.name)}: ${a.header.dtype} (${a.header.shape.join(', ')})`).join('\n') ||
    '  (none)'
  );
}

export function findLabelArray(file: ArrayFile, labelName: string | undefined): ArrayEntry | null {
  if (labelName) {
    const a = file.arrays.find((x) => x.name === labelName);
    if (!a) {
      throw new ExitLensError(
        'samples-mismatch',
        `${file.path} has no array named "${displayName(labelName)}" (the configured label array). Its arrays:\n${describeArrays(file)}`,
        'Name the label array with --labels, or leave it out to read "label", "labels" or "y".',
      );
    }
    return a;
  }
  for (const name of LABEL_NAMES) {
    const a = file.arrays.find((x) => x.name === name);
    if (a) return a;
  }
  return null;
}

function castable(from: NpyDtype, to: string): boolean {
  if (from === to) return true;
  if (to === 'float32' || to === 'float64' || to === 'float16') return true;
  if (to === 'bool') return from === 'bool' || from === 'uint8';
  // Integer model inputs (token ids, masks) take integer or bool arrays, never floats.
  return isIntegerDtype(from) || from === 'bool';
}

/**
 * Binds arrays to model inputs by name (a single-input model takes the one non-label array),
 * and checks shapes, dtypes and lengths before anything runs.
 */
export function bindSamples(
  file: ArrayFile,
  inputs: TensorInfo[],
  labelName?: string,
  opts: { sequenceLabels?: boolean } = {},
): SampleBinding {
  if (file.arrays.length === 0) {
    throw new ExitLensError(
      'samples-empty',
      `${file.path} holds no arrays.`,
      'Save the inputs (and labels) with np.savez(path, input=x, label=y).',
    );
  }
  const labels = findLabelArray(file, labelName);
  const candidates = file.arrays.filter((a) => a !== labels);
  const bound: BoundInput[] = [];
  for (const input of inputs) {
    let array = candidates.find((a) => a.name === input.name);
    if (!array && inputs.length === 1 && candidates.length === 1) array = candidates[0];
    if (!array) {
      const why =
        inputs.length === 1
          ? `the model's input is "${displayName(input.name)}", and the file has ${candidates.length === 0 ? 'no input array' : `${candidates.length} candidate arrays and none of that name`}`
          : `the model's input "${displayName(input.name)}" has no array of the same name`;
      throw new ExitLensError(
        'samples-mismatch',
        `${file.path} does not match the model: ${why}. The file's arrays:\n${describeArrays(file)}`,
        `Save each model input under its input name, e.g. np.savez(path, ${displayName(input.name)}=x, label=y).`,
      );
    }
    const shape = array.header.shape;
    const want: Dim[] | null = input.shape;
    const arrayName =
      array.name === input.name
        ? `Array "${displayName(array.name)}"`
        : `Array "${displayName(array.name)}" (the only input array, taken for the model's input "${displayName(input.name)}")`;
    if (!MODEL_DTYPES.has(input.dtype)) {
      throw new ExitLensError(
        'samples-mismatch',
        `The model's input "${displayName(input.name)}" has type ${input.dtype}, which Exit Lens cannot feed.`,
        'Profile a model whose inputs are numeric tensors.',
      );
    }
    if (!castable(array.header.dtype, input.dtype)) {
      throw new ExitLensError(
        'samples-mismatch',
        `${arrayName} is ${array.header.dtype} but the model's input "${displayName(input.name)}" wants ${input.dtype}; Exit Lens does not round floats to integers.`,
        `Save it as ${input.dtype} (x.astype(np.${input.dtype === 'bool' ? 'bool_' : input.dtype})).`,
      );
    }
    if (want) {
      if (shape.length !== want.length) {
        throw new ExitLensError(
          'samples-mismatch',
          `${arrayName} has shape (${shape.join(', ')}) but the model's input "${displayName(input.name)}" is ${formatShape(want)}: rank ${shape.length} vs ${want.length}.`,
          'The first dimension is the sample count; the others must match the model input.',
        );
      }
      for (let d = 1; d < want.length; d++) {
        const w = want[d];
        if (typeof w === 'number' && w !== shape[d]) {
          throw new ExitLensError(
            'samples-mismatch',
            `${arrayName} has shape (${shape.join(', ')}) but the model's input "${displayName(input.name)}" is ${formatShape(want)}: dimension ${d} is ${shape[d]}, the model wants ${w}.`,
            "Reshape or resize the samples to the model's input shape.",
          );
        }
      }
    } else if (shape.length === 0) {
      throw new ExitLensError(
        'samples-mismatch',
        `Array "${displayName(array.name)}" is a scalar; it needs a first dimension of samples.`,
        'Save one row per sample.',
      );
    }
    // A dimension of 0 after the first: rows of no bytes, as many as the header likes, none of
    // them data. (10^9, 0) would otherwise pass every size check and run a billion empty samples.
    if (shape.length > 1 && shape.slice(1).some((d) => d === 0)) {
      throw new ExitLensError(
        'samples-mismatch',
        `${arrayName} has shape (${shape.join(', ')}): each of its ${shape[0].toLocaleString('en-US')} samples has 0 elements, so there is nothing to run the model on.`,
        `Every dimension after the first (the samples) must be at least 1; check how the array was built (the model's input "${displayName(input.name)}" is ${formatShape(want)}).`,
      );
    }
    bound.push({ input, array, rowShape: shape.slice(1), cast: array.header.dtype !== input.dtype });
  }
  const counts = new Set(bound.map((b) => b.array.rows));
  if (labels) counts.add(labels.rows);
  if (counts.size > 1) {
    const parts = bound.map((b) => `"${displayName(b.array.name)}" ${b.array.rows}`);
    if (labels) parts.push(`"${displayName(labels.name)}" ${labels.rows}`);
    throw new ExitLensError(
      'samples-mismatch',
      `The arrays of ${file.path} hold different numbers of samples: ${parts.join(', ')}.`,
      'Every array needs one row per sample, in the same order.',
    );
  }
  const sampleCount = bound[0]?.array.rows ?? labels?.rows ?? 0;
  if (sampleCount === 0) {
    throw new ExitLensError(
      'samples-empty',
      `${file.path} holds no samples (its arrays have 0 rows).`,
      'Point Exit Lens at a sample set with at least one sample.',
    );
  }
  if (labels) {
    // A decoder's labels are per token, [N, T] (checked by tokens.ts once the exits are known).
    if (labels.header.shape.length !== 1 && !(opts.sequenceLabels && labels.header.shape.length === 2)) {
      throw new ExitLensError(
        'labels-invalid',
        `Label array "${displayName(labels.name)}" has shape (${labels.header.shape.join(', ')}); labels must be one class index per sample, shape (N,).`,
        'Save labels as a 1-D integer array (np.argmax over one-hot labels first).',
      );
    }
    if (!isIntegerDtype(labels.header.dtype)) {
      throw new ExitLensError(
        'labels-invalid',
        `Label array "${displayName(labels.name)}" is ${labels.header.dtype}; labels must be integer class indices.`,
        'Save them with y.astype(np.int64).',
      );
    }
  }
  const batchDims = bound.map((b) => b.input.shape?.[0]).filter((d): d is number => typeof d === 'number');
  const fixedBatch = batchDims.length ? batchDims[0] : null;
  const used = new Set<ArrayEntry>(bound.map((b) => b.array));
  if (labels) used.add(labels);
  return {
    inputs: bound,
    labels,
    sampleCount,
    fixedBatch,
    unusedArrays: file.arrays.filter((a) => !used.has(a)).map((a) => a.name),
  };
}

/** A classifier's labels are one per sample: refuses the [N, T] labels bindSamples let through for a decoder. */
export function checkClassLabels(binding: SampleBinding): void {
  const labels = binding.labels;
  if (labels && labels.header.shape.length !== 1)
    throw new ExitLensError(
      'labels-invalid',
      `Label array "${displayName(labels.name)}" has shape (${labels.header.shape.join(', ')}); the model's exits are classifiers, so labels must be one class index per sample, shape (N,).`,
      'Save labels as a 1-D integer array (np.argmax over one-hot labels first).',
    );
}

/** Reads and checks labels against the class count. */
export async function readLabels(entry: ArrayEntry, classCount: number): Promise<Int32Array> {
  const raw = bytesToTyped(await readWholeArray(entry), entry.header.dtype);
  const out = new Int32Array(entry.rows);
  // int64 labels (numpy's default) as pairs of 32-bit words, without a BigInt per label.
  const bad =
    raw instanceof BigInt64Array && LITTLE_ENDIAN
      ? int64Labels(new Int32Array(raw.buffer, raw.byteOffset, 2 * raw.length), classCount, out)
      : anyLabels(raw, entry.header.dtype, classCount, out);
  if (bad >= 0) {
    const v = elementAsNumber(raw, entry.header.dtype, bad);
    throw new ExitLensError(
      'labels-invalid',
      `Label ${v} at sample ${bad} of "${displayName(entry.name)}" is out of range: the model has ${classCount} classes (0..${classCount - 1}).`,
      'Check that the labels belong to this model and are 0-based class indices.',
    );
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Labels from little-endian int64 words into out; returns the first sample whose label is not in 0..classCount-1, or -1. */
function int64Labels(words: Int32Array, classCount: number, out: Int32Array): number {
  for (let i = 0; i < out.length; i++) {
    const lo = words[2 * i];
    // In range only with a high word of 0 and a low word in 0..classCount-1.
    if (words[2 * i + 1] !== 0 || !(lo >= 0 && lo < classCount)) return i;
    out[i] = lo;
  }
  return -1;
}

/** Labels of any integer dtype into out; returns the first sample whose label is not in 0..classCount-1, or -1. */
function anyLabels(raw: NumericArray, dtype: NpyDtype, classCount: number, out: Int32Array): number {
  for (let i = 0; i < out.length; i++) {
    const v = elementAsNumber(raw, dtype, i);
    if (!(v >= 0 && v < classCount)) return i;
    out[i] = v;
  }
  return -1;
}

/** Converts a row block from the array's dtype to the typed array the model input needs. */
export function convertForInput(bytes: Uint8Array, from: NpyDtype, to: string): NumericArray {
  // A batch already in the model's dtype goes to ONNX Runtime as read: no copy.
  const src = typedView(bytes, from);
  if (from === to || (to === 'bool' && from === 'uint8')) return src;
  const n = src.length;
  const get = (i: number) => elementAsNumber(src, from, i);
  switch (to) {
    case 'float32': {
      const out = new Float32Array(n);
      if (from === 'float16') for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i] as number);
      else if (from === 'int64') for (let i = 0; i < n; i++) out[i] = Number(src[i] as bigint);
      else out.set(src as ArrayLike<number>);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = get(i);
      return out;
    }
    case 'float16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = floatToHalf(get(i));
      return out;
    }
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(get(i));
      return out;
    }
    case 'int32':
      return Int32Array.from({ length: n }, (_, i) => get(i));
    case 'int16':
      return Int16Array.from({ length: n }, (_, i) => get(i));
    case 'int8':
      return Int8Array.from({ length: n }, (_, i) => get(i));
    case 'uint16':
      return Uint16Array.from({ length: n }, (_, i) => get(i));
    case 'uint8':
    case 'bool':
      return Uint8Array.from({ length: n }, (_, i) => get(i));
  }
  throw new ExitLensError('internal', `No conversion from ${from} to ${to}.`);
}

/**
 * Streams the bound inputs batch by batch. Batches are read into a small ring of buffers that
 * is reused, so that streaming a large set touches the same memory over and over: a fresh
 * buffer for every batch costs page faults and the kernel's zeroing of new pages while ONNX
 * Runtime runs the previous batch, which made the batch loop 15-20% slower on a 2-core
 * machine. A batch's arrays stay valid until `RING - 1` more batches have been asked for;
 * hold rows longer only as copies.
 */
export class BatchReader {
  static readonly RING = 3;
  private readers: RowReader[] = [];
  private readonly ring: Uint8Array[][] = [];
  private slot = 0;
  private constructor(private readonly binding: SampleBinding) {}

  static async open(binding: SampleBinding): Promise<BatchReader> {
    const r = new BatchReader(binding);
    try {
      for (const b of binding.inputs) r.readers.push(await b.array.open());
    } catch (err) {
      await r.close();
      throw err;
    }
    return r;
  }

  /**
   * The next `count` rows of every input, converted to the model's dtypes. Every input's read
   * is issued at once, so that all of them proceed while the caller runs the previous batch.
   */
  async next(count: number): Promise<NumericArray[]> {
    const buffers = (this.ring[this.slot] ??= []);
    this.slot = (this.slot + 1) % BatchReader.RING;
    const reads = this.readers.map((r, i) => {
      const want = count * this.binding.inputs[i].array.rowBytes;
      if (!buffers[i] || buffers[i].length < want) buffers[i] = new Uint8Array(want);
      return r.readRows(count, buffers[i]);
    });
    // Settle every read before reporting a failure, so that none is left running.
    const bytes = await Promise.allSettled(reads);
    return bytes.map((b, i) => {
      if (b.status === 'rejected') throw b.reason;
      const input = this.binding.inputs[i];
      return convertForInput(b.value, input.array.header.dtype, input.input.dtype);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.close().catch(() => undefined)));
    this.readers = [];
  }
}
