/**
 * Sharded profiling (issue #19): a merge of 1, 2, 3 or 7 shards' records files gives the report of
 * a single run over the whole set, figure for figure (createdAt, timings and the provider's
 * attempts aside); shards that do not belong together, overlap, leave samples out, are damaged or
 * come from a newer Exit Lens are refused with a message naming the files (exit code 2).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_OK, EXIT_USER, main } from '../../src/cli/main';
import { parseShard, shardRange } from '../../src/core/records/shards';
import { RECORDS_VERSION, readRecordsHeader } from '../../src/core/records/recordsFile';
import { ExitLensError } from '../../src/core/errors';
import { providerConfig } from '../../src/engine/providers';
import { isEngineRequest } from '../../src/shared/engineProtocol';
import { fixture, tmpDir } from './helpers';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'sdn-digits');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s), isTTY: false });
  return { code, out, err };
}

async function ok(args: string[]): Promise<void> {
  const r = await run([...args, '--quiet']);
  assert.equal(r.code, EXIT_OK, `exit-lens ${args.join(' ')}\n${r.err}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- report JSON compared whole
function comparable(file: string): any {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete report.createdAt;
  delete report.timings;
  if (report.executionProvider) delete report.executionProvider.attempts;
  return report;
}

/** Profiles shards 0..n-1 of a set into records files; returns their paths. */
async function profileShards(
  dir: string,
  stem: string,
  model: string,
  samples: string,
  n: number,
  extra: string[] = [],
): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `${stem}-${i}-of-${n}.exitrec`);
    await ok([
      'profile',
      model,
      '--samples',
      samples,
      '--shard',
      `${i}/${n}`,
      '--records-out',
      file,
      '--ep',
      'cpu',
      ...extra,
    ]);
    files.push(file);
  }
  return files;
}

interface Case {
  name: string;
  model: string;
  samples: string;
  calib?: string;
  /** Options given to the single run and to every shard. */
  extra?: string[];
}

const CHAR_DECODER = path.join(__dirname, '..', '..', 'examples', 'char-decoder');

const CASES: Case[] = [
  {
    name: 'tiny_cnn.onnx + cnn_samples.npz, calibration cnn_calib.npz',
    model: fixture('tiny_cnn.onnx'),
    samples: fixture('cnn_samples.npz'),
    calib: fixture('cnn_calib.npz'),
  },
  {
    name: 'stacked_nec.onnx + cnn_samples.npz',
    model: fixture('stacked_nec.onnx'),
    samples: fixture('cnn_samples.npz'),
  },
  {
    name: 'tiny_transformer.onnx + transformer_samples.npz',
    model: fixture('tiny_transformer.onnx'),
    samples: fixture('transformer_samples.npz'),
  },
  {
    name: 'examples/sdn-digits model.onnx + test.npz',
    model: path.join(EXAMPLE, 'model.onnx'),
    samples: path.join(EXAMPLE, 'test.npz'),
  },
  {
    name: 'a decoder per token position: tokens/decoder.onnx + tokens.npz, calibration tokens_calib.npz',
    model: fixture('tokens/decoder.onnx'),
    samples: fixture('tokens/tokens.npz'),
    calib: fixture('tokens/tokens_calib.npz'),
  },
  {
    name: 'a stacked decoder with a labels array: tokens/decoder_stacked.onnx + tokens_labels.npz',
    model: fixture('tokens/decoder_stacked.onnx'),
    samples: fixture('tokens/tokens_labels.npz'),
  },
  {
    name: 'examples/char-decoder model.onnx + test.npz, with its vocabulary (the token view)',
    model: path.join(CHAR_DECODER, 'model.onnx'),
    samples: path.join(CHAR_DECODER, 'test.npz'),
    extra: ['--vocab', path.join(CHAR_DECODER, 'vocab.json')],
  },
];

