/**
 * The templates of docs/scale/ work as written: the Slurm scripts pass `bash -n` and run under a
 * fake `sbatch` (first on PATH) that runs the array's tasks here with SLURM_ARRAY_TASK_ID set and
 * the merge after them (afterok); the Kubernetes Indexed Job's command runs here once per
 * JOB_COMPLETION_INDEX, then the merge Job's; the multi-GPU loop runs with three "GPUs" on the
 * CPU. Each ends with a report equal to the single run's. They run the built CLI (dist/cli.js),
 * built first when it is missing or older than the sharding.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import YAML from 'yaml';
import { fixture, tmpDir } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const SCALE = path.join(ROOT, 'docs', 'scale');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const MODEL = fixture('tiny_cnn.onnx');
const SAMPLES = fixture('cnn_samples.npz');
const CALIB = fixture('cnn_calib.npz');

/** A folder for PATH with `exit-lens` (the built CLI) and the fake `sbatch` and `squeue`. */
function binDir(): string {
  const bin = tmpDir('exit-lens-bin-');
  fs.writeFileSync(
    path.join(bin, 'exit-lens'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(bin, 'sbatch'), FAKE_SBATCH, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'squeue'), FAKE_SQUEUE, { mode: 0o755 });
  return bin;
}

/**
 * sbatch, enough for submit.sh (run at once, in order, here): --parsable, --export=ALL,
 * --array=<list> (or SBATCH_ARRAY_INX, as the real one reads it; each task run in turn with
 * SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT set), --output=<pattern> (%A %a %j),
 * --cpus-per-task (SLURM_CPUS_PER_TASK), --dependency=afterok:<id> with --kill-on-invalid-dep=yes
 * (a failed dependency cancels the job; without the flag the real job would stay pending
 * forever, so the fake refuses). The tasks in FAKE_SBATCH_FAIL_TASKS fail without running.
 * Each call appends "<id> ok|failed|cancelled <options>" to $FAKE_SBATCH_STATE/jobs.
 */
const FAKE_SBATCH = `#!/bin/bash
set -euo pipefail
parsable=0; dep=""; kill=0; script=""; array=\${SBATCH_ARRAY_INX:-}; output=""; cpus=""
for a in "$@"; do
  case "$a" in
    --parsable) parsable=1 ;;
    --export=ALL) ;;
    --array=*) array=\${a#--array=} ;;
    --output=*) output=\${a#--output=} ;;
    --cpus-per-task=*) cpus=\${a#--cpus-per-task=} ;;
    --dependency=*) dep=\${a#--dependency=} ;;
    --kill-on-invalid-dep=yes) kill=1 ;;
    -*) echo "fake sbatch: unknown option $a" >&2; exit 1 ;;
    *) script=$a ;;
  esac
done
state=\${FAKE_SBATCH_STATE:?}
touch "$state/jobs"
jid=$(( $(wc -l < "$state/jobs") + 1000 ))
opts="$*"
out() { local o=\${output:-/dev/null}; o=\${o//%A/$jid}; o=\${o//%a/$1}; echo "\${o//%j/$jid}"; }
status=ok
if [ -n "$dep" ]; then
  case "$dep" in afterok:*) ;; *) echo "fake sbatch: unsupported dependency $dep" >&2; exit 1 ;; esac
  if ! grep -q "^\${dep#afterok:} ok " "$state/jobs"; then
    [ "$kill" = 1 ] || { echo "fake sbatch: $dep failed and the job would stay pending forever" >&2; exit 1; }
    status=cancelled
  fi
fi
if [ "$status" = ok ] && [ -n "$array" ]; then
  tasks=()
  IFS=, read -r -a items <<< "$array"
  for item in "\${items[@]}"; do
    if [[ $item == *-* ]]; then for ((t = \${item%-*}; t <= \${item#*-}; t++)); do tasks+=("$t"); done; else tasks+=("$item"); fi
  done
  for t in "\${tasks[@]}"; do
    echo "$jid $t" >> "$state/tasks"
    if [[ ",\${FAKE_SBATCH_FAIL_TASKS:-}," == *",$t,"* ]]; then status=failed; continue; fi
    SLURM_ARRAY_JOB_ID=$jid SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_COUNT=\${#tasks[@]} \\
      SLURM_CPUS_PER_TASK=$cpus bash "$script" > "$(out "$t")" 2>&1 || status=failed
  done
elif [ "$status" = ok ]; then
  SLURM_JOB_ID=$jid bash "$script" > "$(out x)" 2>&1 || status=failed
fi
echo "$jid $status $opts" >> "$state/jobs"
if [ "$parsable" = 1 ]; then echo "$jid"; else echo "Submitted batch job $jid"; fi
`;

