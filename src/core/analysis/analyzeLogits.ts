import { DRILLDOWN_LIMIT, destructiveSamples, drilldownSample } from '../report/drilldown';
import { ExitLensError, throwIfCancelled } from '../errors';
import { SpareWorker, parallelRunner } from './parallel';
import { LogitsSource, readLogitsFile } from '../samples/logitsFile';
import { MemoryPart, checkMemory, memoryLimit, recordsMemory } from '../io/limits';
import { ExitRecords } from '../records/records';
import { AnalysisInput, AnalysisResult, analyze } from './analyze';
import { assembleReport } from '../report/assembly';
import { DEFAULT_MAX_ACCURACY_DROP } from '../../shared/defaults';
import type { AnalyzeRequest, CommonOptions, Emit } from '../../shared/engineProtocol';
import type { CostInfo, Drilldown, Report, ReportWarning } from '../../shared/reportTypes';

/**
 * Exit logits dumped elsewhere (exit-lens analyze, "Analyze Exit Logits File"), analysed without
 * ONNX Runtime: read, checked against the memory limit from the headers, analysed, assembled. It
 * runs wherever the engine runs, but needs nothing of the engine.
 */

/** The analysis' policy sweeps on worker threads where that pays, saying so in the log. */
export function sweepRunner(emit: Emit, id: string, worker?: SpareWorker | null, signal?: AbortSignal) {
  return parallelRunner({
    worker,
    signal,
    onDone: ({ onWorkers, inline }) => {
      if (onWorkers > 0)
        emit({
          type: 'log',
          id,
          level: 'info',
          message: `Analysis: ${onWorkers} of ${onWorkers + inline} policy sweeps ran on worker threads.`,
        });
    },
  });
}

export function validateCommon(req: {
  maxAccuracyDrop?: number;
  exitCosts?: number[];
  riskEpsilon?: number;
  riskDelta?: number;
  riskLoss?: string;
}): void {
  const fraction = (value: number | undefined, what: string, example: string) => {
    if (value !== undefined && !(value > 0 && value < 1))
      throw new ExitLensError(
        'bad-argument',
        `${what} ${value} is not a fraction in (0, 1).`,
        `Give it as a fraction, e.g. ${example}.`,
      );
  };
  fraction(req.riskEpsilon, 'The risk allowed (--risk)', '--risk 0.05 for at most 5% of samples');
  fraction(req.riskDelta, 'The risk level δ (--delta)', '--delta 0.1 for a guarantee that holds with probability 90%');
  if (req.riskLoss !== undefined && req.riskLoss !== 'gap' && req.riskLoss !== 'consistency')
    throw new ExitLensError(
      'bad-argument',
      `The risk loss "${req.riskLoss}" is not one Exit Lens knows.`,
      'Give --risk-loss gap (an error the full model would not make; needs labels) or --risk-loss consistency (disagreement with the full model; no labels needed).',
    );
  if (req.maxAccuracyDrop !== undefined && !(req.maxAccuracyDrop >= 0 && req.maxAccuracyDrop < 1)) {
    throw new ExitLensError(
      'bad-argument',
      `The allowed accuracy drop ${req.maxAccuracyDrop} is not a fraction in [0, 1).`,
      'Give it as a fraction: 0.01 is one percentage point.',
    );
  }
  if (req.exitCosts && req.exitCosts.some((c) => !(Number.isFinite(c) && c >= 0))) {
    throw new ExitLensError(
      'bad-argument',
      'Exit costs must be non-negative numbers.',
      'Give one cumulative cost per exit, e.g. --exit-costs 1,2,3,4.',
    );
  }
}

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

/** The request's risk-control options, for analyze(). */
export function riskOptions(req: CommonOptions): AnalysisInput['risk'] {
  return { epsilon: req.riskEpsilon, delta: req.riskDelta, loss: req.riskLoss };
}

/**
 * A profiled run's analysis (a single run's or a merge's), announced as the 'analysis' phase. The
 * per-exit table keeps the static costs `table` (the MACs) where the policies were given others
 * (measured latency).
 */
export async function analyzeRun(
  emit: Emit,
  id: string,
  signal: AbortSignal | undefined,
  input: Omit<AnalysisInput, 'runner' | 'signal'>,
  table: { exitMacs: readonly number[]; baselineMacs: number },
): Promise<AnalysisResult> {
  emit({ type: 'progress', id, phase: 'analysis', done: 0, total: 1, samplesPerSecond: null, etaSeconds: null });
  const result = await analyze({ ...input, runner: sweepRunner(emit, id, null, signal), signal });
  for (const e of result.exits) {
    e.macs = table.exitMacs[e.index];
    e.relativeCost = table.baselineMacs > 0 ? table.exitMacs[e.index] / table.baselineMacs : null;
  }
  return result;
}