describe('shards: the merged report equals the single run', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const dir = tmpDir();
      const single = path.join(dir, 'single.json');
      const singleArgs = [
        'profile',
        c.model,
        '--samples',
        c.samples,
        ...(c.calib ? ['--calib', c.calib] : []),
        ...(c.extra ?? []),
      ];
      const first = await run([...singleArgs, '--ep', 'cpu', '--json', single, '--quiet']);
      assert.equal(first.code, EXIT_OK, first.err);
      const want = comparable(single);
      // The calibration set as a sample set of its own, in two shards.
      const calib = c.calib ? await profileShards(dir, 'calib', c.model, c.calib, 2) : [];
      for (const n of [1, 2, 3, 7]) {
        const shards = await profileShards(dir, 'shard', c.model, c.samples, n, c.extra);
        const merged = path.join(dir, `merged-${n}.json`);
        // In reverse order: the merge puts the shards in sample order itself.
        await ok(['merge', ...shards.reverse(), ...calib.flatMap((f) => ['--calib-records', f]), '--json', merged]);
        assert.deepStrictEqual(comparable(merged), want, `${n} shards`);
      }
      if (c.calib) {
        // The whole calibration set in one records file gives the same report.
        const whole = path.join(dir, 'calib-whole.exitrec');
        await ok(['profile', c.model, '--samples', c.calib, '--records-out', whole, '--ep', 'cpu']);
        const shards = await profileShards(dir, 'again', c.model, c.samples, 3);
        const merged = path.join(dir, 'merged-whole-calib.json');
        await ok(['merge', ...shards, '--calib-records', whole, '--json', merged]);
        assert.deepStrictEqual(comparable(merged), want);
      }
    });
  }

  it('keeps the drill-down of destructive samples with their input previews', async () => {
    const dir = tmpDir();
    const single = path.join(dir, 'single.json');
    await ok([
      'profile',
      fixture('tiny_cnn.onnx'),
      '--samples',
      fixture('cnn_samples.npz'),
      '--ep',
      'cpu',
      '--json',
      single,
    ]);
    const want = comparable(single);
    assert.ok(want.drilldown.destructiveCount > 0, 'the fixture has destructive samples');
    assert.ok(
      want.drilldown.samples.every((s: { input?: unknown }) => s.input),
      'with previews',
    );
    const shards = await profileShards(dir, 's', fixture('tiny_cnn.onnx'), fixture('cnn_samples.npz'), 7);
    const merged = path.join(dir, 'merged.json');
    await ok(['merge', ...shards, '--json', merged, '--markdown', path.join(dir, 'merged.md')]);
    assert.deepStrictEqual(comparable(merged).drilldown, want.drilldown);
  });

  it('a shard can write its own report beside its records; the analysis options travel to the merge', async () => {
    const dir = tmpDir();
    const args = ['--max-drop', '0.05', '--risk', '0.1', '--delta', '0.2'];
    const single = path.join(dir, 'single.json');
    await ok([
      'profile',
      fixture('tiny_cnn.onnx'),
      '--samples',
      fixture('cnn_samples.npz'),
      '--ep',
      'cpu',
      '--json',
      single,
      ...args,
    ]);
    const shards = await profileShards(dir, 's', fixture('tiny_cnn.onnx'), fixture('cnn_samples.npz'), 2, [
      ...args,
      '--json',
      path.join(dir, 'shard-report.json'),
    ]);
    const shardReport = JSON.parse(fs.readFileSync(path.join(dir, 'shard-report.json'), 'utf8'));
    assert.equal(shardReport.samples.N, 25, 'the last shard, 1/2 of 50 samples, has its own report');
    const merged = path.join(dir, 'merged.json');
    await ok(['merge', ...shards, '--json', merged]);
    assert.deepStrictEqual(comparable(merged), comparable(single));
    // Options given to the merge win over the shards'.
    const other = path.join(dir, 'other.json');
    await ok(['merge', ...shards, '--json', other, '--max-drop', '0.01']);
    assert.equal(JSON.parse(fs.readFileSync(other, 'utf8')).settings.maxAccuracyDrop, 0.01);
  });
});

