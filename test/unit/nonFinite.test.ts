/**
 * Non-finite outputs never fire (docs/metrics.md): a NaN or infinite exit has stand-in scores
 * (confidence 0, margin 0, entropy 1) for the per-exit metrics, but no policy exits there, not
 * even at τ = 0 (confidence, margin) or τ = 1 (entropy) where the stand-in would meet the rule
 * as written, and for patience its prediction equals no other. Figures worked out by hand, and
 * on random NaN-heavy sets by a plain evaluator written here.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { writeNpz } from '../../bench/npzWriter';
import { mulberry32 } from '../../src/core/analysis/split';
import { suggestThresholds, wholeSet } from '../../src/core/analysis/suggest';
import { allocateRecords, fillExitRecords } from '../../src/core/records/records';
import type { Report } from '../../src/core/analysis/analyze';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { close, collect, tmpDir } from './helpers';

/** Writes exit_logits [E, N, C] (float32) and, when given, int64 labels. */
async function logitsFile(file: string, z: number[][][], labels: number[] | null): Promise<string> {
  const [E, N, C] = [z.length, z[0].length, z[0][0].length];
  await writeNpz(file, [
    { name: 'exit_logits', descr: '<f4', shape: [E, N, C], fill: (out) => (out as Float32Array).set(z.flat(2)) },
    ...(labels
      ? [
          {
            name: 'label',
            descr: '<i8' as const,
            shape: [N],
            fill: (out: Float32Array | BigInt64Array | Int32Array) => (out as BigInt64Array).set(labels.map(BigInt)),
          },
        ]
      : []),
  ]);
  return file;
}

function analyze(
  file: string,
  calib: string | null,
  extra: { exitCosts?: number[]; maxAccuracyDrop?: number } = {},
): Promise<Report> {
  return runAnalyze(
    { type: 'analyze', id: 't', logitsPath: file, calibPath: calib ?? undefined, ...extra },
    collect().emit,
  );
}

const suggestion = (r: Report, policy: string) => r.suggestions.find((s) => s.policy === policy)!;

