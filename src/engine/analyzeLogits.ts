import { analyze } from '../core/analysis/analyze';
import { ExitLensError, throwIfCancelled } from '../core/errors';
import { MemoryPart, checkMemory, memoryLimit, recordsMemory } from '../core/io/limits';
import { ExitRecords } from '../core/records/records';
import { assembleReport } from '../core/report/assembly';
import { DRILLDOWN_LIMIT, destructiveSamples, drilldownSample } from '../core/report/drilldown';
import { LogitsSource, readLogitsFile } from '../core/samples/logitsFile';
import { DEFAULT_MAX_ACCURACY_DROP } from '../shared/defaults';
import type { AnalyzeRequest, Emit } from '../shared/engineProtocol';
import type { CostInfo, Drilldown, Report, ReportWarning } from '../shared/reportTypes';
import { sweepRunner } from './analysisStep';
import { riskOptions, validateCommon } from './runOptions';

/**
 * The analyze run: exit logits dumped elsewhere (exit-lens analyze, "Analyze Exit Logits File"),
 * analysed without ONNX Runtime: read, checked against the memory limit from the headers,
 * analysed, assembled.
 */

/** The drill-down of a logits file; `destructiveRate` is the overthinking figures' (their count over N). */
function logitsDrilldown(rec: ExitRecords, destructiveRate: number): Drilldown {
  const { indices, total } = destructiveSamples(
    rec,
    DRILLDOWN_LIMIT,
    rec.sampleCount > 0 ? Math.round(destructiveRate * rec.sampleCount) : 0,
  );
  return { destructiveCount: total, samples: indices.map((n) => drilldownSample(rec, n)) };
}

/** Analyses a precomputed-logits file (no model) into a report. */
export async function runAnalyze(req: AnalyzeRequest, emit: Emit, signal?: AbortSignal): Promise<Report> {
  const t0 = Date.now();
  validateCommon(req);
  const limit = memoryLimit(req.maxMemory);
  const records = req.includeRecords ? ' Leave out --records (the per-sample records in the JSON), or' : '';
  const hint = `Analyse a smaller logits file (e.g. its first 100,000 samples).${records}`;
  const mainParts: MemoryPart[] = [];
  const main = await readLogitsFile(req.logitsPath, {
    labelName: req.labelName,
    exits: req.exits,
    signal,
    // From the headers, before the records are allocated (a zip bomb within deflate's ratio is refused here).
    beforeAllocate: (s) => {
      mainParts.push(
        ...recordsMemory('the logits file', s.sampleCount, s.exitNames.length, Boolean(req.includeRecords)),
      );
      checkMemory(mainParts, limit, hint);
    },
    onProgress: (done, total) =>
      emit({ type: 'progress', id: req.id, phase: 'loading', done, total, samplesPerSecond: null, etaSeconds: null }),
    onParallel: ({ onWorkers, inline }) => {
      if (onWorkers > 0)
        emit({
          type: 'log',
          id: req.id,
          level: 'info',
          message: `Reading logits: ${onWorkers} of ${onWorkers + inline} chunks turned into records on a worker thread.`,
        });
    },
    // The worker that filled the records runs the policy sweeps too (one worker start, not two).
    keepWorker: true,
  });
  try {
    return await analyzeRead(req, emit, main, signal, t0, (s) =>
      checkMemory(
        [...mainParts, ...recordsMemory('the calibration logits', s.sampleCount, s.exitNames.length, false)],
        limit,
        hint,
      ),
    );
  } finally {
    main.worker?.close();
  }
}

async function analyzeRead(
  req: AnalyzeRequest,
  emit: Emit,
  main: Awaited<ReturnType<typeof readLogitsFile>>,
  signal: AbortSignal | undefined,
  t0: number,
  checkCalibMemory: (source: LogitsSource) => void,
): Promise<Report> {
  const calib = req.calibPath
    ? await readLogitsFile(req.calibPath, {
        labelName: req.labelName,
        exits: req.exits,
        signal,
        beforeAllocate: checkCalibMemory,
      })
    : null;
  if (
    calib &&
    (calib.source.exitNames.length !== main.source.exitNames.length ||
      calib.source.classCount !== main.source.classCount)
  ) {
    throw new ExitLensError(
      'samples-mismatch',
      `The calibration logits (${calib.source.exitNames.length} exits, ${calib.source.classCount} classes) do not match the logits file (${main.source.exitNames.length} exits, ${main.source.classCount} classes).`,
      'Dump both from the same model.',
    );
  }
  throwIfCancelled(signal);
  const E = main.source.exitNames.length;
  const warnings: ReportWarning[] = [];
  let exitMacs: number[];
  let cost: CostInfo;
  if (req.exitCosts) {
    if (req.exitCosts.length !== E)
      throw new ExitLensError(
        'bad-argument',
        `--exit-costs gives ${req.exitCosts.length} values but the file has ${E} exits.`,
        'Give one cumulative cost per exit, shallowest first.',
      );
    exitMacs = [...req.exitCosts];
    cost = {
      source: 'user',
      note: "Costs given by the user (cost(k) per exit; baseline = the final exit's cost).",
      uncostedNodes: [],
      uncountedOps: {},
    };
  } else {
    exitMacs = Array.from({ length: E }, (_, k) => (k + 1) / E);
    cost = {
      source: 'relative',
      note: 'No model: cost(k) = (k+1)/E of the final exit (relative depth). Give real costs with --exit-costs.',
      uncostedNodes: [],
      uncountedOps: {},
    };
    warnings.push({
      code: 'relative-cost',
      message: 'No model was given, so costs are relative depth (k+1)/E; pass --exit-costs for MACs or latency.',
    });
  }
  const baselineMacs = exitMacs[E - 1];
  const tAnalysis = Date.now();
  const result = await analyze({
    runner: sweepRunner(emit, req.id, main.worker, signal),
    signal,
    records: main.records,
    calibration: calib?.records ?? null,
    exitNames: main.source.exitNames,
    exitMacs,
    baselineMacs,
    maxAccuracyDrop: req.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP,
    risk: riskOptions(req),
  });
  return assembleReport({
    model: null,
    logitsFile: main.source.path,
    executionProvider: null,
    samplesPath: main.source.path,
    labelArray: main.source.labelArray,
    inputs: [],
    records: main.records,
    calibrationPath: calib?.source.path ?? null,
    result,
    exitCount: E,
    classCount: main.source.classCount,
    baselineMacs,
    cost,
    drilldown:
      main.records.labels && result.overthinking
        ? logitsDrilldown(main.records, result.overthinking.destructiveRate)
        : null,
    maxAccuracyDrop: req.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP,
    batchSize: null,
    warnings,
    timings: { analysisSeconds: (Date.now() - tAnalysis) / 1000, totalSeconds: (Date.now() - t0) / 1000 },
    includeRecords: Boolean(req.includeRecords),
  });
}
