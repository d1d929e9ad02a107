import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ToWebview } from '../shared/protocol';
import { MessageRouter } from './messageRouter';
import { RunStore } from './runStore';
import { WebviewHost, webviewOptions } from './webviewHost';

/**
 * The report panel: one panel that shows the chosen run, restored after a window reload
 * by a serializer (its page state keeps the run, the threshold sliders and the scroll).
 */
export const REPORT_VIEW_TYPE = 'exitLens.report';

export class ReportPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private host: WebviewHost | null = null;
  private runId: string | null = null;
  private pendingFocus: number | null = null;
  private missing = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunStore,
    private readonly router: MessageRouter,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      // A run that was missing (its folder setting not in yet, say) may appear later.
      store.onDidChange(() => {
        if (this.panel && this.host?.ready && this.missing) this.post();
      }),
      vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const runId =
            state && typeof (state as { runId?: unknown }).runId === 'string'
              ? (state as { runId: string }).runId
              : null;
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
    const host = new WebviewHost(panel.webview, {
      extensionUri: this.extensionUri,
      router: this.router,
      log: this.log,
      onReady: () => this.post(),
    });
    this.panel = panel;
    this.host = host;
    this.runId = runId;
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'exit-lens.svg');
    host.load({ view: 'panel', runId: runId ?? undefined }, 'Exit Lens report');
    const sub = panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = null;
        this.host = null;
        this.runId = null;
      }
      host.dispose();
      sub.dispose();
    });
  }

  /** Shows a run (opening or revealing the panel), optionally focused on one exit. */
  show(runId: string, focusExit: number | null = null): void {
    const run = this.store.load(runId);
    if (!run) {
      void vscode.window.showErrorMessage(
        `Exit Lens: run ${runId} is no longer stored (it may have been pruned or its file is unreadable).`,
      );
      return;
    }
    this.pendingFocus = focusExit;
    if (!this.panel) {
      const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, 'Exit Lens report', vscode.ViewColumn.Active, {
        ...webviewOptions(this.extensionUri),
        retainContextWhenHidden: false,
      });
      this.adopt(panel, runId);
    } else {
      this.runId = runId;
      // A hidden panel reloads its page when revealed: that page's 'ready' posts the run again,
      // so the focus is kept for it instead of being spent on the page that goes away.
      const wasVisible = this.panel.visible;
      this.panel.reveal();
      // Before the page is ready, its 'ready' posts the run (and the focus) instead.
      if (this.host?.ready) this.post(wasVisible);
    }
  }

  focusExit(exit: number): void {
    this.send({ type: 'focusExit', exit });
  }

  send(message: ToWebview): void {
    this.host?.post(message);
  }

  /** Posts the run to the page; `spendFocus` false keeps the pending focus for the next 'ready'. */
  private post(spendFocus = true): void {
    if (!this.panel || !this.host || !this.runId) return;
    const run = this.store.load(this.runId);
    this.missing = !run;
    if (!run) {
      this.panel.title = 'Exit Lens report (missing)';
      return;
    }
    const subject = run.request.modelPath ?? run.request.logitsPath ?? run.report.samples.path;
    this.panel.title = `Exit Lens: ${path.basename(subject)}`;
    this.host.post({ type: 'report', runId: this.runId, report: run.report, focusExit: this.pendingFocus });
    if (spendFocus) this.pendingFocus = null;
  }

  dispose(): void {
    this.panel?.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
