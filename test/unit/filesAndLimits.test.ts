/**
 * The shared checks behind the CLI and the extension (issue #14): report outputs written all or
 * nothing and never over an input or a special file, inputs read from regular files only, names
 * made inert for terminals and Markdown, and the memory and thread limits.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/core/io/atomicWrite';
import { ExitLensError } from '../../src/core/errors';
import { checkRunInputs, readRegularFile } from '../../src/core/io/inputFiles';
import {
  GIB,
  MIB,
  boundThreads,
  checkMemory,
  memoryLimit,
  memorySetting,
  parseMemorySize,
  recordsMemory,
} from '../../src/core/io/limits';
import { planOutputs, writeOutputs } from '../../src/core/io/outputFiles';
import { displayName, mdCode, mdText, terminalText } from '../../src/core/io/text';
import { RunFiles } from '../../src/extension/runFiles';
import { makeFifo } from './support/hostileFiles';
import { tmpDir } from './helpers';

const refuse = (why: string) => new ExitLensError('samples-unreadable', why);

describe('report outputs: all or nothing', () => {
  it('a cancel between two outputs: cancelled, no output and no temporary file left, nothing renamed', async () => {
    const dir = tmpDir();
    const existing = path.join(dir, 'old.json');
    fs.writeFileSync(existing, 'the earlier report');
    const controller = new AbortController();
    const planned = planOutputs(
      [
        { label: '--json', file: existing },
        { label: '--markdown', file: path.join(dir, 'new', 'r.md') },
      ],
      [],
    );
    await assert.rejects(
      writeOutputs(
        [
          { target: planned[0], content: () => 'new json' },
          {
            target: planned[1],
            content: () => {
              // Ctrl-C while this output is built.
              controller.abort();
              return 'markdown';
            },
          },
        ],
        controller.signal,
      ),
      (err: unknown) => err instanceof ExitLensError && err.code === 'cancelled',
    );
    assert.deepEqual(fs.readdirSync(dir), ['old.json'], 'no temporary file, no folder made for the outputs');
    assert.equal(fs.readFileSync(existing, 'utf8'), 'the earlier report');
  });

  it('a failure of the last output: the others are not written, their temporary files and new folders are removed', async (t) => {
    const dir = tmpDir();
    const fifo = path.join(tmpDir(), 'early.pipe');
    if (!makeFifo(fifo)) return t.skip('mkfifo is not available here');
    // A reader that takes one byte and goes: the plain write into the pipe fails.
    const reader = spawn('head', ['-c', '1', fifo], { stdio: 'ignore' });
    const gone = new Promise((r) => reader.on('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    const planned = planOutputs(
      [
        { label: '--json', file: path.join(dir, 'a', 'b', 'r.json') },
        { label: '--html', file: fifo },
      ],
      [],
    );
    assert.deepEqual(
      planned.map((p) => p.mode),
      ['replace', 'stream'],
    );
    await assert.rejects(
      writeOutputs(planned.map((target) => ({ target, content: () => 'x'.repeat(1_000_000) }))),
      /Cannot write --html ".*early\.pipe": the reader closed the pipe; no report file was written or replaced/,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
    await gone;
  });

  it('a character device or a pipe is written through, never renamed over; a folder, a link to nothing are refused', () => {
    if (fs.existsSync('/dev/null'))
      assert.equal(planOutputs([{ label: '--json', file: '/dev/null' }], [])[0].mode, 'stream');
    const dir = tmpDir();
    assert.throws(() => planOutputs([{ label: '--json', file: dir }], []), /is a folder/);
    fs.symlinkSync(path.join(dir, 'gone'), path.join(dir, 'link'));
    assert.throws(
      () => planOutputs([{ label: '--json', file: path.join(dir, 'link') }], []),
      /symbolic link to a file that does not exist/,
    );
  });

  it('two names of one file (a link and what it names) are refused as one output given twice', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'r.json'), '{}');
    fs.symlinkSync(path.join(dir, 'r.json'), path.join(dir, 'link.json'));
    assert.throws(
      () =>
        planOutputs(
          [
            { label: '--json', file: path.join(dir, 'r.json') },
            { label: '--html', file: path.join(dir, 'link.json') },
          ],
          [],
        ),
      /--html ".*link\.json" names the same file as --json/,
    );
  });

  it("an export over one of its run's inputs is refused, by any name (the extension's Export Report)", () => {
    const dir = tmpDir();
    const samples = path.join(dir, 'set.npz');
    fs.writeFileSync(samples, 'samples');
    fs.linkSync(samples, path.join(dir, 'other-name.md'));
    assert.throws(
      () =>
        planOutputs(
          [{ label: 'The export', file: path.join(dir, 'other-name.md') }],
          [{ label: 'the sample set', file: samples }],
        ),
      (err: unknown) =>
        err instanceof ExitLensError &&
        /is the sample set/.test(err.message) &&
        err.hint === 'Choose another file name.',
    );
  });

  it("the run store never renames over a FIFO, a folder or a device under a file's name", (t) => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'a.json'));
    assert.throws(() => writeFileAtomic(path.join(dir, 'a.json'), '{}'), /a\.json: it is a folder, not a regular file/);
    if (!makeFifo(path.join(dir, 'b.json'))) return t.skip('mkfifo is not available here');
    assert.throws(
      () => writeFileAtomic(path.join(dir, 'b.json'), '{}'),
      /b\.json: it is a FIFO \(named pipe\), not a regular file/,
    );
    assert.ok(fs.statSync(path.join(dir, 'b.json')).isFIFO());
  });
});

describe('inputs: regular files only', () => {
  it("a FIFO picked as a sample set is refused before a run starts, saying what it is (the extension's check)", (t) => {
    const dir = tmpDir();
    const fifo = path.join(dir, 'set.npz');
    if (!makeFifo(fifo)) return t.skip('mkfifo is not available here');
    const model = path.join(dir, 'm.onnx');
    fs.writeFileSync(model, 'x');
    assert.throws(
      () =>
        checkRunInputs([
          { what: 'model', file: model },
          { what: 'sample set', file: fifo },
          { what: 'calibration set', file: null },
        ]),
      /Cannot read the sample set .*set\.npz: it is a FIFO \(named pipe\), not a regular file.*\n?/,
    );
    assert.throws(
      () => checkRunInputs([{ what: 'model', file: dir }]),
      (err: unknown) =>
        err instanceof ExitLensError && err.code === 'model-unreadable' && /it is a folder/.test(err.message),
    );
  });

  it('a regular file is read whole, and no further than its size', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'abcdef');
    assert.equal(readRegularFile(file, refuse).toString(), 'abcdef');
    assert.throws(() => readRegularFile(file, refuse, 5), /it is 6 bytes, more than the 5 such a file can be/);
  });

  it("stored runs: a FIFO under a summary's name is skipped with a warning (the editor does not block); a runs folder that is a file is refused", async (t) => {
    const root = tmpDir();
    const skipped: string[] = [];
    const files = new RunFiles(
      () => ({ root, keep: 10 }),
      (file, why) => skipped.push(`${file}: ${why}`),
    );
    fs.mkdirSync(path.join(root, 'runs', 'm-0123456789'), { recursive: true });
    if (!makeFifo(path.join(root, 'runs', 'm-0123456789', '20260101000000000-abcdef.summary.json')))
      return t.skip('mkfifo is not available here');
    assert.deepEqual(files.list(), []);
    assert.match(skipped.join('\n'), /summary\.json: it is a FIFO \(named pipe\), not a regular file/);
    // A run folder that is a regular file, as a mistyped exitLens.runsFolder could name.
    const fileRoot = path.join(tmpDir(), 'runs-here');
    fs.writeFileSync(fileRoot, 'a file');
    const elsewhere = new RunFiles(
      () => ({ root: fileRoot, keep: 10 }),
      (file, why) => skipped.push(`${file}: ${why}`),
    );
    const { runAnalyze } = await import('../../src/engine/analyzeLogits');
    const { collect, fixture } = await import('./helpers');
    const report = await runAnalyze(
      { type: 'analyze', id: 't', logitsPath: fixture('logits_random.npz') },
      collect().emit,
    );
    assert.throws(
      () =>
        elsewhere.save(
          {
            modelPath: null,
            logitsPath: fixture('logits_random.npz'),
            samplesPath: fixture('logits_random.npz'),
            calibPath: null,
          },
          report,
        ),
      /Cannot store the run: .*runs-here is a regular file, not a folder/,
    );
    assert.equal(fs.readFileSync(fileRoot, 'utf8'), 'a file');
  });
});

describe('names made inert', () => {
  it('for the terminal: every control and invisible formatting character is a visible escape', () => {
    assert.equal(displayName('a\u001b[2Jb\r\nc\u0007\u202ed\u0085'), 'a\\e[2Jb\\r\\nc\\x07\\u202ed\\x85');
    assert.equal(displayName('plain name/with-ü'), 'plain name/with-ü');
    // Exit Lens's own lines stay lines; what is in them is escaped.
    assert.equal(terminalText('line one\nline\rtwo\u001b'), 'line one\nline\\rtwo\\e');
  });

  it('for Markdown: a name is a code span whose fence its backticks cannot close; prose is HTML-escaped', () => {
    assert.equal(mdCode('x'), '`x`');
    assert.equal(mdCode('a`b'), '``a`b``');
    assert.equal(mdCode('``x'), '``` ``x ```');
    assert.equal(mdCode('<b>\n'), '`<b>\\n`');
    assert.equal(
      mdText('<img src=x onerror=alert(1)> & [link](javascript:x) *'),
      '&lt;img src=x onerror=alert\\(1\\)&gt; &amp; \\[link\\]\\(javascript:x\\) \\*',
    );
  });
});

describe('limits', () => {
  it('memory sizes: binary units, a unit required', () => {
    assert.equal(parseMemorySize('8G'), 8 * 1024 ** 3);
    assert.equal(parseMemorySize('512M'), 512 * 1024 ** 2);
    assert.equal(parseMemorySize('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseMemorySize(' 64kb '), 64 * 1024);
    assert.equal(parseMemorySize('100b'), 100);
    for (const bad of ['8000', '', 'G', '-1G', '8X', '1e3G', '0G'])
      assert.throws(() => parseMemorySize(bad), /is not a memory size/, bad);
  });

  it("the default limit: the memory available, at most 80% of the machine's or the container's", () => {
    const machine = (total: number, available: number, constrained: number | null = null) => ({
      total,
      available,
      constrained,
    });
    assert.equal(memoryLimit(undefined, machine(10 * GIB, 9 * GIB)).bytes, Math.floor(0.8 * 10 * GIB));
    assert.equal(memoryLimit(undefined, machine(10 * GIB, 3 * GIB)).bytes, 3 * GIB);
    assert.equal(memoryLimit(undefined, machine(64 * GIB, 60 * GIB, 4 * GIB)).bytes, Math.floor(0.8 * 4 * GIB));
    assert.match(
      memoryLimit(undefined, machine(64 * GIB, 60 * GIB, 4 * GIB)).source,
      /80% of the 4\.0 GiB allowed to this container/,
    );
    assert.deepEqual(memoryLimit(2 * GIB, machine(1 * GIB, 1 * GIB)).bytes, 2 * GIB, 'a setting replaces the default');
  });

  it('the estimate: 56 bytes per sample and exit, 112 per sample, 128 MiB for the process; refused above the limit with the parts and what to do', () => {
    // 10^6 samples × 4 exits: 10^6 × (4 × 56 + 112) = 336,000,000 bytes, plus 128 MiB.
    const parts = recordsMemory('the set', 1_000_000, 4, false);
    assert.equal(parts[0].bytes, 336_000_000);
    const total = 336_000_000 + 128 * MIB;
    checkMemory(parts, { bytes: total, source: 'test' }, 'hint');
    assert.throws(
      () => checkMemory(parts, { bytes: total - 1, source: 'the limit of the test' }, 'Use fewer samples.'),
      (err: unknown) =>
        err instanceof ExitLensError &&
        err.code === 'memory-limit' &&
        /about 448 MiB of memory, more than its limit of 448 MiB \(the limit of the test\).*1,000,000 samples × 4 exits\) 320 MiB/.test(
          err.message,
        ) &&
        /^Use fewer samples\. .*--max-memory 1G\.$/.test(err.hint ?? ''),
    );
    // With --records, 128 bytes more per sample and exit.
    assert.equal(recordsMemory('the set', 1_000_000, 4, true)[1].bytes, 512_000_000);
  });

  it('threads: at most what the machine runs at once, saying so', () => {
    assert.deepEqual(boundThreads(undefined, 8), { threads: 8, note: null });
    assert.deepEqual(boundThreads(4, 8), { threads: 4, note: null });
    const bounded = boundThreads(100_000, 8);
    assert.equal(bounded.threads, 8);
    assert.match(bounded.note ?? '', /100,000 threads were asked for, but this machine runs 8 at once/);
  });

  it('the exitLens.maxMemory setting: a size, or empty for the default', () => {
    assert.equal(memorySetting('8G'), 8 * GIB);
    assert.equal(memorySetting(''), undefined);
    assert.equal(memorySetting('lots'), undefined);
  });
});
