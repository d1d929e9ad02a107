import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExecutionProviderInfo } from '../core/analysis/analyze';
import type { RunSummary } from '../shared/protocol';
import { engineEnvironment } from '../gpu/cuda';
import { DEFAULT_PROVIDERS } from '../shared/defaults';
import { describeError } from '../core/errors';
import { checkRunInputs } from '../core/io/inputFiles';
import { EngineClient } from './engineClient';
import { RunRequest, RunStore } from './runStore';
import { profileSettings } from './settings';
import { StatusBar } from './statusBar';

/** The button of a failed run's notification when its sample or calibration set did not fit the model. */
const CHOOSE_SAMPLES = 'Choose Another Sample Set';

/**
 * Runs one profile (or logits analysis) at a time in the engine process, with a progress
 * notification (samples/s, ETA, Cancel), the provider in the status bar, and the run
 * stored only when it finished. A second request while one runs is refused with a message.
 */
/** In Restricted Mode: says why nothing runs and returns true. The engine is never started then. */
export function refuseInRestrictedMode(): boolean {
  if (vscode.workspace.isTrusted) return false;
  void vscode.window.showWarningMessage(
    'Exit Lens does not profile in Restricted Mode: loading a model runs native code. Trust the workspace to profile; existing reports still open.',
  );
  return true;
}

/**
 * The vocabulary beside a model, for a decoder's token view: its folder's tokenizer.json, else
 * its vocab.json when that is a JSON list of tokens (a GPT-2-style vocab.json maps tokens to ids,
 * which the engine does not read). The engine ignores it for a model that is not a decoder.
 */
