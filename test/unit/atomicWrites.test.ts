/**
 * Atomic writes under SIGKILL: a writer process (support/runWriter.ts, built from the run
 * store's own code) saves runs and overwrites one file in a loop, and is killed at seeded random
 * moments, again and again: half at a random time, half a few random milliseconds after it
 * creates a temporary file (so inside a write). After every kill, every file under a run's name
 * is whole, the last run the writer finished is listed and opens, the overwritten file holds a
 * whole version no older than the last one finished, and nothing torn is ever read as a run.
 * EXIT_LENS_KILL_SECONDS sets the time spent (default 12), EXIT_LENS_KILL_SEED the seed.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildSync } from 'esbuild';
import type { Report } from '../../src/core/analysis/analyze';
import { runAnalyze } from '../../src/engine/analyzeLogits';
import { RunFiles } from '../../src/extension/runFiles';
import { collect, fixture, slowTest, tmpDir } from './helpers';
import { mulberry32 } from '../../src/core/analysis/split';
import { FILLER, RECORDS, fillerFor, recordsFor } from './support/runWriter';

const SECONDS = Number(process.env.EXIT_LENS_KILL_SECONDS ?? 12);
const SEED = Number(process.env.EXIT_LENS_KILL_SEED ?? 20260105);

/** The records of `seq` exactly, or a description of how they differ. */
function recordsProblem(records: { pred?: unknown; conf?: unknown } | undefined, seq: number): string | null {
  const want = recordsFor(seq);
  if (!records || !Array.isArray(records.pred) || !Array.isArray(records.conf)) return 'no records';
  if (records.pred.length !== RECORDS || records.conf.length !== RECORDS)
    return `records of length ${records.pred.length}`;
  for (let i = 0; i < RECORDS; i++) {
    if (records.pred[i] !== want.pred[i] || records.conf[i] !== want.conf[i]) return `records differ at ${i}`;
  }
  return null;
}

interface WriterOutput {
  saved: { seq: number; runId: string }[];
  pointers: number[];
  ready: boolean;
}

function parseOutput(text: string): WriterOutput {
  const out: WriterOutput = { saved: [], pointers: [], ready: false };
  // A line cut by the kill has no newline yet and is ignored.
  for (const line of text.split('\n').slice(0, -1)) {
    const m = /^saved (\d+) (\S+)$/.exec(line);
    if (m) out.saved.push({ seq: Number(m[1]), runId: m[2] });
    else if (/^pointer \d+$/.test(line)) out.pointers.push(Number(line.split(' ')[1]));
    else if (line === 'ready') out.ready = true;
  }
  return out;
}

