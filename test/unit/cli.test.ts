/**
 * The CLI: the summary table and output files on success, and for every bad input of the
 * foundation issue a message naming the problem and the fix, a non-zero exit code (2 for
 * what the user can fix), and no report file written.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_CANCELLED, EXIT_OK, EXIT_USER, main } from '../../src/cli';
import { SCHEMA_VERSION } from '../../src/core/report';
import { expected, fixture, tmpDir } from './helpers';

async function run(args: string[], signal?: AbortSignal): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s), isTTY: false }, signal);
  return { code, out, err };
}

describe('exit-lens CLI', () => {
  it('profile prints the table and writes the JSON and Markdown reports', async () => {
    const dir = tmpDir();
    const json = path.join(dir, 'r.json');
    const md = path.join(dir, 'r.md');
    const { code, out } = await run(['profile', fixture('tiny_cnn.onnx'), '--samples', fixture('cnn_samples.npz'), '--calib', fixture('cnn_calib.npz'), '--ep', 'cuda,cpu', '--json', json, '--markdown', md]);
    assert.equal(code, EXIT_OK);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.equal(report.schemaVersion, SCHEMA_VERSION);
    const cnn = expected('cnn_expected.json');
    assert.deepEqual(report.exits.map((e: { accuracy: number }) => e.accuracy), cnn.exits.map((e: { accuracy: number }) => e.accuracy));
    // The table shows exit 2's accuracy (from the reference: 74.00%) and its MACs.
    assert.match(out, new RegExp(`2\\s+exit_2\\s+${(cnn.exits[2].accuracy * 100).toFixed(2)}%`));
    assert.match(out, /Execution provider: CPU/);
    assert.match(out, /instead of CUDA \(CUDA: the CUDA provider library libonnxruntime_providers_cuda\.so is not installed/);
    const markdown = fs.readFileSync(md, 'utf8');
    assert.match(markdown, /^# Exit Lens report/);
    assert.match(markdown, /## Suggested thresholds/);
  });

  it('analyze reads a logits file without a model', async () => {
    const dir = tmpDir();
    const json = path.join(dir, 'a.json');
    const { code } = await run(['analyze', fixture('logits_random_perarray.npz'), '--exit-costs', '2,4,6,8,10', '--json', json, '--quiet']);
    assert.equal(code, EXIT_OK);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    const exp = expected('logits_random_expected.json');
    report.exits.forEach((e: { accuracy: number }, k: number) => assert.ok(Math.abs(e.accuracy - exp.exits[k].accuracy) < 1e-12));
    assert.equal(report.model, null);
  });

  it('a report written where a killed run left its temporary files: those of a writer that is gone go, the rest stay', async () => {
    const dir = tmpDir();
    const json = path.join(dir, 'a.json');
    // A pid that named a process which has since exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const put = (name: string) => {
      fs.writeFileSync(path.join(dir, name), '{"half": ');
      return name;
    };
    const gone = put(`a.json.${dead}.0a1b2c3d.tmp`);
    const kept = [
      put(`a.json.${process.pid}.12345678.tmp`), // a writer still alive
      put(`b.json.${dead}.0a1b2c3d.tmp`), // another file's
      put('a.json.tmp'), // not a name Exit Lens writes
    ];
    const { code } = await run(['analyze', fixture('logits_random_perarray.npz'), '--json', json, '--quiet']);
    assert.equal(code, EXIT_OK);
    const left = new Set(fs.readdirSync(dir));
    assert.ok(!left.has(gone), `${gone} should be removed`);
    for (const f of kept) assert.ok(left.has(f), `${f} should stay`);
    assert.deepEqual([...left].filter((f) => f.endsWith('.tmp')).sort(), [...kept].sort(), 'no temporary file of this run left');
    assert.equal(JSON.parse(fs.readFileSync(json, 'utf8')).schemaVersion, SCHEMA_VERSION);
  });

  it('--help and --version exit 0; no command exits 2', async () => {
    assert.equal((await run(['--help'])).code, EXIT_OK);
    assert.match((await run(['--help'])).out, /exit-lens profile <model.onnx>/);
    assert.equal((await run(['--version'])).code, EXIT_OK);
    assert.equal((await run([])).code, EXIT_USER);
  });

  it('a cancelled run exits 130 and writes nothing', async () => {
    const dir = tmpDir();
    const json = path.join(dir, 'c.json');
    const controller = new AbortController();
    controller.abort();
    const { code, err } = await run(['profile', fixture('tiny_cnn.onnx'), '--samples', fixture('cnn_samples.npz'), '--ep', 'cpu', '--json', json], controller.signal);
    assert.equal(code, EXIT_CANCELLED);
    assert.match(err, /cancelled/);
    assert.equal(fs.existsSync(json), false);
  });
});

describe('bad input: a clear message, exit code 2, nothing written', () => {
  const model = fixture('tiny_cnn.onnx');
  const samples = fixture('cnn_samples.npz');
  const cases: { name: string; args: string[]; message: RegExp }[] = [
    { name: 'a file that is not ONNX', args: ['profile', fixture('not_onnx.onnx'), '--samples', samples], message: /not a readable ONNX model|does not hold an ONNX graph/ },
    { name: 'a truncated model', args: ['profile', fixture('truncated.onnx'), '--samples', samples], message: /truncated/ },
    { name: 'a missing model file', args: ['profile', fixture('nope.onnx'), '--samples', samples], message: /Cannot read model/ },
    { name: 'no detectable exits (mapping to one output)', args: ['profile', model, '--samples', samples, '--exits', 'exit_0'], message: /fewer than two outputs/ },
    { name: 'a mapping that names a missing output', args: ['profile', model, '--samples', samples, '--exits', 'exit_0,head_7'], message: /no output of that name.*\n.*exit_0/s },
    { name: 'a model input with no matching array', args: ['profile', model, '--samples', fixture('bad_name.npz')], message: /model's input is "x".*np\.savez/s },
    { name: 'an array of the wrong shape', args: ['profile', model, '--samples', fixture('bad_shape.npz')], message: /dimension 2 is 9, the model wants 8/ },
    { name: 'an array of the wrong rank', args: ['profile', model, '--samples', fixture('bad_rank.npz')], message: /rank 3 vs 4/ },
    { name: 'float token ids for an int64 input', args: ['profile', fixture('tiny_transformer.onnx'), '--samples', fixture('transformer_float_ids.npz')], message: /float32 but the model's input "ids" wants int64/ },
    { name: 'arrays of different N', args: ['profile', model, '--samples', fixture('bad_n.npz')], message: /different numbers of samples: "x" 50, "label" 40/ },
    { name: 'labels out of range', args: ['profile', model, '--samples', fixture('bad_labels_range.npz')], message: /Label 7 at sample 5.*4 classes/ },
    { name: 'negative labels', args: ['profile', model, '--samples', fixture('bad_labels_negative.npz')], message: /Label -1 at sample 3/ },
    { name: 'labels that are not integers', args: ['profile', model, '--samples', fixture('bad_labels_float.npz')], message: /float32; labels must be integer/ },
    { name: 'an empty sample set', args: ['profile', model, '--samples', fixture('empty.npz')], message: /holds no samples/ },
    { name: 'an object array (never unpickled)', args: ['profile', model, '--samples', fixture('bad_object.npz')], message: /object array.*never does/s },
    { name: 'a Fortran-order array', args: ['profile', model, '--samples', fixture('bad_fortran.npz')], message: /Fortran.*ascontiguousarray/s },
    { name: 'a sample file that is not .npz', args: ['profile', model, '--samples', fixture('not_npz.npz')], message: /not a readable \.npz/ },
    { name: 'a truncated .npz', args: ['profile', model, '--samples', fixture('truncated.npz')], message: /Cannot read/ },
    { name: 'a sample set for another model', args: ['profile', model, '--samples', fixture('transformer_samples.npz')], message: /Array "ids" \(the only input array, taken for the model's input "x"\) has shape \(40, 6\).*rank 2 vs 4/ },
    { name: 'a requested execution provider that does not exist', args: ['profile', model, '--samples', samples, '--ep', 'tpu'], message: /Unknown execution provider "tpu"/ },
    { name: 'a batch size of 0', args: ['profile', model, '--samples', samples, '--batch', '0'], message: /--batch "0" is not a positive integer/ },
    { name: 'exit costs of the wrong length', args: ['profile', model, '--samples', samples, '--exit-costs', '1,2'], message: /gives 2 values but the model has 3 exits/ },
    { name: 'an accuracy drop that is not a fraction', args: ['profile', model, '--samples', samples, '--max-drop', '5'], message: /not a fraction/ },
    { name: 'a logits file with no exits', args: ['analyze', fixture('cnn_samples.npz')], message: /No exit logits found/ },
    { name: 'an unknown option', args: ['profile', model, '--samples', samples, '--fast'], message: /Unknown option '--fast'/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const dir = tmpDir();
      const json = path.join(dir, 'out.json');
      const md = path.join(dir, 'out.md');
      const { code, err } = await run([...c.args, '--json', json, '--markdown', md, '--quiet']);
      assert.equal(code, EXIT_USER, `exit code for ${c.name}: ${err}`);
      assert.match(err, c.message);
      assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
    });
  }
});

describe('the bundled example', () => {
  it('ONNX Runtime on the example model agrees with the PyTorch logits dumped beside it', async () => {
    const dir = tmpDir();
    const a = path.join(dir, 'profile.json');
    const b = path.join(dir, 'analyze.json');
    const ex = path.join(__dirname, '..', '..', 'examples', 'sdn-digits');
    assert.equal((await run(['profile', path.join(ex, 'model.onnx'), '--samples', path.join(ex, 'test.npz'), '--calib', path.join(ex, 'calib.npz'), '--ep', 'cpu', '--json', a, '--quiet'])).code, EXIT_OK);
    assert.equal((await run(['analyze', path.join(ex, 'test_logits.npz'), '--json', b, '--quiet'])).code, EXIT_OK);
    const p = JSON.parse(fs.readFileSync(a, 'utf8'));
    const q = JSON.parse(fs.readFileSync(b, 'utf8'));
    assert.equal(p.exitCount, 4);
    p.exits.forEach((e: { accuracy: number; meanConfidence: number }, k: number) => {
      assert.equal(e.accuracy, q.exits[k].accuracy, `exit ${k} accuracy`);
      assert.ok(Math.abs(e.meanConfidence - q.exits[k].meanConfidence) < 1e-5);
    });
    assert.deepEqual(p.overthinking.firstCorrectHistogram, q.overthinking.firstCorrectHistogram);
    // The example's costs by hand (BatchNorm folded into the convs by the exporter):
    // block convs 1->16, 16->32 at 8x8; 32->32 stride 2 and 32->64 at 4x4, all 3x3;
    // heads: 2x2 pooling then Linear(4*channels, 10).
    const conv = [64 * 16 * 1 * 9, 64 * 32 * 16 * 9, 16 * 32 * 32 * 9, 16 * 64 * 32 * 9];
    const head = [64 * 10, 128 * 10, 128 * 10, 256 * 10];
    let running = 0;
    p.exits.forEach((e: { macs: number }, k: number) => {
      running += conv[k] + head[k];
      assert.equal(e.macs, running);
    });
    assert.equal(p.baselineMacs, conv.reduce((x, y) => x + y) + head[3]);
  });
});

describe('int64 labels', () => {
  it('beyond 32 bits, or negative, are out of range and named exactly; in range, read as they are', async () => {
    const { writeNpz } = await import('../../bench/npzWriter');
    const dir = tmpDir();
    const C = 3;
    const write = async (file: string, labels: bigint[]) => {
      await writeNpz(file, [
        { name: 'exit_0', descr: '<f4', shape: [labels.length, C], fill: (out, row, rows) => { for (let i = 0; i < rows * C; i++) (out as Float32Array)[i] = ((row * C + i) % 5) / 2; } },
        { name: 'exit_1', descr: '<f4', shape: [labels.length, C], fill: (out, row, rows) => { for (let i = 0; i < rows * C; i++) (out as Float32Array)[i] = ((row * C + i) % 7) / 3; } },
        { name: 'labels', descr: '<i8', shape: [labels.length], fill: (out, row, rows) => { for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = labels[row + i]; } },
      ]);
    };
    // 2^32 + 1 has a low word of 1, a valid class: only the high word gives it away.
    for (const [bad, shown] of [[2n ** 32n + 1n, '4294967297'], [-1n, '-1'], [2n ** 31n, '2147483648'], [3n, '3']] as const) {
      const file = path.join(dir, `bad-${shown}.npz`);
      await write(file, [0n, 1n, 2n, bad, 1n]);
      const r = await run(['analyze', file, '--quiet']);
      assert.equal(r.code, EXIT_USER, r.err);
      assert.match(r.err, new RegExp(`Label ${shown} at sample 3 of "labels" is out of range: the model has 3 classes`));
    }
    const good = path.join(dir, 'good.npz');
    const labels = [0n, 2n, 1n, 1n, 0n, 2n];
    await write(good, labels);
    const json = path.join(dir, 'good.json');
    const ok = await run(['analyze', good, '--json', json, '--records', '--quiet']);
    assert.equal(ok.code, EXIT_OK, ok.err);
    assert.deepEqual(JSON.parse(fs.readFileSync(json, 'utf8')).records.labels, labels.map(Number));
  });
});

describe('a failure inside a run', () => {
  it('ONNX Runtime failing on a later batch: the samples named, exit code 2, nothing written', async () => {
    const { writeNpz } = await import('../../bench/npzWriter');
    const dir = tmpDir();
    const samples = path.join(dir, 'ids.npz');
    // Token ids of the fixture transformer (vocabulary of 20); sample 6 holds id 25, out of range.
    const ids = Array.from({ length: 10 }, (_, n) => Array.from({ length: 6 }, (_, t) => (n === 6 && t === 2 ? 25 : (n + t) % 20)));
    await writeNpz(samples, [
      { name: 'ids', descr: '<i8', shape: [10, 6], fill: (out, row, rows) => { for (let i = 0; i < rows * 6; i++) (out as BigInt64Array)[i] = BigInt(ids[row + Math.floor(i / 6)][i % 6]); } },
      { name: 'labels', descr: '<i8', shape: [10], fill: (out, row, rows) => { for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = BigInt((row + i) % 3); } },
    ]);
    const json = path.join(dir, 'out.json');
    const { code, err } = await run(['profile', fixture('tiny_transformer.onnx'), '--samples', samples, '--batch', '4', '--ep', 'cpu', '--json', json, '--quiet']);
    assert.equal(code, EXIT_USER, err);
    assert.match(err, /ONNX Runtime failed on samples 4\.\.7/);
    assert.equal(fs.existsSync(json), false);
  });

  it('a model whose shapes break only at its second batch: the samples and the failing node named, exit code 2, nothing written', async () => {
    const dir = tmpDir();
    const json = path.join(dir, 'out.json');
    const md = path.join(dir, 'out.md');
    // batch_bound.onnx (make_fixtures.py) works at batch sizes 1 and 8 only. Its 12 samples at
    // --batch 8: batch 1 is samples 0..7 (runs), batch 2 is samples 8..11, four rows (fails).
    const failed = await run(['profile', fixture('batch_bound.onnx'), '--samples', fixture('batch_bound_samples.npz'), '--batch', '8', '--ep', 'cpu', '--json', json, '--markdown', md, '--quiet']);
    assert.equal(failed.code, EXIT_USER, failed.err);
    assert.match(failed.err, /ONNX Runtime failed on samples 8\.\.11 \(batch 2, 4 samples; the batches before it had 8 and ran\): Add node "\/Add"/);
    assert.match(failed.err, /set the batch size to 1/);
    // ONNX Runtime's own source paths and assertion text are left out of the message.
    assert.doesNotMatch(failed.err, /onnxruntime_src|was false/);
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
    // The same command at --batch 1 succeeds: the model and samples are sound, only the batch shape broke.
    const ok = await run(['profile', fixture('batch_bound.onnx'), '--samples', fixture('batch_bound_samples.npz'), '--batch', '1', '--ep', 'cpu', '--json', json, '--quiet']);
    assert.equal(ok.code, EXIT_OK, ok.err);
    assert.equal(JSON.parse(fs.readFileSync(json, 'utf8')).samples.sampleCount, 12);
  });

  it('ONNX Runtime prints nothing of its own: a failing batch is reported once, in Exit Lens\'s words', () => {
    // A real process: ONNX Runtime logs to the process's own stderr, which main()'s io does not see.
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', '..', 'src', 'cli.ts'), 'profile', fixture('batch_bound.onnx'), '--samples', fixture('batch_bound_samples.npz'), '--batch', '8', '--ep', 'cpu', '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, EXIT_USER, r.stderr);
    assert.match(r.stderr, /^exit-lens: ONNX Runtime failed on samples 8\.\.11/);
    assert.doesNotMatch(r.stderr, /onnxruntime:|sequential_executor|\[E:/);
  });
});
