/**
 * The statistics path of the engine (src/engine/graphStatistics.ts) on the test fixtures, against
 * the logits path (every exit's logits fetched and reduced by fillExitRecords): a classifier with
 * one output per exit, both stacked layouts, a network that outputs NaN, and a decoder per token
 * position, labelled. After the exact recomputation of the rows the bounds leave undecided, every
 * prediction is the same, every figure is the same where its bound is 0 or it was recomputed, and
 * within its bound elsewhere; and no comparison the analysis makes can tell the two apart: for
 * every pair of rows, and every grid threshold, the order is the same.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { openArrayFile } from '../../src/core/npy/arrayFile';
import { NumericArray } from '../../src/core/npy/npy';
import { detectExits } from '../../src/core/onnx/exits';
import { detectTokenExits } from '../../src/core/onnx/tokenExits';
import { decodeModelProto, modelInfoFromProto, readModelFile } from '../../src/core/onnx/model';
import { ExitRecords, allocateRecords, fillExitRecords } from '../../src/core/records/records';
import { certifiedGrid } from '../../src/core/records/statisticsRecords';
import { BatchReader, SampleBinding, bindSamples, readLabels } from '../../src/core/samples/samples';
import { TokenPositions, tokenPositions, tokenSource } from '../../src/core/tokens/tokens';
import {
  StatisticsPlan,
  StatisticsReader,
  planStatistics,
  recomputeUndecided,
  statisticsRow,
} from '../../src/engine/graphStatistics';
import { StatisticsPrecision } from '../../src/core/onnx/exitStatistics';
import { fixture } from './helpers';

function feedsOf(binding: SampleBinding) {
  return (data: NumericArray[], rows: number) => {
    const feeds: Record<string, ort.Tensor> = {};
    binding.inputs.forEach((b, i) => {
      feeds[b.input.name] = new ort.Tensor(b.input.dtype as ort.Tensor.Type, data[i] as ort.Tensor.DataType, [
        rows,
        ...b.rowShape,
      ]);
    });
    return feeds;
  };
}

interface Loaded {
  plan: StatisticsPlan;
  session: ort.InferenceSession;
  logitsSession: ort.InferenceSession;
  binding: SampleBinding;
  labels: Int32Array | null;
  positions: TokenPositions | null;
}

async function load(model: string, samples: string, precision: StatisticsPrecision, tokens = false): Promise<Loaded> {
  const bytes = readModelFile(fixture(model));
  const info = modelInfoFromProto(decodeModelProto(bytes, model), fixture(model));
  const file = await openArrayFile(fixture(samples));
  const binding = bindSamples(file, info.inputs, undefined, { sequenceLabels: tokens });
  const logitsSession = await ort.InferenceSession.create(fixture(model), { logSeverityLevel: 3 });
  // Output shapes from one batch of 2, as the probe would see them.
  const r = await BatchReader.open(binding);
  const first = await r.next(2);
  await r.close();
  const out = await logitsSession.run(feedsOf(binding)(first, 2));
  const shapes = new Map(Object.entries(out).map(([k, v]) => [k, (v as ort.Tensor).dims.map(Number)]));
  let positions: TokenPositions | null = null;
  let labels: Int32Array | null = null;
  let exits;
  if (tokens) {
    const src = tokenSource(binding, binding.labels)!;
    const layout = detectTokenExits(info, undefined, shapes, 2, src.length);
    const V = layout.classes!;
    const E = layout.kind === 'per-output' ? layout.outputs.length : layout.exitCount!;
    positions = await tokenPositions(src, V);
    labels = positions.labels;
    exits = { layout, exitCount: E, classCount: V, length: src.length };
  } else {
    const layout = detectExits(info, undefined, shapes, 2);
    const s = shapes.get(layout.kind === 'per-output' ? layout.outputs[0] : layout.output)!;
    const C = s[s.length - 1];
    const E = layout.kind === 'per-output' ? layout.outputs.length : layout.layout === 'NEC' ? s[1] : s[0];
    labels = binding.labels ? await readLabels(binding.labels, C) : null;
    exits = { layout, exitCount: E, classCount: C, length: null };
  }
  const plan = planStatistics(info, bytes, exits, { precision, labels: labels !== null });
  assert.ok(!('unsupported' in plan), JSON.stringify(plan));
  const session = await ort.InferenceSession.create(Buffer.concat(plan.graph.chunks), { logSeverityLevel: 3 });
  return { plan, session, logitsSession, binding, labels, positions };
}

/** Runs both paths batch by batch: records from the statistics (then recomputed where undecided) and from the logits. */
async function bothPaths(l: Loaded, step: number) {
  const { plan, binding } = l;
  const N = l.positions ? l.positions.count : binding.sampleCount;
  const E = plan.exitCount;
  const C = plan.classCount;
  const rec = allocateRecords(N, E, C, l.labels);
  const want = allocateRecords(N, E, C, l.labels);
  const reader = new StatisticsReader(plan, rec, l.positions);
  const feeds = feedsOf(binding);
  const S = binding.sampleCount;
  const r = await BatchReader.open(binding);
  for (let first = 0; first < S; first += step) {
    const rows = Math.min(step, S - first);
    const data = await r.next(rows);
    const out = await l.session.run({ ...feeds(data, rows), ...reader.extraFeeds(first, rows, rows) }, plan.fetches);
    reader.consume(out, first, rows, rows);
    // The logits path, from the original model.
    const z = await l.logitsSession.run(feeds(data, rows));
    const names = plan.layout.kind === 'per-output' ? plan.layout.outputs : [plan.layout.output];
    for (let k = 0; k < E; k++) {
      const logits = (z[names[plan.layout.kind === 'per-output' ? k : 0]] as ort.Tensor).data as Float32Array;
      if (!l.positions) {
        for (let i = 0; i < rows; i++)
          fillExitRecords(want, logits, statisticsRow(plan, rows, k, i) * C, C, 1, first + i, k);
        continue;
      }
      const pos = l.positions;
      for (let i = 0; i < rows; i++)
        for (let p = pos.seqStart[first + i]; p < pos.seqStart[first + i + 1]; p++)
          fillExitRecords(want, logits, statisticsRow(plan, rows, k, i, pos.t[p]) * C, C, 1, p, k);
    }
  }
  await r.close();
  const bounds = reader.bounds;
  const done = await recomputeUndecided(l.session, [{ reader, binding, step, feeds }]);
  return { rec, want, bounds, done };
}

