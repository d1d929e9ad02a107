import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitLensError } from '../errors';
import { openFailure, openRegularFile } from '../io/inputFiles';
import { MIB } from '../io/limits';
import { ExitRecords } from './records';
import type { ReportParts } from '../report/assembly';
import { displayName } from '../io/text';
import { TOOL_VERSION } from '../../shared/defaults';
import type {
  CostInfo,
  Drilldown,
  ExecutionProviderInfo,
  InputBinding,
  Report,
  ReportWarning,
  TokenSamples,
  TokenView,
} from '../../shared/reportTypes';

/**
 * A shard's records file (exit-lens profile --shard i/n --records-out <file>): everything the
 * report of the whole set needs from this shard's inference, so that `exit-lens merge` can put
 * the report together through the same code as a single run (docs/scale/README.md, "The records
 * file"). Layout, little-endian:
 *
 *   bytes 0-7    magic "\x93EXLREC\n"
 *   bytes 8-11   uint32 format version (RECORDS_VERSION)
 *   bytes 12-15  uint32 H, the JSON header's length (at most MAX_RECORDS_HEADER_BYTES)
 *   16 .. 16+H   the JSON header (RecordsHeader), UTF-8
 *   then, from the next multiple of 8, the arrays the header lists, each at its 8-aligned
 *   offset from there: pred int32, conf, margin, entropy, logpLabel float64 (samples × exits,
 *   sample-major, as ExitRecords), finite uint8, and labels int32 (samples) when labelled.
 *
 * The file's size must be exactly what the header says: a truncated or padded file is refused
 * before anything is allocated for it.
 */
export const RECORDS_FORMAT = 'exit-lens-records';
export const RECORDS_VERSION = 1;
export const RECORDS_MAGIC = Buffer.from('\x93EXLREC\n', 'latin1');
export const MAX_RECORDS_HEADER_BYTES = 16 * MIB;
const PREAMBLE_BYTES = 16;

export type RecordArrayName = 'pred' | 'conf' | 'margin' | 'entropy' | 'logpLabel' | 'finite' | 'labels';
type RecordDtype = 'int32' | 'float64' | 'uint8';
const ITEM: Record<RecordDtype, number> = { int32: 4, float64: 8, uint8: 1 };

export interface RecordArray {
  name: RecordArrayName;
  dtype: RecordDtype;
  /** Bytes from the start of the data (the first multiple of 8 after the header). */
  offset: number;
  elements: number;
}

/** What ties shards together: the model's bytes (and its external data's sizes). */
export interface ModelIdentity {
  path: string;
  sha256: string;
  bytes: number;
  externalData: { location: string; bytes: number }[];
}

export interface RecordsHeader {
  format: typeof RECORDS_FORMAT;
  version: number;
  tool: { name: 'exit-lens'; version: string };
  createdAt: string;
  byteOrder: 'little';
  model: ModelIdentity;
  /** The report's model section, as the single run writes it. */
  reportModel: NonNullable<Report['model']>;
  exitNames: string[];
  exitCount: number;
  classCount: number;
  /** Static (or --exit-costs) cost per exit, the baseline and how they were found. */
  exitMacs: number[];
  baselineMacs: number;
  cost: CostInfo;
  executionProvider: ExecutionProviderInfo | null;
  /** The whole sample set this shard is part of. */
  set: { path: string; sampleCount: number; labelled: boolean; labelArray: string | null; inputs: InputBinding[] };
  /** Samples [start, end) of the set: shard index of count. */
  shard: { index: number; count: number; start: number; end: number };
  batchSize: number | null;
  /** The run's own warnings (input casts, costs, provider fallbacks); the analysis' come at the merge. */
  warnings: ReportWarning[];
  /** The analysis options given to the shard's profile (the merge uses them unless it is given its own). */
  analysis: { maxAccuracyDrop?: number; riskEpsilon?: number; riskDelta?: number; riskLoss?: string };
  /**
   * This shard's destructive samples, its first DRILLDOWN_LIMIT with input previews: global
   * sample indices, or for a decoder (`tokens`) indices of this shard's own token positions.
   */
  drilldown: Drilldown | null;
  /**
   * A decoder's shard: its records are token positions (`positions` of them, for the shard's
   * sequences), so the arrays hold `positions` records; the merge places them after the earlier
   * shards' positions. `view`: the token view of the shard's first sequences (global indices).
   */
  tokens?: {
    positions: number;
    sequences: number;
    length: number;
    labels: TokenSamples['labels'];
    mask: string | null;
    view: TokenView | null;
  };
  arrays: RecordArray[];
}

