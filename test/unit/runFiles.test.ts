/**
 * The stored runs on disk (runFiles.ts, under the extension's RunStore): a corrupt run file, one
 * from a newer Exit Lens, or one that is not a run at all is skipped with a warning that names
 * the file, and every other run still lists and opens.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { Report } from '../../src/core/analysis/analyze';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { ORPHAN_RUN_AGE_MS, RunFiles, RunRequest, STALE_TEMP_AGE_MS, isRunId } from '../../src/extension/runFiles';
import { collect, fixture, tmpDir } from './helpers';

async function report(logits: string): Promise<Report> {
  return runAnalyze({ type: 'analyze', id: 't', logitsPath: fixture(logits) }, collect().emit);
}

const request = (logits: string): RunRequest => ({
  modelPath: null,
  logitsPath: fixture(logits),
  samplesPath: fixture(logits),
  calibPath: null,
});

describe('stored runs', () => {
  it('a corrupt, a newer-version and a foreign run file are skipped with a warning naming each; the other runs list and open', async () => {
    const root = tmpDir();
    const skipped: { file: string; why: string }[] = [];
    const files = new RunFiles(
      () => ({ root, keep: 10 }),
      (file, why) => skipped.push({ file, why }),
    );
    const reports = {
      random: await report('logits_random.npz'),
      ties: await report('logits_ties.npz'),
      unlabelled: await report('logits_unlabelled.npz'),
    };
    // Five runs of three "models" (logits files); four of them are then damaged on disk.
    const good = files.save(request('logits_random.npz'), reports.random);
    const corruptSummary = files.save(request('logits_random.npz'), reports.random);
    const newer = files.save(request('logits_ties.npz'), reports.ties);
    const corruptRun = files.save(request('logits_unlabelled.npz'), reports.unlabelled);
    const foreign = files.save(request('logits_ties.npz'), reports.ties);
    const fileOf = (runId: string, kind: 'run' | 'summary') => path.join(root, 'runs', `${runId}.${kind}.json`);

    // Cut in the middle, as a non-atomic write killed half-way would leave it.
    const text = fs.readFileSync(fileOf(corruptSummary.runId, 'summary'), 'utf8');
    fs.writeFileSync(fileOf(corruptSummary.runId, 'summary'), text.slice(0, Math.floor(text.length / 2)));
    // Written by a future Exit Lens with run format 2 (both files).
    for (const kind of ['run', 'summary'] as const) {
      const parsed = JSON.parse(fs.readFileSync(fileOf(newer.runId, kind), 'utf8'));
      fs.writeFileSync(fileOf(newer.runId, kind), JSON.stringify({ ...parsed, version: 2, somethingNew: true }));
    }
    // A listed run whose report file is garbage.
    fs.writeFileSync(fileOf(corruptRun.runId, 'run'), Buffer.from([0x00, 0xff, 0x7b, 0x22]));
    // Valid JSON but not an Exit Lens run.
    fs.writeFileSync(
      fileOf(foreign.runId, 'summary'),
      JSON.stringify({ format: 'something-else', version: 1, summary: { runId: foreign.runId } }),
    );

    const listed = files
      .list()
      .map((s) => s.runId)
      .sort();
    assert.deepEqual(listed, [good.runId, corruptRun.runId].sort());
    assert.deepEqual(
      skipped.map((s) => s.file).sort(),
      [
        fileOf(corruptSummary.runId, 'summary'),
        fileOf(newer.runId, 'summary'),
        fileOf(foreign.runId, 'summary'),
      ].sort(),
    );
    const why = (file: string) => skipped.find((s) => s.file === file)?.why ?? '';
    assert.match(
      why(fileOf(newer.runId, 'summary')),
      /written by a newer Exit Lens \(run format 2; this version reads 1\)/,
    );
    assert.match(why(fileOf(foreign.runId, 'summary')), /not an Exit Lens run/);
    assert.match(why(fileOf(corruptSummary.runId, 'summary')), /JSON/);

    // The intact run opens with its report; the damaged ones do not, each with a warning naming its file.
    const opened = files.load(good.runId);
    assert.ok(opened);
    assert.deepEqual(
      opened.report.exits.map((e) => e.accuracy),
      reports.random.exits.map((e) => e.accuracy),
    );
    skipped.length = 0;
    assert.equal(files.load(corruptRun.runId), null);
    assert.equal(files.load(newer.runId), null);
    assert.deepEqual(
      skipped.map((s) => s.file),
      [fileOf(corruptRun.runId, 'run'), fileOf(newer.runId, 'run')],
    );
    assert.match(skipped[1].why, /newer Exit Lens/);

    // One model's list works the same way.
    assert.deepEqual(
      files.list(fixture('logits_random.npz')).map((s) => s.runId),
      [good.runId],
    );
    assert.equal(files.latest(fixture('logits_ties.npz')), null);
  });

  it('a run id never leaves the runs folder', () => {
    assert.ok(isRunId('model.onnx-0123456789/20260101120000000-abcdef'));
    for (const id of ['../x', './x', '../../etc/passwd', 'a/b/c', 'a\\b', '/abs', 'a/..'])
      assert.equal(isRunId(id), false, id);
  });

  it('a summary that names another run is skipped', async () => {
    const root = tmpDir();
    const skipped: string[] = [];
    const files = new RunFiles(
      () => ({ root, keep: 10 }),
      (file) => skipped.push(file),
    );
    const a = files.save(request('logits_random.npz'), await report('logits_random.npz'));
    const b = files.save(request('logits_ties.npz'), await report('logits_ties.npz'));
    const file = path.join(root, 'runs', `${b.runId}.summary.json`);
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    parsed.summary.runId = a.runId;
    fs.writeFileSync(file, JSON.stringify(parsed));
    assert.deepEqual(
      files.list().map((s) => s.runId),
      [a.runId],
    );
    assert.deepEqual(skipped, [file]);
  });

  it("what a save killed half-way left behind goes at the next save; a live writer's temporary file and a run awaiting its summary stay", async () => {
    const root = tmpDir();
    const files = new RunFiles(
      () => ({ root, keep: 10 }),
      () => undefined,
    );
    const rep = await report('logits_random.npz');
    const first = files.save(request('logits_random.npz'), rep);
    const dir = path.dirname(path.join(root, 'runs', `${first.runId}.run.json`));
    // A pid that named a process which has since exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const put = (name: string, ageMs: number) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, '{"half": ');
      const t = (Date.now() - ageMs) / 1000;
      fs.utimesSync(f, t, t);
      return name;
    };
    const minute = 60_000;
    const gone = [
      put(`20260101000000000-aaaaaa.run.json.${dead}.0a1b2c3d.tmp`, minute),
      put(`20260101000000000-aaaaaa.summary.json.${dead}.00ff00ff.tmp`, 0),
      // This process is alive, but the file is older than a day.
      put(`20260101000000000-bbbbbb.run.json.${process.pid}.deadbeef.tmp`, ORPHAN_RUN_AGE_MS + STALE_TEMP_AGE_MS),
      // A run whose summary never came, older than the grace period.
      put('20260101000000000-cccccc.run.json', ORPHAN_RUN_AGE_MS + minute),
    ];
    const kept = [
      // A writer that is still alive (another window saving right now).
      put(`20260101000000000-dddddd.run.json.${process.pid}.12345678.tmp`, minute),
      // A run written a moment ago whose summary is still to come.
      put('20260101000000000-eeeeee.run.json', minute),
      // Not a name Exit Lens writes.
      put('notes.tmp', ORPHAN_RUN_AGE_MS + STALE_TEMP_AGE_MS),
    ];
    const second = files.save(request('logits_random.npz'), rep);
    const left = new Set(fs.readdirSync(dir));
    for (const f of gone) assert.ok(!left.has(f), `${f} should be removed`);
    for (const f of kept) assert.ok(left.has(f), `${f} should stay`);
    for (const run of [first, second]) {
      for (const kind of ['run', 'summary'])
        assert.ok(left.has(`${run.runId.split('/')[1]}.${kind}.json`), `${run.runId} ${kind}`);
    }
    assert.deepEqual(
      files
        .list()
        .map((s) => s.runId)
        .sort(),
      [first.runId, second.runId].sort(),
    );
  });
});
