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
import { EXIT_CANCELLED, EXIT_OK, EXIT_USER, main } from '../../src/cli/main';
import { SCHEMA_VERSION } from '../../src/core/analysis/analyze';
import { expected, fixture, slowTest, tmpDir } from './helpers';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import { spawn } from 'node:child_process';
import { before } from 'node:test';
import { deflatedZeros, externalWeights, makeFifo, npy, npyHeader, onnxModel, writeZip } from './support/hostileFiles';

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
    const { code, out } = await run([
      'profile',
      fixture('tiny_cnn.onnx'),
      '--samples',
      fixture('cnn_samples.npz'),
      '--calib',
      fixture('cnn_calib.npz'),
      '--ep',
      'cuda,cpu',
      '--json',
      json,
      '--markdown',
      md,
    ]);
    assert.equal(code, EXIT_OK);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.equal(report.schemaVersion, SCHEMA_VERSION);
    const cnn = expected('cnn_expected.json');
    assert.deepEqual(
      report.exits.map((e: { accuracy: number }) => e.accuracy),
      cnn.exits.map((e: { accuracy: number }) => e.accuracy),
    );
    // The table shows exit 2's accuracy (from the reference: 74.00%) and its MACs.
    assert.match(out, new RegExp(`2\\s+exit_2\\s+${(cnn.exits[2].accuracy * 100).toFixed(2)}%`));
    assert.match(out, /Execution provider: CPU/);
    assert.match(
      out,
      /instead of CUDA \(CUDA: the CUDA provider library libonnxruntime_providers_cuda\.so is not installed/,
    );
    const markdown = fs.readFileSync(md, 'utf8');
    assert.match(markdown, /^# Exit Lens report/);
    assert.match(markdown, /## Suggested thresholds/);
  });

  it('--quiet prints no table, but still names the provider used (a fallback too) on stderr', async () => {
    const records = path.join(tmpDir(), 'shard-1.exitrec');
    const { code, out, err } = await run([
      'profile',
      fixture('tiny_cnn.onnx'),
      '--samples',
      fixture('cnn_samples.npz'),
      '--ep',
      'cuda,cpu',
      '--shard',
      '1/4',
      '--records-out',
      records,
      '--quiet',
    ]);
    assert.equal(code, EXIT_OK, err);
    assert.equal(out, '', 'no summary table on stdout');
    // This machine has no CUDA provider library: the CPU ran, and the shard's log says so.
    assert.match(err, /^Execution provider: CPU/m);
    assert.match(err, /instead of CUDA \(CUDA: the CUDA provider library libonnxruntime_providers_cuda\.so/);
    assert.ok(fs.existsSync(records));
  });

  it('analyze reads a logits file without a model', async () => {
    const dir = tmpDir();
    const json = path.join(dir, 'a.json');
    const { code } = await run([
      'analyze',
      fixture('logits_random_perarray.npz'),
      '--exit-costs',
      '2,4,6,8,10',
      '--json',
      json,
      '--quiet',
    ]);
    assert.equal(code, EXIT_OK);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    const exp = expected('logits_random_expected.json');
    report.exits.forEach((e: { accuracy: number }, k: number) =>
      assert.ok(Math.abs(e.accuracy - exp.exits[k].accuracy) < 1e-12),
    );
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
    assert.deepEqual(
      [...left].filter((f) => f.endsWith('.tmp')).sort(),
      [...kept].sort(),
      'no temporary file of this run left',
    );
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
    const { code, err } = await run(
      ['profile', fixture('tiny_cnn.onnx'), '--samples', fixture('cnn_samples.npz'), '--ep', 'cpu', '--json', json],
      controller.signal,
    );
    assert.equal(code, EXIT_CANCELLED);
    assert.match(err, /cancelled/);
    assert.equal(fs.existsSync(json), false);
  });
});

