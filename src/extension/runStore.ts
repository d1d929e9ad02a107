import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Report } from '../core/analysis/analyze';
import type { RunSummary } from '../shared/protocol';
import { RunFiles, RunRequest, StoredRun } from './runFiles';

export { RUN_FORMAT, RUN_VERSION, isRunId, modelKey, summarize, writeFileAtomic } from './runFiles';
export type { RunRequest, StoredRun } from './runFiles';

/**
 * Stored runs for the editor: the files of runFiles.ts (atomic writes, the last `keep` runs per
 * model, unreadable or newer files skipped) plus a change event for the views and one warning
 * per skipped file, naming it.
 */
export class RunStore implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<string | null>();
  /** Fires with the model path whose runs changed (null: several). */
  readonly onDidChange = this.changed.event;
  private readonly warned = new Set<string>();
  private readonly files: RunFiles;
  private lastRoot: string | null = null;

  /**
   * `locate` is asked on every use: the settings may arrive after activation (a window reload
   * in a remote or web host activates the extension before user settings are in).
   */
  constructor(
    locate: () => { root: string; keep: number },
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.files = new RunFiles(
      () => {
        const where = locate();
        if (this.lastRoot !== null && where.root !== this.lastRoot) {
          this.log.info(`Runs are now stored in ${where.root}.`);
          queueMicrotask(() => this.changed.fire(null));
        }
        this.lastRoot = where.root;
        return where;
      },
      (file, why) => this.warnOnce(file, why),
    );
  }

  get folder(): string {
    return this.files.root;
  }

  /** Tells views that the runs may have changed (e.g. the storage folder setting changed). */
  notifyChanged(): void {
    this.changed.fire(null);
  }

  save(request: RunRequest, report: Report): RunSummary {
    const summary = this.files.save(request, report);
    this.changed.fire(request.modelPath ?? request.logitsPath ?? report.samples.path);
    return summary;
  }

  private warnOnce(file: string, why: string): void {
    if (this.warned.has(file)) return;
    this.warned.add(file);
    this.log.warn(`Skipped run file ${file}: ${why}`);
    void vscode.window.showWarningMessage(
      `Exit Lens skipped a stored run it cannot read (${path.basename(file)}): ${why}`,
    );
  }

  /** Every readable run, newest first; optionally only one model's. */
  list(modelPath?: string): RunSummary[] {
    return this.files.list(modelPath);
  }

  latest(modelPath: string): RunSummary | null {
    return this.files.latest(modelPath);
  }

  load(runId: string): StoredRun | null {
    return this.files.load(runId);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
