import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadModelInfo } from '../core/onnx/model';
import { rankSampleFiles } from '../core/samples/sampleMatch';
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

/** Models larger than this are not decoded to rank the sample sets (the pick is then in name order). */
const MAX_RANKING_MODEL_BYTES = 256 * 1024 * 1024;

interface Remembered {
  samples: string;
  calib: string | null;
}

/** The paths of the files whose arrays match the model's inputs (see core/sampleMatch.ts). */
type MatchingFiles = (paths: string[]) => Promise<Set<string>>;

async function pickWorkspaceFile(
  glob: string,
  title: string,
  extra: vscode.QuickPickItem[] = [],
  matching?: MatchingFiles,
): Promise<string | null | undefined> {
  const files = (await vscode.workspace.findFiles(glob, '**/node_modules/**', 500))
    .map((f) => f.fsPath)
    .sort((a, b) => a.localeCompare(b));
  const matched = matching ? await matching(files) : new Set<string>();
  const ordered = [...files.filter((f) => matched.has(f)), ...files.filter((f) => !matched.has(f))];
  type Item = vscode.QuickPickItem & { path?: string | null; browse?: boolean };
  const items: Item[] = [
    ...extra.map((e) => ({ ...e, path: null })),
    ...ordered.map((f) => {
      const folder = vscode.workspace.asRelativePath(path.dirname(f));
      return {
        label: path.basename(f),
        description: matched.has(f) ? `${folder} · arrays match the model's inputs` : folder,
        path: f,
      };
    }),
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

  /**
   * The files (of those given) whose arrays match the model's inputs, from their headers; none
   * when the model cannot be read here (the run then says why). Computed once for both picks.
   */
  function matchingFor(modelPath: string, labelName: string | undefined): MatchingFiles {
    let found: Promise<Set<string>> | undefined;
    return (paths) =>
      (found ??= (async () => {
        let inputs: string[];
        try {
          // The whole model is decoded on this thread: a very large one is not, for a list's order.
          if (fs.statSync(modelPath).size > MAX_RANKING_MODEL_BYTES) return new Set<string>();
          inputs = loadModelInfo(modelPath).inputs.map((i) => i.name);
        } catch {
          return new Set<string>();
        }
        const ranked = await rankSampleFiles(paths, inputs, { labelName });
        return new Set(ranked.filter((r) => r.matches).map((r) => r.path));
      })());
  }

  /** The sample and calibration sets for a run, and whether they were picked just now. */
  async function chooseSamples(
    modelPath: string,
    ask: boolean,
  ): Promise<{ sets: Remembered; picked: boolean } | undefined> {
    const cfg = configFor(modelPath);
    if (cfg?.samples && !ask) return { sets: { samples: cfg.samples, calib: cfg.calib ?? null }, picked: false };
    const remembered = memory()[modelPath];
    if (remembered && !ask && fs.existsSync(remembered.samples)) return { sets: remembered, picked: false };
    const matching = matchingFor(modelPath, cfg?.labels);
    const samples = await pickWorkspaceFile(
      '**/*.{npz,npy}',
      `Exit Lens: sample set for ${path.basename(modelPath)}`,
      [],
      matching,
    );
    if (!samples) return undefined;
    const calib = await pickWorkspaceFile(
      '**/*.{npz,npy}',
      'Exit Lens: calibration set for the suggested thresholds',
      [{ label: 'No calibration set', description: 'fit the suggestions on a seeded half of the sample set' }],
      matching,
    );
    if (calib === undefined) return undefined;
    return { sets: { samples, calib }, picked: true };
  }

  async function profile(arg?: vscode.Uri | string, ask = false): Promise<void> {
    if (refuseInRestrictedMode()) return;
    const modelPath = typeof arg === 'string' ? arg : await chooseModel(arg);
    if (!modelPath) return;
    const chosen = await chooseSamples(modelPath, ask);
    if (!chosen) return;
    const { sets, picked } = chosen;
    const cfg = configFor(modelPath);
    const summary = await profiler.run({
      modelPath,
      logitsPath: null,
      samplesPath: sets.samples,
      calibPath: sets.calib,
      exits: cfg?.exits,
      labelName: cfg?.labels,
    });
    if (!summary) return;
    // Remembered for this model only once a run with them has succeeded.
    if (picked) await context.workspaceState.update(SAMPLE_MEMORY, { ...memory(), [modelPath]: sets });
    panel.show(summary.runId);
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