describe('bad input: a clear message, exit code 2, nothing written', () => {
  const model = fixture('tiny_cnn.onnx');
  const samples = fixture('cnn_samples.npz');
  const cases: { name: string; args: string[]; message: RegExp }[] = [
    {
      name: 'a file that is not ONNX',
      args: ['profile', fixture('not_onnx.onnx'), '--samples', samples],
      message: /not a readable ONNX model|does not hold an ONNX graph/,
    },
    {
      name: 'a truncated model',
      args: ['profile', fixture('truncated.onnx'), '--samples', samples],
      message: /truncated/,
    },
    {
      name: 'a missing model file',
      args: ['profile', fixture('nope.onnx'), '--samples', samples],
      message: /Cannot read model/,
    },
    {
      name: 'no detectable exits (mapping to one output)',
      args: ['profile', model, '--samples', samples, '--exits', 'exit_0'],
      message: /fewer than two outputs/,
    },
    {
      name: 'a mapping that names a missing output',
      args: ['profile', model, '--samples', samples, '--exits', 'exit_0,head_7'],
      message: /no output of that name.*\n.*exit_0/s,
    },
    {
      name: 'a model input with no matching array',
      args: ['profile', model, '--samples', fixture('bad_name.npz')],
      message: /model's input is "x".*np\.savez/s,
    },
    {
      name: 'an array of the wrong shape',
      args: ['profile', model, '--samples', fixture('bad_shape.npz')],
      message: /dimension 2 is 9, the model wants 8/,
    },
    {
      name: 'an array of the wrong rank',
      args: ['profile', model, '--samples', fixture('bad_rank.npz')],
      message: /rank 3 vs 4/,
    },
    {
      name: 'float token ids for an int64 input',
      args: ['profile', fixture('tiny_transformer.onnx'), '--samples', fixture('transformer_float_ids.npz')],
      message: /float32 but the model's input "ids" wants int64/,
    },
    {
      name: 'arrays of different N',
      args: ['profile', model, '--samples', fixture('bad_n.npz')],
      message: /different numbers of samples: "x" 50, "label" 40/,
    },
    {
      name: 'labels out of range',
      args: ['profile', model, '--samples', fixture('bad_labels_range.npz')],
      message: /Label 7 at sample 5.*4 classes/,
    },
    {
      name: 'negative labels',
      args: ['profile', model, '--samples', fixture('bad_labels_negative.npz')],
      message: /Label -1 at sample 3/,
    },
    {
      name: 'labels that are not integers',
      args: ['profile', model, '--samples', fixture('bad_labels_float.npz')],
      message: /float32; labels must be integer/,
    },
    {
      name: 'an empty sample set',
      args: ['profile', model, '--samples', fixture('empty.npz')],
      message: /holds no samples/,
    },
    {
      name: 'an object array (never unpickled)',
      args: ['profile', model, '--samples', fixture('bad_object.npz')],
      message: /object array.*never does/s,
    },
    {
      name: 'a Fortran-order array',
      args: ['profile', model, '--samples', fixture('bad_fortran.npz')],
      message: /Fortran.*ascontiguousarray/s,
    },
    {
      name: 'a sample file that is not .npz',
      args: ['profile', model, '--samples', fixture('not_npz.npz')],
      message: /not a readable \.npz/,
    },
    {
      name: 'a truncated .npz',
      args: ['profile', model, '--samples', fixture('truncated.npz')],
      message: /Cannot read/,
    },
    {
      name: 'a sample set for another model',
      args: ['profile', model, '--samples', fixture('transformer_samples.npz')],
      message: /Array "ids" \(the only input array, taken for the model's input "x"\) has shape \(40, 6\).*rank 2 vs 4/,
    },
    {
      name: 'a requested execution provider that does not exist',
      args: ['profile', model, '--samples', samples, '--ep', 'tpu'],
      message: /Unknown execution provider "tpu"/,
    },
    {
      name: 'a batch size of 0',
      args: ['profile', model, '--samples', samples, '--batch', '0'],
      message: /--batch "0" is not a positive integer/,
    },
    {
      name: 'exit costs of the wrong length',
      args: ['profile', model, '--samples', samples, '--exit-costs', '1,2'],
      message: /gives 2 values but the model has 3 exits/,
    },
    {
      name: 'an accuracy drop that is not a fraction',
      args: ['profile', model, '--samples', samples, '--max-drop', '5'],
      message: /not a fraction/,
    },
    {
      name: 'a risk that is not a fraction',
      args: ['profile', model, '--samples', samples, '--risk', '5'],
      message: /--risk\) 5 is not a fraction in \(0, 1\)/,
    },
    {
      name: 'a δ that is not a number',
      args: ['profile', model, '--samples', samples, '--delta', 'ten'],
      message: /--delta "ten" is not a number/,
    },
    {
      name: 'a risk loss Exit Lens does not know',
      args: ['profile', model, '--samples', samples, '--risk-loss', 'zero-one'],
      message: /risk loss "zero-one".*\n?.*--risk-loss gap/s,
    },
    {
      name: 'a logits file with no exits',
      args: ['analyze', fixture('cnn_samples.npz')],
      message: /No exit logits found/,
    },
    {
      name: 'an unknown option',
      args: ['profile', model, '--samples', samples, '--fast'],
      message: /Unknown option '--fast'/,
    },
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
    assert.equal(
      (
        await run([
          'profile',
          path.join(ex, 'model.onnx'),
          '--samples',
          path.join(ex, 'test.npz'),
          '--calib',
          path.join(ex, 'calib.npz'),
          '--ep',
          'cpu',
          '--json',
          a,
          '--quiet',
        ])
      ).code,
      EXIT_OK,
    );
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
        {
          name: 'exit_0',
          descr: '<f4',
          shape: [labels.length, C],
          fill: (out, row, rows) => {
            for (let i = 0; i < rows * C; i++) (out as Float32Array)[i] = ((row * C + i) % 5) / 2;
          },
        },
        {
          name: 'exit_1',
          descr: '<f4',
          shape: [labels.length, C],
          fill: (out, row, rows) => {
            for (let i = 0; i < rows * C; i++) (out as Float32Array)[i] = ((row * C + i) % 7) / 3;
          },
        },
        {
          name: 'labels',
          descr: '<i8',
          shape: [labels.length],
          fill: (out, row, rows) => {
            for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = labels[row + i];
          },
        },
      ]);
    };
    // 2^32 + 1 has a low word of 1, a valid class: only the high word gives it away.
    for (const [bad, shown] of [
      [2n ** 32n + 1n, '4294967297'],
      [-1n, '-1'],
      [2n ** 31n, '2147483648'],
      [3n, '3'],
    ] as const) {
      const file = path.join(dir, `bad-${shown}.npz`);
      await write(file, [0n, 1n, 2n, bad, 1n]);
      const r = await run(['analyze', file, '--quiet']);
      assert.equal(r.code, EXIT_USER, r.err);
      assert.match(
        r.err,
        new RegExp(`Label ${shown} at sample 3 of "labels" is out of range: the model has 3 classes`),
      );
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
    const ids = Array.from({ length: 10 }, (_, n) =>
      Array.from({ length: 6 }, (_, t) => (n === 6 && t === 2 ? 25 : (n + t) % 20)),
    );
    await writeNpz(samples, [
      {
        name: 'ids',
        descr: '<i8',
        shape: [10, 6],
        fill: (out, row, rows) => {
          for (let i = 0; i < rows * 6; i++) (out as BigInt64Array)[i] = BigInt(ids[row + Math.floor(i / 6)][i % 6]);
        },
      },
      {
        name: 'labels',
        descr: '<i8',
        shape: [10],
        fill: (out, row, rows) => {
          for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = BigInt((row + i) % 3);
        },
      },
    ]);
    const json = path.join(dir, 'out.json');
    const { code, err } = await run([
      'profile',
      fixture('tiny_transformer.onnx'),
      '--samples',
      samples,
      '--batch',
      '4',
      '--ep',
      'cpu',
      '--json',
      json,
      '--quiet',
    ]);
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
    const failed = await run([
      'profile',
      fixture('batch_bound.onnx'),
      '--samples',
      fixture('batch_bound_samples.npz'),
      '--batch',
      '8',
      '--ep',
      'cpu',
      '--json',
      json,
      '--markdown',
      md,
      '--quiet',
    ]);
    assert.equal(failed.code, EXIT_USER, failed.err);
    assert.match(
      failed.err,
      /ONNX Runtime failed on samples 8\.\.11 \(batch 2, 4 samples; the batches before it had 8 and ran\): Add node "\/Add"/,
    );
    assert.match(failed.err, /set the batch size to 1/);
    // ONNX Runtime's own source paths and assertion text are left out of the message.
    assert.doesNotMatch(failed.err, /onnxruntime_src|was false/);
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
    // The same command at --batch 1 succeeds: the model and samples are sound, only the batch shape broke.
    const ok = await run([
      'profile',
      fixture('batch_bound.onnx'),
      '--samples',
      fixture('batch_bound_samples.npz'),
      '--batch',
      '1',
      '--ep',
      'cpu',
      '--json',
      json,
      '--quiet',
    ]);
    assert.equal(ok.code, EXIT_OK, ok.err);
    assert.equal(JSON.parse(fs.readFileSync(json, 'utf8')).samples.sampleCount, 12);
  });

  it("ONNX Runtime prints nothing of its own: a failing batch is reported once, in Exit Lens's words", () => {
    // A real process: ONNX Runtime logs to the process's own stderr, which main()'s io does not see.
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(__dirname, '..', '..', 'src', 'cli', 'main.ts'),
        'profile',
        fixture('batch_bound.onnx'),
        '--samples',
        fixture('batch_bound_samples.npz'),
        '--batch',
        '8',
        '--ep',
        'cpu',
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, EXIT_USER, r.stderr);
    // (--quiet still names the provider first: an Exit Lens line.)
    assert.match(
      r.stderr,
      /^Execution provider: CPU \(fp32\), \d+ threads?\nexit-lens: ONNX Runtime failed on samples 8\.\.11/,
    );
    assert.doesNotMatch(r.stderr, /onnxruntime:|sequential_executor|\[E:/);
  });
});

