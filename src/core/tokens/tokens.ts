import { ExitLensError } from '../errors';
import { ArrayEntry } from '../npy/arrayFile';
import { NumericArray, bytesToTyped, isIntegerDtype } from '../npy/npy';
import type { BoundInput, SampleBinding } from '../samples/samples';
import { displayName } from '../io/text';

/**
 * Token positions of a decoder's sample set (docs/metrics.md "Token-level exits"): every valid
 * position of every sequence is one sample. Position t = 0..T−2 of a sequence is valid when its
 * attention mask is 1 at t and at t+1; its label is input_ids[t+1] (next-token prediction,
 * teacher forcing). With a `labels` array [N, T] (Hugging Face's convention: the unshifted
 * targets, −100 where no loss is taken), the label of position t is labels[t+1] instead, and a
 * position whose label is −100 is skipped. Positions are numbered sequence by sequence, t
 * ascending.
 */

/** The label value that marks a position to skip (PyTorch's and Hugging Face's ignore index). */
export const IGNORE_INDEX = -100;

/** Model inputs read as the token ids and the attention mask. */
export const IDS_INPUT = 'input_ids';
export const MASK_INPUT = 'attention_mask';

export interface TokenSource {
  ids: BoundInput;
  mask: BoundInput | null;
  /** A [N, T] label array, or null: labels are the next token. */
  labels: ArrayEntry | null;
  sequences: number;
  /** Tokens per sequence (T). */
  length: number;
}

/**
 * The token inputs of a binding: the model input named input_ids (else the one integer input of
 * rank 2), and attention_mask when the model has it. Null when the model has no token input.
 */
export function tokenSource(binding: SampleBinding, labels: ArrayEntry | null): TokenSource | null {
  const integerRank2 = (b: BoundInput) => !b.input.dtype.startsWith('float') && b.rowShape.length === 1;
  const ids =
    binding.inputs.find((b) => b.input.name === IDS_INPUT) ??
    (binding.inputs.filter(integerRank2).length === 1 ? binding.inputs.find(integerRank2)! : null);
  if (!ids || !integerRank2(ids)) return null;
  const mask = binding.inputs.find((b) => b.input.name === MASK_INPUT && b !== ids) ?? null;
  const length = ids.rowShape[0];
  if (labels) {
    const shape = labels.header.shape;
    if (
      shape.length !== 2 ||
      // Rows, not the header's first dimension: a shard's arrays hold only its own rows (shards.ts).
      labels.rows !== ids.array.rows ||
      shape[1] !== length ||
      !isIntegerDtype(labels.header.dtype)
    )
      throw new ExitLensError(
        'labels-invalid',
        `Label array "${displayName(labels.name)}" is ${labels.header.dtype} (${shape.join(', ')}); for a decoder, labels are integer token ids of shape (${ids.array.header.shape[0]}, ${length}), like "${displayName(ids.array.name)}", with -100 where a position is skipped.`,
        'Save the targets unshifted (labels = input_ids.copy(), then labels[skip] = -100), or leave labels out to predict each next token of input_ids.',
      );
  }
  return { ids, mask, labels, sequences: ids.array.rows, length };
}

/** The valid positions of a sample set: their label, their sequence's first position, their t. */
export interface TokenPositions {
  count: number;
  labels: Int32Array;
  /** Position index of each sequence's first valid position; seqStart[sequences] = count. */
  seqStart: Int32Array;
  /** t of each position. */
  t: Int32Array;
}

/** One row of an integer array as numbers (int64 as its low word when it fits, else NaN). */
function rowValue(a: NumericArray, i: number): number {
  const v = a[i];
  if (typeof v === 'bigint') return v >= -(2n ** 31n) && v < 2n ** 31n ? Number(v) : NaN;
  return v as number;
}

/**
 * Walks a block of `rows` sequences of T tokens: calls `visit(row, t, label)` for each valid
 * position in order. `ids`, `mask` and `labels` hold the block's rows (mask and labels may be null).
 */
export function visitPositions(
  ids: NumericArray,
  mask: NumericArray | null,
  labels: NumericArray | null,
  rows: number,
  T: number,
  visit: (row: number, t: number, label: number) => void,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * T;
    for (let t = 0; t + 1 < T; t++) {
      if (mask && !(rowValue(mask, base + t) === 1 && rowValue(mask, base + t + 1) === 1)) continue;
      const label = labels ? rowValue(labels, base + t + 1) : rowValue(ids, base + t + 1);
      if (labels && label === IGNORE_INDEX) continue;
      visit(r, t, label);
    }
  }
}

/** Sequences read at a time by the positions pass. */
const BLOCK = 1024;

/**
 * Reads the ids, the mask and the labels once, block by block, into the positions; checks every
 * label against the vocabulary. Bounded: a block of sequences at a time, and 12 bytes per position.
 */
export async function tokenPositions(src: TokenSource, vocab: number): Promise<TokenPositions> {
  const T = src.length;
  const entries = [src.ids.array, src.mask?.array ?? null, src.labels];
  const readers = await Promise.all(entries.map((e) => e?.open() ?? null));
  // First pass sizes the arrays: positions ≤ sequences × (T − 1); grow by doubling instead of guessing.
  let labels = new Int32Array(Math.max(16, Math.min(src.sequences * Math.max(0, T - 1), 1 << 20)));
  let ts = new Int32Array(labels.length);
  const seqStart = new Int32Array(src.sequences + 1);
  let count = 0;
  try {
    for (let s0 = 0; s0 < src.sequences; s0 += BLOCK) {
      const rows = Math.min(BLOCK, src.sequences - s0);
      const blocks = await Promise.all(
        readers.map(async (r, i) => (r ? bytesToTyped(await r.readRows(rows), entries[i]!.header.dtype) : null)),
      );
      let lastRow = -1;
      visitPositions(blocks[0]!, blocks[1], blocks[2], rows, T, (row, t, label) => {
        while (lastRow < row) seqStart[s0 + ++lastRow] = count;
        if (!(Number.isInteger(label) && label >= 0 && label < vocab)) {
          const where = `sequence ${s0 + row}, position ${t + 1}`;
          throw new ExitLensError(
            'labels-invalid',
            src.labels
              ? `Label ${label} at ${where} of "${displayName(src.labels.name)}" is not a token of the model's vocabulary (0..${vocab - 1}) nor -100.`
              : `Token id ${label} at ${where} of "${displayName(src.ids.array.name)}" is outside the model's vocabulary (0..${vocab - 1}).`,
            'Check that the sample set was tokenized for this model.',
          );
        }
        if (count === labels.length) {
          const grow = (a: Int32Array) => {
            const b = new Int32Array(a.length * 2);
            b.set(a);
            return b;
          };
          labels = grow(labels);
          ts = grow(ts);
        }
        labels[count] = label;
        ts[count] = t;
        count++;
      });
      while (lastRow < rows - 1) seqStart[s0 + ++lastRow] = count;
    }
  } finally {
    await Promise.all(readers.map((r) => r?.close().catch(() => undefined)));
  }
  seqStart[src.sequences] = count;
  if (count === 0)
    throw new ExitLensError(
      'samples-empty',
      `The sample set has no token position to predict: no sequence has two consecutive unmasked tokens${src.labels ? ' with a label other than -100' : ''}.`,
      'Check the attention_mask (1 for real tokens) and the labels.',
    );
  return { count, labels: labels.slice(0, count), seqStart, t: ts.slice(0, count) };
}
