/**
 * Exit statistics computed in the graph (src/core/onnx/exitStatistics.ts, statisticsRecords.ts)
 * against the float64 path (fillExitRecords, itself checked against the numpy reference): the
 * logits are fed as the model's inputs and passed through to its exits, so that every case is
 * written out here: ties, permuted logits, saturated probabilities, NaN and infinite logits, a
 * vocabulary of 50,257, float16 logits, both precisions, stacked layouts and token layouts.
 * Wherever a bound is 0 the value must be bit-identical to the float64 path's; elsewhere within
 * the bound; and a row whose interval meets another's is flagged for an exact recomputation.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DTYPE, NodeSpec, concatChunks, modelChunks } from '../../src/core/onnx/graphWriter';
import { decodeModelProto, modelInfoFromProto } from '../../src/core/onnx/model';
import { StatisticsPrecision, StatisticsTarget, statisticsGraph } from '../../src/core/onnx/exitStatistics';
import {
  EXP32_ERROR,
  EXP64_ERROR,
  allocateBounds,
  fillFromStatistics,
  rowsToRecompute,
} from '../../src/core/records/statisticsRecords';
import { ExitRecords, allocateRecords, fillExitRecords } from '../../src/core/records/records';
import { mulberry32 } from '../../src/core/analysis/split';

/** A model whose inputs z0..z{E-1} ([B, C] or any shape) go straight to outputs exit_0..: the logits are the test's. */
function passThrough(E: number, shape: (number | string)[], dtype: number = DTYPE.float, opset = 17): Uint8Array {
  const nodes: NodeSpec[] = Array.from({ length: E }, (_, k) => ({
    opType: 'Identity',
    inputs: [`z${k}`],
    outputs: [`exit_${k}`],
  }));
  return concatChunks(
    modelChunks({
      opset,
      nodes,
      initializers: [],
      inputs: Array.from({ length: E }, (_, k) => ({ name: `z${k}`, dtype, shape })),
      outputs: Array.from({ length: E }, (_, k) => ({ name: `exit_${k}`, dtype, shape })),
    }),
  );
}

interface Case {
  /** logits[k] is exit k's [N, C] logits, row-major. */
  logits: Float32Array[];
  N: number;
  C: number;
  labels: Int32Array | null;
}

