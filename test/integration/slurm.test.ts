/**
 * docs/scale/slurm/ on a real Slurm: Debian's slurm-wlm and munge (npm run slurm:install), a
 * single-node cluster in a temporary folder (scripts/slurm-local.sh: slurmctld, slurmd and munged
 * of its own, no cgroups), and the templates run through submit.sh as a user would, on the
 * bundled example with 4 shards and a calibration set:
 *   - the merged report equals a single run with the same --ep and --threads, byte for byte once
 *     the fields a merge may change (docs/scale/README.md) are taken out;
 *   - a cancelled shard makes Slurm cancel the merge (it does not stay pending), and
 *     `submit.sh resume` queues that shard alone and a new merge, which gives the same report.
 * Every daemon started is stopped afterwards, also when a test fails (and, through the cluster's
 * watcher, when this process is killed). Skipped, saying why, where the packages are not
 * installed (no apt-get, or neither root nor sudo) or the process is not root (slurmd needs it).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tmpDir } from '../unit/helpers';

const ROOT = path.join(__dirname, '..', '..');
const SUBMIT = path.join(ROOT, 'docs', 'scale', 'slurm', 'submit.sh');
const CLUSTER = path.join(ROOT, 'scripts', 'slurm-local.sh');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const EXAMPLE = path.join(ROOT, 'examples', 'sdn-digits');
const MODEL = path.join(EXAMPLE, 'model.onnx');
const SAMPLES = path.join(EXAMPLE, 'test.npz');
const CALIB = path.join(EXAMPLE, 'calib.npz');
/** How long a job may take to end here (2 cores shared with other work). */
const JOB_TIMEOUT_MS = 240_000;

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'the Slurm test runs on Linux only';
  const missing = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel'].filter(
    (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0,
  );
  if (missing.length)
    return `Slurm test skipped: ${missing.join(', ')} not installed. Install Debian's slurm-wlm and munge with npm run slurm:install (as root, or with sudo), then rerun.`;
  if (process.getuid?.() !== 0) return 'Slurm test skipped: it must run as root (slurmd starts each job as its user)';
  return false;
}
const skip = skipReason();
if (skip) console.log(`# ${skip}`);

function sh(cmd: string, args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** One record per job (per array task) of `scontrol show job -o`, as key → value. */
function jobRecords(conf: string, id: string): Record<string, string>[] {
  const r = sh('scontrol', ['show', 'job', '-o', id], { SLURM_CONF: conf });
  assert.equal(r.status, 0, `scontrol show job ${id}: ${r.out}`);
  return r.out
    .trim()
    .split('\n')
    .map((line) => Object.fromEntries([...line.matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1], m[2]])));
}

const ACTIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'RESIZING']);

