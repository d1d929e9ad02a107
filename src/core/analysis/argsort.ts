/**
 * Sorting millions of float64 scores with a payload, for the exact curves and the threshold
 * fits, without comparator calls: each value becomes a 64-bit key (two uint32 words) whose
 * unsigned order is the values' descending order, and the keys are sorted by an MSD radix
 * sort that looks only at the bits that vary within each bucket (most scores share their sign
 * and exponent), finishing small buckets by insertion. A payload word travels with each key,
 * so the caller reads the sorted events sequentially instead of through an index.
 *
 * Equal values (equal keys) end up adjacent in no particular order. -0 is treated as +0.
 * NaN must not occur.
 */
export interface SortedKeys {
  hi: Uint32Array;
  lo: Uint32Array;
  pay: Uint32Array;
  count: number;
}

const scratch = new Float64Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** Key storage for `count` events; fill it with `setKey`, then `sortKeys`. */
export function allocateKeys(count: number): SortedKeys {
  return { hi: new Uint32Array(count), lo: new Uint32Array(count), pay: new Uint32Array(count), count };
}

/** Stores value v (descending order) and its payload at position i. */
export function setKey(keys: SortedKeys, i: number, v: number, pay: number): void {
  scratch[0] = v + 0; // -0 -> +0
  const h = scratchBits[HI];
  const l = scratchBits[LO];
  if (h & 0x80000000) {
    // Negative: larger bit patterns are smaller values, so the raw bits already sort descending.
    keys.hi[i] = h;
    keys.lo[i] = l;
  } else {
    keys.hi[i] = ~(h ^ 0x80000000) >>> 0;
    keys.lo[i] = ~l >>> 0;
  }
  keys.pay[i] = pay;
}

/**
 * Stores the keys of values[0..count) (descending order) at positions 0..count-1, leaving
 * the payloads as they are: setKey for a whole array at once.
 */
export function setKeys(keys: SortedKeys, values: Float64Array): void {
  const { hi, lo, count } = keys;
  const bits = new Uint32Array(values.buffer, values.byteOffset, 2 * count);
  for (let i = 0; i < count; i++) {
    if (values[i] === 0) values[i] = 0; // -0 -> +0
    const h = bits[2 * i + HI];
    const l = bits[2 * i + LO];
    if (h & 0x80000000) {
      hi[i] = h;
      lo[i] = l;
    } else {
      hi[i] = ~(h ^ 0x80000000) >>> 0;
      lo[i] = ~l >>> 0;
    }
  }
}

/** The values stored at positions 0..count-1 (keyValue for each), written as bits. */
export function keyValues(keys: SortedKeys, count = keys.count): Float64Array {
  const out = new Float64Array(count);
  const bits = new Uint32Array(out.buffer);
  const { hi, lo } = keys;
  for (let i = 0; i < count; i++) {
    const h = hi[i];
    const l = lo[i];
    if (h & 0x80000000) {
      bits[2 * i + HI] = h;
      bits[2 * i + LO] = l;
    } else {
      bits[2 * i + HI] = ~h ^ 0x80000000;
      bits[2 * i + LO] = ~l;
    }
  }
  return out;
}

/** The value stored at position i. */
export function keyValue(keys: SortedKeys, i: number): number {
  const h = keys.hi[i];
  const l = keys.lo[i];
  if (h & 0x80000000) {
    scratchBits[HI] = h;
    scratchBits[LO] = l;
  } else {
    scratchBits[HI] = ~h ^ 0x80000000;
    scratchBits[LO] = ~l;
  }
  return scratch[0];
}

const SMALL = 24;
const MAX_DIGIT_BITS = 11;
/**
 * Up to this many keys (whose arrays stay in the caches), the hi words are sorted by LSD
 * passes of 8 bits over their varying bits, and only runs of equal hi words go on to the MSD
 * sort of their lo words; above it, the MSD sort does it all (its first pass splits the keys
 * into buckets that fit the caches).
 */
export const LSD_MAX_KEYS = 1 << 20;
const LSD_DIGIT_BITS = 8;

/**
 * Sorts the keys ascending (the values descending), in place, carrying the payloads; returns
 * how many distinct keys there are (counted where the sort ends: within its last, small ranges,
 * since keys in different buckets always differ).
 */
