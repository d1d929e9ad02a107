/**
 * The words every view uses for the two kinds of threshold (src/shared/riskText.ts): the
 * marker on a heuristic suggestion that falls short on the test split, the certified threshold
 * the sidebar shows, and the short forms of the guarantee, worked by hand on small objects.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Report } from '../../src/core/analysis/analyze';
import type { Guarantee, SplitFigures, Suggestion } from '../../src/shared/reportTypes';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { guaranteedSummary, summarize } from '../../src/extension/runFiles';
import {
  bestGuarantee,
  certifiedNote,
  missesTargetOnTest,
  promiseSentence,
  riskSettingsText,
  shortfallText,
  suggestedVsCertified,
} from '../../src/shared/riskText';
import { collect, fixture } from './helpers';

const figures = (accuracy: number | null, agreement: number, speedup: number | null = 1): SplitFigures => ({
  sampleCount: 720,
  accuracy,
  agreement,
  meanCost: 1,
  speedup,
  saving: 0,
  exitHistogram: [0, 720],
});

const suggestion = (targetMetric: 'accuracy' | 'agreement', target: number, test: SplitFigures): Suggestion => ({
  policy: 'confidence',
  threshold: 0.9,
  targetMetric,
  target,
  calibration: figures(target, target),
  test,
  best: false,
});

const guarantee = (
  policy: Guarantee['policy'],
  threshold: number | null,
  speedup: number | null,
  risk: Partial<Pick<Guarantee, 'epsilon' | 'delta' | 'loss'>> = {},
): Guarantee => ({
  policy,
  loss: 'gap',
  epsilon: 0.05,
  delta: 0.1,
  ...risk,
  n: 300,
  threshold,
  pValue: threshold === null ? null : 0.05,
  certifiedCount: threshold === null ? 0 : 70,
  gridSize: 1001,
  calibration: { losses: 9, risk: 0.03 },
  test: { ...figures(0.36, 0.88, speedup), risk: 0.01 },
});

describe('the marker on a suggestion below its target on the test split', () => {
  it('710 of 720 right (98.61%) under a 98.72% target is marked, with both figures in words', () => {
    const s = suggestion('accuracy', 0.9872, figures(710 / 720, 0.99));
    assert.equal(missesTargetOnTest(s), true);
    assert.equal(shortfallText(s), 'test 98.61% < target 98.72%');
  });

  it('711 of 720 (98.75%), or exactly the target, is not marked', () => {
    assert.equal(missesTargetOnTest(suggestion('accuracy', 0.9872, figures(711 / 720, 0.99))), false);
    assert.equal(missesTargetOnTest(suggestion('accuracy', 0.9872, figures(0.9872, 0.5))), false);
  });

  it('an agreement target is read on the test agreement; an accuracy target on a test split without labels is not marked', () => {
    const unlabelled = suggestion('agreement', 0.96, figures(null, 0.95));
    assert.equal(missesTargetOnTest(unlabelled), true);
    assert.equal(shortfallText(unlabelled), 'test 95.00% < target 96.00%');
    // The accuracy would be far below, but the target was agreement: 97% ≥ 96%.
    assert.equal(missesTargetOnTest(suggestion('agreement', 0.96, figures(0.5, 0.97))), false);
    assert.equal(missesTargetOnTest(suggestion('accuracy', 0.9872, figures(null, 0.5))), false);
  });
});

describe("the sidebar's certified threshold", () => {
  it('is the certified policy with the highest test speed-up, never an uncertified one', () => {
    const gs = [
      guarantee('confidence', 0.93, 1.05),
      // Uncertified: its figures are the full model's, whatever they are.
      guarantee('entropy', null, 3),
      guarantee('margin', 0.894, 1.2),
      guarantee('patience', 2, 1.01),
    ];
    assert.equal(bestGuarantee(gs)?.policy, 'margin');
    assert.deepEqual(guaranteedSummary({ guarantees: gs, samples: { labelled: true } } as Report), {
      rule: 'margin ≥ 0.894',
      settings: 'ε 5%, δ 10%',
      speedup: 1.2,
      accuracy: 0.36,
    });
    // Without labels the quality is the agreement with the final exit.
    assert.equal(guaranteedSummary({ guarantees: gs, samples: { labelled: false } } as Report)?.accuracy, 0.88);
  });

  it('on a tie the earlier policy; a missing speed-up counts below any other', () => {
    assert.equal(
      bestGuarantee([guarantee('confidence', 0.93, 1.05), guarantee('entropy', 0.2, 1.05)])?.policy,
      'confidence',
    );
    assert.equal(
      bestGuarantee([guarantee('confidence', 0.93, null), guarantee('patience', 3, 0.9)])?.policy,
      'patience',
    );
  });

  it('says "none certified" when no policy has a threshold, and nothing for a report without guarantees', () => {
    const none = [guarantee('confidence', null, 0.98), guarantee('patience', null, 0.98)];
    assert.equal(bestGuarantee(none), null);
    assert.equal(bestGuarantee(undefined), null);
    assert.equal(bestGuarantee([]), null);
    assert.deepEqual(guaranteedSummary({ guarantees: none, samples: { labelled: true } } as Report), {
      rule: 'none certified — full model',
      settings: 'ε 5%, δ 10%',
      speedup: null,
      accuracy: null,
    });
    assert.equal(guaranteedSummary({} as Report), undefined);
    assert.equal(guaranteedSummary({ guarantees: [] as Guarantee[] } as Report), undefined);
  });

  it("a stored run's summary carries it, and an old report's summary has no such field", async () => {
    const report = await runAnalyze(
      { type: 'analyze', id: 't', logitsPath: fixture('logits_random.npz') },
      collect().emit,
    );
    const request = { modelPath: null, logitsPath: fixture('logits_random.npz'), samplesPath: '', calibPath: null };
    assert.equal(report.guarantees?.length, 4);
    const summary = summarize('m/1', report, request);
    assert.deepEqual(summary.guaranteed, guaranteedSummary(report));
    assert.match(summary.guaranteed!.settings, /^ε 5%, δ 10%$/);
    const old = { ...report, guarantees: undefined };
    assert.equal('guaranteed' in JSON.parse(JSON.stringify(summarize('m/1', old, request))), false);
  });
});

describe('the short forms of a guarantee', () => {
  it('the settings, the promise and the certified rule', () => {
    assert.equal(riskSettingsText({ epsilon: 0.025, delta: 0.05 }), 'ε 2.5%, δ 5%');
    assert.equal(
      promiseSentence({ epsilon: 0.05, delta: 0.1, loss: 'gap' }),
      'With probability ≥ 90%, at most 5% of samples get a wrong answer the full model would have got right.',
    );
    assert.equal(
      promiseSentence({ epsilon: 0.1, delta: 0.2, loss: 'consistency' }),
      'With probability ≥ 80%, at most 10% of samples get a different answer from the full model.',
    );
    assert.equal(certifiedNote(guarantee('confidence', 0.93, 1.05)), 'certified conf ≥ 0.93 (ε 5%, δ 10%)');
    assert.equal(certifiedNote(guarantee('entropy', 0.159, 1.05)), 'certified entropy ≤ 0.159 (ε 5%, δ 10%)');
    assert.equal(certifiedNote(guarantee('confidence', null, 0.98)), 'none certified (ε 5%, δ 10%)');
  });

  it("the CodeLens tooltip names the suggested threshold's kind and the certified confidence threshold", () => {
    assert.equal(
      suggestedVsCertified([guarantee('patience', 2, 1), guarantee('confidence', 0.93, 1.05)]),
      ' The suggested threshold meets its target on the calibration split only; certified conf ≥ 0.93 (ε 5%, δ 10%): With probability ≥ 90%, at most 5% of samples get a wrong answer the full model would have got right.',
    );
    assert.match(
      suggestedVsCertified([guarantee('confidence', null, 0.98)]),
      /none certified \(ε 5%, δ 10%\): No threshold is certified for confidence/,
    );
    assert.equal(suggestedVsCertified(undefined), '');
    assert.equal(suggestedVsCertified([guarantee('margin', 0.9, 1)]), '');
  });
});
