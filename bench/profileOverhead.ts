/**
 * Profiling overhead (issue #4, target 1): `exit-lens profile` end to end against a bare
 * onnxruntime-node loop over the same model, batches, execution provider and session options,
 * on the two committed benchmark models (bench/models/).
 *
 * Both sides are fresh `node` processes timed from spawn to exit, so both include Node's
 * start, loading ONNX Runtime and creating the session:
 * - profile: `node dist/cli.js profile <model> --samples <set.npz> --json --markdown --html`,
 *   i.e. reading the .npz, the cost discovery, inference, per-sample records, the analysis,
 *   the printed summary and writing the three report files.
 * - bare: bench/bareLoop.ts (bundled to plain JavaScript like the CLI, so neither side pays a
 *   TypeScript loader), minus the time it spends reading the sample set into memory first.
 * The two alternate, five times each (three in quick mode), profile first so that a cold
 * cache counts against the profile, and the fastest run of each side is kept: on a shared
 * machine the noise only ever adds time. Both sessions get their options from the engine's
 * own `sessionOptions`.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '../src/core/analysis/split';
import { bundleBenchScript, runNodeChild } from './childRun';
import { writeNpz } from './npzWriter';

const ROOT = path.resolve(__dirname, '..');
export const BENCH_MODELS = path.join(ROOT, 'bench', 'models');
const BATCH = 64;
const CLASSES = 10;

export type BenchModel = 'cnn' | 'transformer';

/** Seeded sample sets for the benchmark models: inputs named as the model inputs, plus labels. */
export async function writeSampleSet(
  file: string,
  model: BenchModel,
  N: number,
  seed: number,
  rowsPerChunk = 4096,
): Promise<void> {
  const rand = mulberry32(seed);
  const input =
    model === 'cnn'
      ? {
          name: 'x',
          descr: '<f4' as const,
          shape: [N, 3, 32, 32],
          fill(out: Float32Array | BigInt64Array | Int32Array) {
            const z = out as Float32Array;
            for (let i = 0; i < z.length; i++) z[i] = 2 * rand() - 1;
          },
        }
      : {
          name: 'ids',
          descr: '<i8' as const,
          shape: [N, 64],
          fill(out: Float32Array | BigInt64Array | Int32Array) {
            const z = out as BigInt64Array;
            for (let i = 0; i < z.length; i++) z[i] = BigInt(Math.floor(rand() * 1000));
          },
        };
  const labelRand = mulberry32(seed + 1);
  await writeNpz(
    file,
    [
      input,
      {
        name: 'label',
        descr: '<i8',
        shape: [N],
        fill(out) {
          const z = out as BigInt64Array;
          for (let i = 0; i < z.length; i++) z[i] = BigInt(Math.floor(labelRand() * CLASSES));
        },
      },
    ],
    rowsPerChunk,
  );
}

export interface OverheadSide {
  /** The fastest run, in seconds. */
  seconds: number;
  medianSeconds: number;
  runs: number[];
  peakRssMB: number;
  /** Where the fastest run's time went, in seconds (the profile's report timings; the bare loop's own). */
  phases: Record<string, number>;
}

interface SideRun {
  seconds: number;
  maxRssMB: number;
  phases: Record<string, number>;
}

export interface ModelOverhead {
  ratio: number;
  medianRatio: number;
  /**
   * The batch loops alone: the profile's inference phase (reading, running, records) over the
   * bare loop's runs, each side's fastest. The rest of the difference is fixed per run.
   */
  loopRatio: number;
  /** Profile minus bare seconds not explained by the loops: start, costs, session, analysis, reports. */
  fixedSeconds: number;
  profile: OverheadSide;
  bare: OverheadSide;
  samples: number;
  batchSize: number;
  macsPerSample: number;
  executionProvider: string;
  threads: number;
}

export interface ProfileOverheadResult {
  cnn: number;
  transformer: number;
  details: Record<BenchModel, ModelOverhead>;
  /** The same at a larger N (full runs only). */
  large: OverheadAtN | null;
  /** At the first N, in processes that stay up (the engine in VS Code). */
  warm: { samples: number; cnn: WarmOverhead; transformer: WarmOverhead };
  rows: string[][];
}

function side(runs: SideRun[]): OverheadSide {
  const s = runs.map((r) => r.seconds);
  const sorted = [...s].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const fastest = runs[s.indexOf(sorted[0])];
  return {
    seconds: sorted[0],
    medianSeconds: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
    runs: s,
    peakRssMB: Math.max(...runs.map((r) => r.maxRssMB)),
    phases: { ...fastest.phases, outsideSeconds: fastest.seconds - (fastest.phases.totalSeconds ?? 0) },
  };
}

/** The providers asked for in this benchmark run (--ep, --gpu-precision of bench/run.ts). */
let providers: { ep?: string[]; precision?: string } = {};

function providerArgs(): string[] {
  return [
    ...(providers.ep ? ['--ep', providers.ep.join(',')] : []),
    ...(providers.precision ? ['--gpu-precision', providers.precision] : []),
  ];
}

