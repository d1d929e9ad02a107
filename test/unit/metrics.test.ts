/**
 * The definitions of docs/metrics.md on cases small enough to work out by hand (the arithmetic is in the
 * comments): softmax records, ties, ECE bins, overthinking, transitions, the policies and
 * their edge cases, and the calibration split.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ECE_BINS, eceBin, exitMetrics } from '../../src/core/analysis/exitMetrics';
import { overthinking } from '../../src/core/analysis/overthinking';
import { overthinkingFigures } from '../../src/core/analysis/exitFigures';
import {
  outcomeOf,
  outcomeOfExits,
  patienceExit,
  perExitThresholdExit,
  policyOutcome,
  scoreExit,
} from '../../src/core/analysis/policies';
import { mulberry32, seededSplit, subsetRecords } from '../../src/core/analysis/split';
import { fitPerExitThresholds, suggestThresholds, targetFor, wholeSet } from '../../src/core/analysis/suggest';
import { ExitRecords, allocateRecords, fillExitRecords } from '../../src/core/records/records';
import { analyze } from '../../src/core/analysis/analyze';
import { same } from '../../src/core/analysis/same';
import { close } from './helpers';

/** Records from logits[k][n] = C values, and labels. */
function records(logits: number[][][], labels: number[] | null): ExitRecords {
  const E = logits.length;
  const N = logits[0].length;
  const C = logits[0][0].length;
  const rec = allocateRecords(N, E, C, labels ? Int32Array.from(labels) : null);
  for (let k = 0; k < E; k++) fillExitRecords(rec, logits[k].flat(), 0, C, N, 0, k);
  return rec;
}

/** Records whose exits predict the given classes with a clear margin (logit 5 for the class, 0 elsewhere). */
function predictions(preds: number[][], labels: number[] | null, C = 3): ExitRecords {
  const E = preds[0].length;
  const logits = Array.from({ length: E }, (_, k) =>
    preds.map((row) => Array.from({ length: C }, (_, c) => (c === row[k] ? 5 : 0))),
  );
  return records(logits, labels);
}

