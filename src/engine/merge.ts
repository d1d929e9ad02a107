import { ExitLensError, throwIfCancelled } from '../core/errors';
import { checkMemory, memoryLimit, recordsMemory } from '../core/io/limits';
import type { RecordsHeader } from '../core/records/recordsFile';
import {
  analysisOptions,
  mergedDrilldown,
  mergedProvider,
  mergedTokens,
  mergedWarnings,
  readShardHeaders,
  readShardRecords,
  totalRecords,
} from '../core/records/shardMerge';
import { assembleReport } from '../core/report/assembly';
import { DEFAULT_MAX_ACCURACY_DROP } from '../shared/defaults';
import type { Emit, MergeRequest } from '../shared/engineProtocol';
import type { Report } from '../shared/reportTypes';
import { analyseRecords } from './analysisStep';
import { riskOptions, validateCommon } from './runOptions';

/**
 * The merge run (exit-lens merge, "Exit Lens: Analyze Records"): the shards' records files read
 * and checked (src/core/records/shardMerge.ts), then analysed and assembled by the code of a single
 * run, so that the report equals the single run's figure for figure (docs/scale/README.md says
 * which fields may differ: createdAt, timings, and the execution provider's attempts, threads and
 * device).
 */

/** Merges shards' records files into the report of the whole sample set. */
export async function runMerge(req: MergeRequest, emit: Emit, signal?: AbortSignal): Promise<Report> {
  const t0 = Date.now();
  validateCommon(req);
  if (!req.recordsPaths.length)
    throw new ExitLensError(
      'bad-argument',
      'merge needs at least one records file.',
      'exit-lens merge shard-0.exitrec shard-1.exitrec … --json report.json',
    );
  if (req.exitCosts)
    throw new ExitLensError(
      'bad-argument',
      '--exit-costs is given to the shards, not to the merge.',
      'Profile every shard with the same --exit-costs; the merge reads the costs from them.',
    );
  const limit = memoryLimit(req.maxMemory);
  const { main, calib } = readShardHeaders(req.recordsPaths, req.calibRecordsPaths);
  // Records: one per sample, or a decoder's token positions.
  const N = totalRecords(main);
  const h: RecordsHeader = main[0].header;
  const options = analysisOptions(req, main);
  validateCommon(options);
  const E = h.exitCount;
  checkMemory(
    [
      ...recordsMemory('the shards', N, E, Boolean(req.includeRecords)),
      ...(calib ? recordsMemory('the calibration shards', totalRecords(calib), E, false) : []),
    ],
    limit,
    `Merge fewer samples, or merge on a machine with more memory.${req.includeRecords ? ' Leave out --records (the per-sample records in the JSON).' : ''}`,
  );
  const tRead = Date.now();
  const onRead = (done: number, total: number) =>
    emit({ type: 'progress', id: req.id, phase: 'loading', done, total, samplesPerSecond: null, etaSeconds: null });
  const records = await readShardRecords(main, onRead, signal);
  const calibRecords = calib ? await readShardRecords(calib, onRead, signal) : null;
  const readSeconds = (Date.now() - tRead) / 1000;
  throwIfCancelled(signal);
  const maxAccuracyDrop = options.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP;
  const tAnalysis = Date.now();
  const result = await analyseRecords(emit, req.id, signal, {
    records,
    calibration: calibRecords,
    exitNames: h.exitNames,
    exitMacs: h.exitMacs,
    baselineMacs: h.baselineMacs,
    maxAccuracyDrop,
    risk: riskOptions(options),
  });
  const analysisSeconds = (Date.now() - tAnalysis) / 1000;
  const tokens = mergedTokens(main, calib);
  return assembleReport({
    model: h.reportModel,
    logitsFile: null,
    executionProvider: mergedProvider(main),
    samplesPath: h.set.path,
    labelArray: h.set.labelArray,
    inputs: h.set.inputs,
    records,
    calibrationPath: calib ? calib[0].header.set.path : null,
    result,
    exitCount: E,
    classCount: h.classCount,
    baselineMacs: h.baselineMacs,
    cost: h.cost,
    drilldown: mergedDrilldown(records, main),
    maxAccuracyDrop,
    batchSize: h.batchSize,
    warnings: mergedWarnings(main),
    timings: { readSeconds, analysisSeconds, totalSeconds: (Date.now() - t0) / 1000 },
    includeRecords: Boolean(req.includeRecords),
    ...(tokens ? { tokens: tokens.tokens, tokenView: tokens.view } : {}),
  });
}
