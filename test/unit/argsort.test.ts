/** The radix key sort against a comparator sort: negatives, zeros, ties, extremes, clusters. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LSD_MAX_KEYS,
  allocateKeys,
  keyValue,
  keyValues,
  setKey,
  setKeys,
  sortDescending,
  sortKeys,
} from '../../src/core/analysis/argsort';
import { mulberry32 } from '../../src/core/analysis/split';

function check(values: Float64Array): void {
  const keys = sortDescending(values);
  const want = Array.from(values, (v) => v + 0).sort((a, b) => b - a);
  const got = Array.from({ length: values.length }, (_, i) => keyValue(keys, i));
  assert.deepEqual(
    got.map((v) => v + 0),
    want,
  );
  // Each payload is the index of a value equal to the key it travels with, and every index appears once.
  const seen = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    assert.equal(values[keys.pay[i]] + 0, got[i] + 0);
    seen.add(keys.pay[i]);
  }
  assert.equal(seen.size, values.length);
}

describe('sortDescending', () => {
  it('orders like a comparator sort, descending, with payloads intact', () => {
    const rand = mulberry32(5);
    const special = [0, -0, 1, -1, 1e-300, -1e-300, 1e300, -1e300, Infinity, -Infinity, 0.5, 0.5, 0.5, 2 ** -1074];
    check(
      Float64Array.from([
        ...special,
        ...Array.from({ length: 5000 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 8)),
        ...Array.from({ length: 500 }, () => Math.round(rand() * 4)),
      ]),
    );
  });
  it('handles clusters that share all but the lowest bits, and large runs of ties', () => {
    const rand = mulberry32(9);
    // Saturated confidences: 1 - tiny, differing only in the low word; many exact 1s and 0.5s.
    check(Float64Array.from({ length: 20000 }, (_, i) => (i % 7 === 0 ? 1 : i % 11 === 0 ? 0.5 : 1 - rand() * 1e-12)));
    check(Float64Array.from({ length: 3000 }, () => 0.25));
    check(new Float64Array(0));
    check(Float64Array.from([2]));
  });
  it('sorts only the first `count` values', () => {
    const keys = sortDescending(Float64Array.from([3, 1, 2, 9, 9]), 3);
    assert.deepEqual(Array.from(keys.pay), [0, 2, 1]);
  });
  it('setKeys stores the same keys as setKey, value by value', () => {
    const rand = mulberry32(3);
    const values = Float64Array.from([
      0,
      -0,
      1,
      -1,
      1e-300,
      -1e-300,
      Infinity,
      -Infinity,
      2 ** -1074,
      ...Array.from({ length: 1000 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 6)),
    ]);
    const one = allocateKeys(values.length);
    values.forEach((v, i) => setKey(one, i, v, i));
    const all = allocateKeys(values.length);
    setKeys(all, Float64Array.from(values));
    assert.deepEqual(all.hi, one.hi);
    assert.deepEqual(all.lo, one.lo);
    assert.equal(keyValue(all, 1), 0);
    assert.ok(Object.is(keyValue(all, 1), 0), '-0 is stored as +0');
  });
  it('sorts more keys than the LSD path takes (the MSD path) in order, with payloads intact', () => {
    const rand = mulberry32(21);
    const n = LSD_MAX_KEYS + 5000;
    // Clusters of near-equal values, exact ties, and both signs.
    const values = Float64Array.from({ length: n }, (_, i) =>
      i % 5 === 0 ? 0.5 : i % 7 === 0 ? 1 - rand() * 1e-12 : (rand() - 0.2) * 2,
    );
    const keys = sortDescending(values);
    const seen = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = keyValue(keys, i);
      if (i > 0) assert.ok(keyValue(keys, i - 1) >= v, `descending at ${i}`);
      assert.equal(values[keys.pay[i]], v);
      seen[keys.pay[i]] = 1;
    }
    assert.equal(
      seen.reduce((a, b) => a + b, 0),
      n,
    );
  });
});

describe('keyValues', () => {
  it('gives keyValue at every position, bit for bit', () => {
    const rand = mulberry32(31);
    const values = Float64Array.from({ length: 5000 }, (_, i) =>
      i % 9 === 0 ? -0 : i % 7 === 0 ? -rand() * 1e300 : i % 5 === 0 ? 5e-324 * i : (rand() - 0.3) * 4,
    );
    const keys = sortDescending(values);
    const all = keyValues(keys);
    assert.equal(all.length, values.length);
    for (let i = 0; i < values.length; i++) assert.ok(Object.is(all[i], keyValue(keys, i)), `position ${i}`);
    assert.equal(keyValues(keys, 10).length, 10);
  });
});

describe('sortKeys', () => {
  it('returns how many distinct values there are, on both paths, with ties, -0 and +0', () => {
    const rand = mulberry32(41);
    for (const n of [0, 1, 2, 3, 24, 25, 1000, 60_000, LSD_MAX_KEYS + 3000]) {
      for (const kind of ['ties', 'spread', 'one'] as const) {
        const values = Float64Array.from({ length: n }, (_, i) =>
          kind === 'one'
            ? 0.25
            : kind === 'ties'
              ? i % 11 === 0
                ? -0
                : i % 13 === 0
                  ? 0
                  : Math.floor(rand() * 40) / 8 - 1
              : rand() < 0.1
                ? 0.5
                : (rand() - 0.5) * (i % 3 === 0 ? 1e-9 : 10),
        );
        const keys = allocateKeys(n);
        for (let i = 0; i < n; i++) setKey(keys, i, values[i], i);
        const distinct = sortKeys(keys);
        assert.equal(distinct, new Set(Array.from(values, (v) => v + 0)).size, `${kind}, n = ${n}`);
        for (let i = 1; i < n; i++)
          if (keyValue(keys, i - 1) < keyValue(keys, i)) assert.fail(`${kind}, n = ${n}: not descending at ${i}`);
      }
    }
  });
});
