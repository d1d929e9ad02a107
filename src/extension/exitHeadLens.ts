import * as path from 'node:path';
import * as vscode from 'vscode';
import { MappedExitHead, mapExitHeads } from '../core/python/exitHeadMapping';
import { findExitHeads } from '../core/python/exitHeads';
import { ExitHeadSite } from '../core/python/headSites';
import { HeadsModel, HeadsResult, headsFromGraph } from '../core/python/headsFromGraph';
import { LensRun, modelAtLine, planLenses } from '../core/python/lensPlan';
import { PythonParser, createPythonParser } from '../core/python/pythonParser';
import { Report } from '../core/analysis/analyze';
import { pct } from '../core/report/summary';
import { qualityOf, qualityShort } from '../shared/quality';
import { suggestedVsCertified } from '../shared/riskText';
import { HeadsModels } from './headsModels';
import { guessModelFor } from './modelLookup';
import { RunStore } from './runStore';

/**
 * CodeLens above exit-head definitions in Python model code, found with tree-sitter
 * (src/core/python/exitHeads.ts): `exit_2 · acc 91.3% · 21% exit here at suggested conf ≥ 0.90 ·
 * destructive 2.1%`. Clicking opens the report on that exit; without a run the lens offers
 * to profile. Lenses refresh when a run finishes and, debounced, as the file is edited.
 *
 * Which model and which exit (issue #15): the classes of the file are tied to the models under
 * its folder, those the team file names for it and those with runs (headsModels.ts), by the
 * exported graph (src/core/python/headsFromGraph.ts); each tied class gets its own model's
 * figures (src/core/python/lensPlan.ts). When no class is tied to any model, the name
 * heuristics and the one model guessed for the file (modelLookup.ts) decide, as before.
 */
export class ExitHeadLens implements vscode.CodeLensProvider, vscode.Disposable {
  private parser: Promise<PythonParser> | null = null;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private parserFailed = false;
  private readonly models: HeadsModels;
  /** The last mapping per document, reused while neither the text nor the models changed. */
  private readonly heads = new Map<
    string,
    { version: number; models: readonly HeadsModel[]; options: string; result: HeadsResult }
  >();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.models = new HeadsModels(store, log);
    this.disposables.push(
      this.models,
      vscode.workspace.onDidCloseTextDocument((d) => this.heads.delete(d.uri.toString())),
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

  /** The classes of a Python file tied to models by the graph; null when it has none or nothing could be read. */
  async headsOf(document: vscode.TextDocument, token?: vscode.CancellationToken): Promise<HeadsResult | null> {
    if (document.languageId !== 'python' || document.uri.scheme !== 'file') return null;
    const text = document.getText();
    if (!/^\s*class\s/m.test(text)) return null;
    try {
      const { models, options } = await this.models.candidates(document.uri, token);
      if (models.length === 0 || token?.isCancellationRequested) return null;
      const key = document.uri.toString();
      const hit = this.heads.get(key);
      const opts = JSON.stringify(options);
      if (hit && hit.version === document.version && hit.options === opts && sameModels(hit.models, models))
        return hit.result;
      const result = headsFromGraph(await this.getParser(), text, models, options);
      this.heads.set(key, { version: document.version, models, options: opts, result });
      return result;
    } catch (err) {
      this.log.warn(`CodeLens: tying ${document.uri.fsPath} to its models failed: ${(err as Error).message}`);
      return null;
    }
  }

  /** The model of the class at or above `line` (else of the first tied class), for the sidebar. */
  async modelAt(document: vscode.TextDocument, line: number): Promise<string | null> {
    const result = await this.headsOf(document);
    return result ? modelAtLine(result, line) : null;
  }

  async provideCodeLenses(document: vscode.TextDocument, token?: vscode.CancellationToken): Promise<vscode.CodeLens[]> {
    const heads = await this.headsOf(document, token);
    if (heads && heads.classes.some((c) => c.model)) return this.graphLenses(heads, await this.sites(document));
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

  private graphLenses(heads: HeadsResult, sites: readonly ExitHeadSite[]): vscode.CodeLens[] {
    const runs = new Map<string, LensRun | null>();
    for (const c of heads.classes) if (c.model) runs.set(c.model, this.models.latestRun(c.model));
    const plan = planLenses(
      heads,
      runs,
      {
        // lensText for one exit: the same words as the name-mapped lenses.
        exitTitle: (report, exit) => lensText({ exitIndices: [exit], note: '' } as unknown as MappedExitHead, report),
        runNote: (report) => suggestedVsCertified(report.guarantees),
        date: (iso) => new Date(iso).toLocaleString(),
      },
      sites,
    );
    return plan.map(
      (p) =>
        new vscode.CodeLens(new vscode.Range(p.line, 0, p.line, 0), {
          title: p.title,
          tooltip: p.tooltip,
          command: p.command,
          arguments: p.command === 'exitLens.profile' ? [vscode.Uri.file(p.model)] : p.args,
        }),
    );
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.changed.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}

function sameModels(a: readonly HeadsModel[], b: readonly HeadsModel[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

/** The lens text for one mapped head, from the report's figures. */
export function lensText(m: MappedExitHead, report: Report): string {
  if (m.exitIndices.length === 0)
    return `exit head · not mapped to an exit (${m.note}); mark it with # exit-lens: exit_k`;
  const conf = report.suggestions.find((s) => s.policy === 'confidence');
  const tau = conf && typeof conf.threshold === 'number' ? conf.threshold : null;
  const labelled = report.samples.labelled;
  const one = (k: number) => {
    const e = report.exits[k];
    const parts = [e.name];
    parts.push(`${qualityShort(labelled)} ${pct(qualityOf(labelled, e), 1)}`);
    if (conf && k < report.exitCount - 1) {
      const share = conf.test.exitHistogram[k] / Math.max(1, conf.test.sampleCount);
      parts.push(
        tau === null
          ? 'no early exit meets the target'
          : `${pct(share, 0)} exit here at suggested conf ≥ ${tau.toFixed(2)}`,
      );
    } else if (k === report.exitCount - 1) parts.push('final exit');
    if (e.destructiveRate !== null) parts.push(`destructive ${pct(e.destructiveRate, 1)}`);
    return parts.join(' · ');
  };
  if (m.exitIndices.length === 1) return one(m.exitIndices[0]);
  const ks = m.exitIndices;
  const q = ks.map((k) => qualityOf(labelled, report.exits[k]));
  return `exits ${ks[0]}–${ks[ks.length - 1]} · ${qualityShort(labelled)} ${pct(q[0], 1)} → ${pct(q[q.length - 1], 1)}`;
}

function lensCommand(m: MappedExitHead, report: Report, runId: string, modelName: string): vscode.Command {
  const title = lensText(m, report);
  return {
    title,
    tooltip: `${modelName}, run of ${new Date(report.createdAt).toLocaleString()} (${m.note}).${suggestedVsCertified(report.guarantees)} Click to open the report on this exit.`,
    command: 'exitLens.openReport',
    arguments: [runId, m.exitIndices[0] ?? null],
  };
}
