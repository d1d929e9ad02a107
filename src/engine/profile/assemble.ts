import * as path from 'node:path';
import { ArrayEntry } from '../../core/npy/arrayFile';
import { bytesToTyped } from '../../core/npy/npy';
import { ExitLayout } from '../../core/onnx/exits';
import { ExitRecords } from '../../core/records/records';
import { shardRange } from '../../core/records/shards';
import { ReportParts, assembleReport } from '../../core/report/assembly';
import { TokenPositions, TokenSource } from '../../core/tokens/tokens';
import { TOKEN_VIEW_SEQUENCES, buildTokenView } from '../../core/tokens/tokenView';
import type { Report, TokenView } from '../../shared/reportTypes';
import { bindingInfo } from '../sampleSets';
import { Analysed } from './analyse';
import { ProfileContext } from './context';
import { DiscoveredExits } from './discoverExits';
import { Inferred } from './infer';
import { LabelledSets } from './labelsAndPositions';
import { ProfileInputs } from './openInputs';
import { ProfileSettings } from './validate';

/** The token view of the first sequences: their ids and mask read again (a few rows), the rest from the records. */
async function tokenViewOf(
  rec: ExitRecords,
  positions: TokenPositions,
  src: TokenSource,
  vocab: string[] | null,
  vocabPath: string | null,
): Promise<TokenView> {
  const rows = Math.min(src.sequences, TOKEN_VIEW_SEQUENCES);
  const read = async (entry: ArrayEntry) => {
    const r = await entry.open();
    try {
      return bytesToTyped(await r.readRows(rows), entry.header.dtype);
    } finally {
      await r.close();
    }
  };
  const ids = await read(src.ids.array);
  const mask = src.mask ? await read(src.mask.array) : null;
  return buildTokenView(rec, positions, ids, mask, rows, src.length, vocab, vocabPath);
}

const tokenFlag = (layout: ExitLayout) => (layout.tokens ? { tokens: true } : {});

function exitLayoutOf(layout: ExitLayout): NonNullable<Report['model']>['exitLayout'] {
  return layout.kind === 'per-output'
    ? { kind: 'per-output', outputs: layout.outputs, orderedBy: layout.orderedBy, ...tokenFlag(layout) }
    : {
        kind: 'stacked',
        outputs: [layout.output],
        layout: layout.layout,
        orderedBy: layout.orderedBy,
        ...tokenFlag(layout),
      };
}

/**
 * Stage 7, assemble: the report's parts (the model, the sets, the provider, the costs, the
 * analysis, a decoder's token view), handed to a shard's records file first when there is one,
 * then put together into the report (src/core/report/assembly.ts).
 */
export async function assemble(
  run: ProfileContext,
  settings: ProfileSettings,
  inputs: ProfileInputs,
  exits: DiscoveredExits,
  sets: LabelledSets,
  inferred: Inferred,
  analysed: Analysed,
): Promise<Report> {
  const { req } = run;
  const { model, main, calib } = inputs;
  const { plan, cost, vocab } = exits;
  const { measured } = analysed;
  const { positions, tokens } = sets.main;
  const calibPlan = sets.calib;
  const tokenView =
    tokens && positions
      ? await tokenViewOf(
          inferred.records,
          positions,
          tokens,
          vocab?.tokens ?? null,
          vocab ? path.resolve(req.vocabPath!) : null,
        )
      : undefined;
  const parts: ReportParts = {
    model: {
      path: model.path,
      inputs: model.inputs,
      outputs: model.outputs,
      opset: model.opset,
      irVersion: model.irVersion,
      producer: model.producer,
      nodeCount: model.nodeCount,
      parameterCount: model.parameterCount,
      usesExternalData: model.usesExternalData,
      exitLayout: exitLayoutOf(exits.layout),
    },
    logitsFile: null,
    executionProvider: inferred.providerInfo,
    samplesPath: main.file.path,
    labelArray: main.binding.labels?.name ?? null,
    inputs: bindingInfo(main.binding),
    records: inferred.records,
    calibrationPath: calib?.file.path ?? null,
    result: analysed.result,
    exitCount: plan.exitCount,
    classCount: plan.classCount,
    baselineMacs: cost.baselineMacs,
    cost: measured ? measured.info(cost.info) : cost.info,
    drilldown: sets.main.labels ? inferred.drilldown : null,
    maxAccuracyDrop: settings.maxAccuracyDrop,
    batchSize: main.binding.fixedBatch ?? settings.batchSize,
    warnings: run.warnings,
    timings: run.timings,
    includeRecords: Boolean(req.includeRecords),
    baselineLatency: measured?.latency?.baseline,
    tokenView,
    tokens:
      tokens && positions
        ? {
            sequences: tokens.sequences,
            length: tokens.length,
            positions: positions.count,
            labels: tokens.labels ? 'labels-array' : 'next-token',
            mask: tokens.mask?.input.name ?? null,
            calibration:
              calibPlan?.tokens && calibPlan.positions
                ? { sequences: calibPlan.tokens.sequences, positions: calibPlan.positions.count }
                : null,
          }
        : undefined,
  };
  const shard = req.shard ?? { index: 0, count: 1 };
  const setSampleCount = inputs.setSampleCount;
  await run.hooks.shardRecords?.({
    parts,
    modelBytes: inputs.modelBytes,
    externalData: inputs.dataFiles,
    exitMacs: cost.exitMacs,
    shard: { ...shard, ...shardRange(shard, setSampleCount), setSampleCount },
  });
  return assembleReport(parts);
}
