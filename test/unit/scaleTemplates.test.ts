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
import { fixture, tmpDir } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const SCALE = path.join(ROOT, 'docs', 'scale');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const MODEL = fixture('tiny_cnn.onnx');
const SAMPLES = fixture('cnn_samples.npz');
const CALIB = fixture('cnn_calib.npz');

/** A folder for PATH with `exit-lens` (the built CLI) and the fake `sbatch`. */
function binDir(): string {
  const bin = tmpDir('exit-lens-bin-');
  fs.writeFileSync(
    path.join(bin, 'exit-lens'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(bin, 'sbatch'), FAKE_SBATCH, { mode: 0o755 });
  return bin;
}

/**
 * sbatch, enough for the templates: --parsable, --export=ALL, --dependency=afterok:<id> (checked
 * against the jobs it ran), and #SBATCH --array=a-b in the script (each task run in turn).
 */
const FAKE_SBATCH = `#!/bin/bash
set -euo pipefail
parsable=0; dep=""; script=""
for a in "$@"; do
  case "$a" in
    --parsable) parsable=1 ;;
    --export=*) ;;
    --dependency=*) dep=\${a#--dependency=} ;;
    -*) echo "fake sbatch: unknown option $a" >&2; exit 1 ;;
    *) script=$a ;;
  esac
done
state=\${FAKE_SBATCH_STATE:?}
touch "$state/jobs"
if [ -n "$dep" ]; then
  case "$dep" in afterok:*) ;; *) echo "fake sbatch: unsupported dependency $dep" >&2; exit 1 ;; esac
  grep -qx "\${dep#afterok:} ok" "$state/jobs" || { echo "fake sbatch: dependency $dep not satisfied" >&2; exit 1; }
fi
jid=$(( $(wc -l < "$state/jobs") + 1000 ))
array=$(sed -n 's/^#SBATCH --array=\\([0-9]*\\)-\\([0-9]*\\)$/\\1 \\2/p' "$script")
status=ok
if [ -n "$array" ]; then
  set -- $array
  for ((t = $1; t <= $2; t++)); do
    echo "task $t" >> "$state/tasks"
    SLURM_ARRAY_JOB_ID=$jid SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_COUNT=$(( $2 - $1 + 1 )) bash "$script" || status=failed
  done
else
  SLURM_JOB_ID=$jid bash "$script" || status=failed
fi
echo "$jid $status" >> "$state/jobs"
if [ "$parsable" = 1 ]; then echo "$jid"; else echo "Submitted batch job $jid"; fi
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

function singleRun(withCalib: boolean): unknown {
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
      '--json',
      json,
      '--quiet',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return comparable(json);
}

describe('docs/scale templates', () => {
  before(() => {
    // The sharding's CLI: built when dist/cli.js is missing or predates it.
    const built = fs.existsSync(CLI) && fs.readFileSync(CLI, 'utf8').includes('--records-out');
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
  });

  it('Slurm: an array job of 8 shards (and 8 calibration shards), then the merge after it', () => {
    const text = fs.readFileSync(path.join(SCALE, 'slurm', 'profile-shards.sbatch'), 'utf8');
    assert.match(text, /^#SBATCH --array=0-7$/m);
    assert.match(text, /--shard "\$i\/\$n"/);
    assert.match(fs.readFileSync(path.join(SCALE, 'slurm', 'submit.sh'), 'utf8'), /--dependency="afterok:\$array"/);
    const state = tmpDir('exit-lens-slurm-');
    const out = path.join(tmpDir(), 'run');
    const bin = binDir();
    const r = sh('bash', [path.join(SCALE, 'slurm', 'submit.sh')], {
      PATH: `${bin}:${process.env.PATH}`,
      FAKE_SBATCH_STATE: state,
      MODEL,
      SAMPLES,
      CALIB,
      OUT: out,
      EP: 'cpu',
    });
    assert.equal(r.status, 0, r.out);
    assert.equal(fs.readFileSync(path.join(state, 'tasks'), 'utf8').trim().split('\n').length, 8);
    assert.deepEqual(
      fs.readFileSync(path.join(state, 'jobs'), 'utf8').trim().split('\n'),
      ['1000 ok', '1001 ok'],
      'the array job, then the merge',
    );
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(true));
    assert.ok(fs.existsSync(path.join(out, 'report.md')) && fs.existsSync(path.join(out, 'report.html')));
  });

  it('Kubernetes: the Indexed Job, one pod per JOB_COMPLETION_INDEX, then the merge Job', () => {
    const text = fs.readFileSync(path.join(SCALE, 'kubernetes', 'exit-lens-shards.yaml'), 'utf8');
    const mergeText = fs.readFileSync(path.join(SCALE, 'kubernetes', 'exit-lens-merge.yaml'), 'utf8');
    // No YAML parser is a dependency: the manifest's shape, checked by its text.
    assert.match(text, /^apiVersion: batch\/v1$/m);
    assert.match(text, /^kind: Job$/m);
    assert.match(text, /^ {2}completionMode: Indexed$/m);
    assert.match(text, /^ {6}restartPolicy: Never$/m);
    assert.match(text, /^ {14}nvidia\.com\/gpu: 1$/m);
    const completions = Number(/^ {2}completions: (\d+)/m.exec(text)?.[1]);
    const env: Record<string, string> = {};
    for (const m of text.matchAll(/- name: (\w+)\n\s+value: "?([^"\n]*)"?/g)) env[m[1]] = m[2];
    assert.equal(Number(env.SHARDS), completions, 'SHARDS equals completions');
    const script = (t: string) => {
      const m = /^ {12}- \|\n((?: {14}.*\n)+)/m.exec(t);
      assert.ok(m, 'the container runs a /bin/sh -c script');
      return m[1].replace(/^ {14}/gm, '');
    };
    const profile = script(text);
    assert.match(profile, /--shard "\$JOB_COMPLETION_INDEX\/\$SHARDS"/);
    const out = path.join(tmpDir(), 'run');
    const bin = binDir();
    const podEnv = { ...env, MODEL, SAMPLES, OUT: out, EP: 'cpu', PATH: `${bin}:${process.env.PATH}` };
    for (let i = 0; i < completions; i++) {
      const r = sh('/bin/sh', ['-c', profile], { ...podEnv, JOB_COMPLETION_INDEX: String(i) });
      assert.equal(r.status, 0, `index ${i}: ${r.out}`);
    }
    const r = sh('/bin/sh', ['-c', script(mergeText)], podEnv);
    assert.equal(r.status, 0, r.out);
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(false));
  });

  it('one machine, several GPUs: one shard per device, then the merge', () => {
    const text = fs.readFileSync(path.join(SCALE, 'multi-gpu.sh'), 'utf8');
    assert.match(text, /--device-id "\$i"/);
    const out = path.join(tmpDir(), 'run');
    const r = sh('bash', [path.join(SCALE, 'multi-gpu.sh')], {
      PATH: `${binDir()}:${process.env.PATH}`,
      MODEL,
      SAMPLES,
      CALIB,
      OUT: out,
      GPUS: '3',
      EP: 'cpu',
    });
    assert.equal(r.status, 0, r.out);
    assert.equal(fs.readdirSync(out).filter((f) => /^shard-\d\.exitrec$/.test(f)).length, 3);
    assert.deepStrictEqual(comparable(path.join(out, 'report.json')), singleRun(true));
  });
});
