import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as yauzl from 'yauzl';
import { ExitLensError } from '../errors';
import { openRegularFile } from '../io/inputFiles';
import { displayName } from '../io/text';
import { MAX_HEADER_BYTES, NpyHeader, parseNpyHeader } from './npy';

/**
 * Arrays in a .npy or .npz file (np.savez stores entries, np.savez_compressed deflates
 * them), read row by row so that a sample set never has to fit in memory. The zip container
 * (including zip64, which numpy writes for large arrays) is read with yauzl.
 */
export interface RowReader {
  /**
   * The next `count` rows' bytes (count × rowBytes), in file order: fresh bytes, or, given
   * `into` (at least that long), the start of `into` filled with them.
   */
  readRows(count: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface ArrayEntry {
  /** Array name: the .npz key (without .npy), or the file's base name for a .npy file. */
  name: string;
  header: NpyHeader;
  /** First dimension (1 for a 0-d array). */
  rows: number;
  /** Bytes of one row (the product of the other dimensions × item size). */
  rowBytes: number;
  compressed: boolean;
  /**
   * A reader of rows, or of `unitBytes`-sized units (e.g. one logits vector of a [E,N,C] array),
   * from unit `firstUnit` on (0: the first; a shard of a sample set starts further in).
   */
  open(unitBytes?: number, firstUnit?: number): Promise<RowReader>;
}

export interface ArrayFile {
  path: string;
  arrays: ArrayEntry[];
  close(): Promise<void>;
}

function unreadable(file: string, why: string): ExitLensError {
  return new ExitLensError(
    'samples-unreadable',
    `Cannot read ${file}: ${why}.`,
    'Sample sets are .npz files written by np.savez / np.savez_compressed, or .npy files written by np.save.',
  );
}

/** A positional read on a descriptor (pread): reads on one descriptor never move each other. */
function readAt(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/**
 * Positional reads from the file's one open descriptor (the one checked to be a regular file
 * when the file was opened): no stream, no copy beyond the result.
 */
class FileRowReader implements RowReader {
  private position: number;
  constructor(
    private readonly fd: number,
    start: number,
    private readonly end: number,
    private readonly rowBytes: number,
    private readonly where: string,
  ) {
    this.position = start;
  }
  async readRows(count: number, into?: Uint8Array): Promise<Uint8Array> {
    const want = count * this.rowBytes;
    if (this.position + want > this.end) throw unreadable(this.where, 'it ends before the rows its header announces');
    const out = into ? into.subarray(0, want) : Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const bytesRead = await readAt(this.fd, out, got, want - got, this.position + got);
      if (bytesRead === 0) throw unreadable(this.where, 'the file is shorter than its header says (truncated?)');
      got += bytesRead;
    }
    this.position += want;
    return out;
  }
  async close(): Promise<void> {
    // The descriptor is the file's, closed with it.
  }
}

const SKIP_CHUNK_BYTES = 4 * 2 ** 20;

/** Pulls exact byte counts from a stream (an inflating zip entry), one chunk at a time. */
class StreamRowReader implements RowReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private readonly iterator: AsyncIterator<Buffer>;
  constructor(
    private readonly stream: Readable,
    private skip: number,
    private readonly rowBytes: number,
    private readonly where: string,
  ) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }
  private async fill(n: number): Promise<void> {
    while (this.buffered < n) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.iterator.next();
      } catch (err) {
        throw unreadable(this.where, `the compressed data is corrupt (${(err as Error).message})`);
      }
      if (next.done) throw unreadable(this.where, 'it ends before the rows its header announces (truncated?)');
      this.chunks.push(next.value);
      this.buffered += next.value.length;
    }
  }
  private take(n: number): Buffer {
    const out =
      this.chunks.length === 1 && this.chunks[0].length === n
        ? this.chunks[0]
        : Buffer.concat(this.chunks, this.buffered);
    const result = out.subarray(0, n);
    const rest = out.subarray(n);
    this.chunks.length = 0;
    this.buffered = rest.length;
    if (rest.length) this.chunks.push(rest);
    return result;
  }
  async readRows(count: number, into?: Uint8Array): Promise<Uint8Array> {
    // Skipped a chunk at a time: a shard far into a large entry never buffers what it skips.
    while (this.skip > 0) {
      const n = Math.min(this.skip, SKIP_CHUNK_BYTES);
      await this.fill(n);
      this.take(n);
      this.skip -= n;
    }
    const want = count * this.rowBytes;
    await this.fill(want);
    // Copy so the caller's bytes do not pin the stream's larger chunk.
    const bytes = this.take(want);
    if (!into) return Buffer.from(bytes);
    const out = into.subarray(0, want);
    out.set(bytes);
    return out;
  }
  async close(): Promise<void> {
    this.stream.destroy();
  }
}

function rowsOf(header: NpyHeader): { rows: number; rowBytes: number } {
  if (header.shape.length === 0) return { rows: 1, rowBytes: header.dataBytes };
  const rows = header.shape[0];
  return { rows, rowBytes: rows === 0 ? 0 : header.dataBytes / rows };
}