export function sortKeys(keys: SortedKeys): number {
  const { hi, lo, pay, count } = keys;
  if (count < 2) return count;
  // Each loop lives in its own small function, so that V8 optimises it on its own and its
  // optimised code does not meet untried code after the loop (a cold first call).
  const tmp: SortScratch = { hi: new Uint32Array(count), lo: new Uint32Array(count), pay: new Uint32Array(count) };
  if (count > LSD_MAX_KEYS) return msdSort(hi, lo, pay, tmp, 0, count, false);
  // LSD passes over the hi words' varying bits, ping-ponging between the arrays and the scratch ones.
  const vary = varyingBits(hi, count);
  if (vary !== 0) {
    let sH: Uint32Array = hi;
    let sL: Uint32Array = lo;
    let sP: Uint32Array = pay;
    let dH: Uint32Array = tmp.hi;
    let dL: Uint32Array = tmp.lo;
    let dP: Uint32Array = tmp.pay;
    const counts = new Uint32Array(1 << LSD_DIGIT_BITS);
    const highest = 31 - Math.clz32(vary);
    for (let shift = 31 - Math.clz32(vary & -vary); shift <= highest; shift += LSD_DIGIT_BITS) {
      lsdPass(sH, sL, sP, dH, dL, dP, counts, shift, count);
      [sH, dH] = [dH, sH];
      [sL, dL] = [dL, sL];
      [sP, dP] = [dP, sP];
    }
    if (sH !== hi) {
      hi.set(sH);
      lo.set(sL);
      pay.set(sP);
    }
  }
  return sortEqualHiRuns(hi, lo, pay, tmp, count);
}

/** Scratch arrays of a sort, as long as the keys. */
interface SortScratch {
  hi: Uint32Array;
  lo: Uint32Array;
  pay: Uint32Array;
}

/** The bits that are not the same in all of hi[0..count). */
function varyingBits(hi: Uint32Array, count: number): number {
  let and = 0xffffffff;
  let or = 0;
  for (let i = 0; i < count; i++) {
    and &= hi[i];
    or |= hi[i];
  }
  return (and ^ or) >>> 0;
}