describe('per-sample records (softmax in float64)', () => {
  it('confidence, margin, normalised entropy and log-probability of the label', () => {
    // [ln 3, 0]: p = [3/4, 1/4]; conf 0.75; margin 0.5; H = -(0.75 ln 0.75 + 0.25 ln 0.25) / ln 2.
    const rec = records([[[Math.log(3), 0]], [[0, 0]]], [1]);
    assert.equal(rec.pred[0], 0);
    close(rec.conf[0], 0.75, 1e-15, 'conf');
    close(rec.margin[0], 0.5, 1e-15, 'margin');
    close(rec.entropy[0], -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)) / Math.log(2), 1e-15, 'entropy');
    close(rec.logpLabel[0], Math.log(0.25), 1e-15, 'log p[y]');
    // [0, 0]: a tie goes to class 0; p = [1/2, 1/2]; margin 0; entropy 1.
    assert.equal(rec.pred[1], 0);
    close(rec.conf[1], 0.5, 0, 'conf');
    close(rec.margin[1], 0, 0, 'margin');
    close(rec.entropy[1], 1, 1e-15, 'entropy');
  });

  it('ties in argmax go to the lowest class index', () => {
    const rec = records([[[1, 3, 3, 2]], [[7, 7, 7, 7]]], null);
    assert.equal(rec.pred[0], 1);
    close(rec.margin[0], 0, 0, 'tied margin');
    assert.equal(rec.pred[1], 0);
    close(rec.conf[1], 0.25, 0, 'uniform conf');
  });

  it('is stable for huge logits', () => {
    // [1000, 0]: p_1 = e^-1000 underflows; conf 1, log p[1] = -1000 exactly.
    const rec = records([[[1000, 0]], [[0, 1000]]], [1]);
    close(rec.conf[0], 1, 0, 'conf');
    close(rec.logpLabel[0], -1000, 1e-9, 'log p[y]');
    close(rec.entropy[0], 0, 1e-12, 'entropy');
  });

  it('permuted logits give bit-identical confidences (ties between samples stay ties)', () => {
    const rec = records(
      [
        [
          [0.1, 2.3, -1.7, 0.9, 1.1],
          [1.1, 0.9, -1.7, 2.3, 0.1],
          [-1.7, 0.1, 1.1, 0.9, 2.3],
        ],
        [
          [0, 0, 0, 0, 0],
          [0, 0, 0, 0, 0],
          [0, 0, 0, 0, 0],
        ],
      ],
      null,
    );
    assert.equal(rec.conf[0], rec.conf[2]);
    assert.equal(rec.conf[0], rec.conf[4]);
    assert.equal(rec.margin[0], rec.margin[4]);
  });

  it('NaN or infinite logits: wrong, confidence 0, margin 0, entropy 1', () => {
    const rec = records(
      [
        [
          [NaN, 1],
          [Infinity, 0],
          [1, 0],
        ],
        [
          [1, 0],
          [1, 0],
          [-Infinity, 0],
        ],
      ],
      [0, 0, 1],
    );
    for (const at of [0, 2, 5]) {
      assert.equal(rec.finite[at], 0);
      assert.equal(rec.pred[at], -1);
      assert.equal(rec.conf[at], 0);
      assert.equal(rec.margin[at], 0);
      assert.equal(rec.entropy[at], 1);
    }
    const m = exitMetrics(rec);
    assert.equal(m[0].nonFiniteCount, 2);
    assert.equal(m[1].nonFiniteCount, 1);
    // Exit 0: only sample 2 is finite, predicting 0 with label 1: wrong.
    close(m[0].accuracy, 0, 0, 'accuracy');
    // NLL averages finite samples only: sample 2 at exit 0 has log p[1] = -ln(1 + e).
    close(m[0].nll, Math.log(1 + Math.E), 1e-12, 'nll');
  });
});

describe('per-exit metrics', () => {
  it('accuracy, ECE over 15 bins (b/15, (b+1)/15], NLL and agreement', () => {
    // Exit 0 of four samples (C = 2):
    //   A [ln 3, 0] y=0: conf .75 right  (bin 11: 11/15 < .75 <= 12/15)
    //   B [ln 3, 0] y=1: conf .75 wrong  (bin 11)
    //   C [0, 0]    y=0: conf .50 right  (bin 7: 7/15 < .5 <= 8/15)
    //   D [ln 9, 0] y=0: conf .90 right  (bin 13: 13/15 < .9 <= 14/15)
    // ECE = 2/4 |1/2 - .75| + 1/4 |1 - .5| + 1/4 |1 - .9| = .125 + .125 + .025 = .275
    const e0 = [
      [Math.log(3), 0],
      [Math.log(3), 0],
      [0, 0],
      [Math.log(9), 0],
    ];
    const e1 = [
      [0, 1],
      [0, 1],
      [1, 0],
      [1, 0],
    ]; // final predictions 1, 1, 0, 0
    const rec = records([e0, e1], [0, 1, 0, 0]);
    const [m0, m1] = exitMetrics(rec);
    close(m0.accuracy, 0.75, 0, 'accuracy');
    close(m0.ece, 0.275, 1e-15, 'ece');
    close(m0.meanConfidence, (0.75 + 0.75 + 0.5 + 0.9) / 4, 1e-15, 'mean confidence');
    close(m0.nll, -(Math.log(0.75) + Math.log(0.25) + Math.log(0.5) + Math.log(0.9)) / 4, 1e-12, 'nll');
    // Agreement with the final exit: exit 0 predicts 0, 0, 0, 0; final 1, 1, 0, 0.
    close(m0.agreement, 0.5, 0, 'agreement');
    close(m1.agreement, 1, 0, 'final agrees with itself');
  });

  it('bin edges: a confidence on b/15 belongs to bin b-1; confidence 0 to none', () => {
    assert.equal(eceBin(1 / 15), 0);
    assert.equal(eceBin(3 / 15), 2);
    assert.equal(eceBin(0.2), 2); // 1/5 = 3/15
    assert.equal(eceBin(1), ECE_BINS - 1);
    assert.equal(eceBin(1e-12), 0);
    assert.equal(eceBin(0), -1);
    assert.equal(eceBin(7 / 15 + 1e-16), 7);
  });

  it('without labels: accuracy, ECE and NLL are null, agreement is kept', () => {
    const [m0] = exitMetrics(
      predictions(
        [
          [0, 1],
          [2, 2],
        ],
        null,
      ),
    );
    assert.equal(m0.accuracy, null);
    assert.equal(m0.ece, null);
    assert.equal(m0.nll, null);
    close(m0.agreement, 0.5, 0, 'agreement');
  });
});

