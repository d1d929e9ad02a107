/**
 * The extension's side of the engine (EngineClient) with a real engine process (the built
 * dist/engine.js): the engine killed, out of memory, cancelled, stuck, and its host gone. Each
 * time the run fails with a message that says what happened, the log has the details, no engine
 * process is left behind, stored runs are untouched and the next run works.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Report } from '../../src/core/analysis/analyze';
import { EngineClient, EngineLog } from '../../src/extension/engineClient';
import { RunFiles } from '../../src/extension/runFiles';
import { engineChildren, fixture, processExists, processGone, slowTest, tmpDir, writeLongRunSamples } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const ENGINE = path.join(ROOT, 'dist', 'engine.js');
const HUNG_ENGINE = path.join(__dirname, 'support', 'hungEngine.ts');
const HOST = path.join(__dirname, 'support', 'engineHost.ts');

function recordingLog(): EngineLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** A cancellation token like vscode's: listeners run when cancel() is called. */
function cancelSource() {
  const listeners: (() => void)[] = [];
  return {
    token: { onCancellationRequested: (l: () => void) => listeners.push(l) },
    cancel: () => listeners.forEach((l) => l()),
  };
}

type RunError = Error & { code?: string };

async function rejection(p: Promise<unknown>): Promise<RunError> {
  try {
    await p;
  } catch (err) {
    return err as RunError;
  }
  assert.fail('the run was expected to fail');
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function noEngineLeft(script: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (engineChildren(script).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(engineChildren(script), [], 'no engine process left');
}

describe('engine client with a real engine process', () => {
  const dir = tmpDir();
  const long = path.join(dir, 'long.npz');
  const clients: EngineClient[] = [];
  const client = (script = ENGINE, options: ConstructorParameters<typeof EngineClient>[2] = { execArgv: [] }) => {
    const log = recordingLog();
    const c = new EngineClient(script, log, options);
    clients.push(c);
    return { c, log };
  };
  // 200 000 samples at batch size 1 last far longer than any of these tests waits.
  before(() => writeLongRunSamples(long, 200_000));
  const longRun = {
    type: 'profile' as const,
    modelPath: fixture('nan_net.onnx'),
    samplesPath: long,
    executionProviders: ['cpu'],
    batchSize: 1,
  };
  const shortRun = {
    type: 'profile' as const,
    modelPath: fixture('tiny_cnn.onnx'),
    samplesPath: fixture('cnn_samples.npz'),
    executionProviders: ['cpu'],
  };
  const started = (onStart: () => void) => {
    let seen = false;
    return (e: { type: string; phase?: string }) => {
      if (!seen && e.type === 'progress' && e.phase === 'inference') {
        seen = true;
        onStart();
      }
    };
  };

  after(() => {
    clients.forEach((c) => c.dispose());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'the engine killed mid-run: the run fails naming the signal, the process is gone, and the next run starts a new engine',
    { timeout: 60_000, skip: slowTest('engine killed') },
    async () => {
      const { c, log } = client();
      let pid = 0;
      const run = c.run(
        longRun,
        started(() => {
          pid = c.enginePid!;
          process.kill(pid, 'SIGKILL');
        }),
      );
      const err = await rejection(run);
      assert.equal(err.code, 'engine-exited');
      assert.match(
        err.message,
        /The profiling engine was killed by SIGKILL .*See "Exit Lens: Show Log"; earlier reports are untouched/,
      );
      assert.ok(
        log.lines.some((l) => l.startsWith('error') && l.includes(`pid ${pid}`) && l.includes('SIGKILL')),
        log.lines.join('\n'),
      );
      assert.ok(await processGone(pid), `engine ${pid} still exists`);
      await noEngineLeft(ENGINE);
      const report = await c.run(shortRun, () => undefined);
      assert.equal(report.samples.sampleCount, 50);
      assert.notEqual(c.enginePid, pid);
      assert.equal(engineChildren(ENGINE).length, 1, 'one engine, the new one');
      c.dispose();
      await noEngineLeft(ENGINE);
    },
  );

  it(
    "the engine out of memory: the run fails saying so, with V8's report in the log; stored runs are kept; the next run works",
    { timeout: 60_000, skip: slowTest('engine out of memory') },
    async () => {
      // A heap limit of 16 MB: a logits file of 400 samples analyses within it; per-sample records
      // of 500 000 samples x 6 exits (two arrays of 3 million numbers, 8 bytes each) cannot.
      const { writeNpz } = await import('../../bench/npzWriter');
      const big = path.join(dir, 'big_logits.npz');
      const N = 500_000;
      await writeNpz(big, [
        ...Array.from({ length: 6 }, (_, k) => ({
          name: `exit_${k}`,
          descr: '<f4' as const,
          shape: [N, 2],
          fill: (out: Float32Array | BigInt64Array | Int32Array, row: number, rows: number) => {
            for (let i = 0; i < rows * 2; i++) (out as Float32Array)[i] = ((row * 2 + i) * (k + 3)) % 5;
          },
        })),
        {
          name: 'labels',
          descr: '<i8',
          shape: [N],
          fill: (out, row, rows) => {
            for (let i = 0; i < rows; i++) (out as BigInt64Array)[i] = BigInt((row + i) % 2);
          },
        },
      ]);
      const { c, log } = client(ENGINE, { execArgv: ['--max-old-space-size=16'] });
      const store = new RunFiles(
        () => ({ root: path.join(dir, 'store'), keep: 10 }),
        (file, why) => assert.fail(`skipped ${file}: ${why}`),
      );
      const small = { type: 'analyze' as const, logitsPath: fixture('logits_random.npz'), includeRecords: true };
      const earlier = store.save(
        { modelPath: null, logitsPath: small.logitsPath, samplesPath: small.logitsPath, calibPath: null },
        await c.run(small, () => undefined),
      );
      const before = fs.readFileSync(path.join(dir, 'store', 'runs', `${earlier.runId}.run.json`));

      const pid = c.enginePid!;
      const err = await rejection(c.run({ type: 'analyze', logitsPath: big, includeRecords: true }, () => undefined));
      assert.equal(err.code, 'engine-out-of-memory');
      assert.match(
        err.message,
        /The profiling engine ran out of memory and (was killed by SIGABRT|exited with code \d+)\. Try a smaller batch size or sample set\. See "Exit Lens: Show Log"; earlier reports are untouched\./,
      );
      assert.ok(
        log.lines.some((l) => l.startsWith('warn') && /JavaScript heap out of memory/.test(l)),
        "V8's message is in the log",
      );
      assert.ok(
        log.lines.some((l) => l.startsWith('error') && l.includes(`pid ${pid}`) && /ran out of memory/.test(l)),
      );
      assert.ok(await processGone(pid), `engine ${pid} still exists`);
      await noEngineLeft(ENGINE);

      // The earlier run is listed and byte for byte the same; the next run works in a new engine.
      assert.deepEqual(
        store.list().map((s) => s.runId),
        [earlier.runId],
      );
      assert.deepEqual(fs.readFileSync(path.join(dir, 'store', 'runs', `${earlier.runId}.run.json`)), before);
      const again: Report = await c.run(small, () => undefined);
      assert.equal(again.samples.sampleCount, 400);
      assert.notEqual(c.enginePid, pid);
      c.dispose();
      await noEngineLeft(ENGINE);
    },
  );

  it(
    'the engine starts with the environment the GPU needs, and a changed one restarts it between runs',
    { timeout: 60_000 },
    async () => {
      const { c, log } = client();
      const environOf = (pid: number) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      assert.equal(
        c.setEnvironment({ set: { NVIDIA_TF32_OVERRIDE: '0', LD_LIBRARY_PATH: '/opt/cuda-libs' }, unset: [] }),
        false,
        'no engine yet',
      );
      const r1 = await c.run(shortRun, () => undefined);
      assert.equal(r1.samples.sampleCount, 50);
      const first = c.enginePid!;
      assert.ok(environOf(first).includes('NVIDIA_TF32_OVERRIDE=0'));
      assert.ok(environOf(first).includes('LD_LIBRARY_PATH=/opt/cuda-libs'));
      // The same environment again: the engine stays.
      assert.equal(
        c.setEnvironment({ set: { LD_LIBRARY_PATH: '/opt/cuda-libs', NVIDIA_TF32_OVERRIDE: '0' }, unset: [] }),
        false,
      );
      assert.equal(c.enginePid, first);
      // tf32: the variable goes; the engine (idle) is ended and the next run starts one without it.
      assert.equal(
        c.setEnvironment({ set: { LD_LIBRARY_PATH: '/opt/cuda-libs' }, unset: ['NVIDIA_TF32_OVERRIDE'] }),
        true,
      );
      assert.ok(await processGone(first));
      await c.run(shortRun, () => undefined);
      const second = c.enginePid!;
      assert.notEqual(second, first);
      assert.ok(!environOf(second).some((v) => v.startsWith('NVIDIA_TF32_OVERRIDE=')));
      assert.ok(log.lines.some((l) => /engine environment changed/.test(l)));
      c.dispose();
      await noEngineLeft(ENGINE);
    },
  );

  it(
    'a cancelled run: the engine stops it between batches, stays idle, and serves the next run',
    { timeout: 60_000 },
    async () => {
      const { c } = client();
      const source = cancelSource();
      const run = c.run(
        longRun,
        started(() => source.cancel()),
        source.token,
      );
      const t0 = Date.now();
      const err = await rejection(run);
      assert.equal(err.code, 'cancelled');
      assert.ok(Date.now() - t0 < 5_000, 'stopped at the next batch, not after the grace period');
      const pid = c.enginePid!;
      assert.deepEqual(engineChildren(ENGINE), [pid], 'one engine, idle');
      // Idle: a process still inferring at batch size 1 would use most of a core.
      const cpu0 = cpuSeconds(pid);
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(
        cpuSeconds(pid) - cpu0 < 0.3,
        `the engine used ${(cpuSeconds(pid) - cpu0).toFixed(2)} CPU s in 1 s after the cancel`,
      );
      assert.equal((await c.run(shortRun, () => undefined)).samples.sampleCount, 50);
      assert.equal(c.enginePid, pid, 'the same engine served the next run');
      c.dispose();
      assert.ok(await processGone(pid));
      await noEngineLeft(ENGINE);
    },
  );

  it(
    'a cancelled run whose engine is stuck (no answer within the grace period): the engine is killed',
    { timeout: 30_000, skip: slowTest('stuck engine killed') },
    async () => {
      const { c, log } = client(HUNG_ENGINE, { execArgv: ['--import', 'tsx'], cancelGraceMs: 1_000 });
      const source = cancelSource();
      let pid = 0;
      const run = c.run(
        longRun,
        started(() => {
          pid = c.enginePid!;
          source.cancel();
        }),
        source.token,
      );
      const err = await rejection(run);
      assert.equal(err.code, 'cancelled');
      assert.match(err.message, /did not stop within 1 s and was ended\. Nothing was written\./);
      assert.ok(log.lines.some((l) => l.includes(`pid ${pid}`) && l.includes('is killed')));
      assert.ok(await processGone(pid), `stuck engine ${pid} still exists`);
      await noEngineLeft(HUNG_ENGINE);
    },
  );

  it(
    "whatever the host's working directory holds, the engine runs from the extension's folder with its own ONNX Runtime",
    { timeout: 60_000 },
    async () => {
      // A working directory (a workspace) with an onnxruntime-node of its own that would leave a marker.
      const workspace = path.join(dir, 'workspace');
      const fake = path.join(workspace, 'node_modules', 'onnxruntime-node');
      fs.mkdirSync(fake, { recursive: true });
      fs.writeFileSync(path.join(fake, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', main: 'index.js' }));
      fs.writeFileSync(
        path.join(fake, 'index.js'),
        `require('fs').writeFileSync(${JSON.stringify(path.join(workspace, 'marker'))}, 'loaded');`,
      );
      const previous = process.cwd();
      process.chdir(workspace);
      try {
        const { c } = client();
        const report = await c.run(shortRun, () => undefined);
        assert.equal(report.executionProvider?.used, 'cpu');
        const pid = c.enginePid!;
        assert.equal(fs.realpathSync(fs.readlinkSync(`/proc/${pid}/cwd`)), fs.realpathSync(ROOT));
        const ortDir = fs.realpathSync(path.dirname(require.resolve('onnxruntime-node/package.json')));
        // The native libraries (.node, .so) of ONNX Runtime that the engine has loaded.
        const mapped = fs
          .readFileSync(`/proc/${pid}/maps`, 'utf8')
          .split('\n')
          .filter((l) => l.includes('/'))
          .map((l) => l.slice(l.indexOf('/')).trim())
          .filter((f) => f.includes('onnxruntime') && /\.(node|so(\.\d+)*)$/.test(f));
        assert.ok(
          mapped.some((f) => f.endsWith('libonnxruntime.so.1')),
          'ONNX Runtime is loaded',
        );
        for (const f of mapped) assert.ok(fs.realpathSync(f).startsWith(`${ortDir}/`), `${f} is not from ${ortDir}`);
        assert.equal(
          fs.existsSync(path.join(workspace, 'marker')),
          false,
          "the working directory's onnxruntime-node was not loaded",
        );
        c.dispose();
        assert.ok(await processGone(pid));
      } finally {
        process.chdir(previous);
      }
    },
  );

  it(
    'the host killed while a run is under way (an editor window that crashed): the engine exits too',
    { timeout: 60_000, skip: slowTest('host killed') },
    async () => {
      const host = spawn(process.execPath, ['--import', 'tsx', HOST, ENGINE, fixture('nan_net.onnx'), long], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let enginePid = 0;
      try {
        enginePid = await new Promise<number>((resolve, reject) => {
          let out = '';
          host.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /engine (\d+)/.exec(out);
            if (m) resolve(Number(m[1]));
            else if (/failed|finished/.test(out)) reject(new Error(out));
          });
          host.on('exit', (code) => reject(new Error(`host exited early (${code}): ${out}`)));
        });
        assert.ok(processExists(enginePid));
        host.kill('SIGKILL');
        // The engine's IPC channel closes with its parent; it must not run on as an orphan.
        assert.ok(await processGone(enginePid, 5_000), `engine ${enginePid} outlived its host`);
      } finally {
        host.kill('SIGKILL');
        if (enginePid && processExists(enginePid)) process.kill(enginePid, 'SIGKILL');
      }
    },
  );
});
