import * as fs from 'node:fs';
import { Zip, ZipPassThrough } from 'fflate';

/**
 * Writes .npz files (stored entries, as np.savez does) for the benchmark's generated inputs,
 * streaming rows so that gigabyte-sized sets never sit in memory. The zip container is
 * fflate's (a small, well-kept zip library); the .npy headers follow numpy's format 1.0.
 */
export interface NpzArraySpec {
  name: string;
  /** '<f2' arrays are filled as float32 and stored as IEEE half floats (round to nearest even). */
  descr: '<f4' | '<f2' | '<i8' | '<i4';
  shape: number[];
  /** Fills `out` (a whole number of rows) with the rows starting at `row`. */
  fill(out: Float32Array | BigInt64Array | Int32Array, row: number, rows: number): void;
}

/** An .npy header (format 1.0) announcing `shape` of `descr`, padded as numpy pads it. */
export function npyHeader(descr: string, shape: number[]): Buffer {
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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE half-float bits nearest to v (ties to even), with overflow to infinity. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp32 = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp32 === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const exp = exp32 - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let h: number;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    shift = 14 - exp;
    h = mant >>> shift;
  } else h = (exp << 10) | (mant >>> 13);
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && h & 1)) h++; // a carry into the exponent is the right rounding
  return sign | h;
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
      const buf =
        a.descr === '<f4' || a.descr === '<f2'
          ? new Float32Array(n * perRow)
          : a.descr === '<i8'
            ? new BigInt64Array(n * perRow)
            : new Int32Array(n * perRow);
      a.fill(buf, r, n);
      let bytes: Float32Array | BigInt64Array | Int32Array | Uint16Array = buf;
      if (a.descr === '<f2') {
        const half = new Uint16Array(buf.length);
        for (let i = 0; i < half.length; i++) half[i] = floatToHalf((buf as Float32Array)[i]);
        bytes = half;
      }
      entry.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), r + n >= rows);
      await pending;
    }
    if (rows === 0) entry.push(new Uint8Array(0), true);
  }
  zip.end();
  await done;
  if (failed) throw failed;
}
