import { ExitLensError, throwIfCancelled } from '../errors';
import { ArrayEntry, ArrayFile, RowReader, openArrayFile } from '../npy/arrayFile';
import { halfToFloat, isFloatDtype, typedView } from '../npy/npy';
import { FillPool, ParallelOptions, ParallelStats, SpareWorker, fillPool } from '../analysis/parallel';
import { ExitRecords, allocateRecords } from '../records/records';
import { findLabelArray, readLabels } from './samples';
import { displayName } from '../io/text';

/**
 * Precomputed exit logits, analysed without a model: an `exit_logits` array [E, N, C]
 * (or [N, E, C] when the layout says so), or one [N, C] array per exit, plus labels.
 */
export interface LogitsSource {
  path: string;
  exitNames: string[];
  sampleCount: number;
  classCount: number;
  labelArray: string | null;
  layout: 'ENC' | 'NEC' | 'per-array';
  orderedBy: string;
}

export interface LogitsOptions {
  labelName?: string;
  /** Exit array names in order, or "exit_logits:NEC". */
  exits?: string;
  /** Samples per chunk while reading. */
  chunk?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** When the records are filled on two threads (analysis/parallel.ts), and how that went. */
  parallel?: ParallelOptions;
  onParallel?: (stats: ParallelStats) => void;
  /**
   * Keep the worker that filled the records (if one did) and return it, for the analysis'
   * sweeps (parallelRunner's `worker`); the caller must close it.
   */
  keepWorker?: boolean;
  /**
   * Hears what the file holds (from its headers) before anything is allocated for it, and may
   * refuse it by throwing: the memory check (limits.ts).
   */
  beforeAllocate?: (source: LogitsSource) => void;
}

const HELP =
  'A logits file is a .npz with exit_logits of shape [E, N, C] (or one [N, C] array per exit, e.g. exit_0 … exit_4) and optionally labels: np.savez(path, exit_logits=z, labels=y).';

/**
 * The next `rows` units of logits as floats, on shared memory, so that handing them to the
 * worker thread that fills records copies nothing: float32 and float64 are read straight into
 * it, float16 is converted into it.
 */
async function readFloats(
  pool: FillPool,
  reader: RowReader,
  rows: number,
  unitBytes: number,
  entry: ArrayEntry,
): Promise<Float32Array | Float64Array> {
  const dtype = entry.header.dtype;
  if (dtype === 'float16') {
    const half = typedView(await reader.readRows(rows), 'float16');
    const out = new Float32Array(pool.buffer(half.length * 4));
    for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i] as number);
    return out;
  }
  const shared = pool.buffer(rows * unitBytes);
  await reader.readRows(rows, new Uint8Array(shared));
  return dtype === 'float64' ? new Float64Array(shared) : new Float32Array(shared);
}

interface Plan {
  source: LogitsSource;
  stacked: ArrayEntry | null;
  perExit: ArrayEntry[];
  labels: ArrayEntry | null;
}