/** The comparisons the analysis makes: every pair of rows' scores, and every grid threshold, ordered alike. */
function sameOrder(got: ExitRecords, want: ExitRecords, what: string): void {
  for (const key of ['conf', 'margin', 'entropy'] as const) {
    const idx = [...want[key].keys()].filter((i) => want.finite[i]);
    const byWant = [...idx].sort((a, b) => want[key][a] - want[key][b] || a - b);
    for (let j = 1; j < byWant.length; j++) {
      const a = byWant[j - 1];
      const b = byWant[j];
      assert.equal(
        Math.sign(got[key][b] - got[key][a]),
        Math.sign(want[key][b] - want[key][a]),
        `${what}: ${key} of rows ${a} and ${b} ordered differently`,
      );
    }
    for (const g of certifiedGrid(key))
      for (const i of idx) assert.equal(got[key][i] >= g, want[key][i] >= g, `${what}: ${key} ${i} against ${g}`);
  }
}

function compare(res: Awaited<ReturnType<typeof bothPaths>>, what: string): void {
  const { rec, want, bounds } = res;
  for (let i = 0; i < want.pred.length; i++) {
    assert.equal(rec.pred[i], want.pred[i], `${what}: pred ${i}`);
    assert.equal(rec.finite[i], want.finite[i], `${what}: finite ${i}`);
    for (const key of ['conf', 'margin', 'entropy'] as const) {
      const d = Math.abs(rec[key][i] - want[key][i]);
      if (bounds[key][i] === 0) assert.equal(rec[key][i], want[key][i], `${what}: ${key} ${i} certain`);
      else assert.ok(d <= bounds[key][i], `${what}: ${key} ${i} off by ${d} (bound ${bounds[key][i]})`);
    }
  }
  sameOrder(rec, want, what);
}

describe('statistics in the graph on the fixtures', () => {
  for (const precision of ['f64', 'f32'] as const) {
    it(`classifier, one output per exit (${precision})`, async () => {
      const l = await load('tiny_cnn.onnx', 'cnn_samples.npz', precision);
      compare(await bothPaths(l, 16), 'cnn');
    });
    it(`stacked exits, NEC and ENC (${precision})`, async () => {
      for (const m of ['stacked_nec.onnx', 'stacked_enc.onnx']) {
        const l = await load(m, 'cnn_samples.npz', precision);
        compare(await bothPaths(l, 7), m);
      }
    });
    it(`a network that outputs NaN (${precision})`, async () => {
      const l = await load('nan_net.onnx', 'nan_samples.npz', precision);
      const res = await bothPaths(l, 8);
      assert.ok(
        [...res.want.finite].some((f) => !f),
        'the fixture has non-finite outputs',
      );
      compare(res, 'nan');
    });
    it(`a decoder, per token position, labelled (${precision})`, async () => {
      const l = await load(
        path.join('tokens', 'decoder.onnx'),
        path.join('tokens', 'tokens_labels.npz'),
        precision,
        true,
      );
      const res = await bothPaths(l, 3);
      compare(res, 'decoder');
      // In float64 only the rows the bounds cannot order are run again: here, tied positions.
      if (precision === 'f64') assert.ok(res.done.rows < res.rec.conf.length / 4, JSON.stringify(res.done));
    });
  }
});
