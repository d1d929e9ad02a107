/**
 * The report's "Copy Python snippet" code, run by a Python interpreter (the standard library
 * only) over the same logits: for every policy's suggestion it stops each sample at the exit
 * the report's test figures count, ties at the threshold, saturated confidences and NaN or
 * infinite logits included. Skipped, saying so, where no python3 is on PATH.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { writeNpz } from '../../bench/npzWriter';
import { mulberry32 } from '../../src/core/analysis/split';
import { readLogitsFile } from '../../src/core/samples/logitsFile';
import { openArrayFile, readWholeArray } from '../../src/core/npy/arrayFile';
import { bytesToTyped } from '../../src/core/npy/npy';
import type { Report } from '../../src/core/analysis/analyze';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { pythonSnippet } from '../../webview/snippets';
import { collect, tmpDir } from './helpers';

const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'sdn-digits', 'test_logits.npz');
const python = spawnSync('python3', ['--version']).status === 0 ? 'python3' : null;

/** A seeded [E, N, C] float32 logits file with labels: coarse values (ties), optionally saturated and with NaN or infinite entries. */
async function randomLogits(
  file: string,
  seed: number,
  E: number,
  C: number,
  scale: number,
  nonFinite: boolean,
): Promise<void> {
  const rand = mulberry32(seed);
  const N = 200;
  const z = new Float32Array(E * N * C);
  for (let i = 0; i < z.length; i++) z[i] = scale * (Math.floor(rand() * 3) + (rand() < 0.3 ? rand() : 0));
  if (nonFinite) {
    for (let i = 0; i < E * N; i++) {
      const u = rand();
      if (u < 0.15) z[i * C + Math.floor(rand() * C)] = NaN;
      else if (u < 0.2) z[i * C] = rand() < 0.5 ? Infinity : -Infinity;
    }
  }
  const labels = Array.from({ length: N }, () => BigInt(Math.floor(rand() * C)));
  await writeNpz(file, [
    { name: 'exit_logits', descr: '<f4', shape: [E, N, C], fill: (o) => (o as Float32Array).set(z) },
    { name: 'label', descr: '<i8', shape: [N], fill: (o) => (o as BigInt64Array).set(labels) },
  ]);
}

/** Python source for a list of per-sample, per-exit logits: NaN and infinities as Python's json reads them. */
function logitsJson(logits: number[][][]): string {
  return `[${logits.map((sample) => `[${sample.map((row) => `[${row.map((v) => String(v)).join(',')}]`).join(',')}]`).join(',')}]`;
}

describe('the Python snippet', { skip: python ? false : 'no python3 on PATH' }, () => {
  it("stops every sample where the report counts it, for each policy's suggestion (ties, saturated and non-finite logits)", async () => {
    const dir = tmpDir();
    const files = [EXAMPLE];
    const sets: [number, number, number, number, boolean][] = [
      [3, 4, 3, 1, true],
      [4, 3, 5, 40, false],
      [5, 5, 2, 1, true],
      [6, 2, 10, 1, false],
      [7, 6, 4, 40, true],
    ];
    for (const [seed, E, C, scale, nonFinite] of sets) {
      const file = path.join(dir, `r${seed}.npz`);
      await randomLogits(file, seed, E, C, scale, nonFinite);
      files.push(file);
    }
    let checked = 0;
    for (const file of files) {
      // The calibration file is the sample file itself, so the test figures count every sample.
      const report: Report = await runAnalyze(
        { type: 'analyze', id: 't', logitsPath: file, calibPath: file, maxAccuracyDrop: 0.05 },
        collect().emit,
      );
      const { records, source } = await readLogitsFile(file, {});
      const E = records.exitCount;
      // The logits themselves, as float64 values of the stored float32 ones, per sample and exit.
      const npz = await openArrayFile(file);
      const stacked = npz.arrays.find((a) => a.name === 'exit_logits')!;
      const flat = bytesToTyped(await readWholeArray(stacked), stacked.header.dtype) as Float32Array | Float64Array;
      await npz.close();
      const [, N, C] = stacked.header.shape;
      const logits = Array.from({ length: N }, (_, n) =>
        Array.from({ length: E }, (_, k) => Array.from(flat.subarray((k * N + n) * C, (k * N + n + 1) * C))),
      );
      assert.equal(source.exitNames.length, E);
      for (const s of report.suggestions) {
        const snippet = pythonSnippet({
          ...report,
          suggestions: report.suggestions.map((x) => ({ ...x, best: x === s })),
        });
        const program = `${snippet}\nimport json\nhist = [0] * ${E}\nfor sample in json.loads(${JSON.stringify(logitsJson(logits))}):\n    hist[exit_index(sample)] += 1\nprint(json.dumps(hist))\n`;
        const script = path.join(dir, 'snippet.py');
        fs.writeFileSync(script, program);
        const run = spawnSync(python!, [script], { encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        assert.deepEqual(
          JSON.parse(run.stdout),
          s.test.exitHistogram,
          `${path.basename(file)} ${s.policy} at ${JSON.stringify(s.threshold)}`,
        );
        checked++;
      }
    }
    assert.equal(checked, files.length * 5);
  });
});
