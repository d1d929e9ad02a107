/**
 * .npy headers and .npz containers: stored and deflated entries read row by row give the
 * same bytes, headers that claim more than the file holds are refused before allocating.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ExitLensError } from '../../src/core/errors';
import { openArrayFile, readWholeArray } from '../../src/core/npy/arrayFile';
import { BatchReader, SampleBinding } from '../../src/core/samples/samples';
import { bytesToTyped, floatToHalf, halfToFloat, parseNpyHeader, typedView } from '../../src/core/npy/npy';
import { fixture, tmpDir } from './helpers';

function npyBytes(dict: string, data: Uint8Array, version = 1): Buffer {
  const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const lenBytes = version === 1 ? 2 : 4;
  let header = dict;
  while ((magic.length + lenBytes + header.length + 1) % 64) header += ' ';
  header += '\n';
  const len = Buffer.alloc(lenBytes);
  if (version === 1) len.writeUInt16LE(header.length);
  else len.writeUInt32LE(header.length);
  return Buffer.concat([magic, len, Buffer.from(header, 'latin1'), data]);
}

describe('.npy headers', () => {
  it('reads dtype, shape and data offset (versions 1 and 2)', () => {
    for (const version of [1, 2]) {
      const bytes = npyBytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        new Uint8Array(24),
        version,
      );
      const h = parseNpyHeader(bytes, 'a.npy', bytes.length);
      assert.equal(h.dtype, 'float32');
      assert.deepEqual(h.shape, [2, 3]);
      assert.equal(h.headerBytes % 64, 0);
      assert.equal(h.dataBytes, 24);
    }
  });

  it('reads every supported dtype', () => {
    const dtypes: Record<string, string> = {
      '<f8': 'float64',
      '<f2': 'float16',
      '<i8': 'int64',
      '<i4': 'int32',
      '|u1': 'uint8',
      '|b1': 'bool',
    };
    for (const [descr, name] of Object.entries(dtypes)) {
      const bytes = npyBytes(`{'descr': '${descr}', 'fortran_order': False, 'shape': (4,), }`, new Uint8Array(32));
      assert.equal(parseNpyHeader(bytes, 'a.npy', bytes.length).dtype, name);
    }
  });

  it('refuses a header that claims more than the file holds, before allocating', () => {
    const bytes = npyBytes(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
      new Uint8Array(16),
    );
    assert.throws(
      () => parseNpyHeader(bytes, 'huge.npy', bytes.length),
      (e: unknown) =>
        e instanceof ExitLensError &&
        /claims shape \(1000000, 1000000\)/.test(e.message) &&
        /truncated/.test(e.message),
    );
  });

  it('refuses big-endian, structured, object and Fortran arrays with the fix', () => {
    const cases: [string, RegExp][] = [
      ["{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", /big-endian/],
      ["{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", /structured/],
      ["{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", /unpickling/],
      ["{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", /ascontiguousarray/],
    ];
    for (const [dict, re] of cases) {
      const bytes = npyBytes(dict, new Uint8Array(8));
      assert.throws(
        () => parseNpyHeader(bytes, 'a.npy', bytes.length),
        (e: unknown) => e instanceof ExitLensError && re.test(`${e.message} ${e.hint}`),
      );
    }
  });

  it('float16 round trip', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8])
      assert.equal(halfToFloat(floatToHalf(v)), v);
    assert.equal(floatToHalf(1.0009765625 + 1e-9), floatToHalf(1.0009765625));
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  });
});

describe('typed views of row bytes', () => {
  it('an aligned block is viewed in place, an unaligned one is copied, with the same values', () => {
    const values = [1.5, -2, 3.25, 1e-30];
    const aligned = new Uint8Array(new Float32Array(values).buffer);
    const view = typedView(aligned, 'float32');
    assert.deepEqual(Array.from(view as Float32Array), Array.from(new Float32Array(values)));
    assert.equal(view.buffer, aligned.buffer, 'aligned: no copy');
    const shifted = new Uint8Array(17);
    shifted.set(aligned, 1);
    const unaligned = shifted.subarray(1);
    const copy = typedView(unaligned, 'float32');
    assert.deepEqual(Array.from(copy as Float32Array), Array.from(new Float32Array(values)));
    assert.notEqual(copy.buffer, shifted.buffer, 'unaligned: copied');
    const ids = new Uint8Array(new BigInt64Array([5n, -1n]).buffer);
    assert.deepEqual(Array.from(typedView(ids, 'int64') as BigInt64Array), [5n, -1n]);
  });
});

describe('.npz containers', () => {
  it('stored (np.savez) and deflated (np.savez_compressed) entries read identically, in any row chunking', async () => {
    const stored = await openArrayFile(fixture('cnn_samples.npz'));
    const deflated = await openArrayFile(fixture('cnn_samples_deflated.npz'));
    try {
      assert.deepEqual(
        stored.arrays.map((a) => [a.name, a.compressed]),
        [
          ['x', false],
          ['label', false],
        ],
      );
      assert.deepEqual(
        deflated.arrays.map((a) => [a.name, a.compressed]),
        [
          ['x', true],
          ['label', true],
        ],
      );
      const a = await stored.arrays[0].open();
      const b = await deflated.arrays[0].open();
      const whole = Buffer.from(await a.readRows(50));
      const parts: Buffer[] = [];
      for (const n of [1, 7, 13, 29]) parts.push(Buffer.from(await b.readRows(n)));
      await a.close();
      await b.close();
      assert.ok(whole.equals(Buffer.concat(parts)));
      assert.equal(whole.length, 50 * 3 * 8 * 8 * 4);
    } finally {
      await stored.close();
      await deflated.close();
    }
  });

  it("rows read into a caller's buffer are the same bytes, at its start, from stored and deflated entries", async () => {
    const stored = await openArrayFile(fixture('cnn_samples.npz'));
    const deflated = await openArrayFile(fixture('cnn_samples_deflated.npz'));
    try {
      const rowBytes = 3 * 8 * 8 * 4;
      const whole = Buffer.from(await readWholeArray(stored.arrays[0]));
      for (const file of [stored, deflated]) {
        const r = await file.arrays[0].open();
        const into = new Uint8Array(20 * rowBytes).fill(7);
        const first = await r.readRows(20, into);
        assert.equal(first.buffer, into.buffer, 'read in place');
        assert.ok(Buffer.from(first).equals(whole.subarray(0, 20 * rowBytes)));
        // A shorter read reuses the same buffer; the bytes after it are left alone.
        const second = await r.readRows(5, into);
        assert.equal(second.length, 5 * rowBytes);
        assert.ok(Buffer.from(second).equals(whole.subarray(20 * rowBytes, 25 * rowBytes)));
        assert.ok(Buffer.from(into.subarray(5 * rowBytes)).equals(whole.subarray(5 * rowBytes, 20 * rowBytes)));
        await r.close();
      }
    } finally {
      await stored.close();
      await deflated.close();
    }
  });

  it('a .npy file is one array named after the file', async () => {
    const f = await openArrayFile(fixture('cnn_inputs.npy'));
    try {
      assert.deepEqual(
        f.arrays.map((a) => [a.name, a.header.dtype, a.header.shape.join('x')]),
        [['cnn_inputs', 'float32', '50x3x8x8']],
      );
      const r = await f.arrays[0].open();
      const first = bytesToTyped(await r.readRows(1), 'float32');
      await r.close();
      assert.equal(first.length, 192);
    } finally {
      await f.close();
    }
  });

  it('reading past a truncated entry fails with the project error', async () => {
    const dir = tmpDir();
    const data = fs.readFileSync(fixture('cnn_inputs.npy'));
    const cut = path.join(dir, 'cut.npy');
    fs.writeFileSync(cut, data.subarray(0, data.length - 100));
    await assert.rejects(openArrayFile(cut), (e: unknown) => e instanceof ExitLensError && /truncated/.test(e.message));
  });
});

describe('batches of several inputs', () => {
  it("every input's rows come in file order, batch after batch, in the model's dtypes", async () => {
    const f = await openArrayFile(fixture('cnn_samples.npz'));
    try {
      const x = f.arrays.find((a) => a.name === 'x')!;
      const label = f.arrays.find((a) => a.name === 'label')!;
      // Two model inputs read from one file: x as is, and the int64 label array cast to int32.
      const binding: SampleBinding = {
        inputs: [
          {
            input: { name: 'x', dtype: 'float32', shape: ['batch', 3, 8, 8] },
            array: x,
            rowShape: [3, 8, 8],
            cast: false,
          },
          { input: { name: 'k', dtype: 'int32', shape: ['batch'] }, array: label, rowShape: [], cast: true },
        ],
        labels: null,
        sampleCount: 50,
        fixedBatch: null,
        unusedArrays: [],
      };
      const wholeX = bytesToTyped(await readWholeArray(x), 'float32') as Float32Array;
      const wholeLabel = bytesToTyped(await readWholeArray(label), 'int64') as BigInt64Array;
      const reader = await BatchReader.open(binding);
      try {
        const a = await reader.next(32);
        const b = await reader.next(18);
        assert.deepEqual(Array.from(a[0] as Float32Array), Array.from(wholeX.subarray(0, 32 * 192)));
        assert.deepEqual(Array.from(b[0] as Float32Array), Array.from(wholeX.subarray(32 * 192)));
        assert.ok(a[1] instanceof Int32Array);
        assert.deepEqual(Array.from(a[1] as Int32Array), Array.from(wholeLabel.subarray(0, 32), Number));
        assert.deepEqual(Array.from(b[1] as Int32Array), Array.from(wholeLabel.subarray(32), Number));
        await assert.rejects(reader.next(1), ExitLensError, 'reading past the end fails with the project error');
      } finally {
        await reader.close();
      }
    } finally {
      await f.close();
    }
  });
});
