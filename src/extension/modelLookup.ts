import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as vscode from 'vscode';
import { RunStore } from './runStore';
import { modelForSource } from './settings';

/**
 * Which model a Python source file belongs to, for the CodeLens and the sidebar: the mapping of
 * the team file or the `exitLens.models` setting (settings.ts, modelConfig.ts) first, else the
 * .onnx files beside it.
 */

/** The model a Python file belongs to: the settings' mapping, else the .onnx beside it (newest run first). */
export function guessModelFor(source: vscode.Uri, store: RunStore): string | null {
  const tied = modelForSource(source.fsPath);
  if (tied) return tied.model;
  const dir = path.dirname(source.fsPath);
  let candidates: string[] = [];
  try {
    candidates = fs
      .readdirSync(dir)
      .filter((f) => f.toLowerCase().endsWith('.onnx'))
      .map((f) => path.join(dir, f));
  } catch {
    return null;
  }
  if (candidates.length <= 1) return candidates[0] ?? null;
  const withRuns = candidates
    .map((c) => ({ c, latest: store.latest(c)?.createdAt ?? '' }))
    .sort((a, b) => (a.latest < b.latest ? 1 : -1));
  return withRuns[0].c;
}
