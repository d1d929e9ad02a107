import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleBenchScript, runNodeChild } from './childRun';
import { writeNpz } from './npzWriter';

/**
 * Measured per-exit latency (`--cost measured`) against a bare ONNX Runtime loop: the CNN of
 * bench/models profiled with --cost measured, and bench/bareLoop.ts running the whole model
 * (every output, the graph of the last exit) over the same samples at the same batch. The
 * last exit's measured ms per sample should equal the bare loop's within noise; the table gives
 * every exit's measured cost as a share of the baseline (the model without early heads).
 */
const ROOT = path.resolve(__dirname, '..');

export interface LatencyBench {
  batch: number;
  samples: number;
  exitsMsPerSample: number[];
  baselineMsPerSample: number;
  bareLoopMsPerSample: number;
  lastExitVsBareLoop: number;
  rows: string[][];
}

export async function measureLatencyBench(opts: { quick: boolean; tmp: string; ep?: string[] }): Promise<LatencyBench> {
  const N = opts.quick ? 256 : 1024;
  const batch = 64;
  const samples = path.join(opts.tmp, 'latency-cnn.npz');
  await writeNpz(samples, [
    {
      name: 'x',
      descr: '<f4',
      shape: [N, 3, 32, 32],
      fill: (o, row, rows) => {
        for (let i = 0; i < rows * 3 * 32 * 32; i++) (o as Float32Array)[i] = Math.sin((row * 3072 + i) * 0.37);
      },
    },
  ]);
  const model = path.join(ROOT, 'bench', 'models', 'cnn.onnx');
  const out = path.join(opts.tmp, 'latency-report.json');
  const ep = opts.ep ?? ['cpu'];
  runNodeChild(
    opts.tmp,
    [
      path.join(ROOT, 'dist', 'cli.js'),
      'profile',
      model,
      '--samples',
      samples,
      '--cost',
      'measured',
      '--batch',
      String(batch),
      '--ep',
      ep.join(','),
      '--quiet',
      '--json',
      out,
    ],
    ROOT,
  );
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    exits: { latency?: { batch: number } }[];
    baselineLatency?: { batch: number };
    executionProvider: { used: string };
  };
  const exits = report.exits.map((e) => e.latency!.batch);
  const bareLoop = await bundleBenchScript(opts.tmp, 'bareLoop');
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const b = runNodeChild(
      opts.tmp,
      [bareLoop, model, samples, report.executionProvider.used, String(batch), '0'],
      ROOT,
    );
    const line = JSON.parse(b.stdout.trim().split('\n').pop()!) as { runSeconds: number };
    runs.push((line.runSeconds * 1000) / N);
  }
  const bare = Math.min(...runs);
  fs.rmSync(samples, { force: true });
  const last = exits[exits.length - 1];
  return {
    batch,
    samples: N,
    exitsMsPerSample: exits,
    baselineMsPerSample: report.baselineLatency!.batch,
    bareLoopMsPerSample: bare,
    lastExitVsBareLoop: last / bare,
    rows: [
      [
        `latency: cnn --cost measured, batch ${batch} (${report.executionProvider.used})`,
        exits.map((v) => v.toFixed(3)).join(' / ') + ' ms/sample',
        `last exit ${(last / bare).toFixed(2)}x the bare loop (${bare.toFixed(3)} ms/sample)`,
        `baseline ${report.baselineLatency!.batch.toFixed(3)} ms`,
      ],
    ],
  };
}
