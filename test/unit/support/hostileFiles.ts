/**
 * Hostile inputs, made in a test's own temporary folder: tiny ONNX models with any names,
 * shapes and external-data locations; .npy headers that claim any shape; .npz archives with any
 * entries (duplicate names, deflated streams that expand as far as deflate allows).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Writer } from 'protobufjs/minimal';
import { npyHeader } from '../../../bench/npzWriter';

export { npyHeader };

const LEN = 2;
const VARINT = 0;
const tag = (field: number, wire: number) => ((field << 3) | wire) >>> 0;

type Build = (w: Writer) => void;
function message(w: Writer, field: number, build: Build): void {
  w.uint32(tag(field, LEN)).fork();
  build(w);
  w.ldelim();
}
const str = (w: Writer, field: number, s: string) => w.uint32(tag(field, LEN)).string(s);
const int = (w: Writer, field: number, v: number) => w.uint32(tag(field, VARINT)).int64(v);

export interface TinyModel {
  /** The input's name and shape; a string dimension is symbolic. */
  input?: { name: string; shape: (number | string)[] };
  /** The two exits' output names. */
  exits?: [string, string];
  producer?: string;
  /** Keep the two weight tensors in this external-data location (relative to the model). */
  externalLocation?: string;
}

/**
 * A model with two exits: ReduceMean over the input's second axis ([N, T] to [N, 1]), then two
 * Muls by [1, 2] weights, one per exit ([N, 2] each). Any T works: the model runs for an input
 * whose second dimension is symbolic.
 */
export function onnxModel(spec: TinyModel = {}): Buffer {
  const input = spec.input ?? { name: 'x', shape: ['batch', 'T'] };
  const [e0, e1] = spec.exits ?? ['exit_0', 'exit_1'];
  const weights = [
    { name: 'w0', values: [1, -1], offset: 0 },
    { name: 'w1', values: [2, -2], offset: 8 },
  ];
  const valueInfo = (w: Writer, field: number, name: string, shape: (number | string)[]) =>
    message(w, field, (v) => {
      str(v, 1, name);
      message(v, 2, (t) =>
        message(t, 1, (tt) => {
          int(tt, 1, 1); // float
          message(tt, 2, (sh) => {
            for (const d of shape) message(sh, 1, (dim) => (typeof d === 'number' ? int(dim, 1, d) : str(dim, 2, d)));
          });
        }),
      );
    });
  const w = Writer.create();
  int(w, 1, 7); // ir_version
  str(w, 2, spec.producer ?? 'hostile-test');
  message(w, 7, (g) => {
    message(g, 1, (n) => {
      str(n, 1, input.name);
      str(n, 2, 'mean');
      str(n, 3, 'reduce');
      str(n, 4, 'ReduceMean');
      message(n, 5, (a) => {
        str(a, 1, 'axes');
        a.uint32(tag(8, VARINT)).int64(1);
        a.uint32(tag(20, VARINT)).int32(7); // INTS
      });
    });
    [e0, e1].forEach((out, k) =>
      message(g, 1, (n) => {
        str(n, 1, 'mean');
        str(n, 1, weights[k].name);
        str(n, 2, out);
        str(n, 3, `head_${k}`);
        str(n, 4, 'Mul');
      }),
    );
    str(g, 2, 'hostile');
    for (const wt of weights) {
      message(g, 5, (t) => {
        int(t, 1, 1);
        int(t, 1, 2);
        int(t, 2, 1); // float
        str(t, 8, wt.name);
        if (spec.externalLocation === undefined) {
          t.uint32(tag(9, LEN)).bytes(Buffer.from(new Float32Array(wt.values).buffer));
        } else {
          for (const [k, v] of [
            ['location', spec.externalLocation],
            ['offset', String(wt.offset)],
            ['length', '8'],
          ]) {
            message(t, 13, (kv) => {
              str(kv, 1, k);
              str(kv, 2, v);
            });
          }
          int(t, 14, 1); // EXTERNAL
        }
      });
    }
    valueInfo(g, 11, input.name, input.shape);
    valueInfo(g, 12, e0, ['batch', 2]);
    valueInfo(g, 12, e1, ['batch', 2]);
  });
  message(w, 8, (o) => {
    str(o, 1, '');
    int(o, 2, 13);
  });
  return Buffer.from(w.finish());
}

/** The two weights of onnxModel, as its external data file holds them. */
export function externalWeights(): Buffer {
  return Buffer.from(new Float32Array([1, -1, 2, -2]).buffer);
}

/** A whole .npy array: header and data. */
export function npy(descr: string, shape: number[], data: ArrayBufferView): Buffer {
  return Buffer.concat([npyHeader(descr, shape), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export interface ZipEntry {
  name: string;
  /** The bytes stored: the data itself, or its deflate stream (method 8). */
  stored: Buffer;
  method?: 0 | 8;
  /** What the entry says it expands to (default: the stored length). */
  uncompressedSize?: number;
  /** CRC-32 of the uncompressed data (yauzl and Exit Lens do not check it; numpy does). */
  crc?: number;
}

function crc32(data: Buffer): number {
  let c = ~0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A zip archive (no zip64) holding exactly these entries, in order, duplicates included. */
export function writeZip(file: string, entries: ZipEntry[]): void {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const size = e.uncompressedSize ?? e.stored.length;
    const crc = e.crc ?? (method === 0 ? crc32(e.stored) : 0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // names in UTF-8
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.stored.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(0x800, 8);
    dir.writeUInt16LE(method, 10);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(e.stored.length, 20);
    dir.writeUInt32LE(size, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    parts.push(local, name, e.stored);
    central.push(dir, name);
    offset += local.length + name.length + e.stored.length;
  }
  const dirBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  fs.writeFileSync(file, Buffer.concat([...parts, dirBytes, end]));
}

/**
 * A raw deflate stream of `head` followed by `zeros` zero bytes, built without deflating them
 * all: independently compressed, byte-aligned pieces (each ends with a full flush) concatenate
 * into one valid stream, so one deflated MiB of zeros is repeated. Deflate's best ratio on zeros
 * is about 1030:1, so the stream stays within what a real deflater would produce.
 */
export function deflatedZeros(head: Buffer, zeros: number): Buffer {
  const flush = { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 9 };
  const unit = 1 << 20;
  const zUnit = zlib.deflateRawSync(Buffer.alloc(unit), flush);
  const pieces = [zlib.deflateRawSync(head, flush)];
  for (let left = zeros; left > 0; left -= unit)
    pieces.push(left >= unit ? zUnit : zlib.deflateRawSync(Buffer.alloc(left), flush));
  pieces.push(zlib.deflateRawSync(Buffer.alloc(0)));
  return Buffer.concat(pieces);
}

/** Makes a FIFO, or returns false where mkfifo is not available (then the test says it is skipped). */
export function makeFifo(file: string): boolean {
  if (process.platform === 'win32') return false;
  const r = spawnSync('mkfifo', [file]);
  return r.status === 0 && fs.existsSync(file);
}
