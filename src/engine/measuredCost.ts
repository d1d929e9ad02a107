import type * as ort from 'onnxruntime-node';
import { throwIfCancelled } from '../core/errors';
import { NumericArray } from '../core/npy/npy';
import { traceStackedExits } from '../core/onnx/cost';
import { ModelInfo } from '../core/onnx/model';
import type { Emit } from '../shared/engineProtocol';
import type { CostInfo, ExecutionProviderInfo, ReportWarning } from '../shared/reportTypes';
import { ExitPlan } from './exitPlan';
import { feedsFor, firstRows } from './feeds';
import { MeasuredLatency, measureLatency } from './latency';
import { ProviderName } from './providers';
import { SampleSet } from './sampleSets';

export interface MeasuredCost {
  latency: MeasuredLatency | null;
  info: (staticInfo: CostInfo) => CostInfo;
}

export interface LatencyContext {
  o: typeof ort;
  model: ModelInfo;
  modelBytes: Uint8Array;
  plan: ExitPlan;
  main: SampleSet;
  batchSize: number;
  threads: number;
  providerInfo: ExecutionProviderInfo;
  emit: Emit;
  id: string;
  signal?: AbortSignal;
}

/**
 * --cost measured: every exit's graph timed on the run's provider (latency.ts) with the first
 * samples of the set. Where it cannot be (a stack not traced to one tensor per exit, a pruned
 * graph the provider refuses), the report says why and keeps the static costs.
 */
export async function measuredCost(c: LatencyContext, warnings: ReportWarning[]): Promise<MeasuredCost> {
  const { plan, model, main } = c;
  const fixed = main.binding.fixedBatch;
  const batchSize = fixed ?? Math.min(c.batchSize, main.binding.sampleCount);
  const base = {
    provider: c.providerInfo.used,
    precision: c.providerInfo.precision ?? 'fp32',
    batchSize,
  };
  const unavailable = (why: string): MeasuredCost => {
    warnings.push({
      code: 'latency-unavailable',
      message: `Measured cost is unavailable: ${why} Speed-ups use the static costs.`,
    });
    return { latency: null, info: (s) => ({ ...s, measured: { ...base, method: '', unavailable: why } }) };
  };
  const exitTensors =
    plan.layout.kind === 'per-output' ? plan.fetches : traceStackedExits(model, plan.layout.output, plan.exitCount);
  if (!exitTensors)
    return unavailable(
      `the stacked output "${plan.fetches[0]}" is not built by a Concat of one tensor per exit, so no exit's graph can be pruned from the others.`,
    );
  const data = await firstRows(main.binding, batchSize);
  const feeds = feedsFor(c.o, main.binding, data, batchSize);
  // A model with a fixed batch runs only at that batch: "batch 1" is then that batch too.
  const feeds1 = fixed
    ? feeds
    : feedsFor(
        c.o,
        main.binding,
        data.map((d) => d.slice(0, d.length / batchSize) as NumericArray),
        1,
      );
  try {
    const latency = await measureLatency({
      modelBytes: c.modelBytes,
      model,
      exitTensors,
      provider: c.providerInfo.used as ProviderName,
      deviceId: c.providerInfo.deviceId,
      threads: c.threads,
      feeds,
      feeds1,
      batchSize,
      signal: c.signal,
      progress: (done, total) =>
        c.emit({ type: 'progress', id: c.id, phase: 'latency', done, total, samplesPerSecond: null, etaSeconds: null }),
    });
    return {
      latency,
      info: (s) => ({
        ...s,
        source: 'measured',
        note: `Measured latency, ms per sample at batch ${batchSize} on ${base.provider.toUpperCase()} (static MACs stay in the per-exit table).`,
        measured: { ...base, method: latency.method, unavailable: null },
      }),
    };
  } catch (err) {
    throwIfCancelled(c.signal);
    return unavailable(`timing a pruned exit graph failed (${(err as Error).message.split('\n')[0]}).`);
  }
}
