import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLeftoverTemp, removeQuietly, writeFileAtomic } from '../core/io/atomicWrite';
import { ExitLensError } from '../core/errors';
import { kindOf, readRegularFile } from '../core/io/inputFiles';
import { SCHEMA_VERSION, type Report } from '../core/analysis/analyze';
import { thresholdText } from '../core/report/summary';
import type { RunSummary } from '../shared/protocol';
import { qualityMetric, qualityOf } from '../shared/quality';
import { bestGuarantee, certifiedRule, riskSettingsText } from '../shared/riskText';

export { STALE_TEMP_AGE_MS, writeFileAtomic } from '../core/io/atomicWrite';

/**
 * The stored-runs folder on disk, without the editor: one folder per model under <root>/runs,
 * each run as <stamp>.run.json (the request and the report) beside <stamp>.summary.json (what
 * lists and the sidebar need). Every file is written to a temporary name in the same folder
 * and renamed into place, so a crash or a kill never leaves a half-written run under a run's
 * name. A file that cannot be read, or comes from a newer Exit Lens, is skipped and reported
 * through `onSkip`; the other runs still list and open. RunStore adds the editor's events and
 * warnings on top.
 */
export const RUN_FORMAT = 'exit-lens-run';
export const RUN_VERSION = 1;

export interface RunRequest {
  modelPath: string | null;
  logitsPath: string | null;
  samplesPath: string;
  calibPath: string | null;
  labelName?: string;
  exits?: string;
  executionProviders?: string[];
  batchSize?: number;
  maxAccuracyDrop?: number;
}

export interface StoredRun {
  format: typeof RUN_FORMAT;
  version: number;
  runId: string;
  createdAt: string;
  request: RunRequest;
  report: Report;
}

const RUN_ID = /^[A-Za-z0-9._-]{1,120}\/[0-9A-Za-z-]{1,60}$/;

/** A run id is <model key>/<stamp>; it names a file under the runs folder and never leaves it. */
export function isRunId(id: string): boolean {
  if (!RUN_ID.test(id)) return false;
  const key = id.slice(0, id.indexOf('/'));
  return key !== '.' && key !== '..';
}

/** How long a run file may wait for its summary before it counts as left by a killed writer. */
export const ORPHAN_RUN_AGE_MS = 10 * 60 * 1000;

/**
 * What an editor killed in the middle of a save leaves in a model's folder, which nothing would
 * ever list or prune: temporary files whose writer is gone (or that are a day old; see
 * atomicWrite.ts), and run files whose summary was never written (older than ten minutes, so
 * that another window's save in progress is left alone). A file that cannot be removed stays.
 */
function removeLeftovers(dir: string, names: string[], summaries: Set<string>): void {
  for (const f of names) {
    const file = path.join(dir, f);
    const orphanRun =
      f.endsWith('.run.json') &&
      !summaries.has(`${f.slice(0, -'.run.json'.length)}.summary.json`) &&
      Date.now() - mtimeMs(file) > ORPHAN_RUN_AGE_MS;
    if (orphanRun || isLeftoverTemp(dir, f)) removeQuietly(file);
  }
}

function mtimeMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

export function modelKey(modelOrLogitsPath: string): string {
  const base =
    path
      .basename(modelOrLogitsPath)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 60) || 'model';
  const hash = crypto.createHash('sha1').update(path.resolve(modelOrLogitsPath)).digest('hex').slice(0, 10);
  return `${base}-${hash}`;
}