async function measureModel(
  model: BenchModel,
  tmp: string,
  bareLoop: string,
  N: number,
  repeats: number,
): Promise<ModelOverhead> {
  const samples = path.join(tmp, `${model}-samples.npz`);
  await writeSampleSet(samples, model, N, model === 'cnn' ? 101 : 202);
  const modelPath = path.join(BENCH_MODELS, `${model}.onnx`);
  const out = (ext: string) => path.join(tmp, `${model}-report.${ext}`);
  const profileArgs = [
    path.join(ROOT, 'dist', 'cli.js'),
    'profile',
    modelPath,
    '--samples',
    samples,
    '--batch',
    String(BATCH),
    '--json',
    out('json'),
    '--markdown',
    out('md'),
    '--html',
    out('html'),
    ...providerArgs(),
  ];
  const profileRuns: SideRun[] = [];
  const bareRuns: SideRun[] = [];
  let provider = '';
  let threads = 0;
  let macsPerSample = 0;
  for (let r = 0; r < repeats; r++) {
    const p = runNodeChild(tmp, profileArgs, ROOT);
    const report = JSON.parse(fs.readFileSync(out('json'), 'utf8')) as {
      executionProvider: { used: string; threads: number };
      baselineMacs: number;
      samples: { N: number };
      timings: Record<string, number>;
    };
    if (report.samples.N !== N)
      throw new Error(`the profile of ${model} covered ${report.samples.N} samples, not ${N}`);
    profileRuns.push({ seconds: p.seconds, maxRssMB: p.maxRssMB, phases: report.timings });
    if (r === 0) {
      // The bare loop runs on the provider and thread count the profile used.
      provider = report.executionProvider.used;
      threads = report.executionProvider.threads;
      macsPerSample = report.baselineMacs;
    }
    const b = runNodeChild(tmp, [bareLoop, modelPath, samples, provider, String(BATCH), String(threads)], ROOT);
    const inside = JSON.parse(b.stdout.trim().split('\n').pop()!) as {
      prepareSeconds: number;
      loopSeconds: number;
      runSeconds: number;
      samples: number;
    };
    if (inside.samples !== N)
      throw new Error(`the bare loop over ${model} covered ${inside.samples} samples, not ${N}`);
    bareRuns.push({
      seconds: b.seconds - inside.prepareSeconds,
      maxRssMB: b.maxRssMB,
      phases: { runSeconds: inside.runSeconds, totalSeconds: inside.loopSeconds },
    });
  }
  fs.rmSync(samples);
  const profile = side(profileRuns);
  const bare = side(bareRuns);
  const profileLoopSeconds = Math.min(...profileRuns.map((r) => r.phases.inferenceSeconds));
  const bareLoopSeconds = Math.min(...bareRuns.map((r) => r.phases.runSeconds));
  return {
    ratio: profile.seconds / bare.seconds,
    medianRatio: profile.medianSeconds / bare.medianSeconds,
    loopRatio: profileLoopSeconds / bareLoopSeconds,
    fixedSeconds: profile.seconds - bare.seconds - (profileLoopSeconds - bareLoopSeconds),
    profile,
    bare,
    samples: N,
    batchSize: BATCH,
    macsPerSample,
    executionProvider: provider,
    threads,
  };
}

/**
 * A process that stays up, as the engine does in VS Code: the profiles of one model after the
 * engine's first (Node, the bundle, ONNX Runtime and the JIT's warm-up paid once), against the
 * bare loop's sessions after its first in one process.
 */
export interface WarmOverhead {
  ratio: number;
  /** Every profile in the engine, seconds from the request to its result (the report received); the first is cold. */
  profileRuns: number[];
  /** Every bare session-and-runs in one process; the first loads ONNX Runtime. */
  bareRuns: number[];
}

