/**
 * Indices that sort float64 values in descending order, by an LSD radix sort on the values'
 * bit patterns (six 11-bit digits): O(n), sequential passes, no comparator calls. The exact
 * curves sort millions of scores, where a comparator sort costs seconds. Equal values stay in
 * their original order (the sort is stable). NaN must not occur.
 */
export function argsortDescending(values: Float64Array, count = values.length): Uint32Array {
  // Sortable keys: for ascending order flip every bit of negatives and the sign bit of
  // positives; descending order is the complement, so flip the other way.
  const bits = new Uint32Array(values.buffer, values.byteOffset, count * 2);
  const lo = new Uint32Array(count);
  const hi = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const l = bits[2 * i];
    const h = bits[2 * i + 1];
    if (h & 0x80000000) {
      // negative: ascending key = ~bits; descending key = bits
      lo[i] = l;
      hi[i] = h;
    } else {
      // positive: ascending key = bits ^ sign; descending key = ~(bits ^ sign)
      lo[i] = ~l >>> 0;
      hi[i] = ~(h ^ 0x80000000) >>> 0;
    }
  }
  // LSD radix sort with 11-bit digits (6 passes): keys travel with their indices, so every
  // pass reads sequentially and scatters into 2048 buckets (cache-friendly).
  let kLo = lo;
  let kHi = hi;
  let order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  let tLo = new Uint32Array(count);
  let tHi = new Uint32Array(count);
  let tOrder = new Uint32Array(count);
  const counts = new Uint32Array(2048);
  const digits = new Uint16Array(count);
  for (let pass = 0; pass < 6; pass++) {
    const bit = pass * 11;
    const fromHi = bit >= 32;
    const shift = fromHi ? bit - 32 : bit;
    // Digit 2 straddles the words: bits 22..31 of lo and bit 0 of hi.
    for (let i = 0; i < count; i++) {
      digits[i] = pass === 2 ? ((kLo[i] >>> 22) | ((kHi[i] & 0x1) << 10)) & 0x7ff : ((fromHi ? kHi[i] : kLo[i]) >>> shift) & 0x7ff;
    }
    counts.fill(0);
    for (let i = 0; i < count; i++) counts[digits[i]]++;
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < count; i++) {
      const at = counts[digits[i]]++;
      tLo[at] = kLo[i];
      tHi[at] = kHi[i];
      tOrder[at] = order[i];
    }
    [kLo, tLo] = [tLo, kLo];
    [kHi, tHi] = [tHi, kHi];
    [order, tOrder] = [tOrder, order];
  }
  return order;
}