export function summarize(runId: string, report: Report, request: RunRequest): RunSummary {
  const labelled = report.samples.labelled;
  const best = report.suggestions.find((s) => s.best);
  return {
    runId,
    modelPath: request.modelPath ?? request.logitsPath,
    samplesPath: report.samples.path,
    createdAt: report.createdAt,
    provider: report.executionProvider?.used ?? null,
    exitQuality: report.exits.map((e) => qualityOf(labelled, e) ?? 0),
    quality: qualityMetric(labelled),
    destructiveRate: report.overthinking?.destructiveRate ?? null,
    best: best
      ? {
          policy: best.policy,
          threshold: thresholdText(best.threshold),
          speedup: best.test.speedup,
          accuracy: qualityOf(labelled, best.test),
        }
      : null,
    guaranteed: guaranteedSummary(report),
    ...measuredSummary(report),
  };
}

/** The sidebar's "measured" beside a speed-up: where the run's costs are measured latencies. */
function measuredSummary(report: Report): Pick<RunSummary, 'measured'> {
  const m = report.cost.measured;
  if (report.cost.source !== 'measured' || !m || m.unavailable !== null) return {};
  return { measured: { provider: m.provider, batchSize: m.batchSize } };
}

/** The sidebar's "Guaranteed" line: the best certified threshold, "none certified", or nothing for an old report. */
export function guaranteedSummary(report: Report): RunSummary['guaranteed'] {
  const gs = report.guarantees ?? [];
  if (gs.length === 0) return undefined;
  const best = bestGuarantee(gs);
  return {
    rule: best ? certifiedRule(best) : 'none certified — full model',
    settings: riskSettingsText(best ?? gs[0]),
    speedup: best ? best.test.speedup : null,
    accuracy: best ? qualityOf(report.samples.labelled, best.test) : null,
  };
}

/** Why a parsed file is not a run this version can show, or null when it is. */
function formatProblem(parsed: unknown): string | null {
  const v = parsed as { format?: unknown; version?: unknown } | null;
  if (!v || typeof v !== 'object' || v.format !== RUN_FORMAT) return 'it is not an Exit Lens run';
  if (typeof v.version !== 'number' || !Number.isInteger(v.version) || v.version < 1)
    return `its format version ${JSON.stringify(v.version)} is not valid`;
  if (v.version > RUN_VERSION)
    return `it was written by a newer Exit Lens (run format ${v.version}; this version reads ${RUN_VERSION})`;
  return null;
}

/** The longest text V8 holds: a larger run file could not be parsed anyway. */
const MAX_RUN_FILE_BYTES = 2 ** 29 - 24;

/**
 * A stored run's file, as text: a regular file only (a FIFO under a run's name would block the
 * editor forever, a device never end), read no further than its size (core/inputFiles.ts).
 */
function readRunFile(file: string): string {
  return readRegularFile(file, (why) => new ExitLensError('samples-unreadable', why), MAX_RUN_FILE_BYTES).toString(
    'utf8',
  );
}

/** What the runs folder is when it exists but is not a folder ("a regular file", "a FIFO (named pipe)"), else null. */
function notAFolder(dir: string): string | null {
  try {
    const st = fs.statSync(dir);
    return st.isDirectory() ? null : kindOf(st);
  } catch {
    return null;
  }
}

export class RunFiles {
  /**
   * `locate` is asked on every use (the folder setting may change); `onSkip` hears of every
   * file skipped, with its full path and why.
   */
  constructor(
    private readonly locate: () => { root: string; keep: number },
    private readonly onSkip: (file: string, why: string) => void,
  ) {}

  get root(): string {
    return this.locate().root;
  }

  private runsDir(): string {
    return path.join(this.root, 'runs');
  }

