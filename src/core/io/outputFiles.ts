import * as fs from 'node:fs';
import * as path from 'node:path';
import { yieldToEvents } from '../analysis/curves';
import { removeLeftoverTemps, removeQuietly, tempNameFor } from './atomicWrite';
import { ExitLensError, throwIfCancelled } from '../errors';
import { kindOf, openFailure } from './inputFiles';

/**
 * Report files (the CLI's --json, --markdown and --html, the extension's exports), written all
 * or nothing. Every output is checked before anything runs: not empty, not given twice, not one
 * of the run's inputs (the model, its external data, a sample set, a logits file), and either a
 * new path, a regular file (a link to one is followed, and the file it names is replaced), a
 * character device or a pipe. A folder, a block device, a socket or a link to nothing is
 * refused. Then each regular output is written to a temporary name beside it, a device or pipe
 * gets a plain write (no rename ever replaces one), and only when all of them succeeded are the
 * temporary files renamed into place; on any failure, or a cancel before the renames, the
 * temporary files and any folder made for them are removed and nothing is renamed.
 */
export interface OutputRequest {
  /** How the user named it: "--json", "the export". */
  label: string;
  file: string;
}

export interface InputRef {
  /** What it is: "the model", "the sample set". */
  label: string;
  file: string;
}

export interface OutputTarget {
  label: string;
  /** The path as given. */
  given: string;
  /** Where it is written: the regular file a link names, or the new path. */
  path: string;
  /** replace: a temporary name, then a rename; stream: a plain write to a device or a pipe. */
  mode: 'replace' | 'stream';
  /** Device and inode when it exists, else the path: two outputs with one key are one file. */
  key: string;
}

function refuse(label: string, given: string, why: string, hint: string): ExitLensError {
  return new ExitLensError('output-unwritable', `${label} ${JSON.stringify(given)} ${why}.`, hint);
}

const idOf = (st: fs.Stats) => `${st.dev}:${st.ino}`;

/** Paths that name the process's own descriptors (/dev/stdout, /dev/fd/1, /proc/self/fd/1). */
function namesDescriptor(abs: string): boolean {
  return /^\/(dev|proc)\//.test(abs);
}

/** The nearest folder above a path that does not exist yet, and the rest of the path below it. */
function existingAncestor(abs: string): { dir: string; st: fs.Stats } | { dir: string; err: unknown } {
  let dir = path.dirname(abs);
  for (;;) {
    try {
      return { dir, st: fs.statSync(dir) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return { dir, err };
      const up = path.dirname(dir);
      if (up === dir) return { dir, err };
      dir = up;
    }
  }
}

function planOne(o: OutputRequest): OutputTarget {
  const { label, file } = o;
  const again = label.startsWith('--')
    ? `Give ${label} a file name, e.g. ${label} report${label === '--markdown' ? '.md' : label === '--html' ? '.html' : '.json'}.`
    : 'Choose a file name.';
  if (typeof file !== 'string' || file.trim() === '') {
    throw refuse(
      label,
      file ?? '',
      'is an empty path',
      `${again} An empty path often comes from a shell variable that is not set.`,
    );
  }
  if (file.includes('\0')) throw refuse(label, file, 'is not a valid path (it holds a NUL character)', again);
  if (/[\\/]$/.test(file))
    throw refuse(label, file, 'ends with a path separator, so it names a folder, not a file', again);
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      throw refuse(label, file, `cannot be written: ${openFailure(err)}`, again);
    let link: fs.Stats | null = null;
    try {
      link = fs.lstatSync(abs);
    } catch {
      // Not there at all: a new file.
    }
    if (link)
      throw refuse(
        label,
        file,
        'is a symbolic link to a file that does not exist',
        'Remove the link, or give another path.',
      );
    const above = existingAncestor(abs);
    if ('err' in above) throw refuse(label, file, `cannot be created: ${openFailure(above.err)}`, again);
    if (!above.st.isDirectory()) {
      throw refuse(
        label,
        file,
        `cannot be created: ${above.dir} is ${kindOf(above.st)}, not a folder`,
        'Give a path inside a folder.',
      );
    }
    const target = path.join(fs.realpathSync(above.dir), path.relative(above.dir, abs));
    return { label, given: file, path: target, mode: 'replace', key: target };
  }
  if (st.isFile()) {
    // A descriptor path (/dev/stdout redirected to a file) gets a plain write: a rename would
    // replace the file the shell opened with one it never sees.
    if (namesDescriptor(abs)) return { label, given: file, path: abs, mode: 'stream', key: idOf(st) };
    return { label, given: file, path: fs.realpathSync(abs), mode: 'replace', key: idOf(st) };
  }
  if (st.isCharacterDevice() || st.isFIFO()) return { label, given: file, path: abs, mode: 'stream', key: idOf(st) };
  throw refuse(
    label,
    file,
    `is ${kindOf(st)}; a report goes to a regular file (replaced whole), a new path, a character device or a pipe`,
    again,
  );
}

/**
 * Checks every output before a run: refuses an empty path, a folder, a block device, a socket,
 * a link to nothing, a path given twice (also through a link or a hard link), and any output
 * that is one of `inputs`.
 */
export function planOutputs(outputs: OutputRequest[], inputs: InputRef[]): OutputTarget[] {
  const planned = outputs.map(planOne);
  for (let i = 0; i < planned.length; i++) {
    for (let j = 0; j < i; j++) {
      if (planned[i].key === planned[j].key) {
        throw refuse(
          planned[i].label,
          planned[i].given,
          `names the same file as ${planned[j].label} ${JSON.stringify(planned[j].given)}; one would overwrite the other`,
          'Give each output its own file.',
        );
      }
    }
  }
  checkNotInputs(planned, inputs);
  return planned;
}

