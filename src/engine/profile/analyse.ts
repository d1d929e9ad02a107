import { AnalysisResult } from '../../core/analysis/analyze';
import { analyseRecords } from '../analysisStep';
import { MeasuredCost, measuredCost } from '../measuredCost';
import { loadOrt } from '../providers';
import { riskOptions } from '../runOptions';
import { ProfileContext } from './context';
import { DiscoveredExits } from './discoverExits';
import { Inferred } from './infer';
import { ProfileInputs } from './openInputs';
import { ProfileSettings } from './validate';

export interface Analysed {
  result: AnalysisResult;
  /** --cost measured: the latency (null where it could not be measured, said in a warning). */
  measured: MeasuredCost | null;
}

/**
 * Stage 6, analyse: with --cost measured each exit's graph timed first (measuredCost.ts), then
 * the analysis of the records, costed by the measured latency where there is one (the per-exit
 * table keeps the MACs beside it).
 */
export async function analyse(
  run: ProfileContext,
  settings: ProfileSettings,
  inputs: ProfileInputs,
  exits: DiscoveredExits,
  inferred: Inferred,
): Promise<Analysed> {
  const { req, emit, signal, timings } = run;
  const { cost, plan } = exits;
  let measured: MeasuredCost | null = null;
  if (req.cost === 'measured') {
    const tLatency = Date.now();
    measured = await measuredCost(
      {
        o: loadOrt(),
        model: inputs.model,
        modelBytes: inputs.modelBytes,
        plan,
        main: inputs.main,
        batchSize: settings.batchSize,
        threads: settings.threads,
        providerInfo: inferred.providerInfo,
        emit,
        id: req.id,
        signal,
      },
      run.warnings,
    );
    timings.latencySeconds = (Date.now() - tLatency) / 1000;
  }
  const tAnalysis = Date.now();
  const result = await analyseRecords(emit, req.id, signal, {
    records: inferred.records,
    calibration: inferred.calibRecords,
    exitNames: plan.names,
    exitMacs: cost.exitMacs,
    baselineMacs: cost.baselineMacs,
    latency: measured?.latency ?? undefined,
    maxAccuracyDrop: settings.maxAccuracyDrop,
    risk: riskOptions(req),
  });
  timings.analysisSeconds = (Date.now() - tAnalysis) / 1000;
  timings.totalSeconds = (Date.now() - run.started) / 1000;
  return { result, measured };
}
