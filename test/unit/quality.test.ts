/**
 * The quality figure's one home (src/shared/quality.ts): which metric a sample set is scored by
 * and what each view calls it, for a labelled and an unlabelled classifier and decoder.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TokenSamples } from '../../src/shared/reportTypes';
import {
  agreementName,
  qualityMetric,
  qualityName,
  qualityOf,
  qualityPhrase,
  qualityShort,
  unitName,
} from '../../src/shared/quality';

const tokens: TokenSamples = {
  sequences: 2,
  length: 4,
  positions: 6,
  labels: 'next-token',
  mask: null,
  calibration: null,
};

describe('the quality figure', () => {
  it('is accuracy with labels, agreement with the final exit without', () => {
    assert.equal(qualityMetric(true), 'accuracy');
    assert.equal(qualityMetric(false), 'agreement');
    assert.equal(qualityPhrase(true), 'accuracy');
    assert.equal(qualityPhrase(false), 'agreement with the final exit');
    assert.equal(qualityShort(true), 'acc');
    assert.equal(qualityShort(false), 'agree');
    const outcome = { accuracy: 0.75, agreement: 0.9 };
    assert.equal(qualityOf(true, outcome), 0.75);
    assert.equal(qualityOf(false, outcome), 0.9);
    assert.equal(qualityOf(false, { accuracy: null, agreement: 0.5 }), 0.5);
    assert.equal(qualityOf(true, { accuracy: null, agreement: 0.5 }), null);
  });
  it("is named for a classifier's samples and a decoder's token positions", () => {
    assert.equal(qualityName({ labelled: true }), 'accuracy');
    assert.equal(qualityName({ labelled: false }), 'agreement');
    assert.equal(qualityName({ labelled: true, tokens }), 'token accuracy');
    assert.equal(qualityName({ labelled: false, tokens }), 'consistency with the final layer');
    assert.equal(agreementName({ labelled: true }), 'agreement');
    assert.equal(agreementName({ labelled: true, tokens }), 'consistency with the final layer');
    assert.equal(unitName({ labelled: false }), 'samples');
    assert.equal(unitName({ labelled: false, tokens }), 'positions');
  });
});