export function vocabBeside(modelPath: string): string | undefined {
  const dir = path.dirname(modelPath);
  const tokenizer = path.join(dir, 'tokenizer.json');
  if (isFile(tokenizer)) return tokenizer;
  const list = path.join(dir, 'vocab.json');
  if (!isFile(list)) return undefined;
  try {
    const fd = fs.openSync(list, 'r');
    try {
      const head = Buffer.alloc(64);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      return /^\uFEFF?\s*\[/.test(head.subarray(0, n).toString('utf8')) ? list : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export interface RunOutcome {
  summary: RunSummary;
}

export class Profiler implements vscode.Disposable {
  private active: { label: string; cancel: vscode.CancellationTokenSource } | null = null;
  private readonly finished = new vscode.EventEmitter<RunSummary>();
  readonly onDidFinish = this.finished.event;
  private readonly busy = new vscode.EventEmitter<{ running: boolean; message: string | null }>();
  readonly onDidChangeBusy = this.busy.event;

  constructor(
    private readonly engine: EngineClient,
    private readonly store: RunStore,
    private readonly status: StatusBar,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get running(): boolean {
    return this.active !== null;
  }

  cancel(): void {
    this.active?.cancel.cancel();
  }

  async run(request: RunRequest): Promise<RunSummary | undefined> {
    const subject = request.modelPath ?? request.logitsPath ?? '';
    const label = path.basename(subject);
    if (this.active) {
      this.log.warn(`Not started: ${label} (${this.active.label} is being profiled; one run at a time).`);
      void vscode.window
        .showWarningMessage(
          `Exit Lens is already profiling ${this.active.label}, so ${label} was not started: one run at a time keeps results apart.`,
          'Cancel That Run',
        )
        .then((choice) => choice && this.cancel());
      return undefined;
    }
    if (refuseInRestrictedMode()) return undefined;
    // Each input a regular file, as the CLI checks (core/inputFiles.ts): a FIFO, a device or a
    // folder picked as a model or sample set is refused here, with its reason, before the engine starts.
    try {
      checkRunInputs([
        { what: 'model', file: request.modelPath },
        { what: 'logits file', file: request.logitsPath },
        { what: 'sample set', file: request.samplesPath === request.logitsPath ? null : request.samplesPath },
        { what: 'calibration set', file: request.calibPath },
      ]);
    } catch (err) {
      this.log.error(`Not started: ${describeError(err)}`);
      this.showFailure(`Exit Lens: ${describeError(err)}`, request.modelPath, (err as { code?: string }).code);
      return undefined;
    }
    const settings = profileSettings();
    const full: RunRequest = {
      ...request,
      executionProviders: request.executionProviders ?? settings.executionProviders,
      batchSize: request.batchSize ?? settings.batchSize,
      maxAccuracyDrop: request.maxAccuracyDrop ?? settings.maxAccuracyDrop,
    };
    if (full.modelPath) {
      // The engine process starts with what CUDA needs (library folders, precision): src/gpu/cuda.ts.
      const change = engineEnvironment(full.executionProviders ?? DEFAULT_PROVIDERS, settings.gpuPrecision);
      for (const note of change.notes) this.log.info(note);
      this.engine.setEnvironment(change);
    }
    const vocabPath = full.modelPath ? vocabBeside(full.modelPath) : undefined;
    const vocab = vocabPath ? { vocabPath, vocabFound: true } : {};
    if (vocabPath) this.log.info(`Vocabulary beside the model (used if it is a decoder): ${vocabPath}`);
    const cancel = new vscode.CancellationTokenSource();
    this.active = { label, cancel };
    this.busy.fire({ running: true, message: `Profiling ${label}…` });
    this.status.running(label, 0);
    const started = Date.now();
    this.log.info(`Run: ${JSON.stringify(full)}`);
    try {
      const report = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Exit Lens: ${request.modelPath ? 'profiling' : 'analysing'} ${label}`,
          cancellable: true,
        },
        (progress, token) => {
          token.onCancellationRequested(() => cancel.cancel());
          let last = 0;
          return this.engine.run(
            full.modelPath
              ? {
                  type: 'profile',
                  modelPath: full.modelPath,
                  samplesPath: full.samplesPath,
                  calibPath: full.calibPath ?? undefined,
                  labelName: full.labelName,
                  exits: full.exits,
                  executionProviders: full.executionProviders,
                  gpuPrecision: settings.gpuPrecision,
                  ...vocab,
                  cost: settings.cost,
                  batchSize: full.batchSize,
                  maxAccuracyDrop: full.maxAccuracyDrop,
                  ...settings.risk,
                  maxMemory: settings.maxMemory,
                }
              : {
                  type: 'analyze',
                  logitsPath: full.logitsPath!,
                  calibPath: full.calibPath ?? undefined,
                  labelName: full.labelName,
                  exits: full.exits,
                  maxAccuracyDrop: full.maxAccuracyDrop,
                  ...settings.risk,
                  maxMemory: settings.maxMemory,
                },
            (e) => {
              if (e.type === 'progress') {
                const frac = e.total > 0 ? e.done / e.total : 0;
                const rate = e.samplesPerSecond ? ` · ${e.samplesPerSecond.toFixed(0)} samples/s` : '';
                const eta =
                  e.etaSeconds !== null && (e.phase === 'inference' || e.phase === 'calibration')
                    ? ` · ETA ${Math.ceil(e.etaSeconds)} s`
                    : '';
                const count = e.phase === 'inference' || e.phase === 'calibration' ? ` ${e.done}/${e.total}` : '';
                const increment = e.phase === 'inference' ? Math.max(0, frac * 100 - last) : undefined;
                if (e.phase === 'inference') last = frac * 100;
                progress.report({ message: `${e.phase}${count}${rate}${eta}`, increment });
                this.status.running(label, e.phase === 'inference' ? frac : null);
              } else if (e.type === 'provider') {
                this.onProvider(e.info);
              }
            },
            cancel.token,
          );
        },
      );
      const summary = this.store.save(full, report);
      this.log.info(`Run ${summary.runId} stored (${((Date.now() - started) / 1000).toFixed(1)} s).`);
      if (report.executionProvider) this.status.provider(report.executionProvider);
      else this.status.idle();
      this.finished.fire(summary);
      return summary;
    } catch (err) {
      const e = err as Error & { code?: string };
      this.status.lastRun(this.store.list()[0]?.provider ?? null);
      if (e.code === 'cancelled') {
        this.log.info(`Run of ${label} cancelled; nothing stored.`);
        void vscode.window.showInformationMessage(
          `Exit Lens: the run of ${label} was cancelled; nothing was stored and earlier reports are untouched.`,
        );
        return undefined;
      }
      this.log.error(`Run of ${label} failed: ${e.message}`);
      this.showFailure(`Exit Lens: ${e.message}`, full.modelPath, e.code);
      return undefined;
    } finally {
      cancel.dispose();
      this.active = null;
      this.busy.fire({ running: false, message: null });
    }
  }

  /**
   * A failed run's notification: Show Log, and, when a model's sample or calibration set did not
   * fit it or could not be read, Choose Another Sample Set (the picker lists matching files first).
   * Not awaited by the caller: the run is over now, not when the message is dismissed.
   */
  private showFailure(message: string, modelPath: string | null | undefined, code: string | undefined): void {
    const samplesProblem = !!modelPath && (code === 'samples-mismatch' || code === 'samples-unreadable');
    const actions = samplesProblem ? [CHOOSE_SAMPLES, 'Show Log'] : ['Show Log'];
    void vscode.window.showErrorMessage(message, ...actions).then((action) => {
      if (action === 'Show Log') this.log.show();
      else if (action === CHOOSE_SAMPLES && modelPath)
        void vscode.commands.executeCommand('exitLens.profileWithSamples', vscode.Uri.file(modelPath));
    });
  }

  private onProvider(info: ExecutionProviderInfo): void {
    this.status.provider(info, true);
    // A provider the user named and did not get is a warning; the default order ending on the CPU is not.
    for (const a of info.attempts.filter((x) => !x.ok)) {
      this.log[info.explicit === false ? 'info' : 'warn'](
        `Execution provider ${a.provider} not used: ${a.reason}${a.nextStep ? ` ${a.nextStep}` : ''}`,
      );
    }
    this.log.info(
      `Execution provider in use: ${info.used} (${info.threads} threads, ${info.precisionReason ?? info.precision ?? 'fp32'}).`,
    );
  }

  dispose(): void {
    this.cancel();
    this.finished.dispose();
    this.busy.dispose();
  }
}