describe('overthinking (Kaya et al. 2019)', () => {
  // Labels all 0, E = 3:
  //   s0 preds [0,1,1]: first correct 0, wrong at the end  -> destructive
  //   s1 preds [1,0,0]: first correct 1, right at the end  -> wasteful
  //   s2 preds [1,1,0]: first correct 2 (the final exit)   -> neither
  //   s3 preds [1,1,1]: never
  const rec = predictions(
    [
      [0, 1, 1],
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ],
    [0, 0, 0, 0],
  );
  const o = overthinking(rec, [1, 2, 4], 3)!;
  it('rates and first-correct histogram', () => {
    close(o.oracleAccuracy, 0.75, 0, 'oracle');
    close(o.destructiveRate, 0.25, 0, 'destructive');
    close(o.wastefulRate, 0.25, 0, 'wasteful');
    assert.deepEqual(o.firstCorrectHistogram, [1, 1, 1, 1]);
  });
  it('transitions between consecutive exits', () => {
    // 0->1: s0 r->w, s1 w->r, s2 w->w, s3 w->w.   1->2: s0 w->w, s1 r->r, s2 w->r, s3 w->w.
    assert.deepEqual({ ...o.transitions[0] }, { from: 0, to: 1, rr: 0, rw: 1, wr: 1, ww: 2 });
    assert.deepEqual({ ...o.transitions[1] }, { from: 1, to: 2, rr: 1, rw: 0, wr: 1, ww: 2 });
  });
  it('oracle speed-up: baseline / mean cost(f(x), else E-1)', () => {
    // costs 1 + 2 + 4 + 4 = 11, mean 2.75; baseline 3 -> 3 / 2.75.
    close(o.oracleSpeedup, 3 / 2.75, 1e-15, 'oracle speedup');
  });
});