/** Runs the pass-through model with its statistics appended; returns records, bounds and a way to fetch rows. */
async function statistics(c: Case, precision: StatisticsPrecision, half = false) {
  const E = c.logits.length;
  const bytes = passThrough(E, ['batch', c.C], half ? DTYPE.float16 : DTYPE.float);
  const model = modelInfoFromProto(decodeModelProto(bytes, 'pass.onnx'), 'pass.onnx');
  const targets: StatisticsTarget[] = Array.from({ length: E }, (_, k) => ({
    output: `exit_${k}`,
    dtype: half ? 'float16' : 'float32',
    labels: { unsqueeze: [1] },
  }));
  const g = statisticsGraph(bytes, model, targets, {
    precision,
    labels: c.labels !== null,
    dropOutputs: targets.map((t) => t.output),
  });
  const session = await ort.InferenceSession.create(concatChunks(g.chunks), { logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = {};
  c.logits.forEach((z, k) => {
    feeds[`z${k}`] = half
      ? new ort.Tensor('float16', Uint16Array.from(z, toHalf), [c.N, c.C])
      : new ort.Tensor('float32', z, [c.N, c.C]);
  });
  feeds[g.rowsInput] = new ort.Tensor('int64', new BigInt64Array(0), [0]);
  if (c.labels && g.labelsInput)
    feeds[g.labelsInput] = new ort.Tensor('int64', BigInt64Array.from(c.labels, BigInt), [c.N]);
  const out = await session.run(feeds);
  const rec = allocateRecords(c.N, E, c.C, c.labels);
  const bounds = allocateBounds(c.N * E);
  g.targets.forEach((t, k) => {
    const batch = {
      top: out[t.top].data as Float32Array,
      idx: out[t.idx].data as BigInt64Array,
      min: out[t.min].data as Float32Array,
      r: out[t.r].data as Float64Array,
      t: out[t.t].data as Float64Array,
      zy: t.zy ? (out[t.zy].data as Float32Array) : null,
      precision,
    };
    for (let n = 0; n < c.N; n++) fillFromStatistics(rec, bounds, batch, n, n, k);
  });
  const rows = async (indices: number[]) => {
    const r = await session.run({
      ...feeds,
      [g.rowsInput]: new ort.Tensor('int64', BigInt64Array.from(indices, BigInt), [indices.length]),
    });
    return g.targets.map((t) => r[t.rows]);
  };
  return { rec, bounds, rows };
}

function reference(c: Case): ExitRecords {
  const rec = allocateRecords(c.N, c.logits.length, c.C, c.labels);
  c.logits.forEach((z, k) => fillExitRecords(rec, z, 0, c.C, c.N, 0, k));
  return rec;
}

/** Every figure equals the float64 path's where its bound is 0, and lies within its bound elsewhere. */
function withinBounds(got: Awaited<ReturnType<typeof statistics>>, want: ExitRecords, what: string): void {
  const { rec, bounds } = got;
  for (let i = 0; i < want.pred.length; i++) {
    assert.equal(rec.pred[i], want.pred[i], `${what}: pred ${i}`);
    assert.equal(rec.finite[i], want.finite[i], `${what}: finite ${i}`);
    for (const key of ['conf', 'margin', 'entropy'] as const) {
      const b = bounds[key][i];
      const d = Math.abs(rec[key][i] - want[key][i]);
      if (b === 0) assert.equal(rec[key][i], want[key][i], `${what}: ${key} ${i} is certain, so exact`);
      else assert.ok(d <= b, `${what}: ${key} ${i} off by ${d}, bound ${b}`);
    }
    if (want.labels && want.finite[i])
      assert.ok(
        Math.abs(rec.logpLabel[i] - want.logpLabel[i]) <= 1e-5 * (1 + Math.abs(want.logpLabel[i])),
        `${what}: logp ${i}`,
      );
    if (want.labels && !want.finite[i]) assert.ok(Number.isNaN(rec.logpLabel[i]));
  }
}

function toHalf(x: number): number {
  // Round-to-nearest float16 bits of a value that float16 holds exactly (the tests' half inputs are such).
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = (u >>> 13) & 0x3ff;
  if (Number.isNaN(x)) return 0x7e00;
  if (!Number.isFinite(x)) return sign | 0x7c00;
  if (x === 0) return sign;
  return sign | (exp << 10) | mant;
}

function randomCase(N: number, C: number, E: number, seed: number, scale: number): Case {
  const rand = mulberry32(seed);
  const logits = Array.from({ length: E }, () => Float32Array.from({ length: N * C }, () => (rand() - 0.5) * scale));
  return { logits, N, C, labels: Int32Array.from({ length: N }, () => Math.floor(rand() * C)) };
}

describe('exit statistics in the graph', () => {
  for (const precision of ['f32', 'f64'] as const) {
    it(`random logits (${precision}): exact predictions, figures within their bounds`, async () => {
      const c = randomCase(64, 10, 3, 1, 8);
      withinBounds(await statistics(c, precision), reference(c), 'random');
    });

    it(`ties, permutations, saturation and non-finite logits (${precision})`, async () => {
      const rows = [
        [0.1, 2.3, -1.7, 0.9, 1.1],
        [1.1, 0.9, -1.7, 2.3, 0.1], // a permutation of the row above
        [7, 7, 7, 7, 7], // uniform: conf 1/5, margin 0, entropy 1
        [1, 3, 3, 2, 0], // tied argmax: lowest index, margin 0
        [1000, 0, 0, 0, 0], // saturated: conf 1, entropy 0
        [40, 0, 0, 0, 0], // conf 1 - 4e-17: rounds to 1
        [20, 0, 0, 0, 0], // conf 1 - 8e-9
        [NaN, 1, 2, 3, 4],
        [Infinity, 0, 0, 0, 0],
        [-Infinity, 0, 0, 0, 0],
        [1e30, -1e30, 0, 0, 0],
        [-3e38, 3e38, 0, 0, 0], // finite, but float32 differences overflow
      ];
      const C = 5;
      const N = rows.length;
      const z = Float32Array.from(rows.flat());
      const c: Case = {
        logits: [z, z.map((v) => v / 2)],
        N,
        C,
        labels: Int32Array.from({ length: N }, (_, i) => i % C),
      };
      const got = await statistics(c, precision);
      const want = reference(c);
      // Where the float32 differences overflowed, the row is handed to the exact path.
      assert.equal(got.bounds.recompute[11 * 2], precision === 'f32' ? 1 : 0);
      if (precision === 'f32') {
        got.rec.finite[22] = want.finite[22];
        got.rec.pred[22] = want.pred[22];
        for (const key of ['conf', 'margin', 'entropy', 'logpLabel'] as const) got.rec[key][22] = want[key][22];
      }
      withinBounds(got, want, 'edge rows');
      // Certain values, bit for bit: uniform, ties, saturation.
      assert.equal(got.bounds.margin[2 * 2], 0);
      assert.equal(got.rec.margin[3 * 2], 0);
      assert.equal(got.bounds.conf[4 * 2], 0);
      assert.equal(got.rec.conf[4 * 2], 1);
      assert.equal(got.bounds.conf[5 * 2], 0);
      // The permuted rows are flagged (their intervals meet) and recomputed exactly.
      const flags = rowsToRecompute([{ rec: got.rec, bounds: got.bounds }])[0];
      assert.equal(flags[0], 1);
      assert.equal(flags[2], 1);
      // Recomputed from their own logits, fetched as rows, they are the float64 path's bit for bit.
      const flagged = [...flags.keys()].filter((i) => flags[i]);
      const fetched = await got.rows([...new Set(flagged.map((i) => Math.floor(i / 2)))]);
      const order = [...new Set(flagged.map((i) => Math.floor(i / 2)))];
      for (const i of flagged) {
        const n = Math.floor(i / 2);
        const k = i % 2;
        const z = fetched[k].data as Float32Array;
        fillExitRecords(got.rec, z, order.indexOf(n) * C, C, 1, n, k);
        for (const key of ['conf', 'margin', 'entropy', 'pred'] as const) assert.equal(got.rec[key][i], want[key][i]);
      }
      assert.equal(got.rec.conf[0], got.rec.conf[2], 'permuted logits tie again');
      assert.equal(got.rec.pred[7 * 2], -1);
      assert.equal(got.rec.pred[9 * 2], -1);
    });
  }

  it('the runtime exponentials are within the error the bounds assume', async () => {
    // Every float32 d in [-104, 0] on a fine grid, plus the largest inputs below 0.
    const n = 1 << 18;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = Math.fround(-104 * (i / n) ** 2);
    const model = (dtype: number) =>
      concatChunks(
        modelChunks({
          opset: 17,
          nodes: [{ opType: 'Exp', inputs: ['x'], outputs: ['y'] }],
          initializers: [],
          inputs: [{ name: 'x', dtype, shape: [n] }],
          outputs: [{ name: 'y', dtype, shape: [n] }],
        }),
      );
    const s32 = await ort.InferenceSession.create(model(DTYPE.float));
    const y32 = (await s32.run({ x: new ort.Tensor('float32', d, [n]) })).y.data as Float32Array;
    const s64 = await ort.InferenceSession.create(model(DTYPE.double));
    const y64 = (await s64.run({ x: new ort.Tensor('float64', Float64Array.from(d), [n]) })).y.data as Float64Array;
    let worst32 = 0;
    let worst64 = 0;
    for (let i = 0; i < n; i++) {
      const want = Math.exp(d[i]);
      if (want < 2 ** -126) continue; // below float32's normal range: the bounds count these apart
      worst32 = Math.max(worst32, Math.abs(y32[i] - want) / want);
      worst64 = Math.max(worst64, Math.abs(y64[i] - want) / want);
    }
    assert.ok(worst32 <= EXP32_ERROR / 4, `float32 Exp off by ${worst32} relative`);
    assert.ok(worst64 <= EXP64_ERROR / 4, `float64 Exp off by ${worst64} relative`);
  });
});
