import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';

/**
 * Runs `node <args>` as a fresh child process and reports its wall time (spawn to exit, seen
 * from this process), its CPU time and its own peak resident memory. The peak comes from inside the child:
 * a preloaded module writes `process.resourceUsage().maxRSS` on exit, so that the figure is
 * that process's own and nothing else's.
 */
export interface ChildRun {
  seconds: number;
  maxRssMB: number;
  /** User plus system CPU time of the child, all threads. */
  cpuSeconds: number;
  stdout: string;
}

const PRELOAD = `'use strict';
process.on('exit', () => {
  const u = process.resourceUsage();
  require('node:fs').writeFileSync(process.env.EXIT_LENS_BENCH_RSS_OUT, JSON.stringify({ maxRSS: u.maxRSS, cpu: u.userCPUTime + u.systemCPUTime }));
});
`;

export function runNodeChild(tmp: string, args: string[], cwd: string): ChildRun {
  const preload = path.join(tmp, 'report-max-rss.cjs');
  if (!fs.existsSync(preload)) fs.writeFileSync(preload, PRELOAD);
  const rssFile = path.join(tmp, `max-rss-${process.pid}.txt`);
  fs.rmSync(rssFile, { force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--require', preload, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, EXIT_LENS_BENCH_RSS_OUT: rssFile },
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`node ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  }
  const usage = JSON.parse(fs.readFileSync(rssFile, 'utf8')) as { maxRSS: number; cpu: number };
  return { seconds, maxRssMB: usage.maxRSS / 1024, cpuSeconds: usage.cpu / 1e6, stdout: r.stdout };
}

/**
 * Bundles a benchmark script (bench/<name>.ts) into tmp like the CLI is bundled (CommonJS,
 * plain JavaScript, onnxruntime-node left outside the bundle and loaded from this project's
 * node_modules by its absolute path), so that neither side of a comparison pays a TypeScript
 * loader. Returns the bundle's path.
 */
export async function bundleBenchScript(tmp: string, name: string): Promise<string> {
  const out = path.join(tmp, `${name}.js`);
  const ortEntry = require.resolve('onnxruntime-node');
  await build({
    entryPoints: [path.join(__dirname, `${name}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    logLevel: 'error',
    plugins: [
      {
        name: 'ort-external',
        setup: (b) => b.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: ortEntry, external: true })),
      },
    ],
  });
  return out;
}
