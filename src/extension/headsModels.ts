import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ExitLensError } from '../core/errors';
import {
  HeadsModel,
  HeadsOptions,
  MAX_MODEL_FILES,
  MAX_SEARCH_FOLDERS,
  findModelFiles,
} from '../core/python/headsFromGraph';
import { loadHeadsModel } from '../core/python/headsFromGraph';
import type { LensRun } from '../core/python/lensPlan';
import { RunStore } from './runStore';
import { ModelConfig, modelConfigs } from './settings';

/**
 * The models a Python file may define, for the CodeLens and the sidebar (issue #15): every
 * `.onnx` under the file's folder (bounded, read asynchronously), the models the team file or
 * the `exitLens.models` setting names for it (`sources`), and the workspace's models with
 * stored runs. Each model is read once per path, mtime and size (and exit mapping), folder
 * listings are kept until an `.onnx` file is created or deleted (or a minute passes), and runs
 * until the store changes: the lens asks on every edit.
 */

/** A listing is kept this long at most (a watcher clears it sooner). */
const LISTING_TTL_MS = 60_000;
/** Larger models are not read for the lens (they take long to decode); name them in the team file to have them read. */
export const MAX_LENS_MODEL_BYTES = 256 * 2 ** 20;
/** Reading new models stops after this long in one call; the rest are read on the next. */
const LOAD_BUDGET_MS = 1_500;

interface Loaded {
  key: string;
  model: HeadsModel | null;
}

export class HeadsModels implements vscode.Disposable {
  private readonly listings = new Map<string, { at: number; files: Promise<string[]> }>();
  private readonly loaded = new Map<string, Loaded>();
  private readonly reports = new Map<string, LensRun | null>();
  private latest = new Map<string, string | null>();
  private runModels: string[] | null = null;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly warned = new Set<string>();

  constructor(
    private readonly store: RunStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.onnx');
    const clear = () => this.listings.clear();
    this.disposables.push(
      watcher,
      watcher.onDidCreate(clear),
      watcher.onDidDelete(clear),
      store.onDidChange(() => {
        this.latest = new Map();
        this.reports.clear();
        this.runModels = null;
      }),
    );
  }

  private listing(folder: string): Promise<string[]> {
    const hit = this.listings.get(folder);
    if (hit && Date.now() - hit.at < LISTING_TTL_MS) return hit.files;
    // A folder that cannot be read offers no models (the lens then falls back to the names).
    const files = findModelFiles(folder)
      .catch(() => ({ files: [] as string[], capped: false }))
      .then(({ files, capped }) => {
        if (capped && !this.warned.has(folder)) {
          this.warned.add(folder);
          this.log.info(
            `CodeLens: more than ${MAX_MODEL_FILES} .onnx files (or ${MAX_SEARCH_FOLDERS} folders) under ${folder}; only the first were read. Tie a model to its code in .vscode/exit-lens.json ("sources").`,
          );
        }
        return files;
      });
    this.listings.set(folder, { at: Date.now(), files });
    return files;
  }

  private modelsWithRuns(): string[] {
    if (this.runModels) return this.runModels;
    const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath + path.sep);
    const models = new Set<string>();
    for (const r of this.store.list())
      if (r.modelPath && roots.some((root) => r.modelPath!.startsWith(root))) models.add(r.modelPath);
    this.runModels = [...models];
    return this.runModels;
  }

  /** The candidate models of a Python file, read (or from the cache), and the options the team file gives. */
  async candidates(
    source: vscode.Uri,
    token?: vscode.CancellationToken,
  ): Promise<{ models: HeadsModel[]; options: HeadsOptions }> {
    const configs = modelConfigs();
    const byModel = new Map<string, ModelConfig>(configs.map((c) => [c.model, c]));
    const file = path.resolve(source.fsPath);
    const named = configs.filter((c) => c.sources?.includes(file)).map((c) => c.model);
    const listed = await this.listing(path.dirname(file));
    if (token?.isCancellationRequested) return { models: [], options: {} };
    const paths = [...new Set([...named, ...listed, ...this.modelsWithRuns()])];
    const models: HeadsModel[] = [];
    const started = Date.now();
    let deferred = false;
    for (const p of paths) {
      if (token?.isCancellationRequested) break;
      const stat = await fs.promises.stat(p).catch(() => null);
      if (!stat?.isFile()) continue;
      const exits = byModel.get(p)?.exits;
      const key = `${stat.mtimeMs}:${stat.size}:${exits ?? ''}`;
      let hit = this.loaded.get(p);
      if (!hit || hit.key !== key) {
        if (stat.size > MAX_LENS_MODEL_BYTES && !named.includes(p)) continue;
        if (Date.now() - started > LOAD_BUDGET_MS) {
          deferred = true;
          continue;
        }
        hit = { key, model: this.read(p, exits) };
        this.loaded.set(p, hit);
      }
      if (hit.model) models.push(hit.model);
    }
    if (deferred) this.log.info(`CodeLens: some models under ${path.dirname(file)} are read on the next refresh.`);
    const classModels: Record<string, string> = {};
    for (const c of configs)
      if (c.className && (c.sources === undefined || c.sources.includes(file))) classModels[c.className] = c.model;
    return { models, options: Object.keys(classModels).length ? { classModels } : {} };
  }

  private read(p: string, exits: string | undefined): HeadsModel | null {
    try {
      return loadHeadsModel(p, exits);
    } catch (err) {
      // Not a readable multi-exit model (a broken or single-output file): not a candidate.
      if (!(err instanceof ExitLensError)) this.log.warn(`CodeLens: cannot read ${p}: ${(err as Error).message}`);
      return null;
    }
  }

  /** The model's latest stored run, or null (cached until the store changes). */
  latestRun(model: string): LensRun | null {
    let runId = this.latest.get(model);
    if (runId === undefined) {
      runId = this.store.latest(model)?.runId ?? null;
      this.latest.set(model, runId);
    }
    if (runId === null) return null;
    if (!this.reports.has(runId)) {
      const run = this.store.load(runId);
      this.reports.set(runId, run ? { runId, report: run.report } : null);
    }
    return this.reports.get(runId) ?? null;
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
