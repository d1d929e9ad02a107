/**
 * Indices that sort float64 values in descending order, by an LSD radix sort on the values'
 * bit patterns (four 16-bit digits): O(n), sequential passes, no comparator calls. The exact
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
  let order: Uint32Array = new Uint32Array(count);
  let next: Uint32Array = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const counts = new Uint32Array(65536);
  const pass = (word: Uint32Array, shift: number) => {
    counts.fill(0);
    for (let i = 0; i < count; i++) counts[(word[order[i]] >>> shift) & 0xffff]++;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < count; i++) {
      const idx = order[i];
      next[counts[(word[idx] >>> shift) & 0xffff]++] = idx;
    }
    const t = order;
    order = next;
    next = t;
  };
  pass(lo, 0);
  pass(lo, 16);
  pass(hi, 0);
  pass(hi, 16);
  return order;
}
