import * as vscode from 'vscode';
import type { ExecutionProviderInfo } from '../core/analysis/analyze';
import { providerName, summarizeProvider } from '../shared/providerText';

/** The status bar item: the execution provider in use (and why, on fallback), or the run in progress. */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('exitLens.provider', vscode.StatusBarAlignment.Left, 20);

  constructor() {
    this.item.name = 'Exit Lens';
    this.item.command = 'exitLens.chooseExecutionProvider';
    this.idle();
  }

  idle(): void {
    this.item.text = '$(pulse) Exit Lens';
    this.item.tooltip = 'Exit Lens: choose the execution provider';
    this.item.backgroundColor = undefined;
    this.item.show();
  }

  /** Before any run in this window: the provider of the latest stored run, if any. */
  lastRun(provider: string | null): void {
    if (!provider) return this.idle();
    this.item.text = `$(pulse) Exit Lens: ${providerName(provider)}`;
    this.item.tooltip = `Exit Lens: the latest stored run ran on ${providerName(provider)}. Click to choose the execution provider.`;
    this.item.show();
  }

  running(label: string, fraction: number | null): void {
    this.item.text = `$(sync~spin) Exit Lens: ${label}${fraction === null ? '' : ` ${Math.round(fraction * 100)}%`}`;
    this.item.tooltip = `Profiling ${label}`;
    this.item.show();
  }

  provider(info: ExecutionProviderInfo, running = false): void {
    const sum = summarizeProvider(info);
    if (!running)
      this.item.text = `${sum.tone === 'fallback' ? '$(warning)' : '$(pulse)'} Exit Lens: ${sum.badge}${sum.tone === 'fallback' ? ' (fallback)' : ''}`;
    const md = new vscode.MarkdownString();
    md.appendMarkdown('**Exit Lens** ran on ').appendText(sum.line);
    for (const n of sum.notUsed) {
      md.appendMarkdown(`\n\n${providerName(n.provider)} was not used: `).appendText(n.reason);
      if (n.nextStep) md.appendMarkdown('\n\n').appendText(n.nextStep);
    }
    md.appendMarkdown(
      '\n\n[Check GPU Setup](command:exitLens.checkGpu) · [Choose Execution Provider](command:exitLens.chooseExecutionProvider)',
    );
    md.isTrusted = { enabledCommands: ['exitLens.checkGpu', 'exitLens.chooseExecutionProvider'] };
    this.item.tooltip = md;
    this.item.backgroundColor = undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