function plan(file: ArrayFile, opts: LogitsOptions): Plan {
  const labels = findLabelArray(file, opts.labelName);
  const others = file.arrays.filter((a) => a !== labels);
  let stackedName = 'exit_logits';
  let layout: 'ENC' | 'NEC' = 'ENC';
  let perNames: string[] | null = null;
  if (opts.exits) {
    const m = /^(.+):(NEC|ENC)$/i.exec(opts.exits.trim());
    if (m) {
      stackedName = m[1];
      layout = m[2].toUpperCase() as 'ENC' | 'NEC';
    } else
      perNames = opts.exits
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  }
  const listing = file.arrays
    .map((a) => `  ${displayName(a.name)}: ${a.header.dtype} (${a.header.shape.join(', ')})`)
    .join('\n');
  const stacked = perNames ? undefined : others.find((a) => a.name === stackedName);
  let perExit: ArrayEntry[] = [];
  let orderedBy = 'stack-order';
  if (stacked) {
    if (stacked.header.shape.length !== 3) {
      throw new ExitLensError(
        'samples-mismatch',
        `"${displayName(stacked.name)}" in ${file.path} has shape (${stacked.header.shape.join(', ')}); it must be [E, N, C].`,
        HELP,
      );
    }
  } else {
    if (perNames) {
      perExit = perNames.map((name) => {
        const a = others.find((x) => x.name === name);
        if (!a)
          throw new ExitLensError(
            'exit-mapping',
            `${file.path} has no array "${displayName(name)}". Its arrays:\n${listing}`,
            HELP,
          );
        return a;
      });
      orderedBy = 'mapping';
    } else {
      perExit = others.filter((a) => a.header.shape.length === 2);
      const suffix = perExit.map((a) => /(\d+)$/.exec(a.name)?.[1]);
      if (suffix.every((s) => s !== undefined) && new Set(suffix).size === suffix.length) {
        perExit = perExit
          .map((a, i) => ({ a, s: Number(suffix[i]) }))
          .sort((x, y) => x.s - y.s)
          .map((x) => x.a);
        orderedBy = 'name-suffix';
      } else orderedBy = 'file-order';
    }
    if (perExit.length < 2)
      throw new ExitLensError('model-no-exits', `No exit logits found in ${file.path}. Its arrays:\n${listing}`, HELP);
  }
  const entries = stacked ? [stacked] : perExit;
  for (const a of entries) {
    if (!isFloatDtype(a.header.dtype)) {
      throw new ExitLensError(
        'samples-mismatch',
        `Logits array "${displayName(a.name)}" is ${a.header.dtype}; logits must be float16, float32 or float64.`,
        HELP,
      );
    }
  }
  let E: number;
  let N: number;
  let C: number;
  if (stacked) {
    const [a, b, c] = stacked.header.shape;
    [E, N, C] = layout === 'ENC' ? [a, b, c] : [b, a, c];
  } else {
    for (const a of perExit) {
      if (a.header.shape.length !== 2)
        throw new ExitLensError(
          'samples-mismatch',
          `Logits array "${displayName(a.name)}" has shape (${a.header.shape.join(', ')}); each exit must be [N, C].`,
          HELP,
        );
    }
    const cs = new Set(perExit.map((a) => a.header.shape[1]));
    const ns = new Set(perExit.map((a) => a.header.shape[0]));
    if (cs.size > 1)
      throw new ExitLensError(
        'samples-mismatch',
        `The exit arrays have different class counts (${[...cs].join(', ')}); all exits must predict the same classes.`,
        HELP,
      );
    if (ns.size > 1)
      throw new ExitLensError(
        'samples-mismatch',
        `The exit arrays hold different numbers of samples (${[...ns].join(', ')}).`,
        HELP,
      );
    E = perExit.length;
    N = perExit[0].header.shape[0];
    C = perExit[0].header.shape[1];
  }
  if (E < 2)
    throw new ExitLensError(
      'model-no-exits',
      `${file.path} holds logits of ${E} exit; an early-exit analysis needs at least two.`,
      HELP,
    );
  if (N === 0) throw new ExitLensError('samples-empty', `${file.path} holds no samples (N = 0).`, HELP);
  if (C < 2)
    throw new ExitLensError('samples-mismatch', `The logits have ${C} class; a classifier needs at least two.`, HELP);
  if (labels) {
    if (labels.header.shape.length !== 1 || labels.rows !== N) {
      throw new ExitLensError(
        'samples-mismatch',
        `Label array "${displayName(labels.name)}" has shape (${labels.header.shape.join(', ')}); it must be (${N},), one label per sample.`,
        HELP,
      );
    }
  }
  const exitNames = stacked ? Array.from({ length: E }, (_, k) => `${stacked.name}[${k}]`) : perExit.map((a) => a.name);
  return {
    source: {
      path: file.path,
      exitNames,
      sampleCount: N,
      classCount: C,
      labelArray: labels?.name ?? null,
      layout: stacked ? layout : 'per-array',
      orderedBy,
    },
    stacked: stacked ?? null,
    perExit,
    labels,
  };
}