describe('non-finite outputs never fire', () => {
  it('score policies: no curve point at τ = 0 or 1 that only a NaN output would add, and the suggestions skip it (worked by hand)', async () => {
    // Sample 0: exit 0 NaN, exit 1 [0, 1] (right, label 1). Sample 1: exit 0 [2, 0] (right,
    // label 0), exit 1 [0, 1] (wrong). Costs (k+1)/E: 0.5 and 1.
    const file = await logitsFile(
      path.join(tmpDir(), 'a.npz'),
      [
        [
          [NaN, 0],
          [2, 0],
        ],
        [
          [0, 1],
          [0, 1],
        ],
      ],
      [1, 0],
    );
    const r = await analyze(file, file);
    const conf = Math.exp(2) / (Math.exp(2) + 1); // 0.8808
    const other = 1 / (Math.exp(2) + 1);
    const h = -(conf * Math.log(conf) + other * Math.log(other)) / Math.log(2);
    const margin = conf - other;
    for (const [kind, t] of [
      ['confidence', conf],
      ['entropy', h],
      ['margin', margin],
    ] as const) {
      const points = r.curves[kind].points;
      // Nothing fires, then sample 1 exits at 0: two points. Sample 0 never exits at its NaN exit.
      assert.equal(points.length, 2, `${kind}: ${JSON.stringify(points.map((p) => p.threshold))}`);
      assert.equal(points[0].threshold, null);
      assert.deepEqual(points[0].exitHistogram, [0, 2]);
      close(points[1].threshold as number, t, 1e-12, `${kind} threshold`);
      assert.deepEqual(points[1].exitHistogram, [1, 1]);
      close(points[1].accuracy, 1, 0, `${kind} accuracy`);
      close(points[1].meanCost, 0.75, 1e-15, `${kind} cost`);
      // Final-exit accuracy 0.5, target 0.49: the cheapest point meeting it is sample 1 at exit 0.
      const s = suggestion(r, kind);
      close(s.threshold as number, t, 1e-12, `${kind} suggestion`);
      assert.deepEqual(s.test.exitHistogram, [1, 1]);
      close(s.test.accuracy, 1, 0, `${kind} test accuracy`);
      close(s.test.speedup, 1 / 0.75, 1e-12, `${kind} speedup`);
    }
    const perExit = suggestion(r, 'per-exit');
    close((perExit.threshold as number[])[0], conf, 1e-12, 'per-exit threshold');
    assert.deepEqual(perExit.test.exitHistogram, [1, 1]);
    // The per-exit metrics keep the stand-in scores: exit 0's mean confidence is (0 + conf) / 2.
    close(r.exits[0].meanConfidence, conf / 2, 1e-12, 'mean confidence');
    assert.equal(r.exits[0].nonFiniteCount, 1);
  });

  it("a suggestion's figures counted sample by sample: at margin τ = 0 (a finite tie fires) and per-exit τ = 0 a NaN output still does not", () => {
    // Sample 0: exit 0 NaN, exit 1 class 1 (right). Sample 1: exit 0 a tie [1, 1] (margin 0,
    // class 0, right), exit 1 class 1 (wrong). Labels 1, 0.
    const rec = allocateRecords(2, 2, 2, Int32Array.from([1, 0]));
    fillExitRecords(rec, Float32Array.from([NaN, 0, 1, 1]), 0, 2, 2, 0, 0);
    fillExitRecords(rec, Float32Array.from([0, 1, 0, 1]), 0, 2, 2, 0, 1);
    const set = wholeSet(rec);
    const chosen = { confidence: 0, entropy: 1, margin: 0, patience: 1 };
    const out = suggestThresholds(set, set, [1, 2], 2, 0.5, chosen, [0]);
    for (const policy of ['confidence', 'entropy', 'margin', 'per-exit']) {
      // Sample 1 exits at 0 (its finite scores meet τ = 0 / 1 / 0), sample 0 only at the final exit.
      const s = out.find((x) => x.policy === policy)!;
      assert.deepEqual(s.test.exitHistogram, [1, 1], policy);
      close(s.test.accuracy, 1, 0, `${policy} accuracy`);
    }
  });

  it('patience: two non-finite predictions in a row are not equal (worked by hand)', async () => {
    // Sample 0: NaN, NaN, class 2. Sample 1: class 0, class 1, class 2. Labels 2, 2. With t = 1
    // neither ever has two equal predictions in a row: both exit at the final exit, both right.
    const file = await logitsFile(
      path.join(tmpDir(), 'b.npz'),
      [
        [
          [NaN, 0, 0],
          [1, 0, 0],
        ],
        [
          [NaN, 0, 0],
          [0, 1, 0],
        ],
        [
          [0, 0, 1],
          [0, 0, 1],
        ],
      ],
      [2, 2],
    );
    const r = await analyze(file, null);
    const t1 = r.policies.find((p) => p.kind === 'patience' && p.threshold === 1)!;
    assert.deepEqual(t1.exitHistogram, [0, 0, 2]);
    close(t1.accuracy, 1, 0, 'accuracy');
    close(t1.meanCost, 1, 1e-15, 'cost');
    assert.deepEqual(r.curves.patience.points.find((p) => p.threshold === 1)!.exitHistogram, [0, 0, 2]);
  });

  it('random sets with many NaN and infinite outputs: every curve point and suggestion as a plain evaluation gives it', async () => {
    const rand = mulberry32(77);
    for (let trial = 0; trial < 12; trial++) {
      const E = 2 + (trial % 4);
      const C = 2 + (trial % 3);
      const N = 20 + trial * 3;
      // Small integer logits (many ties), a third of the outputs non-finite.
      const z = Array.from({ length: E }, () =>
        Array.from({ length: N }, () => {
          const row = Array.from({ length: C }, () => Math.floor(rand() * 3));
          const u = rand();
          if (u < 0.25) row[Math.floor(rand() * C)] = NaN;
          else if (u < 0.33) row[0] = Infinity;
          return row;
        }),
      );
      const labels = Array.from({ length: N }, () => Math.floor(rand() * C));
      const file = await logitsFile(path.join(tmpDir(), `r${trial}.npz`), z, labels);
      const r = await analyze(file, file, { maxAccuracyDrop: 0.1 });
      // The plain evaluator: softmax scores per finite output; non-finite outputs never fire.
      const score = (k: number, n: number) => {
        const row = z[k][n];
        if (!row.every(Number.isFinite)) return null;
        const m = Math.max(...row);
        const e = row.map((v) => Math.exp(v - m));
        const s = e.reduce((a, b) => a + b, 0);
        const p = e.map((v) => v / s).sort((a, b) => b - a);
        const ent = -p.reduce((a, q) => a + (q > 0 ? q * Math.log(q) : 0), 0) / Math.log(C);
        return { pred: row.indexOf(m), conf: p[0], margin: p[0] - (p[1] ?? 0), ent };
      };
      const exitOf = (kind: string, t: number | null, n: number) => {
        if (t === null) return E - 1;
        for (let k = 0; k < E - 1; k++) {
          const s = score(k, n);
          if (!s) continue;
          // A 1e-12 slack: the evaluator's float rounding against the engine's compensated sums.
          if (
            kind === 'confidence'
              ? s.conf >= t - 1e-12
              : kind === 'entropy'
                ? s.ent <= t + 1e-12
                : s.margin >= t - 1e-12
          )
            return k;
        }
        return E - 1;
      };
      const hist = (kind: string, t: number | null) => {
        const h = new Array<number>(E).fill(0);
        for (let n = 0; n < N; n++) h[exitOf(kind, t, n)]++;
        return h;
      };
      for (const kind of ['confidence', 'entropy', 'margin'] as const) {
        const c = r.curves[kind];
        assert.equal(c.thinned, false);
        for (const p of c.points)
          assert.deepEqual(
            p.exitHistogram,
            hist(kind, p.threshold as number | null),
            `trial ${trial} ${kind} at ${p.threshold}`,
          );
        // Every distinct threshold of a finite output changes the outcome; no other point exists.
        const values = new Set<number>();
        for (let k = 0; k < E - 1; k++)
          for (let n = 0; n < N; n++) {
            const s = score(k, n);
            if (s) values.add(kind === 'confidence' ? s.conf : kind === 'entropy' ? s.ent : s.margin);
          }
        for (const p of c.points.slice(1)) {
          const t = p.threshold as number;
          assert.ok(
            [...values].some((v) => Math.abs(v - t) <= 1e-12),
            `trial ${trial} ${kind}: ${t} is no finite output's score`,
          );
        }
        const s = suggestion(r, kind);
        assert.deepEqual(
          s.test.exitHistogram,
          hist(kind, s.threshold as number | null),
          `trial ${trial} ${kind} suggestion`,
        );
      }
    }
  });
});
