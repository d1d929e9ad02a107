import * as path from 'node:path';

/**
 * The team file `.vscode/exit-lens.json` (no editor dependency), which ties models to their sample
 * sets, calibration sets, exit mappings and the Python files that define them:
 *
 *   { "models": [ { "model": "models/sdn.onnx", "samples": "data/test.npz",
 *                   "calib": "data/calib.npz", "exits": "exit_0,exit_1,logits",
 *                   "labels": "y", "sources": ["src/sdn.py"], "class": "SDN" } ] }
 *
 * `class` (optional) ties the model to that class of its `sources` for the CodeLens, over the
 * match by module names (src/core/python/headsFromGraph.ts). Paths are relative to the workspace folder. The `exitLens.models` setting takes the same
 * entries and wins for the same model.
 */
export interface ModelConfig {
  model: string;
  samples?: string;
  calib?: string;
  exits?: string;
  labels?: string;
  sources?: string[];
  /** The Python class that defines the model (`class`), for the CodeLens. */
  className?: string;
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
  class?: unknown;
}

function resolveIn(folder: string, p: unknown): string | undefined {
  if (typeof p !== 'string' || !p.trim()) return undefined;
  return path.resolve(folder, p);
}

/**
 * The model entries of the team file or the setting, with paths resolved in the workspace
 * folder. Only the fields below are read; anything else in an entry (or in the file) is ignored.
 */
export function modelEntries(
  raw: unknown,
  folder: string,
  origin: string,
  log?: { warn(message: string): void },
): ModelConfig[] {
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
      sources: Array.isArray(e.sources)
        ? e.sources.map((s) => resolveIn(folder, s)).filter((s): s is string => Boolean(s))
        : undefined,
      ...(typeof e.class === 'string' && /^[A-Za-z_]\w*$/.test(e.class) ? { className: e.class } : {}),
      origin,
    });
  }
  return out;
}
