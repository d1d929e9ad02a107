/**
 * Streaming memory (issue #4, target 3): `exit-lens profile` of the benchmark CNN
 * (bench/models/cnn.onnx) over a stored .npz holding about 2 GB of 3x32x32 float32 inputs
 * (about 200 MB in quick mode), in a fresh `node` process whose own peak resident memory
 * (`process.resourceUsage().maxRSS`, written by the process itself on exit) is reported.
 * The sample set is generated seeded and written chunk by chunk, never held in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runNodeChild } from './childRun';
import { BENCH_MODELS, writeSampleSet } from './profileOverhead';

const ROOT = path.resolve(__dirname, '..');
const BYTES_PER_SAMPLE = 3 * 32 * 32 * 4;

export interface StreamingResult {
  peakRssMB: number;
  samples: number;
  inputGB: number;
  seconds: number;
  samplesPerSecond: number;
  writeSeconds: number;
  rows: string[][];
}

export async function measureStreaming(opts: { quick: boolean; tmp: string }): Promise<StreamingResult> {
  // 163,840 samples are 2.01 GB of inputs (16,384 in quick mode: 201 MB).
  const N = opts.quick ? 16_384 : 163_840;
  const file = path.join(opts.tmp, 'streaming-samples.npz');
  const tWrite = performance.now();
  await writeSampleSet(file, 'cnn', N, 303, 1024);
  const writeSeconds = (performance.now() - tWrite) / 1000;
  const report = path.join(opts.tmp, 'streaming-report.json');
  try {
    const run = runNodeChild(
      opts.tmp,
      [
        path.join(ROOT, 'dist', 'cli.js'),
        'profile',
        path.join(BENCH_MODELS, 'cnn.onnx'),
        '--samples',
        file,
        '--json',
        report,
        '--quiet',
      ],
      ROOT,
    );
    const profiled = JSON.parse(fs.readFileSync(report, 'utf8')) as { samples: { N: number } };
    if (profiled.samples.N !== N)
      throw new Error(`the streaming profile covered ${profiled.samples.N} samples, not ${N}`);
    const inputGB = (N * BYTES_PER_SAMPLE) / 1e9;
    return {
      peakRssMB: run.maxRssMB,
      samples: N,
      inputGB,
      seconds: run.seconds,
      samplesPerSecond: N / run.seconds,
      writeSeconds,
      rows: [
        [
          `streaming: profile CNN over ${inputGB.toFixed(2)} GB of inputs (N=${N})`,
          `${run.maxRssMB.toFixed(0)} MB peak RSS`,
          `${run.seconds.toFixed(1)} s (${(N / run.seconds).toFixed(0)} samples/s)`,
          '',
        ],
      ],
    };
  } finally {
    fs.rmSync(file, { force: true });
    fs.rmSync(report, { force: true });
  }
}
