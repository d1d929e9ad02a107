import { TOOL_VERSION } from '../../shared/defaults';
import type {
  CostInfo,
  Drilldown,
  ExecutionProviderInfo,
  InputBinding,
  LatencyFigures,
  Report,
  TokenSamples,
  TokenView,
  ReportWarning,
} from '../../shared/reportTypes';
import { SCHEMA_VERSION } from '../../shared/reportTypes';
import type { ExitRecords } from '../records/records';
import { AnalysisResult, CONVENTIONS, recordsForReport } from '../analysis/analyze';

/**
 * The one place a report is put together, for a profiled model (src/engine/profile/assemble.ts), a merge (src/engine/merge.ts) and a
 * logits file (src/engine/analyzeLogits.ts): the analysis' result, what was read and how it ran.
 */
export interface ReportParts {
  model: Report['model'];
  logitsFile: string | null;
  executionProvider: ExecutionProviderInfo | null;
  samplesPath: string;
  labelArray: string | null;
  inputs: InputBinding[];
  records: ExitRecords;
  /** The calibration set's path when the suggestions were fitted on one. */
  calibrationPath: string | null;
  result: AnalysisResult;
  exitCount: number;
  classCount: number;
  baselineMacs: number;
  cost: CostInfo;
  drilldown: Drilldown | null;
  maxAccuracyDrop: number;
  batchSize: number | null;
  warnings: ReportWarning[];
  timings: Record<string, number>;
  includeRecords: boolean;
  /** The measured cost of the model without early exits (--cost measured). */
  baselineLatency?: LatencyFigures;
  /** A decoder's token positions (samples.tokens) and its first sequences (tokenView). */
  tokens?: TokenSamples;
  tokenView?: TokenView;
}

export function assembleReport(p: ReportParts): Report {
  const { result, records } = p;
  if (result.calibration.source === 'file') result.calibration.path = p.calibrationPath;
  const report: Report = {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'exit-lens', version: TOOL_VERSION },
    createdAt: new Date().toISOString(),
    model: p.model,
    logitsFile: p.logitsFile,
    executionProvider: p.executionProvider,
    samples: {
      path: p.samplesPath,
      N: records.sampleCount,
      sampleCount: records.sampleCount,
      labelled: records.labels !== null,
      labelArray: p.labelArray,
      inputs: p.inputs,
      calibration: result.calibration,
      ...(p.tokens ? { tokens: p.tokens } : {}),
    },
    exitCount: p.exitCount,
    classCount: p.classCount,
    exits: result.exits,
    baselineMacs: p.baselineMacs,
    ...(p.baselineLatency ? { baselineLatency: p.baselineLatency } : {}),
    cost: p.cost,
    overthinking: result.overthinking,
    policies: result.policies,
    curves: result.curves,
    suggestions: result.suggestions,
    ...(p.tokenView ? { tokenView: p.tokenView } : {}),
    guarantees: result.guarantees,
    drilldown: p.drilldown,
    settings: { maxAccuracyDrop: p.maxAccuracyDrop, batchSize: p.batchSize, risk: result.risk },
    conventions: CONVENTIONS,
    warnings: [...p.warnings, ...result.warnings],
    timings: p.timings,
  };
  if (p.includeRecords) report.records = recordsForReport(records);
  return report;
}