/** Waits until no record of the job is active (pending, running, …); returns its records. */
async function waitForEnd(conf: string, id: string, what: string): Promise<Record<string, string>[]> {
  const until = Date.now() + JOB_TIMEOUT_MS;
  for (;;) {
    const records = jobRecords(conf, id);
    if (!records.some((r) => ACTIVE.has(r.JobState))) return records;
    if (Date.now() > until) {
      const log = fs.readFileSync(path.join(path.dirname(conf), 'log', 'slurmctld.log'), 'utf8');
      assert.fail(
        `${what} (job ${id}) did not end in ${JOB_TIMEOUT_MS / 1000} s: ${JSON.stringify(records)}\n` +
          `slurmctld.log ends with:\n${log.split('\n').slice(-30).join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The report's JSON text without the fields a merge may change (docs/scale/README.md). */
function comparable(file: string): string {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete report.createdAt;
  delete report.timings;
  delete report.executionProvider.attempts;
  return JSON.stringify(report, null, 1);
}

describe('docs/scale/slurm on a single-node Slurm', { skip }, () => {
  let cluster = '';
  let conf = '';
  let single = '';
  let stopped = false;
  const stop = () => {
    if (stopped || !cluster) return;
    stopped = true;
    const r = spawnSync('bash', [CLUSTER, 'stop', cluster], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `stopping the cluster: ${r.stdout}${r.stderr}`);
  };
  // A failure or an interrupt between before and after still stops the daemons.
  const onExit = () => {
    try {
      stop();
    } catch {
      // reported by after() when it runs
    }
  };

  before(() => {
    const build = sh(process.execPath, [path.join(ROOT, 'esbuild.mjs')]);
    assert.equal(build.status, 0, `npm run build failed:\n${build.out}`);
    cluster = path.join(tmpDir('exit-lens-slurm-'), 'cluster');
    process.on('exit', onExit);
    const r = sh('bash', [CLUSTER, 'start', cluster], { SLURM_LOCAL_WATCH_PID: String(process.pid) });
    assert.equal(r.status, 0, `starting the cluster: ${r.out}`);
    conf = path.join(cluster, 'slurm.conf');
    // The single run the merges must equal: same --ep, and the one thread each task gets.
    single = path.join(tmpDir(), 'single.json');
    const s = sh(process.execPath, [
      CLI,
      'profile',
      MODEL,
      '--samples',
      SAMPLES,
      '--calib',
      CALIB,
      '--ep',
      'cpu',
      '--threads',
      '1',
      '--json',
      single,
      '--quiet',
    ]);
    assert.equal(s.status, 0, s.out);
  });

  after(() => {
    process.off('exit', onExit);
    stop();
    const left = sh('sh', ['-c', `grep -lzxF "SLURM_CONF=${conf}" /proc/[0-9]*/environ 2>/dev/null || true`]).out;
    assert.equal(left.trim(), '', 'no process of the cluster is left');
    for (const daemon of ['slurmctld.pid', 'slurmd.pid', 'munge/munged.pid']) {
      const file = path.join(cluster, daemon);
      if (fs.existsSync(file)) {
        const pid = fs.readFileSync(file, 'utf8').trim();
        assert.ok(!pid || !fs.existsSync(`/proc/${pid}`), `${daemon}: process ${pid} still runs`);
      }
    }
    fs.rmSync(path.dirname(cluster), { recursive: true, force: true });
  });

  /** submit.sh with the run's environment; returns the job ids it printed. */
  function submit(env: Record<string, string>, mode: string[] = []): { shards: string; merge: string; out: string } {
    const r = sh('bash', [SUBMIT, ...mode], {
      SLURM_CONF: conf,
      EXIT_LENS: `${process.execPath} ${CLI}`,
      ...env,
    });
    assert.equal(r.status, 0, `submit.sh ${mode.join(' ')}: ${r.out}`);
    const m = /^shards: job (\d+); merge: job (\d+)$/m.exec(r.out);
    assert.ok(m, `submit.sh printed the job ids: ${r.out}`);
    return { shards: m[1], merge: m[2], out: r.out };
  }

  const run = { MODEL, SAMPLES, CALIB, SHARDS: '4', EP: 'cpu' };

  it('4 shards and 4 calibration shards, then the merge: the report equals a single run', async () => {
    const out = path.join(tmpDir(), 'run');
    // An array request in the environment must not turn the merge into an array (it did).
    const ids = submit({ ...run, OUT: out, SHARD_SBATCH_ARGS: '--cpus-per-task=1', SBATCH_ARRAY_INX: '0-4' });
    const merge = await waitForEnd(conf, ids.merge, 'the merge');
    assert.equal(merge.length, 1, 'the merge is one job, not an array');
    assert.equal(merge[0].ArrayTaskId, undefined);
    assert.equal(
      merge[0].JobState,
      'COMPLETED',
      fs.readFileSync(path.join(out, `exit-lens-merge-${ids.merge}.log`), 'utf8'),
    );
    const shards = jobRecords(conf, ids.shards);
    assert.deepEqual(shards.map((r) => `${r.ArrayTaskId} ${r.JobState}`).sort(), [
      '0 COMPLETED',
      '1 COMPLETED',
      '2 COMPLETED',
      '3 COMPLETED',
    ]);
    for (let i = 0; i < 4; i++) {
      // The logs are in OUT, and say which shard ran, with which threads and provider.
      const log = fs.readFileSync(path.join(out, `exit-lens-shard-${ids.shards}_${i}.log`), 'utf8');
      assert.match(log, new RegExp(`^exit-lens-shard: shard ${i}/4 .* --ep cpu --threads 1$`, 'm'));
      assert.match(log, /^Execution provider: CPU \(fp32\), 1 threads?$/m);
    }
    assert.equal(comparable(path.join(out, 'report.json')), comparable(single));
    assert.ok(fs.existsSync(path.join(out, 'report.md')) && fs.existsSync(path.join(out, 'report.html')));
  });

  it('a cancelled shard cancels the merge, and resume queues that shard alone and a new merge', async () => {
    const out = path.join(tmpDir(), 'run');
    // Held, so that task 1 is cancelled before anything ran.
    const first = submit({ ...run, OUT: out, SHARD_SBATCH_ARGS: '--cpus-per-task=1 --hold' });
    const cancel = sh('scancel', [`${first.shards}_1`], { SLURM_CONF: conf });
    assert.equal(cancel.status, 0, cancel.out);
    // Resuming while the run's jobs are queued would profile shards twice: refused.
    const early = sh('bash', [SUBMIT, 'resume'], {
      SLURM_CONF: conf,
      OUT: out,
      EXIT_LENS: `${process.execPath} ${CLI}`,
    });
    assert.equal(early.status, 2, early.out);
    assert.match(early.out, new RegExp(`job ${first.shards} of this run is still queued or running`));
    const release = sh('scontrol', ['release', first.shards], { SLURM_CONF: conf });
    assert.equal(release.status, 0, release.out);

    const merge = await waitForEnd(conf, first.merge, 'the merge after a cancelled shard');
    assert.equal(merge[0].JobState, 'CANCELLED', JSON.stringify(merge));
    assert.equal(merge[0].Reason, 'DependencyNeverSatisfied');
    // (A task cancelled while pending leaves the array's records, or stays as CANCELLED.)
    assert.deepEqual(
      (await waitForEnd(conf, first.shards, 'the shards'))
        .map((r) => `${r.ArrayTaskId} ${r.JobState}`)
        .filter((t) => t !== '1 CANCELLED')
        .sort(),
      ['0 COMPLETED', '2 COMPLETED', '3 COMPLETED'],
    );
    assert.ok(!fs.existsSync(path.join(out, 'report.json')));
    assert.ok(!fs.existsSync(path.join(out, 'shard-1.exitrec')));

    // The settings come from OUT: only OUT (and the command) are given again.
    const again = submit({ OUT: out, SHARD_SBATCH_ARGS: '--cpus-per-task=1' }, ['resume']);
    const merge2 = await waitForEnd(conf, again.merge, 'the resumed merge');
    assert.equal(
      merge2[0].JobState,
      'COMPLETED',
      fs.readFileSync(path.join(out, `exit-lens-merge-${again.merge}.log`), 'utf8'),
    );
    // Shard 1 of 4 (not 0/1 or 1/1: the array of the resubmission has one task).
    assert.deepEqual(
      jobRecords(conf, again.shards).map((r) => `${r.ArrayTaskId} ${r.JobState}`),
      ['1 COMPLETED'],
    );
    const log = fs.readFileSync(path.join(out, `exit-lens-shard-${again.shards}_1.log`), 'utf8');
    assert.match(log, /^exit-lens-shard: shard 1\/4 /m);
    assert.equal(comparable(path.join(out, 'report.json')), comparable(single));
  });
});
