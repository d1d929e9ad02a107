/**
 * The values that live in two places agree: the tool version (package.json, read into the
 * bundles at build time), the settings' defaults (package.json's JSON, src/shared/defaults.ts
 * in code) and the report's schema version (docs/report.schema.json, src/shared/reportTypes.ts).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_OK, main } from '../../src/cli/main';
import { DEFAULT_BATCH, DEFAULT_MAX_ACCURACY_DROP, TOOL_VERSION } from '../../src/shared/defaults';
import { SCHEMA_VERSION } from '../../src/shared/reportTypes';

const ROOT = path.join(__dirname, '..', '..');
const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
const pkg = readJson('package.json');
const BUNDLED_CLI = path.join(ROOT, 'dist', 'cli.js');

describe('one version', () => {
  it("TOOL_VERSION is package.json's version", () => {
    assert.match(pkg.version, /^\d+\.\d+\.\d+/);
    assert.equal(TOOL_VERSION, pkg.version);
  });

  it('exit-lens --version prints it', async () => {
    let out = '';
    const code = await main(['--version'], { out: (s) => (out += s), err: () => undefined, isTTY: false });
    assert.equal(code, EXIT_OK);
    assert.equal(out, `${pkg.version}\n`);
  });

  const unbuilt = !fs.existsSync(BUNDLED_CLI) && 'dist/cli.js is not built (npm run build)';
  it('the built CLI prints it too (the version is read when the bundle is built)', { skip: unbuilt }, () => {
    const r = spawnSync(process.execPath, [BUNDLED_CLI, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, EXIT_OK, r.stderr);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });
});

describe('one value per default', () => {
  const settings = pkg.contributes.configuration.properties;

  it("package.json's setting defaults are the code's defaults", () => {
    assert.equal(settings['exitLens.batchSize'].default, DEFAULT_BATCH);
    assert.equal(settings['exitLens.maxAccuracyDrop'].default, DEFAULT_MAX_ACCURACY_DROP);
  });

  it("the JSON Schema's schemaVersion is SCHEMA_VERSION", () => {
    assert.equal(readJson('docs/report.schema.json').properties.schemaVersion.const, SCHEMA_VERSION);
  });
});