  save(request: RunRequest, report: Report): RunSummary {
    const subject = request.modelPath ?? request.logitsPath ?? report.samples.path;
    const key = modelKey(subject);
    const stamp = `${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 17)}-${crypto.randomBytes(3).toString('hex')}`;
    const runId = `${key}/${stamp}`;
    const run: StoredRun = {
      format: RUN_FORMAT,
      version: RUN_VERSION,
      runId,
      createdAt: report.createdAt,
      request,
      report,
    };
    const summary = summarize(runId, report, request);
    const dir = path.join(this.runsDir(), key);
    for (const folder of [this.root, this.runsDir(), dir]) {
      const kind = notAFolder(folder);
      if (kind) {
        throw new ExitLensError(
          'output-unwritable',
          `Cannot store the run: ${folder} is ${kind}, not a folder.`,
          "Set exitLens.runsFolder to a folder (or leave it empty for the editor's own storage), or move that file away.",
        );
      }
    }
    // The run first, the summary last: a listed run always has its report.
    writeFileAtomic(path.join(dir, `${stamp}.run.json`), JSON.stringify(run));
    writeFileAtomic(
      path.join(dir, `${stamp}.summary.json`),
      JSON.stringify({ format: RUN_FORMAT, version: RUN_VERSION, summary }),
    );
    this.prune(dir);
    return summary;
  }

  private prune(dir: string): void {
    const keep = this.locate().keep;
    const names = fs.readdirSync(dir);
    const summaries = names.filter((f) => f.endsWith('.summary.json')).sort();
    for (const f of summaries.slice(0, Math.max(0, summaries.length - keep))) {
      const stamp = f.slice(0, -'.summary.json'.length);
      // The summary first: a run is never listed without its report.
      fs.rmSync(path.join(dir, f), { force: true });
      fs.rmSync(path.join(dir, `${stamp}.run.json`), { force: true });
    }
    removeLeftovers(dir, names, new Set(summaries));
  }

  /** Every readable run, newest first; optionally only one model's. Unreadable files are skipped. */
  list(modelPath?: string): RunSummary[] {
    const base = this.runsDir();
    if (!fs.existsSync(base)) return [];
    const kind = notAFolder(base);
    if (kind) {
      this.onSkip(base, `the runs folder is ${kind}, not a folder`);
      return [];
    }
    const dirs = modelPath ? [modelKey(modelPath)] : fs.readdirSync(base);
    const out: RunSummary[] = [];
    for (const d of dirs) {
      const dir = path.join(base, d);
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) continue;
      for (const f of fs.readdirSync(dir)) {
        if (!f.endsWith('.summary.json')) continue;
        const file = path.join(dir, f);
        try {
          const parsed = JSON.parse(readRunFile(file));
          const problem = formatProblem(parsed);
          if (problem) throw new Error(problem);
          const s = parsed.summary as RunSummary;
          if (
            !s ||
            typeof s.runId !== 'string' ||
            !isRunId(s.runId) ||
            !Array.isArray(s.exitQuality) ||
            typeof s.createdAt !== 'string'
          ) {
            throw new Error('its summary is incomplete');
          }
          if (s.runId !== `${d}/${f.slice(0, -'.summary.json'.length)}`)
            throw new Error(`it names another run (${s.runId})`);
          out.push(s);
        } catch (err) {
          this.onSkip(file, (err as Error).message);
        }
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  latest(modelPath: string): RunSummary | null {
    return this.list(modelPath)[0] ?? null;
  }

  /** The stored run, or null when it is gone or cannot be shown (then `onSkip` says why). */
  load(runId: string): StoredRun | null {
    if (!isRunId(runId)) return null;
    const file = path.join(this.runsDir(), `${runId}.run.json`);
    if (!fs.existsSync(file)) return null;
    try {
      const run = JSON.parse(readRunFile(file)) as StoredRun;
      const problem = formatProblem(run);
      if (problem) throw new Error(problem);
      if (run.report?.schemaVersion !== SCHEMA_VERSION)
        throw new Error(`its report schema ${JSON.stringify(run.report?.schemaVersion)} is not supported`);
      if (
        !Array.isArray(run.report.exits) ||
        !run.report.samples ||
        typeof run.report.exitCount !== 'number' ||
        !run.request
      ) {
        throw new Error('its report is incomplete');
      }
      return run;
    } catch (err) {
      this.onSkip(file, (err as Error).message);
      return null;
    }
  }
}
