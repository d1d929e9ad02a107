/**
 * Exit Lens benchmark (`npm run bench`, `npm run bench -- --quick`). It generates its own
 * seeded inputs under a temporary folder, measures each comparison side by side in one run
 * (these machines are noisy: ratios count, not absolute times), prints a table and writes
 * bench/results.json. Each measurement runs in a fresh child process, so that its peak
 * resident memory is its own.
 *
 * Measured so far: analysis at scale (`exit-lens analyze` on a logits file, the shipped CLI,
 * against one bare pass, bench/barePass.ts, that reads it and computes every sample-exit
 * softmax once, at N = 1e4, 1e5, 1e6 with
 * E = 12, C = 10, and C = 1000 at N = 1e5; the log-log scaling slope; peak memory), profiling
 * overhead against a bare ONNX Runtime loop (bench/profileOverhead.ts), peak memory while
 * profiling a 2 GB sample set (bench/streaming.ts), the report webview's first render and
 * threshold updates with 1e5 per-sample records in headless Chromium (bench/webview.ts), the
 * bundled host script and VSIX sizes, and whether loading the extension loads ONNX Runtime
 * (see docs/benchmarks.md).
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yauzl from 'yauzl';
import { mulberry32 } from '../src/core/analysis/split';
import { bundleBenchScript, runNodeChild } from './childRun';
import { engineEnvironment } from '../src/gpu/cuda';
import { writeNpz } from './npzWriter';
import { measureProfileOverhead } from './profileOverhead';
import { measureStreaming } from './streaming';
import { measureTokens } from './tokens';
import { measureLatencyBench } from './latency';
import { webviewBenchmark, webviewRows } from './webview';

const ROOT = path.resolve(__dirname, '..');

interface ChildResult {
  seconds: number;
  maxRssMB: number;
  check: number;
}

/**
 * The analysis against one bare pass over the same file, each in a fresh process timed from
 * spawn to exit, both plain JavaScript: `exit-lens analyze <file> --json` (dist/cli.js, as
 * shipped: reading, records, the whole analysis, writing the report) and bench/barePass.ts
 * (bundled). They alternate `rounds` times, bare pass first; the fastest run of each counts
 * (on a shared machine the noise only ever adds time).
 */
function analysisVsBare(
  tmp: string,
  barePass: string,
  file: string,
  rounds: number,
): { analysis: ChildResult; bare: ChildResult } {
  const out = path.join(tmp, 'analysis-report.json');
  const bare: ChildResult[] = [];
  const analysis: ChildResult[] = [];
  for (let r = 0; r < rounds; r++) {
    const b = runNodeChild(tmp, [barePass, file], ROOT);
    bare.push({
      seconds: b.seconds,
      maxRssMB: b.maxRssMB,
      check: (JSON.parse(b.stdout.trim().split('\n').pop()!) as { check: number }).check,
    });
    const a = runNodeChild(tmp, [path.join(ROOT, 'dist', 'cli.js'), 'analyze', file, '--json', out, '--quiet'], ROOT);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      samples: { N: number };
      exits: { accuracy: number | null }[];
    };
    analysis.push({ seconds: a.seconds, maxRssMB: a.maxRssMB, check: report.exits[0].accuracy ?? 0 });
    fs.rmSync(out);
  }
  const fastest = (runs: ChildResult[]) => runs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
  return {
    analysis: { ...fastest(analysis), maxRssMB: Math.max(...analysis.map((r) => r.maxRssMB)) },
    bare: fastest(bare),
  };
}

async function makeLogits(
  file: string,
  N: number,
  E: number,
  C: number,
  seed: number,
  descr: '<f4' | '<f2' = '<f4',
): Promise<void> {
  const rand = mulberry32(seed);
  const labels = new Int32Array(N);
  for (let n = 0; n < N; n++) labels[n] = Math.floor(rand() * C);
  // Later exits are sharper and more often right, as in a trained early-exit network.
  const arrays = Array.from({ length: E }, (_, k) => ({
    name: `exit_${k}`,
    descr,
    shape: [N, C],
    fill(out: Float32Array | BigInt64Array | Int32Array, row: number, rows: number) {
      const z = out as Float32Array;
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < C; c++) z[i * C + c] = (rand() - 0.5) * (2 + k / 2);
        z[i * C + labels[row + i]] += 0.35 * (k + 1);
      }
    },
  }));
  await writeNpz(file, [
    ...arrays,
    {
      name: 'labels',
      descr: '<i8',
      shape: [N],
      fill: (out, row, rows) => {
        for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = BigInt(labels[row + i]);
      },
    },
  ]);
}

