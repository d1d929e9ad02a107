/**
 * Mutation fuzzing of the readers, for a bounded time: random bit flips, byte overwrites,
 * truncations and insertions in valid .onnx, .npz (stored and deflated) and .npy files. A
 * reader must either succeed or fail with ExitLensError: never another exception, never a
 * hang, and never announce more data than the file holds. EXIT_LENS_FUZZ_SECONDS sets the
 * time per file (default 2; scripts can run it for longer).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../src/core/analysis/split';
import { ExitLensError } from '../../src/core/errors';
import { openArrayFile } from '../../src/core/npy/arrayFile';
import { nodeCosts } from '../../src/core/onnx/cost';
import { detectExits } from '../../src/core/onnx/exits';
import { loadModelInfo } from '../../src/core/onnx/model';
import { fixture, slowTest, tmpDir } from './helpers';

const SECONDS = Number(process.env.EXIT_LENS_FUZZ_SECONDS ?? 2);

function mutate(data: Buffer, rand: () => number): Buffer {
  const out = Buffer.from(data);
  const kind = Math.floor(rand() * 4);
  const at = Math.floor(rand() * out.length);
  if (kind === 0) {
    for (let i = 0; i < 1 + Math.floor(rand() * 8); i++) {
      const p = Math.floor(rand() * out.length);
      out[p] ^= 1 << Math.floor(rand() * 8);
    }
    return out;
  }
  if (kind === 1) {
    // Overwrite a few bytes with extremes (huge lengths, sizes and counts).
    const values = [0x00, 0xff, 0x7f, 0x80];
    for (let i = 0; i < 4 && at + i < out.length; i++) out[at + i] = values[Math.floor(rand() * values.length)];
    return out;
  }
  if (kind === 2) return out.subarray(0, at);
  const insert = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256)));
  return Buffer.concat([out.subarray(0, at), insert, out.subarray(at)]);
}

function expectOwnError(err: unknown, what: string): void {
  if (!(err instanceof ExitLensError)) {
    assert.fail(`${what}: failed with ${(err as Error)?.constructor?.name}: ${(err as Error)?.stack ?? err}`);
  }
}

async function readAllArrays(file: string): Promise<void> {
  const f = await openArrayFile(file);
  try {
    const size = fs.statSync(file).size;
    for (const a of f.arrays) {
      // Never more data announced than the file holds (a deflated entry may expand, up to zip limits).
      if (!a.compressed) assert.ok(a.header.dataBytes <= size, `${a.name} announces ${a.header.dataBytes} bytes in a ${size}-byte file`);
      const reader = await a.open();
      try {
        let left = a.rows;
        while (left > 0) {
          const n = Math.min(left, 64);
          await reader.readRows(n);
          left -= n;
        }
      } finally {
        await reader.close();
      }
    }
  } finally {
    await f.close();
  }
}

async function fuzz(seedFile: string, check: (file: string) => Promise<void>, seed: number): Promise<number> {
  const data = fs.readFileSync(seedFile);
  const dir = tmpDir('exit-lens-fuzz-');
  const rand = mulberry32(seed);
  const deadline = Date.now() + SECONDS * 1000;
  let cases = 0;
  try {
    while (Date.now() < deadline) {
      const file = path.join(dir, `case${path.extname(seedFile)}`);
      fs.writeFileSync(file, mutate(data, rand));
      const started = Date.now();
      try {
        await check(file);
      } catch (err) {
        expectOwnError(err, `case ${cases} of ${path.basename(seedFile)} (seed ${seed})`);
      }
      assert.ok(Date.now() - started < 5000, `case ${cases} of ${path.basename(seedFile)} took ${Date.now() - started} ms`);
      cases++;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return cases;
}

describe('fuzzing the readers', { skip: slowTest('fuzzing') }, () => {
  it('ONNX: inspection, exit detection and costs fail only with ExitLensError', async () => {
    const cases = await fuzz(
      fixture('tiny_cnn.onnx'),
      async (file) => {
        const model = loadModelInfo(file);
        detectExits(model);
        nodeCosts(model, new Map());
      },
      1,
    );
    assert.ok(cases > 10);
  });

  for (const [name, seed] of [['cnn_samples.npz', 2], ['cnn_samples_deflated.npz', 3], ['cnn_inputs.npy', 4], ['logits_ties.npz', 5]] as const) {
    it(`${name}: reading every array fails only with ExitLensError`, async () => {
      const cases = await fuzz(fixture(name), readAllArrays, seed);
      assert.ok(cases > 10);
    });
  }
});