/** Reads a logits file into exit records, streaming the logits in chunks. */
export async function readLogitsFile(
  filePath: string,
  opts: LogitsOptions = {},
): Promise<{ source: LogitsSource; records: ExitRecords; worker?: SpareWorker | null }> {
  const file = await openArrayFile(filePath);
  let pool: FillPool | null = null;
  let kept: SpareWorker | null = null;
  let handedOver = false;
  try {
    const p = plan(file, opts);
    const { sampleCount: N, classCount: C } = p.source;
    const E = p.source.exitNames.length;
    if (
      p.labels &&
      (p.labels.header.dtype === 'float32' ||
        p.labels.header.dtype === 'float64' ||
        p.labels.header.dtype === 'float16' ||
        p.labels.header.dtype === 'bool')
    ) {
      throw new ExitLensError(
        'labels-invalid',
        `Label array "${displayName(p.labels.name)}" is ${p.labels.header.dtype}; labels must be integer class indices.`,
        'Save them with y.astype(np.int64).',
      );
    }
    opts.beforeAllocate?.(p.source);
    // The records, with room for the labels in shared memory, and the worker that fills them
    // start first: the worker's start overlaps reading the labels.
    const rec = allocateRecords(N, E, C, p.labels ? new Int32Array(new SharedArrayBuffer(4 * N)) : null);
    pool = fillPool(rec, opts.parallel);
    if (p.labels) rec.labels!.set(await readLabels(p.labels, C));
    const chunk = Math.max(1, opts.chunk ?? Math.max(1, Math.floor((4 << 20) / (C * 4))));
    const itemBytes = (p.stacked ?? p.perExit[0]).header.dataBytes / (N * E * C);
    const total = N * E;
    let done = 0;
    if (p.stacked && p.source.layout === 'ENC') {
      const reader = await p.stacked.open(C * itemBytes);
      try {
        for (let k = 0; k < E; k++) {
          for (let n = 0; n < N; n += chunk) {
            throwIfCancelled(opts.signal);
            const rows = Math.min(chunk, N - n);
            await pool.fill(await readFloats(pool, reader, rows, C * itemBytes, p.stacked), 0, C, rows, n, k);
            done += rows;
            opts.onProgress?.(done, total);
          }
        }
      } finally {
        await reader.close();
      }
    } else if (p.stacked) {
      const reader = await p.stacked.open();
      try {
        for (let n = 0; n < N; n += chunk) {
          throwIfCancelled(opts.signal);
          const rows = Math.min(chunk, N - n);
          const z = await readFloats(pool, reader, rows, p.stacked.rowBytes, p.stacked);
          await pool.fill(z, 0, E * C, rows, n, 0, E);
          done += rows * E;
          opts.onProgress?.(done, total);
        }
      } finally {
        await reader.close();
      }
    } else {
      for (let k = 0; k < E; k++) {
        const entry = p.perExit[k];
        const reader = await entry.open();
        try {
          for (let n = 0; n < N; n += chunk) {
            throwIfCancelled(opts.signal);
            const rows = Math.min(chunk, N - n);
            await pool.fill(await readFloats(pool, reader, rows, entry.rowBytes, entry), 0, C, rows, n, k);
            done += rows;
            opts.onProgress?.(done, total);
          }
        } finally {
          await reader.close();
        }
      }
    }
    if (!opts.keepWorker) {
      const stats = await pool.finish();
      opts.onParallel?.(stats);
      return { source: p.source, records: rec };
    }
    const { stats, worker } = await pool.finishKeeping();
    kept = worker;
    opts.onParallel?.(stats);
    handedOver = true;
    return { source: p.source, records: rec, worker };
  } finally {
    pool?.close();
    // A kept worker goes to the caller only if everything else went well.
    if (!handedOver) kept?.close();
    await file.close().catch((err: unknown) => {
      kept?.close();
      throw err;
    });
  }
}