/** Profiles in one engine process (dist/engine.js, forked as the extension forks it), seconds each, request to result. */
async function engineRuns(
  modelPath: string,
  samples: string,
  repeats: number,
): Promise<{ seconds: number[]; provider: string; threads: number }> {
  const child = fork(path.join(ROOT, 'dist', 'engine.js'), [], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const seconds: number[] = [];
  let provider = '';
  let threads = 0;
  try {
    for (let r = 0; r < repeats; r++) {
      const id = `warm-${r}`;
      const t0 = performance.now();
      const report = await new Promise<{ executionProvider: { used: string; threads: number } }>((resolve, reject) => {
        const onMessage = (m: { type: string; id: string; report?: unknown; message?: string }) => {
          if (m.id !== id || (m.type !== 'result' && m.type !== 'error')) return;
          child.off('message', onMessage);
          if (m.type === 'result') resolve(m.report as { executionProvider: { used: string; threads: number } });
          else reject(new Error(`engine: ${m.message}\n${stderr}`));
        };
        child.on('message', onMessage);
        child.once('exit', (code) => reject(new Error(`the engine exited (${code}):\n${stderr}`)));
        child.send({
          type: 'profile',
          id,
          modelPath,
          samplesPath: samples,
          batchSize: BATCH,
          executionProviders: providers.ep,
          gpuPrecision: providers.precision,
        });
      });
      seconds.push((performance.now() - t0) / 1000);
      provider = report.executionProvider.used;
      threads = report.executionProvider.threads;
    }
  } finally {
    child.kill();
  }
  return { seconds, provider, threads };
}

/** The warm comparison for one model at N samples: `repeats` profiles and bare sessions, the first of each left out. */
async function measureWarm(
  model: BenchModel,
  tmp: string,
  bareLoop: string,
  N: number,
  repeats: number,
): Promise<WarmOverhead> {
  const samples = path.join(tmp, `${model}-warm-samples.npz`);
  await writeSampleSet(samples, model, N, model === 'cnn' ? 101 : 202);
  const modelPath = path.join(BENCH_MODELS, `${model}.onnx`);
  const profile = await engineRuns(modelPath, samples, repeats);
  const b = runNodeChild(
    tmp,
    [bareLoop, modelPath, samples, profile.provider, String(BATCH), String(profile.threads), String(repeats)],
    ROOT,
  );
  const bareRuns = (JSON.parse(b.stdout.trim().split('\n').pop()!) as { repeatSeconds: number[] }).repeatSeconds;
  fs.rmSync(samples);
  return {
    ratio: Math.min(...profile.seconds.slice(1)) / Math.min(...bareRuns.slice(1)),
    profileRuns: profile.seconds,
    bareRuns,
  };
}

export interface OverheadAtN {
  samples: number;
  cnn: number;
  transformer: number;
  details: Record<BenchModel, ModelOverhead>;
}

async function measureAt(tmp: string, bareLoop: string, N: number, repeats: number): Promise<OverheadAtN> {
  const cnn = await measureModel('cnn', tmp, bareLoop, N, repeats);
  const transformer = await measureModel('transformer', tmp, bareLoop, N, repeats);
  return { samples: N, cnn: cnn.ratio, transformer: transformer.ratio, details: { cnn, transformer } };
}

/**
 * Measures both models at N = 2048 samples (512 in quick mode; 5 runs a side, 3 in quick mode)
 * and, in a full run, again at N = `largeSamples` (default 16384, 3 runs a side), where the fixed
 * cost of a run (Node's start, loading the CLI, the analysis' cold code, the report files)
 * weighs less and the batch loop's own overhead shows.
 */
export async function measureProfileOverhead(opts: {
  quick: boolean;
  tmp: string;
  samples?: number;
  repeats?: number;
  largeSamples?: number;
  /** Execution providers for the profiles (the bare loop then runs on the one the profile used). */
  ep?: string[];
  gpuPrecision?: string;
}): Promise<ProfileOverheadResult> {
  providers = { ep: opts.ep, precision: opts.gpuPrecision };
  const N = opts.samples ?? (opts.quick ? 512 : 2048);
  const repeats = opts.repeats ?? (opts.quick ? 3 : 5);
  const bareLoop = await bundleBenchScript(opts.tmp, 'bareLoop');
  const main = await measureAt(opts.tmp, bareLoop, N, repeats);
  const large = opts.quick ? null : await measureAt(opts.tmp, bareLoop, opts.largeSamples ?? 16384, 3);
  const warmRepeats = opts.quick ? 3 : 6;
  const warm = {
    samples: N,
    cnn: await measureWarm('cnn', opts.tmp, bareLoop, N, warmRepeats),
    transformer: await measureWarm('transformer', opts.tmp, bareLoop, N, warmRepeats),
  };
  const row = (name: string, m: ModelOverhead) => [
    `profile overhead, ${name} (N=${m.samples}, ${(m.macsPerSample / 1e6).toFixed(1)} MMACs)`,
    `${m.ratio.toFixed(3)}x bare loop`,
    `profile ${m.profile.seconds.toFixed(2)} s, bare ${m.bare.seconds.toFixed(2)} s (best of ${m.profile.runs.length})`,
    `median ratio ${m.medianRatio.toFixed(2)}; batch loop ${m.loopRatio.toFixed(2)}x, fixed +${m.fixedSeconds.toFixed(2)} s`,
  ];
  const rows = [row('CNN', main.details.cnn), row('transformer', main.details.transformer)];
  if (large) rows.push(row('CNN', large.details.cnn), row('transformer', large.details.transformer));
  const warmRow = (name: string, w: WarmOverhead) => [
    `profile overhead, ${name} (N=${N}), engine kept up`,
    `${w.ratio.toFixed(3)}x bare loop`,
    `profile ${Math.min(...w.profileRuns.slice(1)).toFixed(2)} s, bare ${Math.min(...w.bareRuns.slice(1)).toFixed(2)} s (best of ${w.profileRuns.length - 1} after the first)`,
    `first profile ${w.profileRuns[0].toFixed(2)} s, first bare ${w.bareRuns[0].toFixed(2)} s`,
  ];
  rows.push(warmRow('CNN', warm.cnn), warmRow('transformer', warm.transformer));
  return { cnn: main.cnn, transformer: main.transformer, details: main.details, large, warm, rows };
}
