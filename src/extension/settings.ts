import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

/**
 * Settings and the team file `.vscode/exit-lens.json`, which ties models to their sample
 * sets, calibration sets, exit mappings and the Python files that define them:
 *
 *   { "models": [ { "model": "models/sdn.onnx", "samples": "data/test.npz",
 *                   "calib": "data/calib.npz", "exits": "exit_0,exit_1,logits",
 *                   "labels": "y", "sources": ["src/sdn.py"] } ] }
 *
 * Paths are relative to the workspace folder. The `exitLens.models` setting takes the same
 * entries and wins for the same model.
 */
export interface ModelConfig {
  model: string;
  samples?: string;
  calib?: string;
  exits?: string;
  labels?: string;
  sources?: string[];
  /** Where this entry came from, for messages. */
  origin: string;
}

export const WORKSPACE_FILE = path.join('.vscode', 'exit-lens.json');

interface RawEntry {
  model?: unknown;
  samples?: unknown;
  calib?: unknown;
  exits?: unknown;
  labels?: unknown;
  sources?: unknown;
}

function resolveIn(folder: string, p: unknown): string | undefined {
  if (typeof p !== 'string' || !p.trim()) return undefined;
  return path.resolve(folder, p);
}

function entries(raw: unknown, folder: string, origin: string, log?: vscode.LogOutputChannel): ModelConfig[] {
  if (!Array.isArray(raw)) return [];
  const out: ModelConfig[] = [];
  for (const e of raw as RawEntry[]) {
    const model = resolveIn(folder, e?.model);
    if (!model) {
      log?.warn(`${origin}: an entry without "model" was skipped.`);
      continue;
    }
    out.push({
      model,
      samples: resolveIn(folder, e.samples),
      calib: resolveIn(folder, e.calib),
      exits: typeof e.exits === 'string' ? e.exits : undefined,
      labels: typeof e.labels === 'string' ? e.labels : undefined,
      sources: Array.isArray(e.sources) ? e.sources.map((s) => resolveIn(folder, s)).filter((s): s is string => Boolean(s)) : undefined,
      origin,
    });
  }
  return out;
}

export function modelConfigs(log?: vscode.LogOutputChannel): ModelConfig[] {
  const byModel = new Map<string, ModelConfig>();
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const root = folder.uri.fsPath;
    const file = path.join(root, WORKSPACE_FILE);
    if (fs.existsSync(file)) {
      try {
        const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
        for (const c of entries(parsed?.models, root, file, log)) byModel.set(c.model, c);
      } catch (err) {
        log?.warn(`${file} is not valid JSON and was ignored: ${(err as Error).message}`);
      }
    }
    const fromSettings = vscode.workspace.getConfiguration('exitLens', folder.uri).get<unknown>('models');
    for (const c of entries(fromSettings, root, 'setting exitLens.models', log)) byModel.set(c.model, { ...byModel.get(c.model), ...c });
  }
  return [...byModel.values()];
}

export function configFor(modelPath: string): ModelConfig | undefined {
  return modelConfigs().find((c) => c.model === path.resolve(modelPath));
}

export function modelForSource(sourcePath: string): ModelConfig | undefined {
  const p = path.resolve(sourcePath);
  return modelConfigs().find((c) => c.sources?.includes(p));
}

export interface ProfileSettings {
  executionProviders: string[];
  batchSize: number;
  maxAccuracyDrop: number;
}

export function profileSettings(): ProfileSettings {
  const c = vscode.workspace.getConfiguration('exitLens');
  return {
    executionProviders: c.get<string[]>('executionProviders') ?? ['cuda', 'cpu'],
    batchSize: c.get<number>('batchSize') ?? 64,
    maxAccuracyDrop: c.get<number>('maxAccuracyDrop') ?? 0.01,
  };
}

/** Where runs are stored: the `exitLens.runsFolder` setting, else the workspace storage. */
export function runsFolder(context: vscode.ExtensionContext): string {
  const setting = vscode.workspace.getConfiguration('exitLens').get<string>('runsFolder')?.trim();
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (setting) return path.isAbsolute(setting) || !folder ? setting : path.join(folder, setting);
  return (context.storageUri ?? context.globalStorageUri).fsPath;
}

export function runsToKeep(): number {
  return Math.max(1, vscode.workspace.getConfiguration('exitLens').get<number>('runsToKeep') ?? 10);
}
