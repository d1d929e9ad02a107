import * as fs from 'node:fs';
import { ExitLensError } from '../errors';

/**
 * Inputs (models, sample sets, logits files, stored runs) are read from regular files only. A
 * FIFO would block the open and every read (and Ctrl-C with it), a device like /dev/zero never
 * ends, a folder fails deep inside a reader. Each input is opened without blocking (a FIFO's
 * open does not wait for a writer) and checked on the open descriptor (fstat), so that what is
 * checked is what is read, and what is read is bounded by the size it had then.
 */

/** What a path names, in words: "a folder", "a FIFO (named pipe)", "a character device" … */
export function kindOf(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** An open failure in words: "no such file", "it is a folder", "permission denied" … */
export function openFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many symbolic links';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      return e?.message ?? String(err);
  }
}

/** Why a file is not read: `why` completes "Cannot read <file>: …". */
export type Refuse = (why: string) => ExitLensError;

const NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

export interface OpenedFile {
  fd: number;
  /** The size when it was opened: reads go no further. */
  size: number;
}

/**
 * Opens a file for reading if, and only if, it is a regular file (a link to one counts).
 * Anything else is refused through `refuse` with what it is; the caller closes `fd`.
 */
export function openRegularFile(file: string, refuse: Refuse): OpenedFile {
  if (typeof file !== 'string' || file === '' || file.includes('\0'))
    throw refuse('the path is empty or not a valid path');
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | NONBLOCK);
  } catch (err) {
    throw refuse(openFailure(err));
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      throw refuse(`it is ${kindOf(st)}, not a regular file; Exit Lens reads inputs from regular files only`);
    }
    return { fd, size: st.size };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Checks that an input is a readable regular file, without reading it. */
export function checkInputFile(file: string, refuse: Refuse): void {
  fs.closeSync(openRegularFile(file, refuse).fd);
}

/**
 * Checks a run's inputs before it starts (the extension does, before its engine starts): the
 * first one that is not a readable regular file is refused, saying which input and what it is.
 * Inputs without a path are skipped.
 */
export function checkRunInputs(inputs: { what: string; file: string | null | undefined }[]): void {
  for (const { what, file } of inputs) {
    if (!file) continue;
    const kind = what === 'model' ? '.onnx' : '.npz or .npy';
    checkInputFile(
      file,
      (why) =>
        new ExitLensError(
          what === 'model' ? 'model-unreadable' : 'samples-unreadable',
          `Cannot read the ${what} ${file}: ${why}.`,
          `Choose a ${kind} file.`,
        ),
    );
  }
}

/**
 * Reads a whole regular file, at most the size it had when opened (and at most `maxBytes`, when
 * given: a larger file is refused before anything is allocated for it).
 */
export function readRegularFile(file: string, refuse: Refuse, maxBytes?: number): Buffer {
  const { fd, size } = openRegularFile(file, refuse);
  try {
    if (maxBytes !== undefined && size > maxBytes)
      throw refuse(
        `it is ${size.toLocaleString('en-US')} bytes, more than the ${maxBytes.toLocaleString('en-US')} such a file can be`,
      );
    let out: Buffer;
    try {
      out = Buffer.allocUnsafe(size);
    } catch {
      throw refuse(`it is ${size.toLocaleString('en-US')} bytes, too large to read into memory`);
    }
    let got = 0;
    while (got < size) {
      let n: number;
      try {
        n = fs.readSync(fd, out, got, size - got, got);
      } catch (err) {
        throw refuse(openFailure(err));
      }
      if (n === 0) break; // the file shrank meanwhile: what it holds now
      got += n;
    }
    return got === size ? out : out.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}
