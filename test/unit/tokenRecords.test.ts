import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { openArrayFile } from '../../src/core/npy/arrayFile';
import { bindSamples } from '../../src/core/samples/samples';
import { tokenPositions, tokenSource } from '../../src/core/tokens/tokens';
import { TokenPlan } from '../../src/engine/exitPlan';
import { inferTokenRecords } from '../../src/engine/tokenRun';

/**
 * The token run's reading of logits (src/engine/tokenRun.ts) against a plain float64 softmax
 * written here: synthetic logits [B, T, V] per exit or stacked [B, E, T, V] / [E, B, T, V], a
 * vocabulary of 5,000, ties between the top two classes, NaN outputs, and masks that pad on either
 * side, run through a stand-in for the ONNX Runtime session.
 */

const S = 7;
const T = 9;
const V = 5000;
const E = 3;

/** The mask of sequence s: right padding, left padding, none, or all padding. */
function maskOf(s: number, t: number): number {
  if (s === 1) return t < 5 ? 1 : 0;
  if (s === 2) return t >= 3 ? 1 : 0;
  if (s === 4) return 0;
  return 1;
}

/** The logit of class v at exit k, position t of sequence s: ties and NaN at chosen places. */
function logit(s: number, t: number, k: number, v: number): number {
  if (s === 3 && t === 2 && k === 1) return NaN;
  const base = Math.sin(s * 131 + t * 17 + k * 7 + v * 0.37) * (2 + k);
  // A tie for the top class at some positions: classes 11 and 4000 share the maximum.
  if ((s + t + k) % 4 === 0 && (v === 11 || v === 4000)) return 9;
  return Math.fround(base);
}

/** Per position and exit, by the definitions: pred (lowest index on ties), conf, normalised entropy, margin. */
function plain(s: number, t: number, k: number) {
  const z = Array.from({ length: V }, (_, v) => Math.fround(logit(s, t, k, v)));
  if (z.some((x) => !Number.isFinite(x))) return { pred: -1, conf: 0, entropy: 1, margin: 0 };
  const max = Math.max(...z);
  const e = z.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const p = e.map((x) => x / sum);
  let pred = 0;
  for (let v = 1; v < V; v++) if (p[v] > p[pred]) pred = v;
  const sorted = [...p].sort((a, b) => b - a);
  const h = -p.reduce((a, x) => a + (x > 0 ? x * Math.log(x) : 0), 0) / Math.log(V);
  return { pred, conf: sorted[0], entropy: h, margin: sorted[0] - sorted[1] };
}

async function setUp(dir: string) {
  const { writeNpz } = await import('../../bench/npzWriter');
  const file = path.join(dir, 'seqs.npz');
  await writeNpz(file, [
    {
      name: 'input_ids',
      descr: '<i8',
      shape: [S, T],
      fill: (o, row, rows) => {
        for (let i = 0; i < rows * T; i++) (o as BigInt64Array)[i] = BigInt(((row * T + i) * 37) % V);
      },
    },
    {
      name: 'attention_mask',
      descr: '<i8',
      shape: [S, T],
      fill: (o, row, rows) => {
        for (let i = 0; i < rows * T; i++) (o as BigInt64Array)[i] = BigInt(maskOf(row + Math.floor(i / T), i % T));
      },
    },
  ]);
  const arrays = await openArrayFile(file);
  const inputs = [
    { name: 'input_ids', dtype: 'int64', shape: ['batch', T] },
    { name: 'attention_mask', dtype: 'int64', shape: ['batch', T] },
  ];
  const binding = bindSamples(arrays, inputs, undefined, { sequenceLabels: true });
  const source = tokenSource(binding, null)!;
  const positions = await tokenPositions(source, V);
  return { arrays, binding, source, positions };
}