describe('exit policies', () => {
  it('confidence fires at conf >= threshold (a tie fires)', () => {
    const rec = records([[[0, 0]], [[Math.log(3), 0]], [[1, 0]]], [0]);
    assert.equal(scoreExit(rec, 0, 'confidence', 0.5), 0);
    assert.equal(scoreExit(rec, 0, 'confidence', 0.5000001), 1);
    assert.equal(scoreExit(rec, 0, 'confidence', 0.76), 2); // nothing fires before the final exit
    assert.equal(scoreExit(rec, 0, 'entropy', 1), 0); // entropy 1 <= 1
    assert.equal(scoreExit(rec, 0, 'entropy', 0.9), 1); // H(.75,.25)/ln 2 = 0.811 <= 0.9
    assert.equal(scoreExit(rec, 0, 'margin', 0.49), 1); // margins 0, 0.5 (up to rounding)
    assert.equal(scoreExit(rec, 0, 'margin', 0.51), 2);
  });

  it('patience (PABEE): counter from 0 at exit 0, exit when it equals t; t = 0 is the full model', () => {
    const rec = predictions(
      [
        [1, 1, 1, 1],
        [0, 2, 2, 2],
        [0, 1, 0, 1],
      ],
      null,
    );
    // Same prediction everywhere: counter 1 at k=1, 2 at k=2, 3 at k=3.
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((t) => patienceExit(rec, 0, t)),
      [3, 1, 2, 3, 3],
    );
    // [0,2,2,2]: counter 0 at k=1, 1 at k=2, 2 at k=3.
    assert.deepEqual(
      [1, 2, 3].map((t) => patienceExit(rec, 1, t)),
      [2, 3, 3],
    );
    // Alternating: the counter never leaves 0.
    assert.deepEqual(
      [1, 2, 3].map((t) => patienceExit(rec, 2, t)),
      [3, 3, 3],
    );
  });

  it('outcome: accuracy, agreement, mean cost, speed-up and exit histogram', () => {
    // Two samples, E = 2, costs [1, 4], baseline 3. s0: conf .75 at exit 0 (pred 0, y 0); s1: conf .5.
    const rec = records(
      [
        [
          [Math.log(3), 0],
          [0, 0],
        ],
        [
          [0, 1],
          [0, 1],
        ],
      ],
      [0, 1],
    );
    const o = policyOutcome(rec, 'confidence', 0.7, [1, 4], 3);
    // s0 exits at 0 (right, agrees? final pred 1 -> no); s1 goes to 1 (right, agrees).
    assert.deepEqual(o.exitHistogram, [1, 1]);
    close(o.accuracy, 1, 0, 'accuracy');
    close(o.agreement, 0.5, 0, 'agreement');
    close(o.meanCost, 2.5, 0, 'mean cost');
    close(o.speedup, 3 / 2.5, 1e-15, 'speedup');
    close(o.saving, 1 - 2.5 / 3, 1e-15, 'saving');
  });
  it('outcome of given exits: over a sample list, and without labels', () => {
    // E = 3, predictions per sample (exits 0, 1, 2), labels [0, 1, 2, 0].
    const preds = [
      [0, 1, 1],
      [1, 2, 1],
      [2, 2, 0],
      [1, 0, 0],
    ];
    const rec = predictions(preds, [0, 1, 2, 0]);
    // Samples 3 and 1 (in that order) exit at 1 and 0: s3 pred 0 (right, agrees with 0), s1 pred 1 (right, agrees with 1).
    const listed = outcomeOfExits(rec, Int32Array.from([1, 0]), [2, 5, 10], 10, Int32Array.from([3, 1]));
    assert.deepEqual(listed.exitHistogram, [1, 1, 0]);
    assert.equal(listed.accuracy, 1);
    assert.equal(listed.agreement, 1);
    assert.equal(listed.meanCost, 3.5);
    assert.equal(listed.speedup, 10 / 3.5);
    assert.equal(listed.saving, 1 - 3.5 / 10);
    // All four, exits [0, 2, 1, 2]: preds 0, 1, 2, 0, all right; agree with the final exit: s1 and s3 only.
    const all = outcomeOfExits(rec, Int32Array.from([0, 2, 1, 2]), [2, 5, 10], 10);
    assert.deepEqual(all.exitHistogram, [1, 1, 2]);
    assert.equal(all.accuracy, 1);
    assert.equal(all.agreement, 0.5);
    assert.equal(all.meanCost, (2 + 5 + 20) / 4);
    // The same without labels: no accuracy, the same agreement and cost.
    const unlabelled = outcomeOfExits(predictions(preds, null), Int32Array.from([0, 2, 1, 2]), [2, 5, 10], 10);
    assert.equal(unlabelled.accuracy, null);
    assert.equal(unlabelled.agreement, 0.5);
    assert.deepEqual(unlabelled.exitHistogram, [1, 1, 2]);
    // A wrong exit on one sample changes the counts: s1 at exit 1 (pred 2: wrong, disagrees).
    const wrong = outcomeOfExits(rec, Int32Array.from([0, 1, 1, 2]), [2, 5, 10], 10);
    assert.equal(wrong.accuracy, 0.75);
    assert.equal(wrong.agreement, 0.25);
  });
});

