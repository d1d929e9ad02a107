import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Report } from '../core/report';
import { thresholdText } from '../core/summary';
import type { RunSummary } from '../../webview/protocol';

/**
 * Stored runs: one folder per model under <root>/runs, each run as <stamp>.run.json (the
 * request and the report) beside <stamp>.summary.json (what lists and the sidebar need).
 * Writes go to a temporary file first and are renamed into place, so a crash or a killed
 * window never leaves a half-written run; the last `keep` runs per model are kept.
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

export function isRunId(id: string): boolean {
  return RUN_ID.test(id);
}

/** Writes a file atomically: temporary name in the same folder, then rename. */
export function writeFileAtomic(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export function modelKey(modelOrLogitsPath: string): string {
  const base = path.basename(modelOrLogitsPath).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'model';
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
    exitQuality: report.exits.map((e) => (labelled ? (e.accuracy ?? 0) : e.agreement)),
    quality: labelled ? 'accuracy' : 'agreement',
    destructiveRate: report.overthinking?.destructiveRate ?? null,
    best: best
      ? { policy: best.policy, threshold: thresholdText(best.threshold), speedup: best.test.speedup, accuracy: labelled ? best.test.accuracy : best.test.agreement }
      : null,
  };
}

export class RunStore implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<string | null>();
  /** Fires with the model path whose runs changed (null: several). */
  readonly onDidChange = this.changed.event;
  private readonly warned = new Set<string>();

  private lastRoot: string | null = null;

  /**
   * `locate` is asked on every use: the settings may arrive after activation (a window reload
   * in a remote or web host activates the extension before user settings are in).
   */
  constructor(
    private readonly locate: () => { root: string; keep: number },
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get folder(): string {
    return this.locate().root;
  }

  private get root(): string {
    const root = this.locate().root;
    if (this.lastRoot !== null && root !== this.lastRoot) {
      this.log.info(`Runs are now stored in ${root}.`);
      queueMicrotask(() => this.changed.fire(null));
    }
    this.lastRoot = root;
    return root;
  }

  private get keep(): number {
    return this.locate().keep;
  }

  /** Tells views that the runs may have changed (e.g. the storage folder setting changed). */
  notifyChanged(): void {
    this.changed.fire(null);
  }

  private runsDir(): string {
    return path.join(this.root, 'runs');
  }

  save(request: RunRequest, report: Report): RunSummary {
    const subject = request.modelPath ?? request.logitsPath ?? report.samples.path;
    const key = modelKey(subject);
    const stamp = `${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 17)}-${crypto.randomBytes(3).toString('hex')}`;
    const runId = `${key}/${stamp}`;
    const run: StoredRun = { format: RUN_FORMAT, version: RUN_VERSION, runId, createdAt: report.createdAt, request, report };
    const summary = summarize(runId, report, request);
    const dir = path.join(this.runsDir(), key);
    // The run first, the summary last: a listed run always has its report.
    writeFileAtomic(path.join(dir, `${stamp}.run.json`), JSON.stringify(run));
    writeFileAtomic(path.join(dir, `${stamp}.summary.json`), JSON.stringify({ format: RUN_FORMAT, version: RUN_VERSION, summary }));
    this.prune(dir);
    this.changed.fire(subject);
    return summary;
  }

  private prune(dir: string): void {
    const summaries = fs.readdirSync(dir).filter((f) => f.endsWith('.summary.json')).sort();
    for (const f of summaries.slice(0, Math.max(0, summaries.length - this.keep))) {
      const stamp = f.slice(0, -'.summary.json'.length);
      fs.rmSync(path.join(dir, f), { force: true });
      fs.rmSync(path.join(dir, `${stamp}.run.json`), { force: true });
    }
  }

  private warnOnce(file: string, why: string): void {
    if (this.warned.has(file)) return;
    this.warned.add(file);
    this.log.warn(`Skipped run file ${file}: ${why}`);
    void vscode.window.showWarningMessage(`Exit Lens skipped a stored run it cannot read (${path.basename(file)}): ${why}`);
  }

  /** Every readable run, newest first; optionally only one model's. */
  list(modelPath?: string): RunSummary[] {
    const base = this.runsDir();
    if (!fs.existsSync(base)) return [];
    const dirs = modelPath ? [modelKey(modelPath)] : fs.readdirSync(base);
    const out: RunSummary[] = [];
    for (const d of dirs) {
      const dir = path.join(base, d);
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) continue;
      for (const f of fs.readdirSync(dir)) {
        if (!f.endsWith('.summary.json')) continue;
        const file = path.join(dir, f);
        try {
          const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
          if (parsed?.format !== RUN_FORMAT) throw new Error('not an Exit Lens run');
          if (typeof parsed.version !== 'number' || parsed.version > RUN_VERSION) throw new Error(`it was written by a newer Exit Lens (format ${parsed.version})`);
          const s = parsed.summary as RunSummary;
          if (!s || typeof s.runId !== 'string' || !Array.isArray(s.exitQuality)) throw new Error('its summary is incomplete');
          out.push(s);
        } catch (err) {
          this.warnOnce(file, (err as Error).message);
        }
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  latest(modelPath: string): RunSummary | null {
    return this.list(modelPath)[0] ?? null;
  }

  load(runId: string): StoredRun | null {
    if (!isRunId(runId)) return null;
    const file = path.join(this.runsDir(), `${runId}.run.json`);
    if (!fs.existsSync(file)) return null;
    try {
      const run = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredRun;
      if (run?.format !== RUN_FORMAT) throw new Error('not an Exit Lens run');
      if (run.version > RUN_VERSION) throw new Error(`it was written by a newer Exit Lens (format ${run.version})`);
      if (run.report?.schemaVersion !== 1) throw new Error(`its report schema ${run.report?.schemaVersion} is not supported`);
      return run;
    } catch (err) {
      this.warnOnce(file, (err as Error).message);
      return null;
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}