/**
 * Hostile files and paths (issue #14): each a clear message and exit code 2, nothing created
 * outside the temporary and output folders, no input overwritten. The files are made here, in
 * a temporary folder: models and arrays whose headers claim what they like, FIFOs, folders.
 */
describe('hostile files and paths: a clear message, exit code 2, nothing written, no input touched', () => {
  const H = tmpDir('exit-lens-hostile-');
  const at = (...p: string[]) => path.join(H, ...p);
  const samples = fixture('cnn_samples.npz');
  const cnn = at('cnn', 'tiny_cnn.onnx');
  const dyn = at('dyn.onnx');
  const logits = at('logits.npz');
  // Where a location of "../<escape>/…" from the model's folder would be linked from the
  // temporary folder, os.tmpdir()/<escape>: checked to stay absent.
  const escape = `exit-lens-escape-${crypto.randomBytes(4).toString('hex')}`;
  const fifos = makeFifo(at('fifo.npz')) && makeFifo(at('fifo.onnx'));
  const noFifo = fifos ? undefined : 'mkfifo is not available here';
  /** A FIFO whose reader takes one byte and goes (as `--html >(head -c 1)` would): the write fails. */
  const earlyClosingReader = async () => {
    const fifo = path.join(tmpDir(), 'early.pipe');
    makeFifo(fifo);
    spawn('head', ['-c', '1', fifo], { stdio: 'ignore' }).unref();
    // Its open counts it as a reader at once, even while it waits for a writer: time to start.
    await new Promise((r) => setTimeout(r, 300));
    return fifo;
  };
  const noZero = fs.existsSync('/dev/zero') ? undefined : '/dev/zero does not exist here';
  before(() => {
    fs.mkdirSync(at('cnn'));
    fs.copyFileSync(fixture('tiny_cnn.onnx'), cnn);
    fs.copyFileSync(fixture('logits_random.npz'), logits);
    fs.writeFileSync(dyn, onnxModel({ input: { name: 'x', shape: ['batch', 'T'] } }));
    // External data: one location leaving the model's folder, one absolute, one a link leading out.
    for (const [dir, location] of [
      ['up', `../${escape}/evil.data`],
      ['abs', at('abs.data')],
      ['link', 'w.data'],
    ]) {
      fs.mkdirSync(at(dir));
      fs.writeFileSync(at(dir, 'model.onnx'), onnxModel({ externalLocation: location }));
    }
    fs.mkdirSync(at(escape));
    fs.writeFileSync(at(escape, 'evil.data'), externalWeights());
    fs.writeFileSync(at('abs.data'), externalWeights());
    fs.writeFileSync(at('outside.data'), externalWeights());
    fs.symlinkSync(at('outside.data'), at('link', 'w.data'));
    fs.mkdirSync(at('ext'));
    fs.writeFileSync(at('ext', 'model.onnx'), onnxModel({ externalLocation: 'w.data' }));
    fs.writeFileSync(at('ext', 'w.data'), externalWeights());
    writeZip(at('dyn_samples.npz'), [{ name: 'x.npy', stored: npy('<f4', [3, 5], new Float32Array(15).fill(0.5)) }]);
    // Zero-width rows: 128-byte .npy files that declare (N, 0) for the [batch, T] input.
    for (const [name, n] of [
      ['zero_1e9.npy', 1e9],
      ['zero_2p50.npy', 2 ** 50],
      ['zero_1e7.npy', 1e7],
    ] as const)
      fs.writeFileSync(at(name), npyHeader('<f4', [n, 0]));
    // Two entries named label.npy: numpy reads the second, a first-match reader the first.
    const x = npy('<f4', [50, 3, 8, 8], new Float32Array(50 * 192).fill(0.1));
    const label = (v: bigint) => npy('<i8', [50], new BigInt64Array(50).fill(v));
    writeZip(at('dup.npz'), [
      { name: 'x.npy', stored: x },
      { name: 'label.npy', stored: label(0n) },
      { name: 'label.npy', stored: label(1n) },
    ]);
    // A zip bomb within deflate's ratio: exit_logits [2, 2^27, 2] float32 of zeros, 2 GiB in 2 MB.
    const bombHead = npyHeader('<f4', [2, 2 ** 27, 2]);
    writeZip(at('bomb.npz'), [
      {
        name: 'exit_logits.npy',
        stored: deflatedZeros(bombHead, 2 ** 30 * 2),
        method: 8,
        uncompressedSize: bombHead.length + 2 ** 31,
      },
    ]);
    // Two samples of 2^27 floats each (1 GiB), for the [batch, T] model.
    const wideHead = npyHeader('<f4', [2, 2 ** 27]);
    writeZip(at('wide.npz'), [
      {
        name: 'x.npy',
        stored: deflatedZeros(wideHead, 2 ** 30),
        method: 8,
        uncompressedSize: wideHead.length + 2 ** 30,
      },
    ]);
    fs.mkdirSync(at('folder.npz'));
    fs.writeFileSync(at('plain.txt'), 'not a folder');
    fs.symlinkSync(at('nowhere.json'), at('dangling.json'));
  });

  type Out = { dir: string; json: string; md: string };
  const cases: {
    name: string;
    args: (o: Out) => string[] | Promise<string[]>;
    message: RegExp;
    skip?: string;
    unchanged?: string[];
  }[] = [
    // 1. External data locations
    {
      name: "external data whose location leaves the model's folder",
      args: () => ['profile', at('up', 'model.onnx'), '--samples', at('dyn_samples.npz')],
      message: new RegExp(`location "\\.\\./${escape}/evil\\.data", which reaches outside the model's folder`),
    },
    {
      name: 'external data at an absolute location',
      args: () => ['profile', at('abs', 'model.onnx'), '--samples', at('dyn_samples.npz')],
      message: /location ".*abs\.data", which is an absolute path/,
    },
    {
      name: "external data through a link that leads out of the model's folder",
      args: () => ['profile', at('link', 'model.onnx'), '--samples', at('dyn_samples.npz')],
      message: /location "w\.data", which is a link to .*outside\.data, outside the model's folder/,
    },
    // 2. Outputs that are an input, repeat, or are not regular files or new paths
    {
      name: '--html naming the model',
      args: () => ['profile', cnn, '--samples', samples, '--html', cnn],
      message: /--html ".*tiny_cnn\.onnx" is the model .*would destroy it/,
      unchanged: [cnn],
    },
    {
      name: '--html naming the sample set',
      args: () => ['profile', cnn, '--samples', samples, '--html', samples],
      message: /--html ".*cnn_samples\.npz" is the sample set/,
      unchanged: [samples],
    },
    {
      name: '--html naming the calibration set, through a hard link',
      args: () => {
        const link = path.join(tmpDir(), 'calib-link.npz');
        fs.linkSync(logits, link);
        return ['analyze', fixture('logits_random.npz'), '--calib', logits, '--html', link];
      },
      message: /is the calibration set/,
      unchanged: [logits],
    },
    {
      name: 'analyze --html naming its own input',
      args: () => ['analyze', logits, '--html', logits],
      message: /is the logits file/,
      unchanged: [logits],
    },
    {
      name: "--html naming the model's external data",
      args: () => [
        'profile',
        at('ext', 'model.onnx'),
        '--samples',
        at('dyn_samples.npz'),
        '--html',
        at('ext', 'w.data'),
      ],
      message: /--html ".*w\.data" is the model's external data/,
      unchanged: [at('ext', 'w.data')],
    },
    {
      name: '--html naming the same file as --json',
      args: (o) => ['analyze', logits, '--html', o.json],
      message: /--html ".*out\.json" names the same file as --json/,
    },
    {
      name: '--html a pipe whose reader stops early: no file of the run is written',
      args: async () => ['analyze', logits, '--html', await earlyClosingReader()],
      message:
        /Cannot write --html ".*early\.pipe": the reader closed the pipe; no report file was written or replaced/,
      skip: noFifo,
    },
    {
      name: '--html an existing folder: --json and --markdown are not written either',
      args: () => ['analyze', logits, '--html', at('folder.npz')],
      message: /--html ".*folder\.npz" is a folder/,
    },
    {
      name: '--html a FIFO that no process reads',
      args: () => ['analyze', logits, '--html', at('fifo.npz')],
      message: /is a pipe that no process is reading from/,
      skip: noFifo,
    },
    {
      name: '--html a link to nothing',
      args: () => ['analyze', logits, '--html', at('dangling.json')],
      message: /is a symbolic link to a file that does not exist/,
    },
    {
      name: '--html inside a "folder" that is a file',
      args: () => ['analyze', logits, '--html', at('plain.txt', 'r.html')],
      message: /plain\.txt is a regular file, not a folder/,
    },
    // 12. An empty output path
    {
      name: 'an empty output path (an unset shell variable)',
      args: () => ['analyze', logits, '--html', ''],
      message: /--html "" is an empty path.*\n.*shell variable/,
    },
    // 3. Readers: regular files only
    {
      name: 'a FIFO as the model',
      args: () => ['profile', at('fifo.onnx'), '--samples', samples],
      message: /Cannot read model .*fifo\.onnx: it is a FIFO \(named pipe\), not a regular file/,
      skip: noFifo,
    },
    {
      name: 'a FIFO as the sample set',
      args: () => ['profile', cnn, '--samples', at('fifo.npz')],
      message: /fifo\.npz: it is a FIFO \(named pipe\), not a regular file/,
      skip: noFifo,
    },
    {
      name: 'a FIFO as the calibration set',
      args: () => ['profile', cnn, '--samples', samples, '--calib', at('fifo.npz')],
      message: /fifo\.npz: it is a FIFO/,
      skip: noFifo,
    },
    {
      name: 'a FIFO as the logits file',
      args: () => ['analyze', at('fifo.npz')],
      message: /fifo\.npz: it is a FIFO/,
      skip: noFifo,
    },
    {
      name: '/dev/zero as the model',
      args: () => ['profile', '/dev/zero', '--samples', samples],
      message: /Cannot read model \/dev\/zero: it is a character device, not a regular file/,
      skip: noZero,
    },
    {
      name: '/dev/zero as the sample set',
      args: () => ['profile', cnn, '--samples', '/dev/zero'],
      message: /\/dev\/zero: it is a character device/,
      skip: noZero,
    },
    // 4. A folder as the sample set
    {
      name: 'a folder as the sample set',
      args: () => ['profile', cnn, '--samples', at('folder.npz')],
      message: /Cannot read .*folder\.npz: it is a folder, not a regular file/,
    },
    {
      name: 'a folder as the logits file',
      args: () => ['analyze', at('folder.npz')],
      message: /Cannot read .*folder\.npz: it is a folder, not a regular file/,
    },
    // 5. Zero-width rows
    {
      name: 'zero-width rows: (10^9, 0)',
      args: () => ['profile', dyn, '--samples', at('zero_1e9.npy')],
      message: /shape \(1000000000, 0\): each of its 1,000,000,000 samples has 0 elements/,
    },
    {
      name: 'zero-width rows: (2^50, 0)',
      args: () => ['profile', dyn, '--samples', at('zero_2p50.npy')],
      message: /shape \(1125899906842624, 0\): each of its 1,125,899,906,842,624 samples has 0 elements/,
    },
    {
      name: 'zero-width rows: (10^7, 0)',
      args: () => ['profile', dyn, '--samples', at('zero_1e7.npy')],
      message: /shape \(10000000, 0\).*0 elements/,
    },
    // 6. Memory, estimated from the headers before anything is allocated
    {
      name: "a zip bomb within deflate's ratio (2^27 samples, 2 exits in 2 MB)",
      args: () => ['analyze', at('bomb.npz'), '--max-memory', '4G'],
      message:
        /would need about 28\.1 GiB of memory, more than its limit of 4\.0 GiB \(set with --max-memory.*134,217,728 samples × 2 exits.*\n.*--max-memory 36G/s,
    },
    {
      name: 'samples of 2^27 floats each (1 GiB a sample)',
      args: () => ['profile', dyn, '--samples', at('wide.npz'), '--max-memory', '2G'],
      message:
        /more than its limit of 2\.0 GiB.*batches of the sample set being read \(2 samples of 536,870,912 bytes/s,
    },
    {
      name: 'a memory limit that is not a size',
      args: () => ['analyze', logits, '--max-memory', 'lots'],
      message: /--max-memory "lots" is not a memory size.*\n.*8G/,
    },
    {
      name: 'a memory limit without a unit',
      args: () => ['analyze', logits, '--max-memory', '8000'],
      message: /--max-memory "8000" is not a memory size/,
    },
    // 11. Duplicate entry names
    {
      name: 'an .npz with two entries named label.npy',
      args: () => ['profile', cnn, '--samples', at('dup.npz')],
      message: /holds more than one entry named "label\.npy"; NumPy would read the last/,
    },
  ];
  for (const c of cases) {
    it(c.name, { skip: c.skip }, async () => {
      const dir = tmpDir();
      const o = { dir, json: path.join(dir, 'out.json'), md: path.join(dir, 'out.md') };
      const args = await c.args(o);
      const before = (c.unchanged ?? []).map((f) => fs.readFileSync(f));
      const { code, err } = await run([...args, '--json', o.json, '--markdown', o.md, '--quiet']);
      assert.equal(code, EXIT_USER, `exit code for ${c.name}: ${err}`);
      assert.match(err, c.message);
      assert.doesNotMatch(err, /internal error|at .*\.ts:\d+/, 'no stack trace');
      assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
      (c.unchanged ?? []).forEach((f, i) => assert.ok(fs.readFileSync(f).equals(before[i]), `${f} is untouched`));
      assert.equal(fs.existsSync(path.join(os.tmpdir(), escape)), false, 'nothing made outside the temporary folder');
    });
  }
});

describe('hostile outputs that are fine: devices, pipes and links', () => {
  it('a pipe with a reader gets the report (e.g. --json >(jq .)); the FIFO stays a FIFO', async (t) => {
    const dir = tmpDir();
    const fifo = path.join(dir, 'report.pipe');
    if (!makeFifo(fifo)) return t.skip('mkfifo is not available here');
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    reader.stdout.on('data', (d) => (got += d));
    const closed = new Promise((resolve) => reader.on('close', resolve));
    // cat counts as a reader from its open on (even while it waits for a writer): time to start.
    await new Promise((r) => setTimeout(r, 300));
    const json = path.join(dir, 'r.json');
    const r = await run(['analyze', fixture('logits_random.npz'), '--markdown', fifo, '--json', json, '--quiet']);
    assert.equal(r.code, EXIT_OK, r.err);
    await closed;
    assert.match(got, /^# Exit Lens report/);
    assert.ok(fs.statSync(fifo).isFIFO());
    assert.equal(JSON.parse(fs.readFileSync(json, 'utf8')).schemaVersion, SCHEMA_VERSION);
  });

  it('a link to a regular file: the file it names is replaced, the link stays', async () => {
    const dir = tmpDir();
    const real = path.join(dir, 'real.json');
    const link = path.join(dir, 'link.json');
    fs.writeFileSync(real, 'old');
    fs.symlinkSync(real, link);
    const r = await run(['analyze', fixture('logits_random.npz'), '--json', link, '--quiet']);
    assert.equal(r.code, EXIT_OK, r.err);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(JSON.parse(fs.readFileSync(real, 'utf8')).schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['link.json', 'real.json']);
  });

  it('outputs in a new folder are made there, and the folder is removed again when a later output fails', async () => {
    const dir = tmpDir();
    const r = await run([
      'analyze',
      fixture('logits_random.npz'),
      '--json',
      path.join(dir, 'a', 'b', 'r.json'),
      '--html',
      path.join(dir, 'a', 'b'),
      '--quiet',
    ]);
    // The html path is the folder the json would create: refused before the run, nothing made.
    assert.equal(r.code, EXIT_USER, r.err);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

describe('limits: threads and memory', () => {
  it('--threads beyond the machine is bounded by it, with a warning that says so, and the run finishes', async () => {
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    const dir = tmpDir();
    const json = path.join(dir, 'r.json');
    const started = Date.now();
    const r = await run([
      'profile',
      fixture('tiny_cnn.onnx'),
      '--samples',
      fixture('cnn_samples.npz'),
      '--ep',
      'cpu',
      '--threads',
      '100000',
      '--json',
      json,
      '--quiet',
    ]);
    assert.equal(r.code, EXIT_OK, r.err);
    assert.match(
      r.err,
      new RegExp(
        `warning: 100,000 threads were asked for, but this machine runs ${cores} at once; ONNX Runtime uses ${cores}`,
      ),
    );
    assert.equal(JSON.parse(fs.readFileSync(json, 'utf8')).executionProvider.threads, cores);
    assert.ok(Date.now() - started < 30_000, 'session creation with 100,000 threads never finished');
  });

  it('a run within --max-memory runs: the estimate of a small set is far below 1 GiB', async () => {
    const r = await run(['analyze', fixture('logits_random.npz'), '--max-memory', '1G', '--quiet']);
    assert.equal(r.code, EXIT_OK, r.err);
  });
});

describe('hostile names: inert in the terminal and in Markdown', () => {
  // Clear screen, set the window title, return to the line start, a fake new line, and markup.
  const ESC = '\u001b';
  const names = [
    `exit_${ESC}[2J${ESC}]0;pwned\u0007_0`,
    'exit\r\nwarning: all good <img src=x onerror=alert(1)>_1',
    '<script>alert(1)</script>`|`_2',
  ];
  // eslint-disable-next-line no-control-regex -- control characters are what must not reach the output
  const controls = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

  it('inspect and profile print model names as visible escapes', async () => {
    const dir = tmpDir();
    const model = path.join(dir, 'm.onnx');
    fs.writeFileSync(
      model,
      onnxModel({
        input: { name: `x${ESC}[31m`, shape: ['batch', `T${ESC}]0;t\u0007`] },
        exits: [names[0], names[1]],
        producer: `evil${ESC}[2J\r`,
      }),
    );
    const inspected = await run(['inspect', model]);
    assert.equal(inspected.code, EXIT_OK, inspected.err);
    assert.doesNotMatch(inspected.out, controls);
    assert.match(inspected.out, /producer: evil\\e\[2J\\r/);
    assert.match(inspected.out, /x\\e\[31m: float32 \[batch, T\\e\]0;t\\x07\]/);
    const samples = path.join(dir, 's.npz');
    writeZip(samples, [{ name: `x${ESC}[31m.npy`, stored: npy('<f4', [4, 3], new Float32Array(12).fill(1)) }]);
    const profiled = await run(['profile', model, '--samples', samples, '--ep', 'cpu']);
    assert.equal(profiled.code, EXIT_OK, profiled.err);
    assert.doesNotMatch(profiled.out, controls);
    assert.doesNotMatch(profiled.err, controls);
    assert.match(profiled.out, /exit_\\e\[2J\\e\]0;pwned\\x07_0/);
    assert.match(profiled.out, /exit\\r\\nwarning: all good <img src=x onerror=alert\(1\)>_1/);
  });

  it('analyze prints array names as visible escapes, and the Markdown summary renders them as text, never as HTML', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'l.npz');
    const z = (k: number) =>
      npy(
        '<f4',
        [6, 3],
        new Float32Array(18).map((_, i) => ((i * (k + 3)) % 7) / 3),
      );
    writeZip(file, [
      ...names.map((n, k) => ({ name: `${n}.npy`, stored: z(k) })),
      { name: 'labels.npy', stored: npy('<i8', [6], new BigInt64Array([0n, 1n, 2n, 0n, 1n, 2n])) },
    ]);
    const md = path.join(dir, 'r.md');
    const r = await run(['analyze', file, '--markdown', md]);
    assert.equal(r.code, EXIT_OK, r.err);
    assert.doesNotMatch(r.out, controls);
    const text = fs.readFileSync(md, 'utf8');
    assert.doesNotMatch(text, controls);
    let render: ((markdown: string) => string) | null = null;
    try {
      const { default: MarkdownIt } = await import('markdown-it');
      // A CommonMark renderer with raw HTML allowed, as many are.
      const renderer = new MarkdownIt({ html: true, linkify: true });
      render = (markdown) => renderer.render(markdown);
    } catch {
      // markdown-it comes with the packaging tools; without it only the raw text is checked.
    }
    if (render) {
      // No tag of the names survives.
      const html = render(text);
      assert.doesNotMatch(html, /<img|<script/i);
      assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
      // The per-exit table keeps its shape: a header, the alignment row and one row per exit.
      const rows = html.slice(html.indexOf('<table>'), html.indexOf('</table>')).match(/<tr>/g) ?? [];
      assert.equal(rows.length, 1 + names.length);
    }
  });
});

describe('Ctrl-C', { skip: slowTest('Ctrl-C in a child process') }, () => {
  const script = path.join(__dirname, 'support', 'blockedCli.ts');
  async function holdAndInterrupt(
    mode: 'announced' | 'silent',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; ms: number }> {
    const child = spawn(process.execPath, ['--import', 'tsx', script, mode, '3'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let sentAt = 0;
    child.stdout.on('data', (d) => {
      out += d;
      if (!sentAt && out.includes('holding')) {
        sentAt = Date.now();
        setTimeout(() => child.kill('SIGINT'), 200);
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    return { code, signal, out, ms: Date.now() - sentAt };
  }

  it('ends the process at once while a native call holds the thread (session creation), where a handler could not run', async () => {
    const announced = await holdAndInterrupt('announced');
    assert.equal(announced.signal, 'SIGINT', JSON.stringify(announced));
    assert.doesNotMatch(announced.out, /survived/);
    assert.ok(announced.ms < 2500, `ended ${announced.ms} ms after the hold began`);
    // The same hold, not announced: the handler waits for the thread, which runs the hold to its end.
    const silent = await holdAndInterrupt('silent');
    assert.match(silent.out, /survived/);
  });

  it('after the analysis, while the reports are written: exit 130 and no report file, no temporary file', async () => {
    const { writeNpz } = await import('../../bench/npzWriter');
    const dir = tmpDir();
    const file = path.join(dir, 'big.npz');
    const N = 400_000;
    await writeNpz(file, [
      {
        name: 'exit_logits',
        descr: '<f4',
        shape: [3, N, 4],
        fill: (out, row, rows) => {
          for (let i = 0; i < rows * N * 4; i++) (out as Float32Array)[i] = ((i * 7919) % 1000) / 250;
        },
      },
      {
        name: 'labels',
        descr: '<i8',
        shape: [N],
        fill: (out, row, rows) => {
          for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = BigInt((row + i) % 4);
        },
      },
    ]);
    const outDir = path.join(dir, 'out');
    fs.mkdirSync(outDir);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(__dirname, '..', '..', 'src', 'cli', 'main.ts'),
        'analyze',
        file,
        '--records',
        '--json',
        path.join(outDir, 'r.json'),
        '--markdown',
        path.join(outDir, 'r.md'),
        '--html',
        path.join(outDir, 'r.html'),
        '--quiet',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    // The first temporary report file shows that the analysis is over and the writing began.
    let seen = false;
    const poll = setInterval(() => {
      if (!seen && fs.readdirSync(outDir).some((f) => f.endsWith('.tmp'))) {
        seen = true;
        child.kill('SIGINT');
      }
    }, 2);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(poll);
    assert.ok(seen, `the writing was never seen (exit ${code}): ${err}`);
    assert.equal(code, EXIT_CANCELLED, err);
    assert.match(err, /cancelled/);
    assert.deepEqual(fs.readdirSync(outDir), [], 'no report, no temporary file');
  });
});
