import * as fs from 'node:fs';
import { Zip, ZipPassThrough } from 'fflate';

/**
 * Writes .npz files (stored entries, as np.savez does) for the benchmark's generated inputs,
 * streaming rows so that gigabyte-sized sets never sit in memory. The zip container is
 * fflate's (a small, well-kept zip library); the .npy headers follow numpy's format 1.0.
 */
export interface NpzArraySpec {
  name: string;
  descr: '<f4' | '<i8' | '<i4';
  shape: number[];
  /** Fills `out` (a whole number of rows) with the rows starting at `row`. */
  fill(out: Float32Array | BigInt64Array | Int32Array, row: number, rows: number): void;
}

function npyHeader(descr: string, shape: number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  while ((10 + dict.length + 1) % 64) dict += ' ';
  dict += '\n';
  const head = Buffer.alloc(10 + dict.length);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  head.write(dict, 10, 'latin1');
  return head;
}

export async function writeNpz(file: string, arrays: NpzArraySpec[], rowsPerChunk = 4096): Promise<void> {
  const out = fs.createWriteStream(file);
  let failed: Error | null = null;
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  let pending = Promise.resolve();
  const zip = new Zip((err, chunk, final) => {
    if (err) {
      failed = err;
      return;
    }
    const copy = Buffer.from(chunk);
    pending = pending.then(
      () =>
        new Promise<void>((resolve) => {
          if (!out.write(copy)) out.once('drain', resolve);
          else resolve();
        }),
    );
    if (final) void pending.then(() => out.end());
  });
  for (const a of arrays) {
    const entry = new ZipPassThrough(`${a.name}.npy`);
    zip.add(entry);
    entry.push(npyHeader(a.descr, a.shape));
    const rows = a.shape[0];
    const perRow = a.shape.slice(1).reduce((x, y) => x * y, 1);
    for (let r = 0; r < rows; r += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rows - r);
      const buf = a.descr === '<f4' ? new Float32Array(n * perRow) : a.descr === '<i8' ? new BigInt64Array(n * perRow) : new Int32Array(n * perRow);
      a.fill(buf, r, n);
      entry.push(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), r + n >= rows);
      await pending;
    }
    if (rows === 0) entry.push(new Uint8Array(0), true);
  }
  zip.end();
  await done;
  if (failed) throw failed;
}