function fitSlope(points: { n: number; seconds: number }[]): number {
  const xs = points.map((p) => Math.log(p.n));
  const ys = points.map((p) => Math.log(p.seconds));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/**
 * A stand-in for the `vscode` module: every property, call and construction gives the stand-in
 * again, so that a module may run `vscode.Uri.from(...)` or `new vscode.EventEmitter()` at load
 * time, as the host script's modules do. `then` is undefined so that it is never taken for a promise.
 */
function vscodeStandIn(): unknown {
  const answer = (_target: unknown, key: string | symbol) =>
    key === 'then' || typeof key === 'symbol' ? undefined : stub;
  // esbuild's ES-module interop copies a CommonJS module's own properties onto an object whose
  // prototype is the module's: unknown names are then found on this prototype.
  const prototype: object = new Proxy({}, { get: answer });
  const stub: unknown = new Proxy(function () {}, {
    get: answer,
    apply: () => stub,
    construct: () => stub as object,
    getPrototypeOf: () => prototype,
  });
  return stub;
}

/** Does requiring the bundled extension load ONNX Runtime? (It must not: only the first profile does.) */
function activationLoadsOrt(): boolean {
  const bundle = path.join(ROOT, 'dist', 'extension.js');
  const loaded: string[] = [];
  const M = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = M._load;
  M._load = (request, parent, isMain) => {
    loaded.push(request);
    if (request === 'vscode') return vscodeStandIn();
    return original(request, parent, isMain);
  };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the bundle as VS Code does
    require(bundle);
  } finally {
    M._load = original;
  }
  return loaded.includes('onnxruntime-node');
}

function sizeKB(file: string): number | null {
  return fs.existsSync(file) ? fs.statSync(file).size / 1024 : null;
}

