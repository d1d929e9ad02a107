import * as path from 'node:path';
import * as vscode from 'vscode';
import { FromWebview, ToWebview, isFromWebview } from '../shared/protocol';
import { webviewHtml } from './html';
import { RunStore } from './runStore';

/**
 * The report panel: one panel that shows the chosen run, restored after a window reload
 * by a serializer (its page state keeps the run, the threshold sliders and the scroll).
 */
export const REPORT_VIEW_TYPE = 'exitLens.report';

export type WebviewActions = (message: FromWebview, from: 'panel' | 'sidebar') => void | Promise<void>;

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/** Checks every message from a page before acting; anything malformed is logged and dropped. */
export function receiveFrom(webview: vscode.Webview, from: 'panel' | 'sidebar', onMessage: WebviewActions, log: vscode.LogOutputChannel): vscode.Disposable {
  return webview.onDidReceiveMessage((m: unknown) => {
    if (!isFromWebview(m)) {
      log.warn(`Ignored a malformed message from the ${from} webview: ${JSON.stringify(m)?.slice(0, 200)}`);
      return;
    }
    void Promise.resolve(onMessage(m, from)).catch((err) => log.error(`Handling ${m.type} failed: ${(err as Error).message}`));
  });
}

export class ReportPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private runId: string | null = null;
  private pendingFocus: number | null = null;
  private ready = false;
  private missing = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunStore,
    private readonly onMessage: WebviewActions,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      // A run that was missing (its folder setting not in yet, say) may appear later.
      store.onDidChange(() => {
        if (this.panel && this.ready && this.missing) this.post();
      }),
      vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const runId = state && typeof (state as { runId?: unknown }).runId === 'string' ? (state as { runId: string }).runId : null;
          this.adopt(panel, runId);
        },
      }),
    );
  }

  get currentRunId(): string | null {
    return this.runId;
  }

  get visible(): boolean {
    return Boolean(this.panel?.visible);
  }

  private adopt(panel: vscode.WebviewPanel, runId: string | null): void {
    this.panel = panel;
    this.runId = runId;
    this.ready = false;
    panel.webview.options = webviewOptions(this.extensionUri);
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'exit-lens.svg');
    panel.webview.html = webviewHtml(panel.webview, this.extensionUri, { view: 'panel', runId: runId ?? undefined }, 'Exit Lens report');
    const subs = [
      receiveFrom(panel.webview, 'panel', async (m, from) => {
        if (m.type === 'ready') {
          this.ready = true;
          this.post();
          return;
        }
        await this.onMessage(m, from);
      }, this.log),
      panel.onDidDispose(() => {
        if (this.panel === panel) {
          this.panel = null;
          this.runId = null;
        }
        subs.forEach((d) => d.dispose());
      }),
    ];
  }

  /** Shows a run (opening or revealing the panel), optionally focused on one exit. */
  show(runId: string, focusExit: number | null = null): void {
    const run = this.store.load(runId);
    if (!run) {
      void vscode.window.showErrorMessage(`Exit Lens: run ${runId} is no longer stored (it may have been pruned or its file is unreadable).`);
      return;
    }
    this.pendingFocus = focusExit;
    if (!this.panel) {
      const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, 'Exit Lens report', vscode.ViewColumn.Active, { ...webviewOptions(this.extensionUri), retainContextWhenHidden: false });
      this.adopt(panel, runId);
    } else {
      this.runId = runId;
      this.panel.reveal();
      if (this.ready) this.post();
    }
  }

  focusExit(exit: number): void {
    this.send({ type: 'focusExit', exit });
  }

  send(message: ToWebview): void {
    if (this.panel && this.ready) void this.panel.webview.postMessage(message);
  }

  private post(): void {
    if (!this.panel || !this.runId) return;
    const run = this.store.load(this.runId);
    this.missing = !run;
    if (!run) {
      this.panel.title = 'Exit Lens report (missing)';
      return;
    }
    const subject = run.request.modelPath ?? run.request.logitsPath ?? run.report.samples.path;
    this.panel.title = `Exit Lens: ${path.basename(subject)}`;
    void this.panel.webview.postMessage({ type: 'report', runId: this.runId, report: run.report, focusExit: this.pendingFocus } satisfies ToWebview);
    this.pendingFocus = null;
  }

  dispose(): void {
    this.panel?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