describe('shards that do not belong together are refused, naming the files', () => {
  const cnn = fixture('tiny_cnn.onnx');
  const samples = fixture('cnn_samples.npz');

  async function refused(args: string[], ...names: (string | RegExp)[]): Promise<string> {
    const dir = tmpDir();
    const json = path.join(dir, 'never.json');
    const r = await run([...args, '--json', json, '--quiet']);
    assert.equal(r.code, EXIT_USER, r.err);
    assert.ok(!fs.existsSync(json), 'no report is written');
    for (const n of names) {
      if (typeof n === 'string') assert.ok(r.err.includes(n), `the message names ${n}:\n${r.err}`);
      else assert.match(r.err, n);
    }
    return r.err;
  }

  it('another model', async () => {
    const dir = tmpDir();
    const [a] = await profileShards(dir, 'cnn', cnn, samples, 2);
    const [, b] = await profileShards(dir, 'stacked', fixture('stacked_nec.onnx'), samples, 2);
    await refused(['merge', a, b], path.basename(a), path.basename(b), /different models/);
  });

  it('different costs (--exit-costs)', async () => {
    const dir = tmpDir();
    const [a] = await profileShards(dir, 'static', cnn, samples, 2);
    const [, b] = await profileShards(dir, 'user', cnn, samples, 2, ['--exit-costs', '1,2,3']);
    await refused(['merge', a, b], path.basename(a), path.basename(b), /different costs/);
  });

  it('overlapping and missing indices', async () => {
    const dir = tmpDir();
    const halves = await profileShards(dir, 'half', cnn, samples, 2);
    const thirds = await profileShards(dir, 'third', cnn, samples, 3);
    // 1/3 covers samples 16..32, which the halves already hold.
    await refused(
      ['merge', ...halves, thirds[1]],
      /samples 16\.\.24 are in both \S*half-0-of-2\.exitrec and \S*third-1-of-3\.exitrec/,
      /samples 25\.\.32 are in both \S*third-1-of-3\.exitrec and \S*half-1-of-2\.exitrec/,
    );
    // 2/3 missing: samples 33..49, named as the shard to run.
    await refused(['merge', thirds[0], thirds[1]], /samples 33\.\.49 are in no file/, /Missing: --shard 2\/3/);
    // A shard given twice.
    await refused(['merge', thirds[0], thirds[1], thirds[2], thirds[1]], /samples 16\.\.32 are in both/);
    // Calibration shards are checked the same way.
    await refused(
      ['merge', ...halves, '--calib-records', thirds[0]],
      /The calibration shards do not cover/,
      /samples 16\.\.49 are in no file/,
    );
  });

  it('a corrupt or truncated file, and one that is not a records file', async () => {
    const dir = tmpDir();
    const [a, b] = await profileShards(dir, 's', cnn, samples, 2);
    const bytes = fs.readFileSync(b);
    const truncated = path.join(dir, 'truncated.exitrec');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 9));
    await refused(['merge', a, truncated], 'truncated.exitrec', /truncated/);
    const garbled = path.join(dir, 'garbled.exitrec');
    const g = Buffer.from(bytes);
    g.write('{not json', 16, 'latin1');
    fs.writeFileSync(garbled, g);
    await refused(['merge', a, garbled], 'garbled.exitrec', /not valid JSON/);
    const damaged = path.join(dir, 'damaged.exitrec');
    const d = Buffer.from(bytes);
    // The last 8 bytes are labels (25 int32 and padding): a label of 2^31 - 1 is out of range.
    const header = readRecordsHeader(b);
    const labels = header.header.arrays.find((x) => x.name === 'labels')!;
    d.writeInt32LE(0x7fffffff, header.dataStart + labels.offset);
    fs.writeFileSync(damaged, d);
    await refused(['merge', a, damaged], 'damaged.exitrec', /records are damaged: sample 25 has label 2147483647/);
    const notRecords = fixture('cnn_samples.npz');
    await refused(['merge', a, notRecords], 'cnn_samples.npz', /not an Exit Lens records file/);
  });

  it('a records file of a newer version', async () => {
    const dir = tmpDir();
    const [a, b] = await profileShards(dir, 's', cnn, samples, 2);
    const newer = path.join(dir, 'newer.exitrec');
    const n = Buffer.from(fs.readFileSync(b));
    n.writeUInt32LE(RECORDS_VERSION + 1, 8);
    fs.writeFileSync(newer, n);
    await refused(
      ['merge', a, newer],
      'newer.exitrec',
      new RegExp(`newer Exit Lens \\(records version ${RECORDS_VERSION + 1}`),
    );
  });

  it('as an ExitLensError from the reader', () => {
    assert.throws(
      () => readRecordsHeader(fixture('cnn_samples.npz')),
      (e: unknown) => e instanceof ExitLensError && e.isUserError && /cnn_samples\.npz/.test(e.message),
    );
  });

  it('bad shard options', async () => {
    const dir = tmpDir();
    const out = path.join(dir, 'x.exitrec');
    for (const [args, msg] of [
      [['--shard', '3/3', '--records-out', out], /not a shard i\/n/],
      [['--shard', 'a/b', '--records-out', out], /not a shard i\/n/],
      [['--shard', '0/2'], /--records-out/],
      [['--records-out', out, '--calib', fixture('cnn_calib.npz')], /without --calib/],
      [['--records-out', out, '--cost', 'measured'], /--cost measured/],
      [['--device-id=-1'], /not a GPU index/],
      [['--shard', '0/51', '--records-out', out], /holds no samples.*fewer than 51 shards/],
    ] as [string[], RegExp][]) {
      const r = await run(['profile', cnn, '--samples', samples, '--ep', 'cpu', '--quiet', ...args]);
      assert.equal(r.code, EXIT_USER, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, msg);
      assert.ok(!fs.existsSync(out));
    }
    const r = await run(['merge', out, '--samples', samples]);
    assert.equal(r.code, EXIT_USER);
    assert.match(r.err, /--samples is not an option of merge/);
  });
});