describe('suggestions and the calibration split', () => {
  it('the seeded split is deterministic, disjoint and complete', () => {
    const a = seededSplit(101);
    const b = seededSplit(101);
    assert.deepEqual(a, b);
    assert.equal(a.calibration.length, 50);
    assert.equal(a.test.length, 51);
    const all = new Set([...a.calibration, ...a.test]);
    assert.equal(all.size, 101);
    assert.notDeepEqual(
      Array.from(a.calibration),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it('the split is the seeded Fisher-Yates shuffle, cut at the fraction, each half in ascending order', () => {
    for (const [n, seed, fraction] of [
      [101, 20190609, 0.5],
      [1000, 7, 0.3],
      [2, 1, 0.5],
    ] as const) {
      const rand = mulberry32(seed);
      const idx = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      const cut = Math.floor(n * fraction);
      const split = seededSplit(n, seed, fraction);
      assert.deepEqual(
        Array.from(split.calibration),
        idx.slice(0, cut).sort((x, y) => x - y),
      );
      assert.deepEqual(
        Array.from(split.test),
        idx.slice(cut).sort((x, y) => x - y),
      );
    }
  });

  it('target = final-exit accuracy minus the allowed drop; agreement without labels', () => {
    const rec = predictions(
      [
        [0, 0],
        [1, 1],
        [2, 0],
        [0, 1],
      ],
      [0, 1, 2, 0],
    ); // final right 2 of 4
    close(targetFor(wholeSet(rec), 0.01), 0.49, 1e-15, 'target');
    close(targetFor(wholeSet(predictions([[0, 0]], null)), 0.05), 0.95, 1e-15, 'agreement target');
  });

  it('picks the cheapest threshold that keeps the target, then reports it on the test split', () => {
    // Calibration: exit 0 is right with conf .9 on s0, wrong with conf .6 on s1; final right on both.
    const calib = records(
      [
        [
          [Math.log(9), 0],
          [Math.log(1.5), 0],
        ],
        [
          [1, 0],
          [0, 1],
        ],
      ],
      [0, 1],
    );
    const test = records(
      [
        [
          [Math.log(9), 0],
          [Math.log(1.5), 0],
        ],
        [
          [1, 0],
          [0, 1],
        ],
      ],
      [0, 0],
    );
    const s = suggestThresholds(wholeSet(calib), wholeSet(test), [1, 2], 2, 0.01);
    const conf = s.find((x) => x.policy === 'confidence')!;
    // Threshold .9 keeps 100% (s0 exits right, s1 continues); threshold .6 would drop to 50%.
    close(conf.threshold as number, 0.9, 1e-12, 'threshold');
    close(conf.calibration.accuracy, 1, 0, 'calib accuracy');
    close(conf.calibration.meanCost, 1.5, 0, 'calib cost');
    // Test: s0 exits at 0 (pred 0 = y 0, right), s1 goes to the final exit (pred 1, y 0, wrong).
    close(conf.test.accuracy, 0.5, 0, 'test accuracy');
    assert.deepEqual(conf.test.exitHistogram, [1, 1]);
  });

  it('per-exit thresholds meet the target and cost no more than one shared threshold', () => {
    const n = 200;
    const logits: number[][][] = [[], [], []];
    const labels: number[] = [];
    let seed = 1;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < n; i++) {
      const y = Math.floor(rand() * 4);
      labels.push(y);
      for (let k = 0; k < 3; k++)
        logits[k].push(Array.from({ length: 4 }, (_, c) => rand() * (1 + k) + (c === y ? k + rand() : 0)));
    }
    const rec = records(logits, labels);
    const split = seededSplit(n);
    const calib = subsetRecords(rec, split.calibration);
    const test = subsetRecords(rec, split.test);
    const s = suggestThresholds(wholeSet(calib), wholeSet(test), [1, 2, 3], 3, 0.02);
    // The same split read through index lists (as the report does, without copies) gives the same suggestions.
    assert.deepEqual(
      suggestThresholds({ rec, samples: split.calibration }, { rec, samples: split.test }, [1, 2, 3], 3, 0.02),
      s,
    );
    const shared = s.find((x) => x.policy === 'confidence')!;
    const perExit = s.find((x) => x.policy === 'per-exit')!;
    assert.ok(perExit.calibration.accuracy! >= perExit.target - 1e-12);
    assert.ok(perExit.calibration.meanCost <= shared.calibration.meanCost + 1e-12);
    const tau = fitPerExitThresholds(wholeSet(calib), [1, 2, 3], perExit.target, shared.threshold as number | null);
    assert.equal(tau.length, 2);
    assert.equal(s.filter((x) => x.best).length, 1);
  });
});

describe('figures worked out in one pass over the samples', () => {
  /** Random records with many ties (logits from a few levels) and some non-finite logits. */
  function tieRecords(N: number, E: number, C: number, seed: number, labelled: boolean, signal = 0): ExitRecords {
    const rand = mulberry32(seed);
    // With `signal` > 0, the label's logit gets k * signal more at exit k: later exits are right
    // more often. With signal < 0, the early exits favour a wrong class and the final one the label.
    const y = Array.from({ length: N }, () => Math.floor(rand() * C));
    const bonus = (k: number, c: number, n: number) =>
      signal >= 0 ? (c === y[n] ? k * signal : 0) : c === (k < E - 1 ? (y[n] + 1) % C : y[n]) ? 2 : 0;
    const logits = Array.from({ length: E }, (_, k) =>
      Array.from({ length: N }, (_, n) =>
        Array.from({ length: C }, (_, c) => (rand() < 0.01 ? NaN : Math.floor(rand() * 4) / 2 + bonus(k, c, n))),
      ),
    );
    return records(logits, labelled ? y : null);
  }

  it("each suggestion's figures are those of its rule applied sample by sample", () => {
    for (const labelled of [true, false]) {
      const rec = tieRecords(300, 5, 3, labelled ? 11 : 12, labelled);
      const costs = [1, 2, 3.5, 4, 6];
      const split = seededSplit(rec.sampleCount);
      const calib = { rec, samples: split.calibration };
      const test = { rec, samples: split.test };
      const s = suggestThresholds(calib, test, costs, 6, 0.05);
      assert.deepEqual(
        s.map((x) => x.policy),
        ['confidence', 'entropy', 'margin', 'patience', 'per-exit'],
      );
      for (const x of s) {
        const exitOf = (n: number): number => {
          if (x.policy === 'per-exit')
            return perExitThresholdExit(
              rec,
              n,
              (x.threshold as (number | null)[]).map((t) => t ?? Infinity),
            );
          if (x.threshold === null) return rec.exitCount - 1;
          if (x.policy === 'patience') return patienceExit(rec, n, x.threshold as number);
          return scoreExit(rec, n, x.policy, x.threshold as number);
        };
        for (const [figures, samples] of [
          [x.calibration, split.calibration],
          [x.test, split.test],
        ] as const) {
          const want = outcomeOf(rec, exitOf, costs, 6, samples);
          assert.deepEqual(
            figures,
            { sampleCount: samples.length, ...want },
            `${x.policy} ${labelled ? 'labelled' : 'unlabelled'}`,
          );
        }
      }
    }
  });

  it('the share of samples right at each exit and wrong at the final exit, counted directly', () => {
    const rec = tieRecords(400, 6, 3, 13, true);
    const { destructive } = overthinkingFigures(rec, [1, 2, 3, 4, 5, 6], 6);
    const E = rec.exitCount;
    for (let k = 0; k < E; k++) {
      let count = 0;
      for (let n = 0; n < rec.sampleCount; n++)
        if (rec.pred[n * E + k] === rec.labels![n] && rec.pred[n * E + E - 1] !== rec.labels![n]) count++;
      assert.equal(destructive[k], count / rec.sampleCount, `exit ${k}`);
    }
    assert.deepEqual(overthinkingFigures(tieRecords(10, 3, 3, 14, false), [1, 2, 3], 3), {
      destructive: [null, null, null],
      overthinking: null,
    });
  });

  it("per-exit metrics: each exit's sums in sample order, as a pass per exit would add them", () => {
    const rec = tieRecords(500, 4, 3, 15, true);
    const E = rec.exitCount;
    const metrics = exitMetrics(rec);
    for (let k = 0; k < E; k++) {
      let conf = 0;
      let ent = 0;
      let nll = 0;
      let finite = 0;
      let right = 0;
      let agree = 0;
      for (let n = 0; n < rec.sampleCount; n++) {
        const at = n * E + k;
        conf += rec.conf[at];
        ent += rec.entropy[at];
        if (rec.finite[at]) {
          nll -= rec.logpLabel[at];
          finite++;
        }
        if (rec.pred[at] === rec.labels![n]) right++;
        if (rec.pred[at] === rec.pred[n * E + E - 1]) agree++;
      }
      const m = metrics[k];
      assert.equal(m.meanConfidence, conf / rec.sampleCount, `exit ${k} confidence`);
      assert.equal(m.meanEntropy, ent / rec.sampleCount, `exit ${k} entropy`);
      assert.equal(m.nll, nll / finite, `exit ${k} NLL`);
      assert.equal(m.nonFiniteCount, rec.sampleCount - finite, `exit ${k} non-finite`);
      assert.equal(m.accuracy, right / rec.sampleCount, `exit ${k} accuracy`);
      assert.equal(m.agreement, agree / rec.sampleCount, `exit ${k} agreement`);
    }
  });

  it("the report's suggestions, counted off the sweeps on the split, are those counted sample by sample", async () => {
    let nulls = 0;
    let patience = 0;
    for (const [seed, labelled, drop, signal] of [
      [21, true, 0, 0.5],
      [22, true, 0.02, 0.5],
      [23, true, 0.3, 0],
      [24, false, 0, 0.5],
      [25, false, 0.05, 0.5],
      [26, true, 0.9, 0],
      [27, false, 0.9, 0],
      [28, true, 0, 1],
      [29, true, 0, -1],
      [30, true, 0.01, -1],
    ] as const) {
      const rec = tieRecords(240, 5, 3, seed, labelled, signal);
      const costs = [1, 2, 2, 5, 8];
      const report = await analyze({
        records: rec,
        calibration: null,
        exitNames: ['a', 'b', 'c', 'd', 'e'],
        exitMacs: costs,
        baselineMacs: 8,
        maxAccuracyDrop: drop,
      });
      const split = seededSplit(rec.sampleCount);
      const direct = suggestThresholds(
        { rec, samples: split.calibration },
        { rec, samples: split.test },
        costs,
        8,
        drop,
      );
      assert.deepEqual(report.suggestions, direct, `seed ${seed}`);
      if (labelled) nulls += direct.filter((x) => x.threshold === null).length;
      patience += direct.some((x) => x.policy === 'patience' && x.threshold !== null) ? 1 : 0;
    }
    // Both kinds of choice came up: the full model (no threshold, on labelled sets) and a patience setting.
    assert.ok(nulls > 0 && patience > 0, `${nulls} full-model choices, ${patience} patience choices`);
  });
});

describe('same (equality as 0 or 1, without a branch)', () => {
  it('is 1 exactly when two int32 values are equal', () => {
    const values = [0, 1, -1, 2, 9, -2, 2 ** 31 - 1, -(2 ** 31), 12345];
    for (const a of values) for (const b of values) assert.equal(same(a, b), a === b ? 1 : 0, `${a}, ${b}`);
  });
});
