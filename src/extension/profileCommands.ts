import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { MessageRouter } from './messageRouter';
import { Profiler, refuseInRestrictedMode } from './profiler';
import { ReportPanel } from './reportPanel';
import { RunStore } from './runStore';
import { configFor } from './settings';
import { activeResource } from './sidebarView';

/**
 * The commands that start a run: Profile Model Exits (with the remembered or another sample
 * set), Re-run, Analyze Exit Logits File and Cancel, and the webviews' Profile and Re-run
 * buttons. Every one checks workspace trust before it asks for anything (and the profiler again).
 */
export interface ProfileDeps {
  context: vscode.ExtensionContext;
  store: RunStore;
  profiler: Profiler;
  panel: ReportPanel;
  router: MessageRouter;
}

const SAMPLE_MEMORY = 'exitLens.sampleSets';

interface Remembered {
  samples: string;
  calib: string | null;
}

async function pickWorkspaceFile(
  glob: string,
  title: string,
  extra: vscode.QuickPickItem[] = [],
): Promise<string | null | undefined> {
  const files = await vscode.workspace.findFiles(glob, '**/node_modules/**', 500);
  type Item = vscode.QuickPickItem & { path?: string | null; browse?: boolean };
  const items: Item[] = [
    ...extra.map((e) => ({ ...e, path: null })),
    ...files
      .sort((a, b) => a.fsPath.localeCompare(b.fsPath))
      .map((f) => ({
        label: path.basename(f.fsPath),
        description: vscode.workspace.asRelativePath(path.dirname(f.fsPath)),
        path: f.fsPath,
      })),
    { label: '$(folder-opened) Browse…', browse: true },
  ];
  const chosen = await vscode.window.showQuickPick<Item>(items, {
    title,
    matchOnDescription: true,
    ignoreFocusOut: true,
  });
  if (!chosen) return undefined;
  if (chosen.browse) {
    const uris = await vscode.window.showOpenDialog({
      title,
      canSelectMany: false,
      filters: { 'Arrays and models': glob.includes('onnx') ? ['onnx'] : ['npz', 'npy'] },
    });
    return uris?.[0]?.fsPath;
  }
  return chosen.path ?? null;
}

export async function chooseModel(arg?: vscode.Uri): Promise<string | undefined> {
  if (arg?.fsPath.toLowerCase().endsWith('.onnx')) return arg.fsPath;
  const active = activeResource();
  if (active?.fsPath.toLowerCase().endsWith('.onnx')) return active.fsPath;
  const picked = await pickWorkspaceFile('**/*.onnx', 'Exit Lens: model to profile');
  return picked ?? undefined;
}

export function register(deps: ProfileDeps): void {
  const { context, store, profiler, panel, router } = deps;
  const memory = () => context.workspaceState.get<Record<string, Remembered>>(SAMPLE_MEMORY) ?? {};

  async function chooseSamples(modelPath: string, ask: boolean): Promise<Remembered | undefined> {
    const cfg = configFor(modelPath);
    if (cfg?.samples && !ask) return { samples: cfg.samples, calib: cfg.calib ?? null };
    const remembered = memory()[modelPath];
    if (remembered && !ask && fs.existsSync(remembered.samples)) return remembered;
    const samples = await pickWorkspaceFile('**/*.{npz,npy}', `Exit Lens: sample set for ${path.basename(modelPath)}`);
    if (!samples) return undefined;
    const calib = await pickWorkspaceFile('**/*.{npz,npy}', 'Exit Lens: calibration set for the suggested thresholds', [
      { label: 'No calibration set', description: 'fit the suggestions on a seeded half of the sample set' },
    ]);
    if (calib === undefined) return undefined;
    const chosen = { samples, calib };
    await context.workspaceState.update(SAMPLE_MEMORY, { ...memory(), [modelPath]: chosen });
    return chosen;
  }

  async function profile(arg?: vscode.Uri | string, ask = false): Promise<void> {
    if (refuseInRestrictedMode()) return;
    const modelPath = typeof arg === 'string' ? arg : await chooseModel(arg);
    if (!modelPath) return;
    const sets = await chooseSamples(modelPath, ask);
    if (!sets) return;
    const cfg = configFor(modelPath);
    const summary = await profiler.run({
      modelPath,
      logitsPath: null,
      samplesPath: sets.samples,
      calibPath: sets.calib,
      exits: cfg?.exits,
      labelName: cfg?.labels,
    });
    if (summary) panel.show(summary.runId);
  }

  async function rerun(runId?: string | null): Promise<void> {
    const id = runId ?? panel.currentRunId ?? store.list()[0]?.runId;
    const run = id ? store.load(id) : null;
    if (!run) {
      void vscode.window.showInformationMessage('Exit Lens: no run to repeat yet. Profile a model first.');
      return;
    }
    const { executionProviders: _ep, batchSize: _b, maxAccuracyDrop: _d, ...request } = run.request;
    const summary = await profiler.run(request);
    if (summary) panel.show(summary.runId);
  }

  async function analyzeLogits(arg?: vscode.Uri): Promise<void> {
    if (refuseInRestrictedMode()) return;
    const logitsPath = arg?.fsPath.toLowerCase().endsWith('.npz')
      ? arg.fsPath
      : await pickWorkspaceFile(
          '**/*.npz',
          'Exit Lens: exit logits file (exit_logits [E,N,C] or exit_0 … arrays, plus labels)',
        );
    if (!logitsPath) return;
    const calib = await pickWorkspaceFile('**/*.npz', 'Exit Lens: calibration logits for the suggested thresholds', [
      { label: 'No calibration set', description: 'fit the suggestions on a seeded half of the file' },
    ]);
    if (calib === undefined) return;
    const summary = await profiler.run({ modelPath: null, logitsPath, samplesPath: logitsPath, calibPath: calib });
    if (summary) panel.show(summary.runId);
  }

  const reg = (id: string, fn: (...args: never[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg('exitLens.profile', (arg?: vscode.Uri) => profile(arg));
  reg('exitLens.profileWithSamples', (arg?: vscode.Uri) => profile(arg, true));
  reg('exitLens.rerun', () => rerun());
  reg('exitLens.analyzeLogits', (arg?: vscode.Uri) => analyzeLogits(arg));
  reg('exitLens.cancel', () => profiler.cancel());

  router.on('rerun', (m) => rerun(m.runId));
  router.on('profile', (m) => profile(m.modelPath ?? undefined));
}
