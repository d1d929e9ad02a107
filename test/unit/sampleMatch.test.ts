/**
 * The sample-set picker's ranking (issue #15): files whose arrays feed the model's inputs come
 * first, each group in the order given, from headers alone; unreadable and special files, and
 * files past the cap, count as not matching.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { arraysMatchInputs, rankSampleFiles } from '../../src/core/samples/sampleMatch';
import { makeFifo, npy, writeZip } from './support/hostileFiles';
import { tmpDir } from './helpers';

const f32 = (shape: number[]) => npy('<f4', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
const i64 = (n: number) => npy('<i8', [n], new BigInt64Array(n));

/** A stored .npz holding these arrays (a name without .npy is stored as name.npy). */
function npz(file: string, arrays: Record<string, Buffer>): string {
  writeZip(
    file,
    Object.entries(arrays).map(([name, stored]) => ({ name: `${name}.npy`, stored })),
  );
  return file;
}

describe('arraysMatchInputs', () => {
  it('wants an array per input name, or one non-label array for a single-input model', () => {
    assert.equal(arraysMatchInputs(['x', 'label'], ['x']), true);
    assert.equal(arraysMatchInputs(['pixels', 'label'], ['x']), true); // the only input array
    assert.equal(arraysMatchInputs(['pixels'], ['x']), true);
    assert.equal(arraysMatchInputs(['a', 'b', 'label'], ['x']), false); // two candidates, none named x
    assert.equal(arraysMatchInputs(['label'], ['x']), false); // labels only
    assert.equal(arraysMatchInputs(['ids', 'mask', 'y'], ['ids', 'mask']), true);
    assert.equal(arraysMatchInputs(['ids', 'y'], ['ids', 'mask']), false);
    assert.equal(arraysMatchInputs(['ids', 'mask'], ['ids']), true); // by name, extras allowed
    // A configured label array is the one left out; "label" is then an input candidate.
    assert.equal(arraysMatchInputs(['pixels', 'label', 'target'], ['x'], 'target'), false);
    assert.equal(arraysMatchInputs(['pixels', 'target'], ['x'], 'target'), true);
    assert.equal(arraysMatchInputs([], ['x']), false);
  });
});

describe('rankSampleFiles', () => {
  it('lists matching files first, each group in the given order, from headers only', async () => {
    const dir = tmpDir();
    const a = npz(path.join(dir, 'a.npz'), { a: f32([2, 3]), b: f32([2, 3]), label: i64(2) }); // no
    const b = npz(path.join(dir, 'b.npz'), { x: f32([2, 3]), label: i64(2) }); // yes, by name
    const c = path.join(dir, 'c.npy');
    fs.writeFileSync(c, f32([2, 3])); // yes, one array
    const d = path.join(dir, 'd.npz');
    fs.writeFileSync(d, 'not an archive'); // no, unreadable
    const e = npz(path.join(dir, 'e.npz'), { pixels: f32([2, 3]), y: i64(2) }); // yes, one non-label array
    const f = npz(path.join(dir, 'f.npz'), { label: i64(2) }); // no, labels only
    const ranked = await rankSampleFiles([a, b, c, d, e, f], ['x']);
    assert.deepEqual(
      ranked.map((r) => [path.basename(r.path), r.matches]),
      [
        ['b.npz', true],
        ['c.npy', true],
        ['e.npz', true],
        ['a.npz', false],
        ['d.npz', false],
        ['f.npz', false],
      ],
    );
  });

  it('ranks a multi-input model by names and opens no more than the cap', async () => {
    const dir = tmpDir();
    const both = npz(path.join(dir, 'both.npz'), { ids: i64(4), mask: i64(4), label: i64(4) });
    const one = npz(path.join(dir, 'one.npz'), { ids: i64(4), label: i64(4) });
    const late = npz(path.join(dir, 'late.npz'), { ids: i64(4), mask: i64(4) });
    const ranked = await rankSampleFiles([one, both, late], ['ids', 'mask'], { maxChecked: 2 });
    assert.deepEqual(
      ranked.map((r) => [path.basename(r.path), r.matches]),
      [
        ['both.npz', true],
        ['one.npz', false],
        ['late.npz', false], // past the cap: not opened
      ],
    );
  });

  it('skips what is not a regular file without blocking on it', async (t) => {
    const dir = tmpDir();
    const fifo = path.join(dir, 'pipe.npz');
    if (!makeFifo(fifo)) return t.skip('mkfifo is not available');
    const folder = path.join(dir, 'folder.npy');
    fs.mkdirSync(folder);
    const good = npz(path.join(dir, 'good.npz'), { x: f32([1, 2]) });
    const ranked = await rankSampleFiles([fifo, folder, good], ['x']);
    assert.deepEqual(
      ranked.map((r) => [path.basename(r.path), r.matches]),
      [
        ['good.npz', true],
        ['pipe.npz', false],
        ['folder.npy', false],
      ],
    );
  });
});
