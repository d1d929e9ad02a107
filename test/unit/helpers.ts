import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineEvent } from '../../src/shared/engineProtocol';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');
export const fixture = (name: string) => path.join(FIXTURES, name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- expected values written by the Python reference
export function expected(name: string): any {
  return JSON.parse(fs.readFileSync(fixture(name), 'utf8'));
}

export function close(
  actual: number | null | undefined,
  want: number | null | undefined,
  tol: number,
  what: string,
): void {
  if (want === null || want === undefined) {
    assert.ok(actual === null || actual === undefined, `${what}: expected null, got ${actual}`);
    return;
  }
  assert.ok(typeof actual === 'number', `${what}: expected ${want}, got ${actual}`);
  assert.ok(Math.abs(actual - want) <= tol, `${what}: expected ${want}, got ${actual} (tolerance ${tol})`);
}

export function collect(): { events: EngineEvent[]; emit: (e: EngineEvent) => void } {
  const events: EngineEvent[] = [];
  return { events, emit: (e) => events.push(e) };
}

/**
 * `npm run test:fast` sets EXIT_LENS_FAST=1 to leave out the fuzzing and the tests that kill
 * processes (they take most of the unit tests' time); `npm test` runs everything. Use as
 * `it(name, { skip: slowTest('fuzzing') }, ...)`.
 */
export function slowTest(what: string): string | false {
  if (process.env.EXIT_LENS_FAST !== '1') return false;
  return `${what}: left out by EXIT_LENS_FAST=1 (npm run test:fast); npm test runs it`;
}

export function tmpDir(prefix = 'exit-lens-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * An unlabelled sample set for nan_net.onnx (input "x", [N, 4], positive values): at batch size 1
 * a run over many samples lasts long enough to be killed, cancelled or interrupted on purpose.
 */
export async function writeLongRunSamples(file: string, samples: number): Promise<void> {
  const { writeNpz } = await import('../../bench/npzWriter');
  await writeNpz(file, [
    {
      name: 'x',
      descr: '<f4',
      shape: [samples, 4],
      fill: (out, row, rows) => {
        for (let i = 0; i < rows * 4; i++) (out as Float32Array)[i] = 1 + ((row * 4 + i) % 7) / 7;
      },
    },
  ]);
}

/** Whether a process with this id exists (a reaped child no longer does). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until the process is gone; false if it is still there after `timeoutMs`. */
export async function processGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processExists(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Child processes of this test process (zombies included) whose command line runs the engine script. */
export function engineChildren(script: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state, ppid, ...
      const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      if (Number(ppid) !== process.pid) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(script)) out.push(Number(entry));
    } catch {
      // the process ended while it was being read
    }
  }
  return out;
}
