import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitLensError } from '../errors';
import { kindOf } from './inputFiles';

/**
 * Writes that a killed process never leaves torn: each file goes to a temporary name in its
 * own folder (`<file>.<pid>.<hex>.tmp`) and is renamed into place. What a kill between the two
 * leaves is recognised by that name, and removed once its writer is gone.
 */

/** A temporary file older than this is left over whatever its writer's pid now names. */
export const STALE_TEMP_AGE_MS = 24 * 60 * 60 * 1000;

/** A fresh temporary name beside `file`. */
export function tempNameFor(file: string): string {
  return `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Writes a file atomically: temporary name in the same folder, then rename. Only ever over a
 * regular file (or a link, which the rename replaces, never what it names): a folder, a FIFO or
 * a device under that name is refused, never renamed over.
 */
export function writeFileAtomic(file: string, content: string): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(file);
  } catch {
    // a new file
  }
  if (st && !st.isFile() && !st.isSymbolicLink()) {
    throw new ExitLensError(
      'output-unwritable',
      `Cannot write ${file}: it is ${kindOf(st)}, not a regular file.`,
      'Move it away, or choose another place to write.',
    );
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempNameFor(file);
  try {
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Whether a process with this id exists (EPERM: it does, as another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * Whether `name` in `dir` is a temporary file of these writes (of `target`, when given) left by
 * a writer that is gone, or a day old.
 */
export function isLeftoverTemp(dir: string, name: string, target?: string): boolean {
  const temp = /^(.*)\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
  if (!temp || (target !== undefined && temp[1] !== target)) return false;
  return !processAlive(Number(temp[2])) || ageMs(path.join(dir, name)) > STALE_TEMP_AGE_MS;
}

/** Removes a file if it can; one that cannot be removed (permissions) stays, as it would have. */
export function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // Not ours to remove after all.
  }
}

/** Removes what killed writes of `file` left beside it. */
export function removeLeftoverTemps(file: string): void {
  const dir = path.dirname(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const base = path.basename(file);
  for (const name of names) if (isLeftoverTemp(dir, name, base)) removeQuietly(path.join(dir, name));
}