/** squeue -h -u <user> -o %F: the job ids in $FAKE_SQUEUE (none by default: the fake runs jobs at once). */
const FAKE_SQUEUE = `#!/bin/sh
for id in \${FAKE_SQUEUE:-}; do echo "$id"; done
`;

function sh(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  cwd = tmpDir(),
): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- report JSON compared whole
function comparable(file: string): any {
  const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete report.createdAt;
  delete report.timings;
  if (report.executionProvider) delete report.executionProvider.attempts;
  return report;
}

function singleRun(withCalib: boolean, extra: string[] = []): unknown {
  const json = path.join(tmpDir(), 'single.json');
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      'profile',
      MODEL,
      '--samples',
      SAMPLES,
      ...(withCalib ? ['--calib', CALIB] : []),
      '--ep',
      'cpu',
      ...extra,
      '--json',
      json,
      '--quiet',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return comparable(json);
}

/** submit.sh with the fake sbatch and squeue first on PATH; the state folder of the fake. */
function slurmEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: `${binDir()}:${process.env.PATH}`,
    FAKE_SBATCH_STATE: tmpDir('exit-lens-slurm-'),
    MODEL,
    SAMPLES,
    EP: 'cpu',
    ...env,
  };
}
const SUBMIT = path.join(SCALE, 'slurm', 'submit.sh');
const lines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n');

