import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineEvent } from '../../src/engine/protocol';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');
export const fixture = (name: string) => path.join(FIXTURES, name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- expected values written by the Python reference
export function expected(name: string): any {
  return JSON.parse(fs.readFileSync(fixture(name), 'utf8'));
}

export function close(actual: number | null | undefined, want: number | null | undefined, tol: number, what: string): void {
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

export function tmpDir(prefix = 'exit-lens-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