/** A stand-in session: each run returns the next sequences' logits in the plan's layout. */
function fakeSession(layout: 'per-output' | 'NEC' | 'ENC', batch: number): ort.InferenceSession {
  let next = 0;
  return {
    run: async () => {
      const s0 = next;
      const rows = Math.min(batch, S - s0);
      next += rows;
      const tensor = (dims: number[], at: (i: number, k: number, t: number, v: number) => number, k?: number) => {
        const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
        for (let i = 0; i < rows; i++)
          for (let kk = 0; kk < E; kk++) {
            if (k !== undefined && kk !== k) continue;
            for (let t = 0; t < T; t++) for (let v = 0; v < V; v++) data[at(i, kk, t, v)] = logit(s0 + i, t, kk, v);
          }
        return { dims, data, type: 'float32' } as unknown as ort.Tensor;
      };
      if (layout === 'per-output')
        return Object.fromEntries(
          Array.from({ length: E }, (_, k) => [
            `exit_${k}`,
            tensor([rows, T, V], (i, _k, t, v) => (i * T + t) * V + v, k),
          ]),
        );
      if (layout === 'NEC') return { logits: tensor([rows, E, T, V], (i, k, t, v) => ((i * E + k) * T + t) * V + v) };
      return { logits: tensor([E, rows, T, V], (i, k, t, v) => ((k * rows + i) * T + t) * V + v) };
    },
  } as unknown as ort.InferenceSession;
}

describe('token records from [B, T, V] logits, against a plain softmax', () => {
  for (const layout of ['per-output', 'NEC', 'ENC'] as const) {
    it(`${layout}: every valid position and exit, V = ${V}, with ties and NaN`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-tokrec-'));
      try {
        const { arrays, binding, source, positions } = await setUp(dir);
        // Valid positions by the masks: sequence 0, 3, 5, 6 all 8; 1: t 0..3; 2: t 3..7; 4: none.
        assert.equal(positions.count, 4 * 8 + 4 + 5);
        const plan: TokenPlan = {
          layout:
            layout === 'per-output'
              ? {
                  kind: 'per-output',
                  outputs: ['exit_0', 'exit_1', 'exit_2'],
                  orderedBy: 'mapping',
                  classes: V,
                  tokens: true,
                }
              : {
                  kind: 'stacked',
                  output: 'logits',
                  layout,
                  exitCount: E,
                  classes: V,
                  orderedBy: 'stack-order',
                  tokens: true,
                },
          exitCount: E,
          classCount: V,
          names: [],
          fetches: layout === 'per-output' ? ['exit_0', 'exit_1', 'exit_2'] : ['logits'],
          length: T,
        };
        const batch = 3;
        const rec = await inferTokenRecords({
          session: fakeSession(layout, batch),
          binding,
          source,
          positions,
          plan,
          batch,
          feeds: () => ({}),
          logitsOf: (t) => t.data as Float32Array,
          runError: (err) => err as Error,
          progress: () => undefined,
        });
        await arrays.close();
        assert.equal(rec.sampleCount, positions.count);
        let p = 0;
        let ties = 0;
        let nans = 0;
        for (let s = 0; s < S; s++)
          for (let t = 0; t + 1 < T; t++) {
            if (!(maskOf(s, t) === 1 && maskOf(s, t + 1) === 1)) continue;
            assert.equal(positions.t[p], t);
            for (let k = 0; k < E; k++) {
              const want = plain(s, t, k);
              const at = p * E + k;
              if (want.pred === 11 && want.margin === 0) ties++;
              if (want.pred === -1) nans++;
              assert.equal(rec.pred[at], want.pred, `sequence ${s}, t ${t}, exit ${k}: pred`);
              assert.ok(Math.abs(rec.conf[at] - want.conf) <= 1e-12, `conf ${rec.conf[at]} vs ${want.conf}`);
              assert.ok(
                Math.abs(rec.entropy[at] - want.entropy) <= 1e-12,
                `entropy ${rec.entropy[at]} vs ${want.entropy}`,
              );
              assert.ok(Math.abs(rec.margin[at] - want.margin) <= 1e-12, `margin ${rec.margin[at]} vs ${want.margin}`);
            }
            // The label is the next token id.
            assert.equal(rec.labels![p], ((s * T + t + 1) * 37) % V);
            p++;
          }
        assert.equal(p, positions.count);
        assert.ok(ties > 0 && nans > 0, `the case has ties (${ties}) and NaN (${nans})`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