export interface ShardCapture {
  parts: ReportParts;
  modelBytes: Uint8Array;
  externalData: string[];
  exitMacs: number[];
  shard: { index: number; count: number; start: number; end: number; setSampleCount: number };
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** The arrays a shard of `samples` samples × `exits` exits holds, in file order. */
export function recordArrays(samples: number, exits: number, labelled: boolean): RecordArray[] {
  const spec: [RecordArrayName, RecordDtype, number][] = [
    ['pred', 'int32', samples * exits],
    ['conf', 'float64', samples * exits],
    ['margin', 'float64', samples * exits],
    ['entropy', 'float64', samples * exits],
    ['logpLabel', 'float64', samples * exits],
    ['finite', 'uint8', samples * exits],
  ];
  if (labelled) spec.push(['labels', 'int32', samples]);
  const out: RecordArray[] = [];
  let offset = 0;
  for (const [name, dtype, elements] of spec) {
    out.push({ name, dtype, offset, elements });
    offset = align8(offset + elements * ITEM[dtype]);
  }
  return out;
}

function dataBytes(arrays: RecordArray[]): number {
  const last = arrays[arrays.length - 1];
  return last ? align8(last.offset + last.elements * ITEM[last.dtype]) : 0;
}

/** The model's identity: sha256 of its bytes, and the size of each external data file. */
export function modelIdentity(modelPath: string, modelBytes: Uint8Array, externalData: string[]): ModelIdentity {
  const dir = path.dirname(modelPath);
  return {
    path: modelPath,
    sha256: crypto.createHash('sha256').update(modelBytes).digest('hex'),
    bytes: modelBytes.length,
    externalData: externalData.map((f) => {
      let bytes = -1;
      try {
        bytes = fs.statSync(f).size;
      } catch {
        // checked when the model was read; a file gone since counts as a difference
      }
      return { location: path.relative(dir, f), bytes };
    }),
  };
}

/** A shard's header from what its profile put together (src/engine/profile/assemble.ts, RunHooks.shardRecords). */
export function shardHeader(c: ShardCapture, analysis: RecordsHeader['analysis']): RecordsHeader {
  const p = c.parts;
  if (!p.model) throw new ExitLensError('internal', 'A records file needs a profiled model.');
  const { start, end } = c.shard;
  const expected = p.tokens ? p.tokens.positions : end - start;
  if (p.records.sampleCount !== expected)
    throw new ExitLensError(
      'internal',
      `The shard has ${p.records.sampleCount.toLocaleString('en-US')} records for ${expected.toLocaleString('en-US')} ${p.tokens ? 'token positions' : 'samples'}.`,
    );
  if (p.cost.source === 'measured')
    throw new ExitLensError(
      'bad-argument',
      '--records-out with --cost measured: latency timed on each machine would differ between shards.',
      'Profile the shards with static costs (the default) or --exit-costs.',
    );
  const names = p.result.exits.map((e) => e.name);
  // A classifier's drill-down indices become global here; a decoder's stay the shard's own
  // positions (how many positions earlier shards hold is only known at the merge).
  const drilldown: Drilldown | null = p.drilldown && {
    destructiveCount: p.drilldown.destructiveCount,
    samples: p.drilldown.samples.map((s) => ({ ...s, index: p.tokens ? s.index : s.index + start })),
  };
  const tokens: RecordsHeader['tokens'] = p.tokens && {
    positions: p.tokens.positions,
    sequences: p.tokens.sequences,
    length: p.tokens.length,
    labels: p.tokens.labels,
    mask: p.tokens.mask,
    view: p.tokenView
      ? { ...p.tokenView, sequences: p.tokenView.sequences.map((q) => ({ ...q, index: q.index + start })) }
      : null,
  };
  return {
    format: RECORDS_FORMAT,
    version: RECORDS_VERSION,
    tool: { name: 'exit-lens', version: TOOL_VERSION },
    createdAt: new Date().toISOString(),
    byteOrder: 'little',
    model: modelIdentity(p.model.path, c.modelBytes, c.externalData),
    reportModel: p.model,
    exitNames: names,
    exitCount: p.exitCount,
    classCount: p.classCount,
    exitMacs: [...c.exitMacs],
    baselineMacs: p.baselineMacs,
    cost: p.cost,
    executionProvider: p.executionProvider,
    set: {
      path: p.samplesPath,
      sampleCount: c.shard.setSampleCount,
      labelled: p.records.labels !== null,
      labelArray: p.labelArray,
      inputs: p.inputs,
    },
    shard: { index: c.shard.index, count: c.shard.count, start, end },
    batchSize: p.batchSize,
    warnings: p.warnings,
    analysis,
    drilldown,
    ...(tokens ? { tokens } : {}),
    arrays: recordArrays(expected, p.exitCount, p.records.labels !== null),
  };
}

function arrayOf(rec: ExitRecords, name: RecordArrayName): ArrayBufferView {
  if (name === 'labels') return rec.labels!;
  return rec[name];
}

/** The whole file: preamble, header, the records' bytes. */
export function encodeRecordsFile(header: RecordsHeader, rec: ExitRecords): Uint8Array {
  if (os.endianness() !== 'LE')
    throw new ExitLensError('internal', 'Records files are written on little-endian machines only.');
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length > MAX_RECORDS_HEADER_BYTES)
    throw new ExitLensError('internal', `The records header is ${json.length} bytes, above its limit.`);
  const dataStart = align8(PREAMBLE_BYTES + json.length);
  const out = Buffer.alloc(dataStart + dataBytes(header.arrays));
  RECORDS_MAGIC.copy(out, 0);
  out.writeUInt32LE(header.version, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, PREAMBLE_BYTES);
  for (const a of header.arrays) {
    const v = arrayOf(rec, a.name);
    const bytes = a.elements * ITEM[a.dtype];
    if (v.byteLength !== bytes)
      throw new ExitLensError('internal', `Records array ${a.name} has ${v.byteLength} bytes, not ${bytes}.`);
    out.set(new Uint8Array(v.buffer, v.byteOffset, bytes), dataStart + a.offset);
  }
  return out;
}

