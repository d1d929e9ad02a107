import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readWebviewAssets, staticReportHtml } from '../core/report/htmlExport';
import { markdownSummary } from '../core/report/summary';
import { describeError } from '../core/errors';
import { planOutputs, writeOutputs } from '../core/io/outputFiles';
import type { ExportFormat } from '../shared/protocol';
import { MessageRouter } from './messageRouter';
import { ReportPanel } from './reportPanel';
import { RunStore } from './runStore';
import { SidebarView } from './sidebarView';

/**
 * The commands on stored reports: Open Report and Export Report, and what the report's and the
 * sidebar's buttons ask for (copy the thresholds, open a run in the sidebar or the panel,
 * export, open a file).
 */
export interface ReportDeps {
  context: vscode.ExtensionContext;
  store: RunStore;
  panel: ReportPanel;
  sidebar: SidebarView;
  router: MessageRouter;
  log: vscode.LogOutputChannel;
}

export function register(deps: ReportDeps): void {
  const { context, store, panel, sidebar, router, log } = deps;

  async function pickRun(title: string): Promise<string | undefined> {
    const runs = store.list();
    if (runs.length === 0) {
      void vscode.window.showInformationMessage(
        'Exit Lens: no stored runs yet. Run "Exit Lens: Profile Model Exits" first.',
      );
      return undefined;
    }
    const chosen = await vscode.window.showQuickPick(
      runs.map((r) => ({
        label: path.basename(r.modelPath ?? r.samplesPath),
        description: [
          new Date(r.createdAt).toLocaleString(),
          path.basename(r.samplesPath),
          (r.provider ?? 'logits').toUpperCase(),
        ].join(' · '),
        detail: r.best
          ? `best: ${r.best.policy} ${r.best.threshold}, ${r.best.speedup?.toFixed(2) ?? '–'}× speed-up`
          : undefined,
        runId: r.runId,
      })),
      { title, matchOnDescription: true },
    );
    return chosen?.runId;
  }

  async function exportReport(runId?: string, format?: ExportFormat): Promise<void> {
    const id = runId ?? panel.currentRunId ?? (await pickRun('Exit Lens: report to export'));
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
    const stem = path.basename(subject).replace(/\.[^.]+$/, '');
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(path.dirname(subject), `${stem}.exit-lens.${ext}`)),
      filters: { [fmt.toUpperCase()]: [ext] },
    });
    if (!target) return;
    // Checked and written as the CLI's outputs are (core/outputFiles.ts): never over the run's own
    // inputs or by a rename over a folder or a special file; a device or a pipe gets a plain write.
    const { modelPath, logitsPath, samplesPath, calibPath } = run.request;
    try {
      const [planned] = planOutputs(
        [{ label: 'The export', file: target.fsPath }],
        [
          { label: 'the model', file: modelPath ?? '' },
          { label: 'the logits file', file: logitsPath ?? '' },
          { label: 'the sample set', file: samplesPath },
          { label: 'the calibration set', file: calibPath ?? '' },
        ],
      );
      await writeOutputs([
        {
          target: planned,
          content: () => {
            if (fmt === 'json') return `${JSON.stringify(run.report, null, 1)}\n`;
            if (fmt === 'markdown') return markdownSummary(run.report);
            const assets = readWebviewAssets(context.extensionUri.fsPath);
            return staticReportHtml(run.report, assets.js, assets.css);
          },
        },
      ]);
    } catch (err) {
      log.error(`Export to ${target.fsPath} failed: ${describeError(err)}`);
      void vscode.window.showErrorMessage(`Exit Lens: ${describeError(err)}`);
      return;
    }
    const open = await vscode.window.showInformationMessage(`Exit Lens: report exported to ${target.fsPath}`, 'Open');
    if (open) await vscode.commands.executeCommand('vscode.open', target);
  }

  const reg = (id: string, fn: (...args: never[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg('exitLens.openReport', async (runId?: string, focusExit?: number) => {
    const id = typeof runId === 'string' ? runId : await pickRun('Exit Lens: open report');
    if (id) panel.show(id, typeof focusExit === 'number' ? focusExit : null);
  });
  reg('exitLens.exportReport', () => exportReport());

  router.on('copy', async (m) => {
    await vscode.env.clipboard.writeText(m.text);
    void vscode.window.showInformationMessage(
      m.what === 'json' ? 'Exit Lens: thresholds copied as JSON.' : 'Exit Lens: Python snippet copied.',
    );
  });
  router.on('openInSidebar', (m) => sidebar.showRun(m.runId));
  router.on('openReport', (m) => panel.show(m.runId, m.focusExit));
  router.on('export', (m) => exportReport(m.runId, m.format));
  router.on('openFile', async (m) => {
    if (fs.existsSync(m.path)) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(m.path));
  });
}
