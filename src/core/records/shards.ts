import { ExitLensError } from '../errors';
import type { ArrayEntry } from '../npy/arrayFile';
import type { SampleBinding } from '../samples/samples';

/**
 * Sharded profiling (exit-lens profile --shard i/n): shard i of n covers the samples
 * [floor(i·N/n), floor((i+1)·N/n)), contiguous and in order, so that n shards cover 0..N-1 once
 * whatever N is, and the same command always profiles the same samples. docs/scale/README.md.
 */
export interface Shard {
  index: number;
  count: number;
}

export interface ShardRange {
  /** First sample (inclusive). */
  start: number;
  /** One past the last sample. */
  end: number;
}

/** "3/8" → { index: 3, count: 8 }; indices are 0-based (Slurm's array ids, Kubernetes' completion index). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(String(text));
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index >= count) {
    throw new ExitLensError(
      'bad-argument',
      `--shard "${text}" is not a shard i/n with 0 <= i < n.`,
      'Give the shard as index/count, 0-based: --shard 0/8 … --shard 7/8 (e.g. --shard "$SLURM_ARRAY_TASK_ID/8").',
    );
  }
  return { index, count };
}

/** The samples of shard `index` of `count` over `sampleCount` samples. */
export function shardRange(shard: Shard, sampleCount: number): ShardRange {
  // Exact in float64 for any sample count below 2^53 / count.
  const at = (i: number) => Math.floor((i * sampleCount) / shard.count);
  return { start: at(shard.index), end: at(shard.index + 1) };
}

export function checkShard(shard: unknown): Shard {
  const s = shard as Shard;
  if (
    !s ||
    typeof s !== 'object' ||
    !Number.isSafeInteger(s.index) ||
    !Number.isSafeInteger(s.count) ||
    s.count < 1 ||
    s.index < 0 ||
    s.index >= s.count
  )
    throw new ExitLensError(
      'bad-argument',
      `Shard ${JSON.stringify(shard)} is not a shard i/n with 0 <= i < n.`,
      'Give the shard as index/count, 0-based: --shard 0/8 … --shard 7/8.',
    );
  return s;
}

/** The rows [start, end) of an array, as an array of its own (the reader starts at `start`). */
function sliceEntry(entry: ArrayEntry, range: ShardRange): ArrayEntry {
  return {
    ...entry,
    rows: range.end - range.start,
    open: (unitBytes = entry.rowBytes, firstUnit = 0) => {
      const start = (range.start * entry.rowBytes) / unitBytes;
      if (!Number.isInteger(start))
        throw new ExitLensError('internal', `A shard starts inside a unit of ${unitBytes} bytes of ${entry.name}.`);
      return entry.open(unitBytes, start + firstUnit);
    },
  };
}

/**
 * The binding of one shard of a sample set: every input and the labels start at the shard's first
 * sample and hold its samples only. An empty shard (more shards than samples) is refused.
 */
export function shardBinding(binding: SampleBinding, shard: Shard, setPath: string, calibPath?: string): SampleBinding {
  checkShard(shard);
  if (calibPath)
    throw new ExitLensError(
      'bad-argument',
      'A shard is profiled without --calib: the calibration set is profiled as a sample set of its own.',
      'Profile it into its own records (exit-lens profile model.onnx --samples calib.npz --records-out calib.exitrec, with --shard i/n if it is large), then exit-lens merge shard-*.exitrec --calib-records calib*.exitrec.',
    );
  const N = binding.sampleCount;
  const range = shardRange(shard, N);
  if (range.end <= range.start) {
    throw new ExitLensError(
      'bad-argument',
      `Shard ${shard.index}/${shard.count} of ${setPath} holds no samples: the set has ${N.toLocaleString('en-US')} sample${N === 1 ? '' : 's'}, fewer than ${shard.count} shards.`,
      `Use at most ${N} shards.`,
    );
  }
  return {
    ...binding,
    inputs: binding.inputs.map((b) => ({ ...b, array: sliceEntry(b.array, range) })),
    labels: binding.labels ? sliceEntry(binding.labels, range) : null,
    sampleCount: range.end - range.start,
  };
}
