import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Runs `node <args>` as a fresh child process and reports its wall time (spawn to exit, seen
 * from this process) and its own peak resident memory. The peak comes from inside the child:
 * a preloaded module writes `process.resourceUsage().maxRSS` on exit, so that the figure is
 * that process's own and nothing else's.
 */
export interface ChildRun {
  seconds: number;
  maxRssMB: number;
  stdout: string;
}

const PRELOAD = `'use strict';
process.on('exit', () => {
  require('node:fs').writeFileSync(process.env.EXIT_LENS_BENCH_RSS_OUT, String(process.resourceUsage().maxRSS));
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
  const maxRssKB = Number(fs.readFileSync(rssFile, 'utf8'));
  return { seconds, maxRssMB: maxRssKB / 1024, stdout: r.stdout };
}
