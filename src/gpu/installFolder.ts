import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLeftoverTemp, processAlive, tempNameFor } from '../core/io/atomicWrite';
import { ExitLensError } from '../core/errors';
import { CudaSetupError } from './cudaPackage';

/**
 * The folder the CUDA provider is installed into (beside libonnxruntime.so.1): one setup at a
 * time (a lock file naming its process), nothing written through a name that is not a regular
 * file, leftovers of an interrupted setup removed, and every file renamed into place together.
 */

const LOCK_NAME = 'exit-lens-cuda.lock';

/** A folder's names that are not regular files are refused: nothing is written through a symlink. */
export async function checkTargetName(dir: string, name: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(path.join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isFile()) {
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a folder' : 'not a regular file';
    throw new CudaSetupError(
      'unsafe-target',
      `${path.join(dir, name)} is ${what}; Exit Lens does not write through it.`,
      'Remove it (or replace it with the library file itself) and set up the CUDA provider again.',
    );
  }
}

/** The setup's words for a file-system error in `dir` it can name (permissions, space), else null. */
export function writeError(err: unknown, dir: string): ExitLensError | null {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new CudaSetupError(
      'write-failed',
      `Exit Lens cannot write to ${dir} (${code}).`,
      'The CUDA provider goes beside the bundled ONNX Runtime; make that folder writable, or install the ' +
        'extension where your user can write.',
    );
  }
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CudaSetupError(
      'write-failed',
      `There is not enough disk space in ${dir} for the CUDA provider.`,
      'The package and its libraries need roughly three times the package size while installing; free some space.',
    );
  }
  return null;
}

/** The target must be an existing folder. */
export async function checkTargetFolder(dir: string): Promise<void> {
  const dirStat = await fs.promises.stat(dir).catch(() => null);
  if (!dirStat?.isDirectory()) {
    throw new CudaSetupError(
      'write-failed',
      `${dir} is not a folder.`,
      'The CUDA provider goes beside the bundled ONNX Runtime (libonnxruntime.so.1).',
    );
  }
}

/** One setup per folder at a time; a lock left by a process that is gone is taken over. */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, LOCK_NAME);
  await checkTargetName(dir, LOCK_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.promises.writeFile(file, String(process.pid), { flag: 'wx' });
      return () => fs.promises.rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await fs.promises.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new CudaSetupError(
          'busy',
          `Another CUDA provider setup is running in ${dir} (process ${owner}).`,
          'Wait for it to finish, then try again.',
        );
      }
      await fs.promises.rm(file, { force: true });
    }
  }
  throw new CudaSetupError('busy', `Could not take the setup lock ${file}.`, 'Try again.');
}

/** Temporary files that an interrupted setup left (their writer is gone). */
export async function removeLeftovers(dir: string, targets: string[]): Promise<void> {
  for (const name of await fs.promises.readdir(dir)) {
    if (targets.some((t) => isLeftoverTemp(dir, name, t))) await fs.promises.rm(path.join(dir, name), { force: true });
  }
}

export interface Staged {
  temp: string;
  final: string;
}

/** Renames every staged file into place; on any failure the folder is put back as it was. */
export async function commit(dir: string, staged: Staged[], replaceable: string[]): Promise<void> {
  const backups: Staged[] = [];
  const placed: string[] = [];
  try {
    for (const name of replaceable) {
      const final = path.join(dir, name);
      await checkTargetName(dir, name);
      if (!fs.existsSync(final)) continue;
      const backup = tempNameFor(final);
      await fs.promises.rename(final, backup);
      backups.push({ temp: backup, final });
    }
    for (const s of staged) {
      await fs.promises.rename(s.temp, s.final);
      placed.push(s.final);
    }
  } catch (err) {
    for (const file of placed) await fs.promises.rm(file, { force: true }).catch(() => undefined);
    for (const b of backups) await fs.promises.rename(b.temp, b.final).catch(() => undefined);
    throw err;
  }
  for (const b of backups) await fs.promises.rm(b.temp, { force: true }).catch(() => undefined);
}