/** A .npy file on its open descriptor `fd` (`size` bytes), which the returned file owns. */
async function openNpy(file: string, fd: number, size: number): Promise<ArrayFile> {
  const head = Buffer.alloc(Math.min(size, MAX_HEADER_BYTES));
  await readAt(fd, head, 0, head.length, 0);
  const header = parseNpyHeader(head, file, size);
  const { rows, rowBytes } = rowsOf(header);
  const entry: ArrayEntry = {
    name: path.basename(file).replace(/\.npy$/i, ''),
    header,
    rows,
    rowBytes,
    compressed: false,
    open: async (unitBytes = rowBytes, firstUnit = 0) =>
      new FileRowReader(
        fd,
        header.headerBytes + firstUnit * unitBytes,
        header.headerBytes + header.dataBytes,
        unitBytes,
        file,
      ),
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    fs.closeSync(fd);
  };
  return { path: file, arrays: [entry], close };
}

async function readStreamHead(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= max) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, max);
}

/**
 * A .npz file on its open descriptor `fd`, which it owns: the zip reader closes it with the
 * archive (once no entry stream reads it any more), or it is closed here if the archive does
 * not open.
 */
async function openNpz(file: string, fd: number): Promise<ArrayFile> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromFdPromise(fd, { lazyEntries: true, autoClose: false, strictFileNames: false });
  } catch (err) {
    fs.closeSync(fd);
    throw unreadable(file, `it is not a readable .npz (zip) archive (${(err as Error).message})`);
  }
  const arrays: ArrayEntry[] = [];
  const names = new Set<string>();
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      const where = `${file} [${displayName(entry.fileName)}]`;
      if (!entry.fileName.endsWith('.npy')) continue;
      if (names.has(entry.fileName)) {
        // np.load reads the last entry of a name, other zip readers the first: which array is meant is unknowable.
        throw new ExitLensError(
          'samples-unreadable',
          `${file} holds more than one entry named "${displayName(entry.fileName)}"; NumPy would read the last of them and other readers the first, so which array is meant is unclear.`,
          'Save the arrays again with np.savez / np.savez_compressed, each name once.',
        );
      }
      names.add(entry.fileName);
      const method = entry.compressionMethod;
      if (method !== 0 && method !== 8)
        throw unreadable(where, `zip compression method ${method} is not supported (only stored and deflate)`);
      const compressed = method === 8;
      let head: Buffer;
      let dataStart = 0;
      if (!compressed) {
        ({ fileDataStart: dataStart } = await zip.readLocalFileHeaderPromise(entry, { minimal: true }));
        head = Buffer.alloc(Math.min(entry.uncompressedSize, MAX_HEADER_BYTES));
        await readAt(fd, head, 0, head.length, dataStart);
      } else {
        head = await readStreamHead(await zip.openReadStreamPromise(entry), MAX_HEADER_BYTES);
      }
      // Deflate expands at most ~1032:1, so a deflated entry can hold at most that much: a
      // zip directory that claims more is refused before anything is allocated for it.
      const justified = compressed
        ? Math.min(entry.uncompressedSize, entry.compressedSize * 1032 + 1024)
        : entry.uncompressedSize;
      const header = parseNpyHeader(head, where, justified);
      const { rows, rowBytes } = rowsOf(header);
      arrays.push({
        name: entry.fileName.slice(0, -4),
        header,
        rows,
        rowBytes,
        compressed,
        open: async (unitBytes = rowBytes, firstUnit = 0) =>
          compressed
            ? new StreamRowReader(
                await zip.openReadStreamPromise(entry),
                header.headerBytes + firstUnit * unitBytes,
                unitBytes,
                where,
              )
            : new FileRowReader(
                fd,
                dataStart + header.headerBytes + firstUnit * unitBytes,
                dataStart + header.headerBytes + header.dataBytes,
                unitBytes,
                where,
              ),
      });
    }
  } catch (err) {
    zip.close();
    if (err instanceof ExitLensError) throw err;
    throw unreadable(file, (err as Error).message);
  }
  return { path: file, arrays, close: async () => zip.close() };
}

/**
 * Opens a .npz or .npy file; only headers are read here. Only a regular file is read (a FIFO, a
 * device or a folder is refused, see inputFiles.ts), through the one descriptor that was checked.
 */
export async function openArrayFile(file: string): Promise<ArrayFile> {
  const abs = path.resolve(file);
  const { fd, size } = openRegularFile(abs, (why) => unreadable(abs, why));
  let owned = true;
  try {
    const magic = Buffer.alloc(6);
    fs.readSync(fd, magic, 0, 6, 0);
    if (magic[0] === 0x93 && magic.subarray(1).toString('latin1') === 'NUMPY') {
      const opened = await openNpy(abs, fd, size);
      owned = false;
      return opened;
    }
    if (magic[0] === 0x50 && magic[1] === 0x4b) {
      owned = false; // openNpz's from here on
      return await openNpz(abs, fd);
    }
    throw unreadable(abs, 'it is neither a .npy array nor a .npz archive');
  } finally {
    if (owned) fs.closeSync(fd);
  }
}

/** Reads a whole (small) array, e.g. labels. */
export async function readWholeArray(entry: ArrayEntry): Promise<Uint8Array> {
  const reader = await entry.open();
  try {
    return await reader.readRows(entry.rows);
  } finally {
    await reader.close();
  }
}
