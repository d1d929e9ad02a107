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
import { spawnSync } from 'node:child_process';
import { bindSamples } from '../../src/core/samples/samples';
import { makeFifo, npy, npyHeader, onnxModel, writeZip } from './support/hostileFiles';

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
      if (!a.compressed)
        assert.ok(a.header.dataBytes <= size, `${a.name} announces ${a.header.dataBytes} bytes in a ${size}-byte file`);
      // Rows of no bytes hold nothing to read (a sample set refuses them: see below).
      if (a.rowBytes === 0) continue;
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
      assert.ok(
        Date.now() - started < 5000,
        `case ${cases} of ${path.basename(seedFile)} took ${Date.now() - started} ms`,
      );
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

  for (const [name, seed] of [
    ['cnn_samples.npz', 2],
    ['cnn_samples_deflated.npz', 3],
    ['cnn_inputs.npy', 4],
    ['logits_ties.npz', 5],
  ] as const) {
    it(`${name}: reading every array fails only with ExitLensError`, async () => {
      const cases = await fuzz(fixture(name), readAllArrays, seed);
      assert.ok(cases > 10);
    });
  }
});

/**
 * Hostile files built on purpose rather than by mutation (issue #14): headers that claim any
 * shape, archives with repeated names, and inputs that are not regular files.
 */
describe('fuzzing hostile structure', { skip: slowTest('fuzzing') }, () => {
  it('.npy headers of any shape (0 and 2^50 dimensions included) bind with at least one element per sample, within the file, or are refused', async () => {
    const dir = tmpDir('exit-lens-fuzz-');
    const modelFile = path.join(dir, 'dyn.onnx');
    fs.writeFileSync(modelFile, onnxModel({ input: { name: 'x', shape: ['batch', 'T'] } }));
    const inputs = loadModelInfo(modelFile).inputs;
    const rand = mulberry32(6);
    const pick = () => {
      const r = rand();
      if (r < 0.25) return 0;
      if (r < 0.5) return 2 ** Math.floor(rand() * 53);
      return Math.floor(rand() * 9);
    };
    const deadline = Date.now() + SECONDS * 1000;
    let cases = 0;
    let zeroWidth = 0;
    try {
      while (Date.now() < deadline || cases < 50) {
        const shape = Array.from({ length: 1 + Math.floor(rand() * 3) }, pick);
        // Some data after the header, so that small claims are held by the file.
        const file = path.join(dir, 'x.npy');
        fs.writeFileSync(file, Buffer.concat([npyHeader('<f4', shape), Buffer.alloc(Math.floor(rand() * 256))]));
        const size = fs.statSync(file).size;
        try {
          const f = await openArrayFile(file);
          try {
            const b = bindSamples(f, inputs);
            for (const input of b.inputs) {
              assert.ok(
                input.rowShape.every((d) => d > 0) && input.array.rowBytes > 0,
                `shape (${shape}) bound with ${input.array.rowBytes} bytes per sample`,
              );
              assert.ok(
                input.array.rows * input.array.rowBytes <= size,
                `shape (${shape}) bound beyond the ${size}-byte file`,
              );
            }
          } finally {
            await f.close();
          }
        } catch (err) {
          expectOwnError(err, `shape (${shape})`);
          if (/has 0 elements/.test((err as Error).message)) zeroWidth++;
        }
        cases++;
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(zeroWidth > 0, 'some shapes had zero-width rows');
  });

  it('.npz archives whose entry names repeat are refused, naming the entry; the others list each name once', async () => {
    const dir = tmpDir('exit-lens-fuzz-');
    const rand = mulberry32(7);
    const names = ['x', 'label', 'labels', 'exit_0', 'exit_1'];
    const deadline = Date.now() + SECONDS * 1000;
    let repeated = 0;
    try {
      for (let cases = 0; Date.now() < deadline || cases < 50; cases++) {
        const chosen = Array.from(
          { length: 1 + Math.floor(rand() * 5) },
          () => names[Math.floor(rand() * names.length)],
        );
        const file = path.join(dir, 'case.npz');
        writeZip(
          file,
          chosen.map((n, i) => ({ name: `${n}.npy`, stored: npy('<i8', [2], new BigInt64Array([BigInt(i), 0n])) })),
        );
        const dup = chosen.find((n, i) => chosen.indexOf(n) !== i);
        try {
          const f = await openArrayFile(file);
          await f.close();
          assert.equal(dup, undefined, `${chosen.join(',')}: a repeated name was read`);
          assert.deepEqual(
            f.arrays.map((a) => a.name),
            chosen,
          );
        } catch (err) {
          expectOwnError(err, chosen.join(','));
          assert.ok(
            dup !== undefined,
            `${chosen.join(',')}: refused without a repeated name: ${(err as Error).message}`,
          );
          assert.match((err as Error).message, /more than one entry named "/);
          repeated++;
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(repeated > 0);
  });

  it('a FIFO, a folder and /dev/zero: every reader refuses each at once with its own error (in a child process, so that a hang fails)', (t) => {
    const dir = tmpDir('exit-lens-fuzz-');
    const fifo = path.join(dir, 'fifo');
    if (!makeFifo(fifo)) return t.skip('mkfifo is not available here');
    fs.mkdirSync(path.join(dir, 'folder'));
    const targets = [fifo, path.join(dir, 'folder'), ...(fs.existsSync('/dev/zero') ? ['/dev/zero'] : [])];
    const src = path.join(__dirname, '..', '..', 'src');
    const script = `
      const { openArrayFile } = require(${JSON.stringify(path.join(src, 'core', 'npy', 'arrayFile.ts'))});
      const { loadModelInfo } = require(${JSON.stringify(path.join(src, 'core', 'onnx', 'model.ts'))});
      const { ExitLensError } = require(${JSON.stringify(path.join(src, 'core', 'errors.ts'))});
      (async () => {
        for (const file of ${JSON.stringify(targets)}) {
          for (const [reader, read] of [['arrays', () => openArrayFile(file)], ['model', async () => loadModelInfo(file)]]) {
            try { await read(); console.log(file, reader, 'read'); }
            catch (err) { console.log(file, reader, err instanceof ExitLensError ? 'refused: ' + err.message : 'other: ' + err); }
          }
        }
      })();`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.signal, null, `the readers hung: ${r.stdout}${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, targets.length * 2, r.stdout + r.stderr);
    for (const line of lines)
      assert.match(line, /refused: .*(it is a FIFO|it is a folder|it is a character device).*not a regular file/, line);
  });
});
