import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelEntry, RunSummary, SidebarState, ToWebview } from '../shared/protocol';
import { MessageRouter } from './messageRouter';
import { guessModelFor } from './modelLookup';
import { RunStore } from './runStore';
import { modelForSource } from './settings';
import { WebviewHost } from './webviewHost';

/**
 * The "Exit Lens" sidebar view. It follows the active editor: for Python model code with
 * exit heads (or a file tied to a model in the settings) and for an open .onnx model it shows
 * that model's latest run; otherwise the workspace's models and their runs, or how to start.
 */
export const SIDEBAR_VIEW_ID = 'exitLens.sidebar';

export type ExitHeadCounter = (document: vscode.TextDocument) => Promise<number>;
/** The model tied (by the graph) to the class at or above a line of Python code, or null. */
export type ModelAtLine = (document: vscode.TextDocument, line: number) => Promise<string | null>;

export function activeResource(): vscode.Uri | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor) return editor.document.uri;
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText) return input.uri;
  return undefined;
}

export class SidebarView implements vscode.WebviewViewProvider, vscode.Disposable {
  private host: WebviewHost | null = null;
  private pinned: string | null = null;
  private lastModel: { path: string; source: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunStore,
    private readonly countExitHeads: ExitHeadCounter,
    private readonly router: MessageRouter,
    private readonly log: vscode.LogOutputChannel,
    private readonly modelAt: ModelAtLine = async () => null,
  ) {
    this.disposables.push(
      // In a file of several models, the view follows the class under the cursor.
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor.document.languageId !== 'python' || this.pinned) return;
        clearTimeout(this.cursorTimer);
        this.cursorTimer = setTimeout(() => {
          void this.modelAt(e.textEditor.document, e.textEditor.selection.active.line).then((m) => {
            if (m && m !== this.lastModel?.path) this.refresh(0);
          });
        }, 300);
      }),
      vscode.window.registerWebviewViewProvider(SIDEBAR_VIEW_ID, this),
      vscode.window.onDidChangeActiveTextEditor(() => {
        this.pinned = null;
        this.refresh();
      }),
      vscode.window.tabGroups.onDidChangeTabs(() => this.refresh()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refresh()),
      store.onDidChange(() => this.refresh()),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.host?.dispose();
    const host = new WebviewHost(view.webview, {
      extensionUri: this.extensionUri,
      router: this.router,
      log: this.log,
      onReady: () => this.refresh(0),
    });
    this.host = host;
    host.load({ view: 'sidebar' }, 'Exit Lens');
    view.onDidChangeVisibility(() => view.visible && this.refresh(0));
    view.onDidDispose(() => {
      host.dispose();
      if (this.host === host) this.host = null;
    });
  }

  setRunning(running: boolean): void {
    this.running = running;
    this.refresh();
  }

  /** Shows one run's model, until the active editor changes. */
  showRun(runId: string): void {
    const run = this.store.load(runId);
    this.pinned = run?.request.modelPath ?? run?.request.logitsPath ?? null;
    void vscode.commands.executeCommand(`${SIDEBAR_VIEW_ID}.focus`);
    this.refresh(0);
  }

  refresh(delay = 200): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.compute()
        .then((state) => this.post({ type: 'sidebar', state }))
        .catch((err) => this.log.error(`Sidebar: ${(err as Error).message}`));
    }, delay);
  }

  private post(message: ToWebview): void {
    this.host?.post(message);
  }

  private modelState(modelPath: string, source: string): SidebarState {
    return {
      kind: 'model',
      modelPath,
      label: path.basename(modelPath),
      source,
      latest: this.store.latest(modelPath),
      report: null,
      running: this.running,
      trusted: vscode.workspace.isTrusted,
    };
  }

  async compute(): Promise<SidebarState> {
    if (this.pinned) return this.modelState(this.pinned, 'opened from a report');
    const uri = activeResource();
    // Focus in a webview (the report, this view) is not a new editor: keep showing the model.
    if ((!uri || uri.scheme !== 'file') && this.lastModel)
      return this.modelState(this.lastModel.path, this.lastModel.source);
    const state = await this.computeFor(uri);
    this.lastModel = state.kind === 'model' ? { path: state.modelPath, source: state.source } : null;
    return state;
  }

  private async computeFor(uri: vscode.Uri | undefined): Promise<SidebarState> {
    if (uri?.scheme === 'file') {
      const p = uri.fsPath;
      if (p.toLowerCase().endsWith('.onnx')) return this.modelState(p, 'the open model');
      if (p.toLowerCase().endsWith('.py')) {
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
        const editor = vscode.window.activeTextEditor;
        const line = editor && editor.document === doc ? editor.selection.active.line : 0;
        const byGraph = doc ? await this.modelAt(doc, line) : null;
        if (byGraph) return this.modelState(byGraph, `the model of the code at the cursor in ${path.basename(p)}`);
        const tied = modelForSource(p);
        if (tied) return this.modelState(tied.model, `tied to ${path.basename(p)} by ${path.basename(tied.origin)}`);
        const heads = doc ? await this.countExitHeads(doc) : 0;
        if (heads > 0) {
          const model = guessModelFor(uri, this.store);
          if (model)
            return this.modelState(model, `${heads} exit head${heads === 1 ? '' : 's'} in ${path.basename(p)}`);
        }
      }
    }
    const runs = this.store.list();
    const files =
      vscode.workspace.isTrusted || runs.length
        ? await vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', 50)
        : [];
    const models = new Map<string, ModelEntry>();
    for (const f of files)
      models.set(f.fsPath, { modelPath: f.fsPath, label: vscode.workspace.asRelativePath(f), runs: [] });
    for (const r of runs) {
      if (!r.modelPath) continue;
      const entry = models.get(r.modelPath) ?? {
        modelPath: r.modelPath,
        label: vscode.workspace.asRelativePath(r.modelPath),
        runs: [] as RunSummary[],
      };
      entry.runs.push(r);
      models.set(r.modelPath, entry);
    }
    if (models.size === 0) return vscode.workspace.isTrusted ? { kind: 'empty', trusted: true } : { kind: 'untrusted' };
    const list = [...models.values()].sort(
      (a, b) =>
        (b.runs[0]?.createdAt ?? '').localeCompare(a.runs[0]?.createdAt ?? '') || a.label.localeCompare(b.label),
    );
    return { kind: 'workspace', models: list, running: this.running, trusted: vscode.workspace.isTrusted };
  }

  dispose(): void {
    clearTimeout(this.timer);
    clearTimeout(this.cursorTimer);
    this.host?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
