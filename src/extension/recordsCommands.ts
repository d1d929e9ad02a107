import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { RecordsFileInfo, readRecordsHeader } from '../core/records/recordsFile';
import { EngineClient } from './engineClient';
import { Profiler, refuseInRestrictedMode } from './profiler';
import { ReportPanel } from './reportPanel';
import { RunStore } from './runStore';
import { profileSettings } from './settings';

/**
 * "Exit Lens: Analyze Records": a folder of shards' records files (exit-lens profile --shard i/n
 * --records-out, docs/scale/README.md) merged by the engine (src/engine/merge.ts, the code of
 * exit-lens merge) into the report of the whole set, stored as a run of its model and opened
 * like any other report.
 */
export interface RecordsDeps {
  context: vscode.ExtensionContext;
  store: RunStore;
  profiler: Profiler;
  engine: EngineClient;
  panel: ReportPanel;
  log: vscode.LogOutputChannel;
}

export const RECORDS_EXTENSION = '.exitrec';

/** The records files of a folder (not its subfolders), or the one file given. */
function recordsFiles(target: string): string[] {
  const st = fs.statSync(target);
  if (!st.isDirectory()) return [target];
  return fs
    .readdirSync(target)
    .filter((f) => f.endsWith(RECORDS_EXTENSION))
    .sort()
    .map((f) => path.join(target, f));
}

/** Records files grouped by the sample set they are shards of. */
function bySet(infos: RecordsFileInfo[]): Map<string, RecordsFileInfo[]> {
  const sets = new Map<string, RecordsFileInfo[]>();
  for (const i of infos) {
    const key = `${i.header.set.path}\0${i.header.set.sampleCount}`;
    sets.set(key, [...(sets.get(key) ?? []), i]);
  }
  return sets;
}

function setItem(files: RecordsFileInfo[]) {
  const h = files[0].header;
  return {
    label: path.basename(h.set.path),
    description: `${h.set.sampleCount.toLocaleString()} samples · ${files.length} records file${files.length === 1 ? '' : 's'} · ${path.basename(h.model.path)}`,
    detail: h.set.path,
    files,
  };
}

export function register(deps: RecordsDeps): void {
  const { context, store, profiler, engine, panel, log } = deps;

  async function analyzeRecords(uri?: vscode.Uri): Promise<void> {
    if (refuseInRestrictedMode()) return;
    let target = uri instanceof vscode.Uri ? uri.fsPath : undefined;
    if (!target) {
      const picked = await vscode.window.showOpenDialog({
        title: 'Exit Lens: folder of records files (exit-lens profile --shard i/n --records-out)',
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
      });
      target = picked?.[0]?.fsPath;
    }
    if (!target) return;
    if (profiler.running) {
      void vscode.window.showWarningMessage('Exit Lens is profiling; analyze the records when that run is over.');
      return;
    }
    let infos: RecordsFileInfo[];
    try {
      const files = recordsFiles(target);
      if (!files.length) {
        void vscode.window.showInformationMessage(
          `Exit Lens: ${target} holds no ${RECORDS_EXTENSION} files. Write them with exit-lens profile … --shard i/n --records-out shard-i${RECORDS_EXTENSION}.`,
        );
        return;
      }
      infos = files.map(readRecordsHeader);
    } catch (err) {
      log.error(`Analyze Records: ${describeError(err)}`);
      void vscode.window.showErrorMessage(`Exit Lens: ${describeError(err)}`);
      return;
    }
    // The shards of one set; the calibration set's records, when the folder has them, beside them.
    const sets = [...bySet(infos).values()].map(setItem);
    let main = sets[0];
    if (sets.length > 1) {
      const chosen = await vscode.window.showQuickPick(sets, { title: 'Exit Lens: the sample set to report on' });
      if (!chosen) return;
      main = chosen;
    }
    let calib: RecordsFileInfo[] = [];
    const others = sets.filter((s) => s !== main);
    if (others.length) {
      const none = { label: 'No calibration set', description: 'fit the suggestions on a seeded half', files: [] };
      const chosen = await vscode.window.showQuickPick([none, ...others], {
        title: 'Exit Lens: the calibration set (profiled into records of its own)',
      });
      if (!chosen) return;
      calib = chosen.files;
    }
    const settings = profileSettings();
    const label = path.basename(main.files[0].header.set.path);
    log.info(
      `Analyze Records: ${main.files.map((f) => f.file).join(', ')}${calib.length ? `; calibration: ${calib.map((f) => f.file).join(', ')}` : ''}`,
    );
    try {
      const report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Exit Lens: merging ${label}`, cancellable: true },
        (progress, token) =>
          engine.run(
            {
              type: 'merge',
              recordsPaths: main.files.map((f) => f.file),
              calibRecordsPaths: calib.map((f) => f.file),
              maxAccuracyDrop: settings.maxAccuracyDrop,
              ...settings.risk,
              maxMemory: settings.maxMemory,
            },
            (e) => {
              if (e.type === 'progress') progress.report({ message: `${e.phase} ${e.done}/${e.total}` });
              else if (e.type === 'log') log[e.level](e.message);
            },
            token,
          ),
      );
      const summary = store.save(
        {
          modelPath: report.model?.path ?? null,
          logitsPath: null,
          samplesPath: report.samples.path,
          calibPath: report.samples.calibration.path,
          maxAccuracyDrop: settings.maxAccuracyDrop,
        },
        report,
      );
      log.info(`Analyze Records: run ${summary.runId} stored (${main.files.length} shards).`);
      panel.show(summary.runId);
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'cancelled') return;
      log.error(`Analyze Records failed: ${e.message}`);
      void vscode.window.showErrorMessage(`Exit Lens: ${e.message}`, 'Show Log').then((a) => a && log.show());
    }
  }

  context.subscriptions.push(vscode.commands.registerCommand('exitLens.analyzeRecords', analyzeRecords));
}