/** A records file that cannot be read, naming it. */
export function unreadableRecords(file: string, why: string, hint?: string): ExitLensError {
  return new ExitLensError(
    'samples-unreadable',
    `Cannot read the records file ${displayName(file)}: ${why}.`,
    hint ??
      'Records files are written by exit-lens profile --records-out; write this one again with the command that made it.',
  );
}

export interface RecordsFileInfo {
  /** The path as given. */
  file: string;
  header: RecordsHeader;
  size: number;
  dataStart: number;
}

function readExact(fd: number, into: Uint8Array, position: number, file: string): void {
  let got = 0;
  while (got < into.length) {
    let n: number;
    try {
      n = fs.readSync(fd, into, got, into.length - got, position + got);
    } catch (err) {
      throw unreadableRecords(file, openFailure(err));
    }
    if (n === 0) throw unreadableRecords(file, 'it ends before the data its header announces (truncated?)');
    got += n;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks the header's shape, so that no later step trips on a field a file made up. */
function checkHeader(h: unknown, file: string): RecordsHeader {
  const bad = (what: string) => unreadableRecords(file, `its header is not a records header (${what})`);
  if (!isObject(h) || h.format !== RECORDS_FORMAT) throw bad('format');
  if (h.byteOrder !== 'little') throw bad('byteOrder');
  const model = h.model as ModelIdentity;
  if (!isObject(model) || typeof model.sha256 !== 'string' || !Array.isArray(model.externalData)) throw bad('model');
  if (!isObject(h.reportModel)) throw bad('reportModel');
  if (!Array.isArray(h.exitNames) || !h.exitNames.every((n) => typeof n === 'string')) throw bad('exitNames');
  if (!isCount(h.exitCount) || h.exitCount < 1 || h.exitNames.length !== h.exitCount) throw bad('exitCount');
  if (!isCount(h.classCount) || h.classCount < 1) throw bad('classCount');
  if (
    !Array.isArray(h.exitMacs) ||
    h.exitMacs.length !== h.exitCount ||
    !h.exitMacs.every((c) => typeof c === 'number' && Number.isFinite(c))
  )
    throw bad('exitMacs');
  if (typeof h.baselineMacs !== 'number' || !isObject(h.cost)) throw bad('cost');
  if (h.executionProvider !== null && !isObject(h.executionProvider)) throw bad('executionProvider');
  const set = h.set as RecordsHeader['set'];
  if (!isObject(set) || typeof set.path !== 'string' || !isCount(set.sampleCount) || !Array.isArray(set.inputs))
    throw bad('set');
  const shard = h.shard as RecordsHeader['shard'];
  if (
    !isObject(shard) ||
    !isCount(shard.index) ||
    !isCount(shard.count) ||
    !isCount(shard.start) ||
    !isCount(shard.end) ||
    shard.start >= shard.end ||
    shard.end > set.sampleCount
  )
    throw bad('shard');
  if (!Array.isArray(h.warnings) || !isObject(h.analysis)) throw bad('warnings');
  if (h.drilldown !== null && !(isObject(h.drilldown) && Array.isArray(h.drilldown.samples))) throw bad('drilldown');
  if (h.batchSize !== null && !isCount(h.batchSize)) throw bad('batchSize');
  const tokens = h.tokens as RecordsHeader['tokens'];
  if (tokens !== undefined) {
    // A decoder's shard: at most T - 1 positions per sequence, so that its size is bounded by the shard's.
    if (
      !isObject(tokens) ||
      !isCount(tokens.sequences) ||
      tokens.sequences !== shard.end - shard.start ||
      !isCount(tokens.length) ||
      tokens.length < 1 ||
      !isCount(tokens.positions) ||
      tokens.positions > tokens.sequences * (tokens.length - 1) ||
      (tokens.labels !== 'next-token' && tokens.labels !== 'labels-array') ||
      !(tokens.mask === null || typeof tokens.mask === 'string') ||
      !(tokens.view === null || (isObject(tokens.view) && Array.isArray(tokens.view.sequences)))
    )
      throw bad('tokens');
  }
  // The arrays must be exactly those of its shard's size: no offset or length comes from the file alone.
  const want = recordArrays(tokens ? tokens.positions : shard.end - shard.start, h.exitCount, Boolean(set.labelled));
  if (JSON.stringify(h.arrays) !== JSON.stringify(want)) throw bad('arrays');
  return h as unknown as RecordsHeader;
}

/**
 * Reads and checks a records file's header (at most MAX_RECORDS_HEADER_BYTES), and that the
 * file is exactly as long as its header says. Only a regular file is read (inputFiles.ts).
 */
export function readRecordsHeader(file: string): RecordsFileInfo {
  const { fd, size } = openRegularFile(path.resolve(file), (why) => unreadableRecords(file, why));
  try {
    if (size < PREAMBLE_BYTES) throw unreadableRecords(file, `it is ${size} bytes, too short for a records file`);
    const pre = Buffer.alloc(PREAMBLE_BYTES);
    readExact(fd, pre, 0, file);
    if (!pre.subarray(0, 8).equals(RECORDS_MAGIC))
      throw unreadableRecords(file, 'it is not an Exit Lens records file (no records magic at its start)');
    const version = pre.readUInt32LE(8);
    if (version > RECORDS_VERSION)
      throw unreadableRecords(
        file,
        `it was written by a newer Exit Lens (records version ${version}; this one reads version ${RECORDS_VERSION})`,
        'Update Exit Lens to the version that wrote the shards, or profile them again with this one.',
      );
    if (version < 1) throw unreadableRecords(file, `its records version ${version} is not one Exit Lens wrote`);
    const headerBytes = pre.readUInt32LE(12);
    if (headerBytes > MAX_RECORDS_HEADER_BYTES || PREAMBLE_BYTES + headerBytes > size)
      throw unreadableRecords(
        file,
        `its header claims ${headerBytes.toLocaleString('en-US')} bytes, more than the file or a records header can hold`,
      );
    const raw = Buffer.alloc(headerBytes);
    readExact(fd, raw, PREAMBLE_BYTES, file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw unreadableRecords(file, `its header is not valid JSON (${(err as Error).message})`);
    }
    if (isObject(parsed) && parsed.version !== version)
      throw unreadableRecords(file, 'its header and its preamble give different versions');
    const header = checkHeader(parsed, file);
    const dataStart = align8(PREAMBLE_BYTES + headerBytes);
    const expected = dataStart + dataBytes(header.arrays);
    if (size !== expected)
      throw unreadableRecords(
        file,
        `it is ${size.toLocaleString('en-US')} bytes, but its header describes ${expected.toLocaleString('en-US')} (${size < expected ? 'truncated' : 'extra bytes at its end'})`,
      );
    return { file, header, size, dataStart };
  } finally {
    fs.closeSync(fd);
  }
}

/** Records a shard holds: one per sample, or a decoder's token positions. */
export function recordCount(header: RecordsHeader): number {
  return header.tokens ? header.tokens.positions : header.shard.end - header.shard.start;
}

/**
 * Reads a shard's arrays into `rec` (the whole set's records) at its samples' place, then checks
 * every value a record can hold, so that a damaged file is refused rather than analysed.
 */
export function readRecordsInto(info: RecordsFileInfo, rec: ExitRecords, first?: number): void {
  const { file, header, dataStart } = info;
  if (os.endianness() !== 'LE') throw unreadableRecords(file, 'this machine is big-endian; records are little-endian');
  const { fd, size } = openRegularFile(path.resolve(file), (why) => unreadableRecords(file, why));
  const E = rec.exitCount;
  // A classifier's records go at its samples' place; a decoder's at `first`, after the positions of the shards before it.
  const start = first ?? header.shard.start;
  const end = start + recordCount(header);
  try {
    if (size !== info.size) throw unreadableRecords(file, 'it changed while the shards were merged');
    for (const a of header.arrays) {
      const target = arrayOf(rec, a.name);
      const item = ITEM[a.dtype];
      const first = a.name === 'labels' ? start : start * E;
      const view = new Uint8Array(target.buffer, target.byteOffset + first * item, a.elements * item);
      readExact(fd, view, dataStart + a.offset, file);
    }
  } finally {
    fs.closeSync(fd);
  }
  const C = rec.classCount;
  const corrupt = (n: number, what: string) => unreadableRecords(file, `its records are damaged: sample ${n}${what}`);
  for (let n = start; n < end; n++) {
    if (rec.labels && !(rec.labels[n] >= 0 && rec.labels[n] < C))
      throw corrupt(n, ` has label ${rec.labels[n]}, not a class of 0..${C - 1}`);
    for (let k = 0; k < E; k++) {
      const at = n * E + k;
      const f = rec.finite[at];
      const p = rec.pred[at];
      if (f === 1) {
        const ok =
          p >= 0 &&
          p < C &&
          rec.conf[at] >= 0 &&
          rec.conf[at] <= 1 &&
          rec.margin[at] >= 0 &&
          rec.margin[at] <= 1 &&
          rec.entropy[at] >= 0 &&
          rec.entropy[at] <= 1;
        if (!ok) throw corrupt(n, `, exit ${k}: a record out of range (prediction ${p}, confidence ${rec.conf[at]})`);
      } else if (f !== 0 || p !== -1) {
        throw corrupt(n, `, exit ${k}: a record neither finite nor marked as not finite`);
      }
    }
  }
}