/** The files of a VSIX (a zip) under extension/dist/, with their contents. */
function vsixBundles(vsix: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(vsix, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`cannot open ${vsix}`));
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!/^extension\/dist\/[^/]+\.js$/.test(entry.fileName)) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error(`cannot read ${entry.fileName}`));
          const parts: Buffer[] = [];
          stream.on('data', (b: Buffer) => parts.push(b));
          stream.on('end', () => {
            out.set(entry.fileName.slice('extension/'.length), Buffer.concat(parts));
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/**
 * The host script's size as shipped (inside the VSIX, the minified production build), and
 * whether the bundles the benchmark ran (dist/) are those shipped: `npm run bench` packages
 * first, so they are.
 */
async function shippedBundles(vsix: string): Promise<{ extensionKB: number | null; measuredAreShipped: boolean }> {
  if (!fs.existsSync(vsix)) return { extensionKB: null, measuredAreShipped: false };
  const inside = await vsixBundles(vsix);
  const host = inside.get('dist/extension.js');
  const same = ['dist/extension.js', 'dist/engine.js', 'dist/cli.js', 'dist/webview.js'].every((f) => {
    const shipped = inside.get(f);
    const local = path.join(ROOT, f);
    return shipped !== undefined && fs.existsSync(local) && fs.readFileSync(local).equals(shipped);
  });
  return { extensionKB: host ? host.length / 1024 : null, measuredAreShipped: same };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  // --ep cuda,cpu / --ep webgpu,cpu: the profiling-overhead comparison on that provider (the bare
  // loop runs on the provider the profile used); --only overhead skips the CPU-only benchmarks.
  const argValue = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const ep = argValue('--ep')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const gpuPrecision = argValue('--gpu-precision');
  const only = argValue('--only');
  if (only !== undefined && only !== 'overhead' && only !== 'tokens' && only !== 'latency')
    throw new Error(`--only ${only}: the parts that can run alone are "overhead", "tokens" and "latency"`);
  if (ep) {
    // The bare loop's process needs what the CLI's re-execution gives a profile: the CUDA
    // libraries on LD_LIBRARY_PATH and NVIDIA_TF32_OVERRIDE for the precision.
    const change = engineEnvironment(ep, gpuPrecision === 'tf32' ? 'tf32' : 'fp32');
    Object.assign(process.env, change.set);
    for (const k of change.unset) delete process.env[k];
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-bench-'));
  const results: Record<string, unknown> = {
    machine: {
      cores: os.cpus().length,
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      executionProvider: 'cpu',
    },
    quick,
    only: only ?? null,
    requestedProviders: ep ?? 'default',
  };
  const rows: string[][] = [];
  try {
    const sizes = only ? [] : quick ? [1e4, 1e5] : [1e4, 1e5, 1e6];
    const barePass = await bundleBenchScript(tmp, 'barePass');
    const scaling: { n: number; seconds: number }[] = [];
    const analysis: Record<string, unknown> = {};
    for (const N of sizes) {
      const file = path.join(tmp, `logits-${N}.npz`);
      await makeLogits(file, N, 12, 10, 7);
      const { bare, analysis: full } = analysisVsBare(tmp, barePass, file, N >= 1e6 ? 2 : 3);
      scaling.push({ n: N, seconds: full.seconds });
      const key = `n1e${Math.round(Math.log10(N))}`;
      analysis[key] = {
        seconds: full.seconds,
        onePassSeconds: bare.seconds,
        vsOnePass: full.seconds / bare.seconds,
        peakRssMB: full.maxRssMB,
      };
      rows.push([
        `analysis N=${N}, E=12, C=10`,
        `${full.seconds.toFixed(2)} s`,
        `${(full.seconds / bare.seconds).toFixed(2)}x one pass (${bare.seconds.toFixed(2)} s)`,
        `${full.maxRssMB.toFixed(0)} MB peak`,
      ]);
      fs.rmSync(file);
    }
    if (!quick && !only) {
      const file = path.join(tmp, 'logits-c1000.npz');
      // float16 (as logits are often dumped), so that the file stays under the 4 GB a zip
      // without zip64 can hold: 12 x 10^5 x 1000 x 2 bytes = 2.4 GB.
      await makeLogits(file, 1e5, 12, 1000, 8, '<f2');
      const { bare, analysis: full } = analysisVsBare(tmp, barePass, file, 2);
      analysis.n1e5c1000 = {
        seconds: full.seconds,
        onePassSeconds: bare.seconds,
        vsOnePass: full.seconds / bare.seconds,
        peakRssMB: full.maxRssMB,
      };
      rows.push([
        'analysis N=1e5, E=12, C=1000 (float16)',
        `${full.seconds.toFixed(2)} s`,
        `${(full.seconds / bare.seconds).toFixed(2)}x one pass`,
        `${full.maxRssMB.toFixed(0)} MB peak`,
      ]);
      fs.rmSync(file);
    }
    if (!only) {
      analysis.scalingSlope = fitSlope(scaling);
      rows.push(['analysis scaling (log-log slope)', (analysis.scalingSlope as number).toFixed(3), '', '']);
      results.analysis = analysis;
    }
    if (!only || only === 'tokens') {
      const tokens = await measureTokens({ quick, tmp });
      const { rows: tokenRows, ...figures } = tokens;
      results.tokens = figures;
      rows.push(...tokenRows);
    }
    if (!only || only === 'latency') {
      const latency = await measureLatencyBench({ quick, tmp, ep });
      const { rows: latencyRows, ...figures } = latency;
      results.latency = figures;
      rows.push(...latencyRows);
    }
    if (only === 'tokens' || only === 'latency') return finish(rows, results, tmp);
    const overhead = await measureProfileOverhead({ quick, tmp, ep, gpuPrecision });
    results.profileOverhead = {
      cnn: overhead.cnn,
      transformer: overhead.transformer,
      details: overhead.details,
      large: overhead.large,
      warm: overhead.warm,
    };
    (results.machine as { executionProvider: string }).executionProvider = overhead.details.cnn.executionProvider;
    rows.push(...overhead.rows);
    if (!only) {
      const streaming = await measureStreaming({ quick, tmp });
      results.streaming = {
        peakRssMB: streaming.peakRssMB,
        samples: streaming.samples,
        inputGB: streaming.inputGB,
        seconds: streaming.seconds,
      };
      rows.push(...streaming.rows);
      const webview = await webviewBenchmark({ quick, tmp, makeLogits });
      results.webview = webview;
      rows.push(...webviewRows(webview));
      const vsix = path.join(ROOT, '.tmp', 'exit-lens-linux-x64.vsix');
      const vsixKB = sizeKB(vsix);
      const { extensionKB, measuredAreShipped } = await shippedBundles(vsix);
      results.bundle = {
        extensionKB,
        vsixMB: vsixKB === null ? null : vsixKB / 1024,
        measuredAreShipped,
        activationLoadsOnnxRuntime: activationLoadsOrt(),
      };
      rows.push([
        'bundle: dist/extension.js as shipped',
        extensionKB === null ? 'not packaged' : `${extensionKB.toFixed(0)} kB`,
        measuredAreShipped
          ? 'the benchmark ran the shipped bundles'
          : "the benchmark ran other bundles than the VSIX's",
        '',
      ]);
      rows.push([
        'bundle: linux-x64 VSIX',
        vsixKB === null ? 'not packaged' : `${(vsixKB / 1024).toFixed(1)} MB`,
        '',
        '',
      ]);
      rows.push([
        'loading the extension loads ONNX Runtime',
        String((results.bundle as { activationLoadsOnnxRuntime: boolean }).activationLoadsOnnxRuntime),
        '',
        '',
      ]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  finish(rows, results, tmp);
}

/** Prints the table and writes bench/results.json. */
function finish(rows: string[][], results: Record<string, unknown>, tmp: string): void {
  fs.rmSync(tmp, { recursive: true, force: true });
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((v, c) => v.padEnd(widths[c]))
        .join('  ')
        .trimEnd()}\n`,
    );
  fs.mkdirSync(path.join(ROOT, 'bench'), { recursive: true });
  // A part run alone (--only) updates its own entries of the last full results.
  const file = path.join(ROOT, 'bench', 'results.json');
  let merged = results;
  if (results.only && fs.existsSync(file)) {
    const { machine, quick, only, requestedProviders, ...measured } = results;
    const last = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const partial = (last.partialRuns ?? {}) as Record<string, unknown>;
    merged = {
      ...last,
      ...measured,
      partialRuns: { ...partial, [String(only)]: { machine, quick, requestedProviders } },
    };
  }
  fs.writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
  process.stdout.write('Wrote bench/results.json\n');
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