describe('shard ranges and devices', () => {
  it('shards i/n cover 0..N-1 once, contiguous and in order', () => {
    for (let N = 1; N <= 60; N++) {
      for (let n = 1; n <= N; n++) {
        let next = 0;
        for (let i = 0; i < n; i++) {
          const r = shardRange({ index: i, count: n }, N);
          assert.equal(r.start, next);
          assert.ok(r.end > r.start, `${i}/${n} of ${N} is not empty`);
          next = r.end;
        }
        assert.equal(next, N);
      }
    }
    assert.deepEqual(shardRange({ index: 3, count: 8 }, 1797), { start: 673, end: 898 });
    assert.deepEqual(parseShard(' 7 / 8 '), { index: 7, count: 8 });
  });

  it("the engine's merge request is validated on arrival", () => {
    assert.ok(isEngineRequest({ type: 'merge', id: 'r', recordsPaths: ['a.exitrec'] }));
    assert.ok(isEngineRequest({ type: 'merge', id: 'r', recordsPaths: ['a'], calibRecordsPaths: ['c'] }));
    assert.ok(!isEngineRequest({ type: 'merge', id: 'r', recordsPaths: 'a.exitrec' }));
    assert.ok(!isEngineRequest({ type: 'merge', id: 'r', recordsPaths: ['a'], calibRecordsPaths: [1] }));
  });

  it('--device-id goes to CUDA and TensorRT, not to WebGPU or the CPU', () => {
    assert.deepEqual(providerConfig('cuda', 2), { name: 'cuda', deviceId: 2 });
    assert.deepEqual(providerConfig('tensorrt', 1), { name: 'tensorrt', deviceId: 1 });
    assert.equal(providerConfig('webgpu', 1), 'webgpu');
    assert.equal(providerConfig('cpu', 1), 'cpu');
    assert.equal(providerConfig('cuda'), 'cuda');
  });
});
