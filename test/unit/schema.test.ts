/** Reports validate against the written-down schema, docs/report.schema.json. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { runProfile } from '../../src/engine/profile/runProfile';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { fixture } from './helpers';

const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'report.schema.json'), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

function check(report: unknown) {
  const ok = validate(JSON.parse(JSON.stringify(report)));
  assert.ok(ok, JSON.stringify(validate.errors, null, 1));
}

describe('report schema', () => {
  it('a profile report (labelled, calibration file, records) validates', async () => {
    check(
      await runProfile(
        {
          type: 'profile',
          id: 's',
          modelPath: fixture('tiny_cnn.onnx'),
          samplesPath: fixture('cnn_samples.npz'),
          calibPath: fixture('cnn_calib.npz'),
          executionProviders: ['cuda', 'cpu'],
          includeRecords: true,
        },
        () => undefined,
      ),
    );
  });
  it('a --cost measured report validates', async () => {
    check(
      await runProfile(
        {
          type: 'profile',
          id: 'm',
          modelPath: fixture('tiny_cnn.onnx'),
          samplesPath: fixture('cnn_samples.npz'),
          executionProviders: ['cpu'],
          cost: 'measured',
        },
        () => undefined,
      ),
    );
  });
  it('an unlabelled analyze report validates', async () => {
    check(
      await runAnalyze({ type: 'analyze', id: 's', logitsPath: fixture('logits_unlabelled.npz') }, () => undefined),
    );
  });
  it('the schema rejects a report missing a required key', async () => {
    const r = JSON.parse(
      JSON.stringify(
        await runAnalyze({ type: 'analyze', id: 's', logitsPath: fixture('logits_ties.npz') }, () => undefined),
      ),
    );
    delete r.exits[0].ece;
    assert.equal(validate(r), false);
  });
  it('the guarantees are in the schema: a report validates, one with a malformed guarantee does not', async () => {
    const r = JSON.parse(
      JSON.stringify(
        await runAnalyze({ type: 'analyze', id: 's', logitsPath: fixture('logits_random.npz') }, () => undefined),
      ),
    );
    assert.equal(r.guarantees.length, 4);
    check(r);
    delete r.guarantees[1].threshold;
    assert.equal(validate(r), false);
    const s = JSON.parse(JSON.stringify(r));
    delete s.guarantees[1];
    s.guarantees = s.guarantees.filter(Boolean);
    s.guarantees[0].loss = 'zero-one';
    assert.equal(validate(s), false);
  });
});