describe('docs/scale templates', () => {
  before(() => {
    // The CLI of these templates: built when dist/cli.js is missing or older than it.
    const built = fs.existsSync(CLI) && fs.readFileSync(CLI, 'utf8').includes('the execution provider used is still');
    if (!built) {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.mjs')], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, `npm run build failed:\n${r.stdout}${r.stderr}`);
    }
  });

  it('the shell scripts parse (bash -n)', () => {
    for (const f of ['slurm/profile-shards.sbatch', 'slurm/merge.sbatch', 'slurm/submit.sh', 'multi-gpu.sh']) {
      const r = sh('bash', ['-n', path.join(SCALE, f)], {});
      assert.equal(r.status, 0, `${f}: ${r.out}`);
    }
    for (const f of ['slurm-local.sh', 'install-slurm.sh']) {
      const r = sh('bash', ['-n', path.join(ROOT, 'scripts', f)], {});
      assert.equal(r.status, 0, `scripts/${f}: ${r.out}`);
    }
  });

  it('Slurm: the .sbatch files ask for nothing a CPU-only node lacks, and name no array', () => {
    for (const f of ['profile-shards.sbatch', 'merge.sbatch']) {
      const directives = fs
        .readFileSync(path.join(SCALE, 'slurm', f), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('#SBATCH'));
      assert.deepEqual(
        directives.map((l) => l.split(/[ =]/)[1]),
        ['--job-name', '--output'],
        `${f}: ${directives.join('; ')}`,
      );
    }
  });

  it('Slurm: 8 shards (and 8 calibration shards) by default, then one merge after them', () => {
    const out = path.join(tmpDir(), 'run');
    // SBATCH_ARRAY_INX once made the merge an array too (the fake reads it as the real sbatch does).
    const env = slurmEnv({ CALIB, OUT: out, SBATCH_ARRAY_INX: '0-4', SHARD_SBATCH_ARGS: '--cpus-per-task=1' });
    const r = sh('bash', [SUBMIT], env);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^shards: job 1000; merge: job 1001$/m);
    assert.deepEqual(
      lines(path.join(env.FAKE_SBATCH_STATE, 'tasks')),
      [0, 1, 2, 3, 4, 5, 6, 7].map((t) => `1000 ${t}`),
    );
    const jobs = lines(path.join(env.FAKE_SBATCH_STATE, 'jobs'));
    assert.equal(jobs.length, 2, 'the array job, then the merge');
    assert.match(jobs[0], /^1000 ok .*--array=0-7 /);
    assert.match(jobs[1], /^1001 ok .*--dependency=afterok:1000 --kill-on-invalid-dep=yes /);
    assert.doesNotMatch(jobs[1], /--array/);
    // The logs are in OUT: one per task (with its shard, threads and provider) and the merge's.
    for (let i = 0; i < 8; i++) {
      const log = fs.readFileSync(path.join(out, `exit-lens-shard-1000_${i}.log`), 'utf8');
      assert.match(log, new RegExp(`^exit-lens-shard: shard ${i}/8 .*--ep cpu --threads 1$`, 'm'));
      assert.match(log, /^Execution provider: CPU \(fp32\), 1 thread/m);
    }
    assert.match(fs.readFileSync(path.join(out, 'exit-lens-merge-1001.log'), 'utf8'), /Wrote .*report\.json/);
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(true, ['--threads', '1']));
    assert.ok(fs.existsSync(path.join(out, 'report.md')) && fs.existsSync(path.join(out, 'report.html')));

    // A second run into the same OUT would merge with this one's records: refused, nothing queued.
    const again = sh('bash', [SUBMIT], { ...env, FAKE_SBATCH_STATE: tmpDir() });
    assert.equal(again.status, 2, again.out);
    assert.match(again.out, /already holds a run .*give a fresh OUT for each run/);
  });

  it('Slurm: a failed shard cancels the merge; resume queues that shard alone (shard 3 of 5) and a merge', () => {
    const out = path.join(tmpDir(), 'run');
    const env = slurmEnv({ OUT: out, SHARDS: '5', FAKE_SBATCH_FAIL_TASKS: '3' });
    const r = sh('bash', [SUBMIT], env);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(
      lines(path.join(env.FAKE_SBATCH_STATE, 'jobs')).map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['1000 failed', '1001 cancelled'],
    );
    assert.ok(!fs.existsSync(path.join(out, 'report.json')));
    // While a job of the run is queued, resume would profile a shard twice: refused.
    const queued = sh('bash', [SUBMIT, 'resume'], { ...env, FAKE_SQUEUE: '999 1001' });
    assert.equal(queued.status, 2, queued.out);
    assert.match(queued.out, /job 1001 of this run is still queued or running/);
    // A setting that differs from the run's: refused (the records would not belong together).
    const other = sh('bash', [SUBMIT, 'resume'], { ...env, SHARDS: '4' });
    assert.equal(other.status, 2, other.out);
    assert.match(other.out, /SHARDS=4 differs from the run in OUT \(SHARDS=5\)/);

    // Only OUT is needed again: the run's settings are read from it.
    const { MODEL: _m, SAMPLES: _s, SHARDS: _n, EP: _e, ...bare } = env;
    const resumed = sh('bash', [SUBMIT, 'resume'], { ...bare, FAKE_SBATCH_FAIL_TASKS: '' });
    assert.equal(resumed.status, 0, resumed.out);
    assert.match(resumed.out, /^shards: job 1002; merge: job 1003$/m);
    assert.deepEqual(lines(path.join(env.FAKE_SBATCH_STATE, 'tasks')).slice(5), ['1002 3']);
    assert.match(
      fs.readFileSync(path.join(out, 'exit-lens-shard-1002_3.log'), 'utf8'),
      /^exit-lens-shard: shard 3\/5 /m,
    );
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(false));

    // Nothing missing: resume queues the merge alone.
    fs.rmSync(path.join(out, 'report.json'));
    const mergeOnly = sh('bash', [SUBMIT, 'resume'], bare);
    assert.equal(mergeOnly.status, 0, mergeOnly.out);
    assert.match(mergeOnly.out, /^shards: none missing; merge: job 1004$/m);
    assert.ok(fs.existsSync(path.join(out, 'report.json')));
  });

  it('Slurm: a task resubmitted alone profiles shard i of SHARDS, never of its array size', () => {
    const out = path.join(tmpDir(), 'run');
    fs.mkdirSync(out);
    const task = (env: Record<string, string>) =>
      sh('bash', [path.join(SCALE, 'slurm', 'profile-shards.sbatch')], {
        PATH: `${binDir()}:${process.env.PATH}`,
        MODEL,
        SAMPLES,
        OUT: out,
        EP: 'cpu',
        SLURM_ARRAY_TASK_ID: '1',
        SLURM_ARRAY_TASK_COUNT: '1',
        ...env,
      });
    const noCount = task({});
    assert.notEqual(noCount.status, 0);
    assert.match(noCount.out, /SHARDS: set SHARDS to the number of shards of the run/);
    assert.ok(!fs.existsSync(path.join(out, 'shard-1.exitrec')));
    const r = task({ SHARDS: '4' });
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^exit-lens-shard: shard 1\/4 /m);
    const outside = task({ SHARDS: '4', SLURM_ARRAY_TASK_ID: '4' });
    assert.equal(outside.status, 2, outside.out);
    assert.match(outside.out, /array task 4 is not a shard of SHARDS=4/);
  });

  it('Slurm: submit.sh refuses, queuing nothing, when the command or an input is missing', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ EXIT_LENS: 'exit-lens-nowhere' }, /EXIT_LENS="exit-lens-nowhere" does not run here .*node \/path\/to/],
      [{ EXIT_LENS: `${process.execPath} /nowhere/dist/cli.js` }, /does not run here/],
      [{ SAMPLES: '/nowhere/test.npz' }, /\/nowhere\/test\.npz is not a file/],
      [{ SHARDS: '0' }, /SHARDS=0 is not a number of shards/],
      [{ SHARD_SBATCH_ARGS: '--gres=gpu:1 --array=0-3' }, /--array=0-3 in SHARD_SBATCH_ARGS or MERGE_SBATCH_ARGS/],
    ];
    for (const [given, message] of cases) {
      const env = slurmEnv({ OUT: path.join(tmpDir(), 'run'), ...given });
      const r = sh('bash', [SUBMIT], env);
      assert.equal(r.status, 2, r.out);
      assert.match(r.out, message);
      assert.ok(
        !fs.existsSync(path.join(env.FAKE_SBATCH_STATE, 'jobs')),
        `nothing queued for ${JSON.stringify(given)}`,
      );
    }
    const r = sh('bash', [SUBMIT, 'resume'], slurmEnv({ OUT: path.join(tmpDir(), 'run') }));
    assert.equal(r.status, 2, r.out);
    assert.match(r.out, /exit-lens-run\.txt is missing: OUT is not a run queued by submit\.sh/);
  });

  it('Kubernetes: the manifests parse; the Indexed Job runs one pod per index, then the merge Job', () => {
    // The manifests as YAML (no cluster here): the fields an Indexed Job's semantics rest on.
    const shardsJob = YAML.parse(fs.readFileSync(path.join(SCALE, 'kubernetes', 'exit-lens-shards.yaml'), 'utf8'));
    const mergeJob = YAML.parse(fs.readFileSync(path.join(SCALE, 'kubernetes', 'exit-lens-merge.yaml'), 'utf8'));
    for (const job of [shardsJob, mergeJob]) {
      assert.equal(job.apiVersion, 'batch/v1');
      assert.equal(job.kind, 'Job');
      assert.equal(job.spec.template.spec.restartPolicy, 'Never');
      assert.deepEqual(job.spec.template.spec.containers[0].command.slice(0, 2), ['/bin/sh', '-c']);
    }
    assert.equal(shardsJob.spec.completionMode, 'Indexed');
    const pod = shardsJob.spec.template.spec.containers[0];
    assert.equal(pod.resources.limits['nvidia.com/gpu'], 1);
    const env = (c: { env: { name: string; value?: string }[] }) =>
      Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const podEnv = env(pod);
    const completions = shardsJob.spec.completions;
    assert.equal(Number(podEnv.SHARDS), completions, 'SHARDS equals completions');
    assert.ok(shardsJob.spec.parallelism <= completions);
    // THREADS: the container's CPU limit, through the downward API.
    assert.deepEqual(pod.env.find((e: { name: string }) => e.name === 'THREADS').valueFrom.resourceFieldRef, {
      containerName: pod.name,
      resource: 'limits.cpu',
      divisor: '1',
    });
    const mergeEnv = env(mergeJob.spec.template.spec.containers[0]);
    assert.equal(mergeEnv.OUT, podEnv.OUT, 'the merge reads the folder the shards write');
    const profile = pod.command[2];
    assert.match(profile, /--shard "\$i\/\$SHARDS"/);

    // The pods' script run here, once per JOB_COMPLETION_INDEX, as Kubernetes would (one index
    // failing first and retried), then the merge Job's.
    const out = path.join(tmpDir(), 'run');
    const bin = binDir();
    const run = {
      ...podEnv,
      MODEL,
      SAMPLES,
      CALIB,
      OUT: out,
      EP: 'cpu',
      THREADS: '1',
      PATH: `${bin}:${process.env.PATH}`,
    };
    const failing = sh('/bin/sh', ['-c', profile], { ...run, SAMPLES: '/nowhere.npz', JOB_COMPLETION_INDEX: '2' });
    assert.notEqual(failing.status, 0);
    for (let i = 0; i < completions; i++) {
      const r = sh('/bin/sh', ['-c', profile], { ...run, JOB_COMPLETION_INDEX: String(i) });
      assert.equal(r.status, 0, `index ${i}: ${r.out}`);
      assert.match(r.out, /^Execution provider: CPU \(fp32\), 1 thread/m);
    }
    // The Job applied again after a failure: the indices whose records are there end at once.
    const again = sh('/bin/sh', ['-c', profile], { ...run, JOB_COMPLETION_INDEX: '5' });
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /records of shard 5 are already in .*: kept/);
    const r = sh('/bin/sh', ['-c', mergeJob.spec.template.spec.containers[0].command[2]], {
      ...run,
      ...mergeEnv,
      OUT: out,
      CALIB: 'yes',
    });
    assert.equal(r.status, 0, r.out);
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(true, ['--threads', '1']));
  });

  it('one machine, several GPUs: one shard per device, then the merge; resume redoes a lost shard only', () => {
    const text = fs.readFileSync(path.join(SCALE, 'multi-gpu.sh'), 'utf8');
    assert.match(text, /--device-id "\$i"/);
    const out = path.join(tmpDir(), 'run');
    const env = { PATH: `${binDir()}:${process.env.PATH}`, MODEL, SAMPLES, CALIB, OUT: out, GPUS: '3', EP: 'cpu' };
    const r = sh('bash', [path.join(SCALE, 'multi-gpu.sh')], env);
    assert.equal(r.status, 0, r.out);
    assert.equal(fs.readdirSync(out).filter((f) => /^shard-\d\.exitrec$/.test(f)).length, 3);
    assert.match(fs.readFileSync(path.join(out, 'shard-1.log'), 'utf8'), /^Execution provider: CPU/m);
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(true));

    const again = sh('bash', [path.join(SCALE, 'multi-gpu.sh')], env);
    assert.equal(again.status, 2, again.out);
    assert.match(again.out, /already holds a run/);
    // Shard 1's calibration records lost (a failed process): resume profiles shard 1 alone.
    fs.rmSync(path.join(out, 'calib-1.exitrec'));
    const before0 = fs.statSync(path.join(out, 'shard-0.exitrec')).mtimeMs;
    const resumed = sh('bash', [path.join(SCALE, 'multi-gpu.sh'), 'resume'], { ...env, GPUS: '1' });
    assert.equal(resumed.status, 0, resumed.out);
    assert.equal(fs.statSync(path.join(out, 'shard-0.exitrec')).mtimeMs, before0, 'shard 0 kept');
    assert.ok(fs.existsSync(path.join(out, 'calib-1.exitrec')));
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(true));
  });
});
