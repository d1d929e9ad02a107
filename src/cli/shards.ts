/**
 * The CLI's sharded profiling (docs/scale/README.md): `profile … --shard i/n --records-out <file>`
 * writes one shard's records, `merge <records files…>` puts the whole set's report together
 * (src/engine/merge.ts), and `--device-id k` picks the GPU of a run.
 */
import { ExitLensError } from '../core/errors';
import type { InputRef, OutputRequest } from '../core/io/outputFiles';
import { RecordsHeader, ShardCapture, encodeRecordsFile, shardHeader } from '../core/records/recordsFile';
import { Shard, parseShard } from '../core/records/shards';
import type { CommonOptions, MergeRequest } from '../shared/engineProtocol';

export interface ShardOptionValues {
  shard?: string;
  'records-out'?: string;
  'device-id'?: string;
  'calib-records'?: string[];
  calib?: string;
  cost?: string;
}

export interface ShardOptions {
  shard?: Shard;
  deviceId?: number;
  /** --records-out, as an output to plan with the others. */
  outputs: OutputRequest[];
}

const PROFILE_ONLY = ['shard', 'records-out', 'device-id'] as const;

/** Options a merge does not take: what the shards were profiled with is read from their files. */
const NOT_FOR_MERGE = [
  'samples',
  'calib',
  'labels',
  'exits',
  'batch',
  'ep',
  'gpu-precision',
  'cost',
  'threads',
  'exit-costs',
  'model',
  'from',
  ...PROFILE_ONLY,
];

export function parseDeviceId(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0)
    throw new ExitLensError(
      'bad-argument',
      `--device-id "${v}" is not a GPU index (0, 1, …).`,
      'Give the index nvidia-smi lists, e.g. --device-id 0.',
    );
  return n;
}

/** --shard, --records-out and --device-id of a profile (refused on any other command). */
export function shardOptions(v: ShardOptionValues, command: string): ShardOptions {
  if (command !== 'profile') {
    const given = PROFILE_ONLY.filter((k) => v[k] !== undefined);
    if (given.length && command !== 'merge')
      throw new ExitLensError(
        'bad-argument',
        `--${given[0]} is an option of profile only.`,
        'Run exit-lens --help for usage.',
      );
    if (v['calib-records'] !== undefined && command !== 'merge')
      throw new ExitLensError('bad-argument', '--calib-records is an option of merge only.', 'Run exit-lens --help.');
    return { outputs: [] };
  }
  if (v['calib-records'] !== undefined)
    throw new ExitLensError(
      'bad-argument',
      '--calib-records is an option of merge only.',
      'Give the calibration records to exit-lens merge … --calib-records calib.exitrec.',
    );
  const shard = v.shard === undefined ? undefined : parseShard(v.shard);
  const recordsOut = v['records-out'];
  if (shard && recordsOut === undefined)
    throw new ExitLensError(
      'bad-argument',
      '--shard profiles part of the sample set, and its records go to --records-out.',
      `Add --records-out shard-${shard.index}.exitrec, then merge the shards with exit-lens merge.`,
    );
  if (recordsOut !== undefined && v.calib !== undefined)
    throw new ExitLensError(
      'bad-argument',
      '--records-out holds the records of one sample set, so it is written without --calib: the calibration set is profiled as a sample set of its own.',
      'Profile it into its own records (exit-lens profile model.onnx --samples calib.npz --records-out calib.exitrec), then exit-lens merge shard-*.exitrec --calib-records calib.exitrec.',
    );
  if (recordsOut !== undefined && v.cost === 'measured')
    throw new ExitLensError(
      'bad-argument',
      '--records-out with --cost measured: latency timed on each machine would differ between shards.',
      'Profile the shards with static costs (the default) or --exit-costs.',
    );
  return {
    shard,
    deviceId: parseDeviceId(v['device-id']),
    outputs: recordsOut === undefined ? [] : [{ label: '--records-out', file: recordsOut }],
  };
}

/** The records files a merge reads, as inputs no output may overwrite. */
export function mergeInputs(files: string[], calib: string[] | undefined): InputRef[] {
  return [
    ...files.map((file) => ({ label: 'a records file', file })),
    ...(calib ?? []).map((file) => ({ label: 'a calibration records file', file })),
  ];
}

/** The merge's request, refusing the options that belong to the shards' profiles. */
export function mergeRequest(
  v: Record<string, unknown>,
  files: string[],
  common: CommonOptions & { id: string },
): MergeRequest {
  const given = NOT_FOR_MERGE.find((k) => v[k] !== undefined);
  if (given)
    throw new ExitLensError(
      'bad-argument',
      `--${given} is not an option of merge: the shards were profiled with it, and their records files say how.`,
      'exit-lens merge shard-*.exitrec [--calib-records calib*.exitrec] [--json report.json] [--markdown report.md] [--html report.html]',
    );
  if (!files.length)
    throw new ExitLensError(
      'bad-argument',
      'merge needs the records files of the shards.',
      'exit-lens merge shard-*.exitrec --json report.json',
    );
  const calib = v['calib-records'] as string[] | undefined;
  return { ...common, type: 'merge', recordsPaths: files, calibRecordsPaths: calib };
}

/**
 * What a profile with --records-out keeps of its run (RunHooks.shardRecords), and the file's
 * bytes, built when the outputs are written.
 */
export function recordsCapture(analysis: RecordsHeader['analysis']) {
  let captured: ShardCapture | null = null;
  return {
    hook: (c: ShardCapture) => {
      // Checked now, before the report: a profile whose records cannot be kept writes nothing.
      shardHeader(c, analysis);
      captured = c;
    },
    content: (): Uint8Array => {
      const c = captured as ShardCapture | null;
      if (!c) throw new ExitLensError('internal', 'The run ended without its records.');
      return encodeRecordsFile(shardHeader(c, analysis), c.parts.records);
    },
  };
}

/** The analysis options a shard records, so that a merge without options of its own uses them. */
export function analysisOf(common: CommonOptions): RecordsHeader['analysis'] {
  const out: RecordsHeader['analysis'] = {};
  if (common.maxAccuracyDrop !== undefined) out.maxAccuracyDrop = common.maxAccuracyDrop;
  if (common.riskEpsilon !== undefined) out.riskEpsilon = common.riskEpsilon;
  if (common.riskDelta !== undefined) out.riskDelta = common.riskDelta;
  if (common.riskLoss !== undefined) out.riskLoss = common.riskLoss;
  return out;
}
