import * as vscode from 'vscode';
import type { ExecutionProviderInfo } from '../core/report';

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
    this.item.text = `$(pulse) Exit Lens: ${provider.toUpperCase()}`;
    this.item.tooltip = `Exit Lens: the latest stored run ran on ${provider.toUpperCase()}. Click to choose the execution provider.`;
    this.item.show();
  }

  running(label: string, fraction: number | null): void {
    this.item.text = `$(sync~spin) Exit Lens: ${label}${fraction === null ? '' : ` ${Math.round(fraction * 100)}%`}`;
    this.item.tooltip = `Profiling ${label}`;
    this.item.show();
  }

  provider(info: ExecutionProviderInfo, running = false): void {
    const failed = info.attempts.filter((a) => !a.ok);
    const name = info.used.toUpperCase();
    if (!running) this.item.text = `$(pulse) Exit Lens: ${name}${failed.length ? ' (fallback)' : ''}`;
    const md = new vscode.MarkdownString(`**Exit Lens** ran on **${name}** with ${info.threads} threads.`);
    for (const a of failed) md.appendMarkdown(`\n\n${a.provider.toUpperCase()} was not used: `).appendText(a.reason ?? 'unknown reason');
    md.appendMarkdown('\n\nClick to choose the execution provider.');
    this.item.tooltip = md;
    this.item.backgroundColor = undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
