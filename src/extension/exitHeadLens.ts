import * as path from 'node:path';
import * as vscode from 'vscode';
import { MappedExitHead, mapExitHeads } from '../core/python/exitHeadMapping';
import { findExitHeads } from '../core/python/exitHeads';
import { ExitHeadSite } from '../core/python/headSites';
import { PythonParser, createPythonParser } from '../core/python/pythonParser';
import { Report } from '../core/report';
import { pct } from '../core/summary';
import { guessModelFor } from './modelLookup';
import { RunStore } from './runStore';

/**
 * CodeLens above exit-head definitions in Python model code, found with tree-sitter
 * (src/core/python/exitHeads.ts): `exit_2 · acc 91.3% · 21% exit here at conf ≥ 0.90 ·
 * destructive 2.1%`. Clicking opens the report on that exit; without a run the lens offers
 * to profile. Lenses refresh when a run finishes and, debounced, as the file is edited.
 */
export class ExitHeadLens implements vscode.CodeLensProvider, vscode.Disposable {
  private parser: Promise<PythonParser> | null = null;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private parserFailed = false;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      store.onDidChange(() => this.refresh()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.languageId === 'python') this.refresh(400);
      }),
    );
  }

  refresh(delay = 0): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(), delay);
  }

  private getParser(): Promise<PythonParser> {
    this.parser ??= createPythonParser(vscode.Uri.joinPath(this.extensionUri, 'dist').fsPath);
    return this.parser;
  }

  async sites(document: vscode.TextDocument): Promise<ExitHeadSite[]> {
    try {
      return findExitHeads(await this.getParser(), document.getText());
    } catch (err) {
      if (!this.parserFailed) {
        this.parserFailed = true;
        this.log.error(`Exit-head detection failed: ${(err as Error).message}`);
      }
      return [];
    }
  }

  async countExitHeads(document: vscode.TextDocument): Promise<number> {
    if (document.languageId !== 'python') return 0;
    return (await this.sites(document)).filter((s) => s.kind !== 'class').length;
  }

  async provideCodeLenses(document: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const sites = (await this.sites(document)).filter((s) => s.kind !== 'class');
    if (sites.length === 0) return [];
    const model = guessModelFor(document.uri, this.store);
    const latest = model ? this.store.latest(model) : null;
    const run = latest ? this.store.load(latest.runId) : null;
    const range = (s: ExitHeadSite) => new vscode.Range(s.line, s.column, s.line, s.column);
    if (!model || !run) {
      // One lens is enough to offer the first profile.
      const first = sites[0];
      return [
        new vscode.CodeLens(range(first), {
          title: model ? `Profile exits of ${path.basename(model)}` : 'Profile exits',
          tooltip: model ? `Exit Lens: profile ${model}` : 'Exit Lens: profile a multi-exit ONNX export of this model',
          command: 'exitLens.profile',
          arguments: model ? [vscode.Uri.file(model)] : [],
        }),
      ];
    }
    const report = run.report;
    const mapped = mapExitHeads(
      sites,
      report.exits.map((e) => e.name),
    );
    return mapped.map(
      (m) => new vscode.CodeLens(range(m.site), lensCommand(m, report, run.runId, path.basename(model))),
    );
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.changed.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}

/** The lens text for one mapped head, from the report's figures. */
export function lensText(m: MappedExitHead, report: Report): string {
  if (m.exitIndices.length === 0)
    return `exit head · not mapped to an exit (${m.note}); mark it with # exit-lens: exit_k`;
  const conf = report.suggestions.find((s) => s.policy === 'confidence');
  const tau = conf && typeof conf.threshold === 'number' ? conf.threshold : null;
  const one = (k: number) => {
    const e = report.exits[k];
    const parts = [e.name];
    parts.push(e.accuracy !== null ? `acc ${pct(e.accuracy, 1)}` : `agree ${pct(e.agreement, 1)}`);
    if (conf && k < report.exitCount - 1) {
      const share = conf.test.exitHistogram[k] / Math.max(1, conf.test.sampleCount);
      parts.push(
        tau === null ? 'no early exit meets the target' : `${pct(share, 0)} exit here at conf ≥ ${tau.toFixed(2)}`,
      );
    } else if (k === report.exitCount - 1) parts.push('final exit');
    if (e.destructiveRate !== null) parts.push(`destructive ${pct(e.destructiveRate, 1)}`);
    return parts.join(' · ');
  };
  if (m.exitIndices.length === 1) return one(m.exitIndices[0]);
  const ks = m.exitIndices;
  const accs = ks.map((k) => report.exits[k].accuracy ?? report.exits[k].agreement);
  return `exits ${ks[0]}–${ks[ks.length - 1]} · acc ${pct(accs[0], 1)} → ${pct(accs[accs.length - 1], 1)}`;
}

function lensCommand(m: MappedExitHead, report: Report, runId: string, modelName: string): vscode.Command {
  const title = lensText(m, report);
  return {
    title,
    tooltip: `${modelName}, run of ${new Date(report.createdAt).toLocaleString()} (${m.note}). Click to open the report on this exit.`,
    command: 'exitLens.openReport',
    arguments: [runId, m.exitIndices[0] ?? null],
  };
}