/** Refuses an output that is one of the inputs (by device and inode, so also through links). */
export function checkNotInputs(planned: OutputTarget[], inputs: InputRef[]): void {
  for (const input of inputs) {
    if (!input.file) continue;
    let key: string;
    try {
      key = idOf(fs.statSync(path.resolve(input.file)));
    } catch {
      continue; // a missing input is the reader's to report
    }
    for (const t of planned) {
      if (t.key === key) {
        throw refuse(
          t.label,
          t.given,
          `is ${input.label} (${input.file}); writing the report there would destroy it`,
          t.label.startsWith('--') ? `Give ${t.label} another file name.` : 'Choose another file name.',
        );
      }
    }
  }
}

/** Temporary files being written now: removed if the process exits before they are renamed. */
const pending = new Set<string>();

/** Removes this process's temporary report files that were not renamed yet (for an exit handler). */
export function removePendingTemps(): void {
  for (const t of pending) removeQuietly(t);
  pending.clear();
}

export interface OutputItem {
  target: OutputTarget;
  /** The content, built when its turn comes, so that a cancel between two builds is seen (bytes: a records file). */
  content: () => string | Uint8Array;
}

function build(item: OutputItem): string | Uint8Array {
  try {
    return item.content();
  } catch (err) {
    if (err instanceof RangeError) {
      throw new ExitLensError(
        'memory-limit',
        `${item.target.label}: the report is too large to write as one file (${err.message}).`,
        'Leave out the per-sample records (--records), or analyse a smaller sample set.',
      );
    }
    throw err;
  }
}

async function writeStream(t: OutputTarget, content: string | Uint8Array): Promise<void> {
  const { O_WRONLY, O_APPEND, O_NONBLOCK, O_NOCTTY } = fs.constants;
  let probe: number | null = null;
  if (fs.statSync(t.path).isFIFO() && O_NONBLOCK !== undefined) {
    // A blocking open of a pipe nobody reads would wait forever; this one fails at once instead.
    try {
      probe = fs.openSync(t.path, O_WRONLY | O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENXIO')
        throw refuse(
          t.label,
          t.given,
          'is a pipe that no process is reading from',
          'Start the reader first, or give a file name.',
        );
      throw err;
    }
  }
  try {
    const handle = await fs.promises.open(t.path, O_WRONLY | (O_APPEND ?? 0) | (O_NOCTTY ?? 0));
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
  } finally {
    if (probe !== null) fs.closeSync(probe);
  }
}

/** Removes the folders made for the outputs (deepest first), as long as they are empty. */
function removeMadeFolders(made: { first: string; dir: string }[]): void {
  for (const { first, dir } of made.reverse()) {
    let d = dir;
    for (;;) {
      try {
        fs.rmdirSync(d);
      } catch {
        break;
      }
      if (d === first) break;
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
  }
}

/**
 * Writes the outputs all or nothing (see above). Between two steps the event loop runs, so that
 * a cancel (Ctrl-C) that came meanwhile is seen; a cancel at any point before the renames
 * throws 'cancelled' and leaves nothing.
 */
export async function writeOutputs(items: OutputItem[], signal?: AbortSignal): Promise<void> {
  const temps: { tmp: string; target: OutputTarget }[] = [];
  const made: { first: string; dir: string }[] = [];
  const step = async () => {
    await yieldToEvents();
    throwIfCancelled(signal);
  };
  let current: OutputTarget | null = null;
  try {
    for (const item of items.filter((i) => i.target.mode === 'replace')) {
      current = item.target;
      await step();
      const content = build(item);
      await step();
      const dir = path.dirname(item.target.path);
      const first = fs.mkdirSync(dir, { recursive: true });
      if (first) made.push({ first, dir });
      removeLeftoverTemps(item.target.path);
      const tmp = tempNameFor(item.target.path);
      pending.add(tmp);
      temps.push({ tmp, target: item.target });
      // 'wx': the temporary name is new; nothing already there is followed or overwritten.
      await fs.promises.writeFile(tmp, content, { flag: 'wx' });
    }
    for (const item of items.filter((i) => i.target.mode === 'stream')) {
      current = item.target;
      await step();
      const content = build(item);
      await step();
      await writeStream(item.target, content);
    }
    current = null;
    await step();
    // Nothing below yields: the renames happen together, after the last point a cancel is seen.
    for (const { target } of temps) {
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(target.path);
      } catch {
        // still a new path
      }
      if (st && !st.isFile())
        throw refuse(
          target.label,
          target.given,
          `became ${kindOf(st)} while the report was written`,
          'Give a file name.',
        );
    }
    for (const { tmp, target } of temps) {
      current = target;
      fs.renameSync(tmp, target.path);
      pending.delete(tmp);
    }
  } catch (err) {
    for (const { tmp } of temps) removeQuietly(tmp);
    removeMadeFolders(made);
    if (err instanceof ExitLensError) throw err;
    const where = current ? `${current.label} ${JSON.stringify(current.given)}` : 'the report';
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOSPC'
        ? 'no space is left on the device'
        : code === 'EROFS'
          ? 'the file system is read-only'
          : code === 'EDQUOT'
            ? 'the disk quota is used up'
            : code === 'EPIPE'
              ? 'the reader closed the pipe'
              : openFailure(err);
    throw new ExitLensError(
      'output-unwritable',
      `Cannot write ${where}: ${why}; no report file was written or replaced.`,
      'Check that the folder is writable and has room, then run again.',
    );
  } finally {
    for (const { tmp } of temps) pending.delete(tmp);
  }
}