describe('atomic writes', { skip: slowTest('a writer killed at random points') }, () => {
  it(
    `a writer killed at random points never leaves a torn run (${SECONDS} s, seed ${SEED})`,
    { timeout: (SECONDS + 120) * 1000 },
    async () => {
      const dir = tmpDir('exit-lens-kill-');
      const root = path.join(dir, 'store');
      const pointer = path.join(dir, 'pointer.json');
      const writer = path.join(dir, 'runWriter.js');
      // Bundled from the sources now, so the writer runs exactly the code under test, in plain Node.
      buildSync({
        entryPoints: [path.join(__dirname, 'support', 'runWriter.ts')],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        outfile: writer,
        logLevel: 'silent',
      });
      const base: Report = await runAnalyze(
        { type: 'analyze', id: 'base', logitsPath: fixture('logits_random.npz') },
        collect().emit,
      );
      const baseFile = path.join(dir, 'base.json');
      fs.writeFileSync(baseFile, JSON.stringify(base));

      const rand = mulberry32(SEED);
      const skipped: string[] = [];
      const reader = new RunFiles(
        () => ({ root, keep: 4 }),
        (file, why) => skipped.push(`${file}: ${why}`),
      );
      let lastSaved: { seq: number; runId: string } | null = null;
      let lastPointer = -1;
      let nextSeq = 0;
      let kills = 0;
      let tornLeftovers = 0;
      let saves = 0;
      // Files under a run's name are never rewritten (each run has a new name), so each is checked once.
      const checked = new Set<string>();
      const opened = new Set<string>();
      const deadline = Date.now() + SECONDS * 1000;
      // On a loaded machine a writer starts slowly: go on past the deadline (up to 30 s more) until
      // at least 15 kills and 3 of them inside a write.
      const hardDeadline = deadline + 30_000;
      while ((Date.now() < deadline || kills < 15 || tornLeftovers < 3) && Date.now() < hardDeadline) {
        // Half the kills at a random time after the writer is ready; half a few random milliseconds
        // after it creates its n-th temporary file (seen through inotify), so that many land inside a write.
        const inWrite = rand() < 0.5;
        const delay = inWrite ? rand() * 3 : Math.floor(rand() * 400);
        const skipTemps = Math.floor(rand() * 4);
        const child = spawn(process.execPath, [writer, root, baseFile, String(nextSeq), pointer], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
        const watchers: fs.FSWatcher[] = [];
        await new Promise<void>((resolve) => {
          let scheduled = false;
          const killAfter = (ms: number) => {
            if (scheduled) return;
            scheduled = true;
            setTimeout(resolve, ms);
          };
          child.on('close', () => resolve());
          if (inWrite) {
            let temps = 0;
            const runsKey = path.join(root, 'runs');
            const folders = [
              dir,
              ...(fs.existsSync(runsKey) ? fs.readdirSync(runsKey).map((k) => path.join(runsKey, k)) : []),
            ];
            for (const folder of folders) {
              watchers.push(
                fs.watch(folder, (_event, name) => {
                  if (name?.endsWith('.tmp') && fs.existsSync(path.join(folder, name)) && temps++ >= skipTemps)
                    killAfter(delay);
                }),
              );
            }
            setTimeout(() => killAfter(0), 5_000);
          } else {
            const onData = () => {
              if (!stdout.includes('ready\n')) return;
              child.stdout.off('data', onData);
              killAfter(delay);
            };
            child.stdout.on('data', onData);
          }
        });
        watchers.forEach((w) => w.close());
        child.kill('SIGKILL');
        await exited;
        kills++;
        assert.equal(stderr, '', `writer stderr: ${stderr}`);
        const out = parseOutput(stdout);
        assert.ok(out.ready, `the writer never started: ${stdout}`);
        saves += out.saved.length;
        if (out.saved.length) lastSaved = out.saved[out.saved.length - 1];
        if (out.pointers.length) lastPointer = out.pointers[out.pointers.length - 1];
        // Each writer starts two past the last seq it printed: the run in flight may have been completed unprinted.
        nextSeq = Math.max(nextSeq, ...out.saved.map((s) => s.seq), ...out.pointers) + 2;

        const context = `after kill ${kills} (seed ${SEED}, ${inWrite ? `${delay.toFixed(1)} ms after temporary file ${skipTemps + 1}` : `${delay} ms after ready`})`;
        // 1. Every file under a run's name parses whole; temporary files are counted and cleared.
        const runsDir = path.join(root, 'runs');
        for (const key of fs.existsSync(runsDir) ? fs.readdirSync(runsDir) : []) {
          for (const f of fs.readdirSync(path.join(runsDir, key))) {
            const file = path.join(runsDir, key, f);
            if (f.endsWith('.tmp')) {
              tornLeftovers++;
              fs.rmSync(file);
              continue;
            }
            assert.match(f, /\.(run|summary)\.json$/, `${context}: unexpected file ${f}`);
            const identity = `${file} ${fs.statSync(file).mtimeMs}`;
            if (checked.has(identity)) continue;
            checked.add(identity);
            let parsed;
            try {
              parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
            } catch (err) {
              assert.fail(`${context}: ${f} is torn: ${(err as Error).message}`);
            }
            if (f.endsWith('.run.json')) {
              const seq = parsed.report?.timings?.seq;
              assert.equal(recordsProblem(parsed.report?.records, seq), null, `${context}: ${f}`);
              assert.ok(
                parsed.report.warnings?.[0]?.message === fillerFor(seq),
                `${context}: ${f}: the filler differs`,
              );
            } else {
              assert.equal(parsed.summary?.runId, `${key}/${f.slice(0, -'.summary.json'.length)}`, `${context}: ${f}`);
            }
          }
        }
        // 2. Listed runs all open whole; the last finished run is among them.
        const listed = reader.list();
        for (const s of listed) {
          if (opened.has(s.runId)) continue;
          opened.add(s.runId);
          const run = reader.load(s.runId);
          assert.ok(run, `${context}: listed run ${s.runId} does not open`);
          assert.equal(
            recordsProblem(run.report.records, run.report.timings.seq as number),
            null,
            `${context}: ${s.runId}`,
          );
        }
        assert.deepEqual(skipped, [], `${context}: files skipped as unreadable`);
        if (lastSaved)
          assert.ok(
            listed.some((s) => s.runId === lastSaved!.runId),
            `${context}: the last finished run ${lastSaved.runId} is not listed`,
          );
        // 3. The file overwritten in place holds one whole version, no older than the last finished.
        if (fs.existsSync(pointer)) {
          const current = JSON.parse(fs.readFileSync(pointer, 'utf8'));
          assert.ok(current.seq >= lastPointer, `${context}: pointer went back from ${lastPointer} to ${current.seq}`);
          assert.equal(recordsProblem(current.records, current.seq), null, `${context}: pointer`);
          assert.ok(
            current.filler?.message?.length === FILLER && current.filler.message === fillerFor(current.seq),
            `${context}: pointer filler`,
          );
        } else {
          assert.equal(lastPointer, -1, `${context}: the pointer file vanished`);
        }
        for (const f of fs.readdirSync(dir)) {
          if (f.endsWith('.tmp')) {
            tornLeftovers++;
            fs.rmSync(path.join(dir, f));
          }
        }
      }
      // The kills did land inside writes (a temporary file left behind), else nothing was tested.
      assert.ok(saves > 0 && lastSaved, 'no run was saved');
      assert.ok(tornLeftovers > 0, `no kill landed inside a write in ${kills} kills`);
      process.stdout.write(`# ${kills} kills, ${saves} runs saved, ${tornLeftovers} writes cut short\n`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  );
});
