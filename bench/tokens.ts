import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleBenchScript, runNodeChild } from './childRun';
import { writeNpz } from './npzWriter';

/**
 * Token-level profiling at a vocabulary of 50,000 (bench/models/decoder_wide.onnx: three exits
 * through one 50,000-way LM head): `exit-lens profile` (dist/cli.js, as shipped) against the
 * bare ONNX Runtime loop (bench/bareLoop.ts) over the same sequences at the batch the profile
 * chose, each in a fresh process; tokens per second of each (token positions over the process's
 * wall time, the bare loop's reading of its inputs subtracted) and the profile's peak memory.
 * The profile does what the bare loop does not: a softmax over 50,000 logits per position and
 * exit, the records, the analysis and the report.
 */
const ROOT = path.resolve(__dirname, '..');
const T = 64;

export interface TokenBench {
  sequences: number;
  positions: number;
  batch: number;
  profileSeconds: number;
  bareSeconds: number;
  profileTokensPerSecond: number;
  bareTokensPerSecond: number;
  vsBare: number;
  profilePeakRssMB: number;
  bareLoopPeakRssMB: number;
  rows: string[][];
}

/**
 * `sequences` unpadded sequences of T = 64 token ids below 1,000 (the embedding of
 * decoder_wide.onnx), the ids spread by a fixed stride: the benchmark's and the memory test's input.
 */
export async function writeWideSequences(file: string, sequences: number): Promise<void> {
  await writeNpz(file, [
    {
      name: 'input_ids',
      descr: '<i8',
      shape: [sequences, T],
      fill: (o, row, rows) => {
        for (let i = 0; i < rows * T; i++) (o as BigInt64Array)[i] = BigInt(((row * T + i) * 7919) % 1000);
      },
    },
    {
      name: 'attention_mask',
      descr: '<i8',
      shape: [sequences, T],
      fill: (o, _row, rows) => (o as BigInt64Array).fill(1n, 0, rows * T),
    },
  ]);
}

export async function measureTokens(opts: { quick: boolean; tmp: string }): Promise<TokenBench> {
  const S = opts.quick ? 24 : 96;
  const samples = path.join(opts.tmp, 'wide-tokens.npz');
  await writeWideSequences(samples, S);
  const model = path.join(ROOT, 'bench', 'models', 'decoder_wide.onnx');
  const cli = path.join(ROOT, 'dist', 'cli.js');
  const bareLoop = await bundleBenchScript(opts.tmp, 'bareLoop');
  const out = path.join(opts.tmp, 'tokens-report.json');
  const profiles: { seconds: number; rss: number; batch: number; positions: number }[] = [];
  const bares: { seconds: number; rss: number }[] = [];
  const rounds = opts.quick ? 1 : 2;
  for (let r = 0; r < rounds; r++) {
    fs.rmSync(out, { force: true });
    const p = runNodeChild(
      opts.tmp,
      [cli, 'profile', model, '--samples', samples, '--ep', 'cpu', '--quiet', '--json', out],
      ROOT,
    );
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      samples: { N: number };
      warnings: { code: string; message: string }[];
    };
    const note = report.warnings.find((w) => w.code === 'token-batch')?.message ?? '';
    const batch = Number(/Batches of (\d+) sequence/.exec(note)?.[1] ?? 64);
    profiles.push({ seconds: p.seconds, rss: p.maxRssMB, batch, positions: report.samples.N });
    const b = runNodeChild(opts.tmp, [bareLoop, model, samples, 'cpu', String(batch), '0'], ROOT);
    const line = JSON.parse(b.stdout.trim().split('\n').pop()!) as { prepareSeconds: number };
    bares.push({ seconds: b.seconds - line.prepareSeconds, rss: b.maxRssMB });
  }
  const best = <T extends { seconds: number }>(xs: T[]) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const p = best(profiles);
  const b = best(bares);
  const positions = p.positions;
  const result: Omit<TokenBench, 'rows'> = {
    sequences: S,
    positions,
    batch: p.batch,
    profileSeconds: p.seconds,
    bareSeconds: b.seconds,
    profileTokensPerSecond: positions / p.seconds,
    bareTokensPerSecond: (S * T) / b.seconds,
    vsBare: p.seconds / b.seconds,
    profilePeakRssMB: p.rss,
    bareLoopPeakRssMB: b.rss,
  };
  fs.rmSync(samples, { force: true });
  return {
    ...result,
    rows: [
      [
        `tokens: profile V=50,000, ${S}x${T} tokens`,
        `${result.profileTokensPerSecond.toFixed(0)} tokens/s`,
        `${result.vsBare.toFixed(2)}x bare loop time (${result.bareTokensPerSecond.toFixed(0)} tokens/s, batch ${p.batch})`,
        `${p.rss.toFixed(0)} MB peak (bare ${b.rss.toFixed(0)} MB)`,
      ],
    ],
  };
}
