/** The radix argsort against a comparator sort: negatives, zeros, ties (stable), extremes. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argsortDescending } from '../../src/core/analysis/argsort';
import { mulberry32 } from '../../src/core/analysis/split';

describe('argsortDescending', () => {
  it('orders like a stable comparator sort, descending', () => {
    const rand = mulberry32(5);
    const special = [0, -0, 1, -1, 1e-300, -1e-300, 1e300, -1e300, Infinity, -Infinity, 0.5, 0.5, 0.5, 2 ** -1074];
    const values = Float64Array.from([...special, ...Array.from({ length: 5000 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 8)), ...Array.from({ length: 500 }, () => Math.round(rand() * 4))]);
    const got = Array.from(argsortDescending(values));
    const want = Array.from(values.keys()).sort((a, b) => (values[b] - values[a]) || a - b);
    // -0 and 0 compare equal; the radix order puts +0 first, a comparator keeps index order: compare values, then ties by index within each value.
    assert.deepEqual(got.map((i) => values[i] + 0), want.map((i) => values[i] + 0));
    for (let j = 1; j < got.length; j++) {
      if (Object.is(values[got[j]], values[got[j - 1]])) assert.ok(got[j] > got[j - 1], 'stable among equal values');
    }
  });
  it('sorts only the first `count` values', () => {
    const v = Float64Array.from([3, 1, 2, 9, 9]);
    assert.deepEqual(Array.from(argsortDescending(v, 3)), [0, 2, 1]);
  });
});
