import type * as ort from 'onnxruntime-node';
import { ExitLensError, throwIfCancelled } from '../../core/errors';
import { blockingCall } from '../../core/io/blocking';
import { ExitRecords } from '../../core/records/records';
import type { Drilldown, ExecutionProviderInfo } from '../../shared/reportTypes';
import { ExitPlan } from '../exitPlan';
import { batchFeeds, logitsOf, ortRunMessage } from '../feeds';
import { Progress } from '../progress';
import { createSessionWithFallback, explainRunFailure, loadOrt } from '../providers';
import { inferSampleRecords } from '../sampleRun';
import { inferTokenRecords } from '../tokenRun';
import { ProfileContext } from './context';
import { DiscoveredExits } from './discoverExits';
import { LabelledSets, SetRecordsPlan } from './labelsAndPositions';
import { ProfileInputs } from './openInputs';
import { ProfileSettings } from './validate';

export interface Inferred {
  providerInfo: ExecutionProviderInfo;
  records: ExitRecords;
  calibRecords: ExitRecords | null;
  /** The sample set's destructive samples (filled only when it has labels). */
  drilldown: Drilldown;
}

/** A batch that failed on a GPU provider gets the hint for that provider (cuDNN under fp32, device memory). */
function withRunHint(err: unknown, info: ExecutionProviderInfo): unknown {
  if (!(err instanceof ExitLensError) || err.code !== 'inference-failed') return err;
  const hint = explainRunFailure(info, err.message);
  return hint ? new ExitLensError('inference-failed', err.message, hint) : err;
}

/**
 * One set's records: per sample (sampleRun.ts), or per token position for a decoder
 * (tokenRun.ts). Either runs the session over the set's batches, fetching `plan.fetches`, and
 * hands each batch's outputs to its consumer.
 */
function inferSet(
  run: ProfileContext,
  session: ort.InferenceSession,
  plan: ExitPlan,
  exits: DiscoveredExits,
  set: SetRecordsPlan,
  batchSize: number,
  sequenceBatch: LabelledSets['sequenceBatch'],
  phase: 'inference' | 'calibration',
  drilldown?: Drilldown,
): Promise<ExitRecords> {
  const { req, emit, signal } = run;
  const { tokenPlan } = exits;
  const { binding } = set.set;
  if (!set.positions || !set.tokens || !tokenPlan || !sequenceBatch) {
    const progress = new Progress(emit, req.id, phase, binding.sampleCount);
    return inferSampleRecords({
      session,
      binding,
      plan,
      batchSize,
      labels: set.labels,
      progress: (done, force) => progress.report(done, force),
      signal,
      drilldown,
    });
  }
  const progress = new Progress(emit, req.id, phase, set.positions.count);
  return inferTokenRecords({
    session,
    binding,
    source: set.tokens,
    positions: set.positions,
    plan: tokenPlan,
    batch: sequenceBatch.batch,
    feeds: batchFeeds(loadOrt(), binding),
    logitsOf,
    runError: (err, first, rows) =>
      new ExitLensError(
        'inference-failed',
        `ONNX Runtime failed on sequences ${first}..${first + rows - 1}: ${ortRunMessage(err)}`,
        'Check the sample set against the model inputs; a smaller batch (--batch) needs less memory.',
      ),
    progress: (done, force) => progress.report(done, force),
    signal,
    drilldown,
  });
}

/**
 * Stage 5, infer: an ONNX Runtime session on the first execution provider that starts, then the
 * sample set's records (with its destructive samples for the drill-down) and the calibration
 * set's; the session is released whatever happens.
 */
export async function infer(
  run: ProfileContext,
  settings: ProfileSettings,
  inputs: ProfileInputs,
  exits: DiscoveredExits,
  sets: LabelledSets,
): Promise<Inferred> {
  const { req, signal, timings } = run;
  const tSession = Date.now();
  // Session creation holds the thread in native code: announced, so that Ctrl-C still works (blocking.ts).
  const opened = await blockingCall(() =>
    createSessionWithFallback({ model: inputs.modelPath }, settings.providers, settings.threads, {
      log: (m) => run.log(m),
      explicit: settings.explicitProviders,
      gpuPrecision: settings.gpuPrecision,
      deviceId: req.deviceId,
    }),
  );
  if (signal?.aborted) {
    await opened.session.release();
    throwIfCancelled(signal);
  }
  const providerInfo: ExecutionProviderInfo = opened.info;
  run.emit({ type: 'provider', id: req.id, info: providerInfo });
  // A provider the user asked for and did not get is a warning; the default order falling back
  // to the CPU is not (the report's provider line says why, in executionProvider.attempts).
  if (providerInfo.explicit) {
    for (const a of providerInfo.attempts.filter((x) => !x.ok)) {
      run.warnings.push({
        code: 'provider-fallback',
        message: `Execution provider ${a.provider.toUpperCase()} was not used: ${a.reason?.replace(/\.$/, '')}; ran on ${providerInfo.used.toUpperCase()} instead.${a.nextStep ? ` ${a.nextStep}` : ''}`,
      });
    }
  }
  timings.sessionSeconds = (Date.now() - tSession) / 1000;
  const runSet = (set: SetRecordsPlan, phase: 'inference' | 'calibration', drilldown?: Drilldown) =>
    inferSet(
      run,
      opened.session,
      exits.plan,
      exits,
      set,
      settings.batchSize,
      sets.sequenceBatch,
      phase,
      drilldown,
    ).catch((err: unknown) => {
      throw withRunHint(err, providerInfo);
    });
  const drilldown: Drilldown = { destructiveCount: 0, samples: [] };
  let records: ExitRecords;
  let calibRecords: ExitRecords | null = null;
  try {
    const tInfer = Date.now();
    records = await runSet(sets.main, 'inference', drilldown);
    timings.inferenceSeconds = (Date.now() - tInfer) / 1000;
    if (sets.calib) {
      const tCal = Date.now();
      calibRecords = await runSet(sets.calib, 'calibration');
      timings.calibrationSeconds = (Date.now() - tCal) / 1000;
    }
  } finally {
    await opened.session.release();
  }
  throwIfCancelled(signal);
  return { providerInfo, records, calibRecords, drilldown };
}
