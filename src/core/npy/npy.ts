import { ExitLensError } from '../errors';

/**
 * The NumPy .npy format (numpy/lib/format.py, format versions 1.0-3.0): a magic string,
 * a version, a header length and a Python dict literal with descr, fortran_order and shape.
 */
export type NpyDtype =
  'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'uint16' | 'bool';

const DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<f2': 'float16',
  '<i8': 'int64',
  '<i4': 'int32',
  '<i2': 'int16',
  '|i1': 'int8',
  '<u2': 'uint16',
  '|u1': 'uint8',
  '|b1': 'bool',
};

export const ITEM_SIZE: Record<NpyDtype, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  uint16: 2,
  bool: 1,
};

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Bytes before the data: magic, version, length field and dict. */
  headerBytes: number;
  /** Bytes of the data that the header announces. */
  dataBytes: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Bytes to read to be sure the whole header is in hand (headers are small; 64 KiB is generous). */
export const MAX_HEADER_BYTES = 65536;

/**
 * Parses an .npy header from the first bytes of the array. `available` is the byte count the
 * file or zip entry really holds: a header that claims more is refused before anything is allocated.
 */
export function parseNpyHeader(head: Uint8Array, where: string, available: number): NpyHeader {
  const bad = (why: string, hint = 'Save the array with numpy.save / numpy.savez.') =>
    new ExitLensError('samples-unreadable', `${where} is not a valid .npy array: ${why}.`, hint);
  if (head.length < 10 || MAGIC.some((b, i) => head[i] !== b))
    throw bad('it does not start with the NumPy magic string');
  const major = head[6];
  let len: number;
  let start: number;
  if (major === 1) {
    len = head[8] | (head[9] << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (head.length < 12) throw bad('the header is cut short');
    len = (head[8] | (head[9] << 8) | (head[10] << 16)) + head[11] * 0x1000000;
    start = 12;
  } else {
    throw bad(`unknown format version ${major}`);
  }
  if (start + len > head.length) throw bad('the header is cut short or longer than 64 KiB');
  const dict = Buffer.from(head.subarray(start, start + len)).toString('latin1');
  const descrMatch = /'descr'\s*:\s*('([^']*)'|\[)/.exec(dict);
  const fortranMatch = /'fortran_order'\s*:\s*(True|False)/.exec(dict);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict);
  if (!descrMatch || !fortranMatch || !shapeMatch) throw bad('its header dict lacks descr, fortran_order or shape');
  if (descrMatch[1] === '[') {
    throw new ExitLensError(
      'samples-unreadable',
      `${where} holds a structured (record) array, which Exit Lens does not read.`,
      'Save each field as its own array in the .npz.',
    );
  }
  const descr = descrMatch[2];
  if (descr === '|O' || descr.endsWith('O')) {
    throw new ExitLensError(
      'unsafe-data',
      `${where} is an object array; reading it would mean unpickling Python objects, which Exit Lens never does.`,
      'Convert it to a numeric array (for example np.asarray(x, dtype=np.float32)) and save it again.',
    );
  }
  const norm = descr.length === 3 && descr[0] === '=' ? `<${descr.slice(1)}` : descr;
  const dtype =
    DESCR[norm] ?? (norm === '<b1' ? 'bool' : norm === '<u1' ? 'uint8' : norm === '<i1' ? 'int8' : undefined);
  if (!dtype) {
    const hint = descr.startsWith('>')
      ? 'It is big-endian; save it little-endian, e.g. x.astype(x.dtype.newbyteorder("<")).'
      : 'Supported: float32, float64, float16, int64, int32, int16, int8, uint16, uint8, bool.';
    throw new ExitLensError('samples-unreadable', `${where} has dtype ${descr}, which Exit Lens does not read.`, hint);
  }
  if (fortranMatch[1] === 'True') {
    throw new ExitLensError(
      'samples-unreadable',
      `${where} is stored in Fortran (column-major) order; Exit Lens reads C-order arrays only, row by row.`,
      'Save it with np.ascontiguousarray(x) (C order).',
    );
  }
  const parts = shapeMatch[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const shape = parts.map((p) => (/^\d+L?$/.test(p) ? Number.parseInt(p, 10) : NaN));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw bad(`its shape (${shapeMatch[1]}) is not a tuple of sizes`);
  const headerBytes = start + len;
  let elements = 1;
  for (const d of shape) elements *= d;
  const dataBytes = elements * ITEM_SIZE[dtype];
  if (!Number.isSafeInteger(dataBytes) || headerBytes + dataBytes > available) {
    throw new ExitLensError(
      'samples-unreadable',
      `${where} claims shape (${shape.join(', ')}) of ${dtype}, ${dataBytes.toLocaleString('en-US')} bytes of data, but holds only ${Math.max(0, available - headerBytes).toLocaleString('en-US')}; the file is truncated or corrupt.`,
      'Save the array again.',
    );
  }
  return { dtype, shape, headerBytes, dataBytes };
}

/** IEEE 754 half to double. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Double to IEEE 754 half, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >> 16) & 0x8000;
  const exp = (x >> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half >> 10;
  return sign | half;
}

export type NumericArray =
  Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | BigInt64Array;

/** Copies little-endian bytes into a fresh, aligned typed array of the array's own dtype. */
export function bytesToTyped(bytes: Uint8Array, dtype: NpyDtype): NumericArray {
  const n = bytes.length / ITEM_SIZE[dtype];
  const make = (): NumericArray => {
    switch (dtype) {
      case 'float32':
        return new Float32Array(n);
      case 'float64':
        return new Float64Array(n);
      case 'float16':
        return new Uint16Array(n);
      case 'int64':
        return new BigInt64Array(n);
      case 'int32':
        return new Int32Array(n);
      case 'int16':
        return new Int16Array(n);
      case 'int8':
        return new Int8Array(n);
      case 'uint16':
        return new Uint16Array(n);
      case 'uint8':
      case 'bool':
        return new Uint8Array(n);
    }
  };
  const out = make();
  new Uint8Array(out.buffer, out.byteOffset, bytes.length).set(bytes);
  return out;
}

/**
 * The bytes as a typed array of `dtype`: a view on the same memory when their offset is a
 * multiple of the item size (no copy), else a copy. For bytes the caller owns, e.g. a batch
 * just read from a file.
 */
export function typedView(bytes: Uint8Array, dtype: NpyDtype): NumericArray {
  const size = ITEM_SIZE[dtype];
  if (bytes.byteOffset % size !== 0) return bytesToTyped(bytes, dtype);
  const n = bytes.length / size;
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, n);
    case 'float64':
      return new Float64Array(buffer, byteOffset, n);
    case 'float16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'int32':
      return new Int32Array(buffer, byteOffset, n);
    case 'int16':
      return new Int16Array(buffer, byteOffset, n);
    case 'int8':
      return new Int8Array(buffer, byteOffset, n);
    case 'uint16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/** Reads element i as a JS number (float16 decoded, int64 narrowed). */
export function elementAsNumber(arr: NumericArray, dtype: NpyDtype, i: number): number {
  if (dtype === 'float16') return halfToFloat(arr[i] as number);
  if (dtype === 'int64') return Number(arr[i] as bigint);
  return arr[i] as number;
}

export function isIntegerDtype(d: NpyDtype): boolean {
  return d === 'int64' || d === 'int32' || d === 'int16' || d === 'int8' || d === 'uint8' || d === 'uint16';
}

export function isFloatDtype(d: NpyDtype): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16';
}
