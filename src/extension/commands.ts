import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readWebviewAssets, staticReportHtml } from '../core/htmlExport';
import { markdownSummary } from '../core/summary';
import type { ExportFormat, FromWebview } from '../shared/protocol';
import { Profiler, refuseInRestrictedMode } from './profiler';
import { ReportPanel } from './reportPanel';
import { RunStore, writeFileAtomic } from './runStore';
import { configFor } from './settings';
import { SidebarView, activeResource } from './sidebarView';

/**
 * The command palette actions (category "Exit Lens") and what the webviews ask for. Every
 * command that profiles checks workspace trust first (in the profiler).
 */
interface Deps {
  context: vscode.ExtensionContext;
  store: RunStore;
  profiler: Profiler;
  panel: () => ReportPanel;
  sidebar: () => SidebarView;
  log: vscode.LogOutputChannel;
}

const SAMPLE_MEMORY = 'exitLens.sampleSets';

interface Remembered {
  samples: string;
  calib: string | null;
}

async function pickWorkspaceFile(glob: string, title: string, extra: vscode.QuickPickItem[] = []): Promise<string | null | undefined> {
  const files = await vscode.workspace.findFiles(glob, '**/node_modules/**', 500);
  type Item = vscode.QuickPickItem & { path?: string | null; browse?: boolean };
  const items: Item[] = [
    ...extra.map((e) => ({ ...e, path: null })),
    ...files.sort((a, b) => a.fsPath.localeCompare(b.fsPath)).map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(path.dirname(f.fsPath)), path: f.fsPath })),
    { label: '$(folder-opened) Browse…', browse: true },
  ];
  const chosen = await vscode.window.showQuickPick<Item>(items, { title, matchOnDescription: true, ignoreFocusOut: true });
  if (!chosen) return undefined;
  if (chosen.browse) {
    const uris = await vscode.window.showOpenDialog({ title, canSelectMany: false, filters: { 'Arrays and models': glob.includes('onnx') ? ['onnx'] : ['npz', 'npy'] } });
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

/** Registers the commands; returns the handler for (validated) webview requests. */
export function registerCommands(deps: Deps): (m: FromWebview) => Promise<void> {
  const { context, store, profiler, log } = deps;
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
    const summary = await profiler.run({ modelPath, logitsPath: null, samplesPath: sets.samples, calibPath: sets.calib, exits: cfg?.exits, labelName: cfg?.labels });
    if (summary) deps.panel().show(summary.runId);
  }

  async function rerun(runId?: string | null): Promise<void> {
    const id = runId ?? deps.panel().currentRunId ?? store.list()[0]?.runId;
    const run = id ? store.load(id) : null;
    if (!run) {
      void vscode.window.showInformationMessage('Exit Lens: no run to repeat yet. Profile a model first.');
      return;
    }
    const { executionProviders: _ep, batchSize: _b, maxAccuracyDrop: _d, ...request } = run.request;
    const summary = await profiler.run(request);
    if (summary) deps.panel().show(summary.runId);
  }

  async function pickRun(title: string): Promise<string | undefined> {
    const runs = store.list();
    if (runs.length === 0) {
      void vscode.window.showInformationMessage('Exit Lens: no stored runs yet. Run "Exit Lens: Profile Model Exits" first.');
      return undefined;
    }
    const chosen = await vscode.window.showQuickPick(
      runs.map((r) => ({
        label: path.basename(r.modelPath ?? r.samplesPath),
        description: `${new Date(r.createdAt).toLocaleString()} · ${path.basename(r.samplesPath)} · ${(r.provider ?? 'logits').toUpperCase()}`,
        detail: r.best ? `best: ${r.best.policy} ${r.best.threshold}, ${r.best.speedup?.toFixed(2) ?? '–'}× speed-up` : undefined,
        runId: r.runId,
      })),
      { title, matchOnDescription: true },
    );
    return chosen?.runId;
  }

  async function exportReport(runId?: string, format?: ExportFormat): Promise<void> {
    const id = runId ?? deps.panel().currentRunId ?? (await pickRun('Exit Lens: report to export'));
    const run = id ? store.load(id) : null;
    if (!run) return;
    const fmt =
      format ??
      (
        await vscode.window.showQuickPick(
          [
            { label: 'HTML', description: 'interactive, self-contained: opens in any browser', fmt: 'html' as const },
            { label: 'Markdown', description: 'summary tables', fmt: 'markdown' as const },
            { label: 'JSON', description: 'the full report (docs/report.schema.json)', fmt: 'json' as const },
          ],
          { title: 'Exit Lens: export format' },
        )
      )?.fmt;
    if (!fmt) return;
    const ext = fmt === 'markdown' ? 'md' : fmt;
    const subject = run.request.modelPath ?? run.request.logitsPath ?? 'report';
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(path.dirname(subject), `${path.basename(subject).replace(/\.[^.]+$/, '')}.exit-lens.${ext}`)),
      filters: { [fmt.toUpperCase()]: [ext] },
    });
    if (!target) return;
    let content: string;
    if (fmt === 'json') content = `${JSON.stringify(run.report, null, 1)}\n`;
    else if (fmt === 'markdown') content = markdownSummary(run.report);
    else {
      const assets = readWebviewAssets(context.extensionUri.fsPath);
      content = staticReportHtml(run.report, assets.js, assets.css);
    }
    writeFileAtomic(target.fsPath, content);
    const open = await vscode.window.showInformationMessage(`Exit Lens: report exported to ${target.fsPath}`, 'Open');
    if (open) await vscode.commands.executeCommand('vscode.open', target);
  }

  async function analyzeLogits(arg?: vscode.Uri): Promise<void> {
    if (refuseInRestrictedMode()) return;
    const logitsPath = arg?.fsPath.toLowerCase().endsWith('.npz') ? arg.fsPath : await pickWorkspaceFile('**/*.npz', 'Exit Lens: exit logits file (exit_logits [E,N,C] or exit_0 … arrays, plus labels)');
    if (!logitsPath) return;
    const calib = await pickWorkspaceFile('**/*.npz', 'Exit Lens: calibration logits for the suggested thresholds', [{ label: 'No calibration set', description: 'fit the suggestions on a seeded half of the file' }]);
    if (calib === undefined) return;
    const summary = await profiler.run({ modelPath: null, logitsPath, samplesPath: logitsPath, calibPath: calib });
    if (summary) deps.panel().show(summary.runId);
  }

  const reg = (id: string, fn: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg('exitLens.profile', (arg?: vscode.Uri) => profile(arg));
  reg('exitLens.profileWithSamples', (arg?: vscode.Uri) => profile(arg, true));
  reg('exitLens.rerun', () => rerun());
  reg('exitLens.openReport', async (runId?: string, focusExit?: number) => {
    const id = typeof runId === 'string' ? runId : await pickRun('Exit Lens: open report');
    if (id) deps.panel().show(id, typeof focusExit === 'number' ? focusExit : null);
  });
  reg('exitLens.analyzeLogits', (arg?: vscode.Uri) => analyzeLogits(arg));
  reg('exitLens.exportReport', () => exportReport());
  reg('exitLens.cancel', () => profiler.cancel());
  reg('exitLens.showLog', () => log.show());

  /** What the report panel, the sidebar and the model viewer may ask for (already validated). */
  return async (m: FromWebview) => {
    switch (m.type) {
      case 'copy':
        await vscode.env.clipboard.writeText(m.text);
        void vscode.window.showInformationMessage(m.what === 'json' ? 'Exit Lens: thresholds copied as JSON.' : 'Exit Lens: Python snippet copied.');
        break;
      case 'rerun':
        await rerun(m.runId);
        break;
      case 'openInSidebar':
        deps.sidebar().showRun(m.runId);
        break;
      case 'openReport':
        deps.panel().show(m.runId, m.focusExit);
        break;
      case 'profile':
        await profile(m.modelPath ?? undefined);
        break;
      case 'export':
        await exportReport(m.runId, m.format);
        break;
      case 'openFile':
        if (fs.existsSync(m.path)) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(m.path));
        break;
      case 'ready':
        break;
    }
  };
}

