import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_BATCH, DEFAULT_GPU_PRECISION, DEFAULT_MAX_ACCURACY_DROP, GpuPrecision } from '../shared/defaults';
import { ExitLensError } from '../core/errors';
import { readRegularFile } from '../core/io/inputFiles';
import { memorySetting } from '../core/io/limits';

/** The team file is a short list of models: anything larger is not one. */
const TEAM_FILE_MAX_BYTES = 16 * 2 ** 20;
import { ModelConfig, WORKSPACE_FILE, modelEntries } from './modelConfig';

export { WORKSPACE_FILE } from './modelConfig';
export type { ModelConfig } from './modelConfig';

/**
 * The extension's settings, and the models of the team file `.vscode/exit-lens.json` and the
 * `exitLens.models` setting (modelConfig.ts reads their entries). No setting names a program,
 * a library or a command: the engine, Node and ONNX Runtime always come from the extension
 * itself (test/unit/settings.test.ts keeps it so).
 */
export function modelConfigs(log?: vscode.LogOutputChannel): ModelConfig[] {
  const byModel = new Map<string, ModelConfig>();
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const root = folder.uri.fsPath;
    const file = path.join(root, WORKSPACE_FILE);
    if (fs.existsSync(file)) {
      try {
        // A workspace file, read even in Restricted Mode: a regular file only (a FIFO there would block the editor), of a bounded size.
        const parsed = JSON.parse(
          readRegularFile(file, (why) => new ExitLensError('bad-argument', why), TEAM_FILE_MAX_BYTES).toString('utf8'),
        );
        for (const c of modelEntries(parsed?.models, root, file, log)) byModel.set(c.model, c);
      } catch (err) {
        log?.warn(
          `${file} was ignored: ${err instanceof ExitLensError ? err.message : `it is not valid JSON (${(err as Error).message})`}`,
        );
      }
    }
    const fromSettings = vscode.workspace.getConfiguration('exitLens', folder.uri).get<unknown>('models');
    for (const c of modelEntries(fromSettings, root, 'setting exitLens.models', log))
      byModel.set(c.model, { ...byModel.get(c.model), ...c });
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
  /** Only when the user set them; absent, the engine's default order applies (and a CPU run is no fallback). */
  executionProviders: string[] | undefined;
  gpuPrecision: GpuPrecision;
  batchSize: number;
  maxAccuracyDrop: number;
  /** exitLens.cost: static MACs or measured latency. */
  cost: 'static' | 'measured';
  /** exitLens.risk.*: the risk-controlled thresholds' ε, δ and loss (absent: the engine's defaults). */
  risk: { riskEpsilon?: number; riskDelta?: number; riskLoss?: 'gap' | 'consistency' };
  /** exitLens.maxMemory in bytes; absent (or not a size, which the settings editor flags): the engine's default. */
  maxMemory: number | undefined;
}

/** The providers the user set at any level (an empty list counts as not set). */
function userProviders(c: vscode.WorkspaceConfiguration): string[] | undefined {
  const i = c.inspect<string[]>('executionProviders');
  const v = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
  return Array.isArray(v) && v.length ? v : undefined;
}

export function profileSettings(): ProfileSettings {
  const c = vscode.workspace.getConfiguration('exitLens');
  return {
    executionProviders: userProviders(c),
    gpuPrecision: c.get<string>('gpuPrecision') === 'tf32' ? 'tf32' : DEFAULT_GPU_PRECISION,
    batchSize: c.get<number>('batchSize') ?? DEFAULT_BATCH,
    maxAccuracyDrop: c.get<number>('maxAccuracyDrop') ?? DEFAULT_MAX_ACCURACY_DROP,
    risk: riskSettings(c),
    cost: c.get<string>('cost') === 'measured' ? 'measured' : 'static',
    maxMemory: memorySetting(c.get<string>('maxMemory')),
  };
}

/** ε and δ when they are fractions in (0, 1) (the settings editor flags others), the loss when it is one Exit Lens knows ('auto': the default). */
function riskSettings(c: vscode.WorkspaceConfiguration): ProfileSettings['risk'] {
  const fraction = (v: number | undefined) => (typeof v === 'number' && v > 0 && v < 1 ? v : undefined);
  const loss = c.get<string>('risk.loss');
  return {
    riskEpsilon: fraction(c.get<number>('risk.epsilon')),
    riskDelta: fraction(c.get<number>('risk.delta')),
    riskLoss: loss === 'gap' || loss === 'consistency' ? loss : undefined,
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