/** One stable LSD pass on the hi words' digit at `shift`, from the s arrays to the d arrays. */
function lsdPass(
  sH: Uint32Array,
  sL: Uint32Array,
  sP: Uint32Array,
  dH: Uint32Array,
  dL: Uint32Array,
  dP: Uint32Array,
  counts: Uint32Array,
  shift: number,
  count: number,
): void {
  const digitMask = (1 << LSD_DIGIT_BITS) - 1;
  counts.fill(0);
  countDigits(sH, counts, shift, count);
  let sum = 0;
  for (let b = 0; b <= digitMask; b++) {
    const c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (let i = 0; i < count; i++) {
    // As int32 (the same bits): a word of 2^31 or more does not leave the optimised code's int32 range.
    const h = sH[i] | 0;
    const at = counts[(h >>> shift) & digitMask]++;
    dH[at] = h;
    dL[at] = sL[i];
    dP[at] = sP[i];
  }
}

/** Counts the LSD digits of hi[0..count) at `shift` into counts (zeroed). */
function countDigits(hi: Uint32Array, counts: Uint32Array, shift: number, count: number): void {
  const digitMask = (1 << LSD_DIGIT_BITS) - 1;
  for (let i = 0; i < count; i++) counts[((hi[i] | 0) >>> shift) & digitMask]++;
}

/** Sorts the runs of equal hi words (hi already sorted) by their lo words; returns the distinct keys. */
function sortEqualHiRuns(hi: Uint32Array, lo: Uint32Array, pay: Uint32Array, tmp: SortScratch, count: number): number {
  let distinct = 0;
  for (let start = 0; start < count;) {
    const h = hi[start];
    let end = start + 1;
    while (end < count && hi[end] === h) end++;
    if (end - start > SMALL) distinct += msdSort(hi, lo, pay, tmp, start, end, true);
    else if (end - start > 1) {
      insertionSort(hi, lo, pay, start, end);
      distinct += distinctIn(hi, lo, start, end);
    } else distinct++;
    start = end;
  }
  return distinct;
}

/** The distinct keys among sorted positions start..end-1 (end > start). */
function distinctIn(hi: Uint32Array, lo: Uint32Array, start: number, end: number): number {
  let distinct = 1;
  for (let i = start + 1; i < end; i++) if (hi[i] !== hi[i - 1] || lo[i] !== lo[i - 1]) distinct++;
  return distinct;
}

/** Insertion sort of positions start..end-1 by (hi, lo). */
function insertionSort(hi: Uint32Array, lo: Uint32Array, pay: Uint32Array, start: number, end: number): void {
  for (let i = start + 1; i < end; i++) {
    const h = hi[i];
    const l = lo[i];
    const p = pay[i];
    let j = i - 1;
    while (j >= start && (hi[j] > h || (hi[j] === h && lo[j] > l))) {
      hi[j + 1] = hi[j];
      lo[j + 1] = lo[j];
      pay[j + 1] = pay[j];
      j--;
    }
    hi[j + 1] = h;
    lo[j + 1] = l;
    pay[j + 1] = p;
  }
}

/**
 * MSD radix sort of positions start..end-1 (end - start >= 2) on the hi words (then lo), or on
 * the lo words only (`useLo`, the hi words being equal); returns the distinct keys among them.
 */
function msdSort(
  hi: Uint32Array,
  lo: Uint32Array,
  pay: Uint32Array,
  tmp: SortScratch,
  start: number,
  end: number,
  useLo: boolean,
): number {
  const size = end - start;
  if (size <= SMALL) {
    insertionSort(hi, lo, pay, start, end);
    return distinctIn(hi, lo, start, end);
  }
  const key = useLo ? lo : hi;
  const diff = differingBits(key, start, end);
  if (diff === 0) return useLo ? 1 : msdSort(hi, lo, pay, tmp, start, end, true);
  // Partition on the highest varying bits, about log2(size) - 2 of them (buckets of ~4).
  const top = 31 - Math.clz32(diff);
  const width = Math.min(top + 1, MAX_DIGIT_BITS, Math.max(4, 29 - Math.clz32(size)));
  const shift = top + 1 - width;
  const buckets = 1 << width;
  const bounds = new Uint32Array(buckets + 1);
  msdPartition(hi, lo, pay, tmp, key, bounds, start, end, shift, width);
  let distinct = 0;
  for (let b = 0; b < buckets; b++) {
    const s = start + bounds[b];
    const e = start + bounds[b + 1];
    if (e - s > 1) distinct += msdSort(hi, lo, pay, tmp, s, e, useLo);
    else distinct += e - s;
  }
  return distinct;
}

/** The bits in which key[start+1..end) differ from key[start]. */
function differingBits(key: Uint32Array, start: number, end: number): number {
  const k0 = key[start];
  let diff = 0;
  for (let i = start + 1; i < end; i++) diff |= key[i] ^ k0;
  return diff;
}

/** Distributes positions start..end-1 into the 2^width buckets of key's digit at `shift`; bounds gets the bucket starts (relative to start). */
function msdPartition(
  hi: Uint32Array,
  lo: Uint32Array,
  pay: Uint32Array,
  tmp: SortScratch,
  key: Uint32Array,
  bounds: Uint32Array,
  start: number,
  end: number,
  shift: number,
  width: number,
): void {
  const mask = (1 << width) - 1;
  const buckets = 1 << width;
  for (let i = start; i < end; i++) bounds[((key[i] >>> shift) & mask) + 1]++;
  for (let b = 0; b < buckets; b++) bounds[b + 1] += bounds[b];
  const next = bounds.slice(0, buckets);
  const { hi: tHi, lo: tLo, pay: tPay } = tmp;
  for (let i = start; i < end; i++) {
    const at = start + next[(key[i] >>> shift) & mask]++;
    tHi[at] = hi[i];
    tLo[at] = lo[i];
    tPay[at] = pay[i];
  }
  hi.set(tHi.subarray(start, end), start);
  lo.set(tLo.subarray(start, end), start);
  pay.set(tPay.subarray(start, end), start);
}

/**
 * Sorted keys of values[0..count) (descending), each carrying its index. A Float64Array's keys
 * are set in one pass (setKeys), which turns its -0s into +0 in place.
 */
export function sortDescending(values: ArrayLike<number>, count = values.length): SortedKeys {
  const keys = allocateKeys(count);
  if (values instanceof Float64Array) {
    const pay = keys.pay;
    for (let i = 0; i < count; i++) pay[i] = i;
    setKeys(keys, values.subarray(0, count));
  } else for (let i = 0; i < count; i++) setKey(keys, i, values[i], i);
  sortKeys(keys);
  return keys;
}
