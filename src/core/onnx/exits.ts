import { ExitLensError } from '../errors';
import type { Dim, TensorInfo } from '../../shared/reportTypes';
import { displayName } from '../io/text';
import { ModelInfo, formatShape } from './model';

/**
 * Which model outputs are exits, in which order (README.md "Exits"):
 * explicit mapping first; else the numeric suffix of the names; else graph depth.
 */
export type StackedLayout = 'NEC' | 'ENC';

export type ExitLayout =
  | { kind: 'per-output'; outputs: string[]; orderedBy: ExitOrderSource; classes: number | null; tokens?: boolean }
  | {
      kind: 'stacked';
      output: string;
      /** For token exits (`tokens`), NEC is [B, E, T, V] and ENC is [E, B, T, V]. */
      layout: StackedLayout;
      exitCount: number | null;
      classes: number | null;
      orderedBy: ExitOrderSource;
      tokens?: boolean;
    };

export type ExitOrderSource = 'mapping' | 'name-suffix' | 'graph-depth' | 'stack-order';

export type ExitMapping = { outputs: string[] } | { stacked: string; layout: StackedLayout };

export const MAPPING_HELP =
  'Map the exits explicitly: --exits exit_a,exit_b,final (output names, shallowest first) ' +
  'or --exits logits:NEC / logits:ENC for one stacked output [N,E,C] / [E,N,C].';

export function parseExitMapping(text: string): ExitMapping {
  const t = text.trim();
  if (!t) throw new ExitLensError('exit-mapping', 'The exit mapping is empty.', MAPPING_HELP);
  const stacked = /^(.+):(NEC|ENC)$/i.exec(t);
  if (stacked && !t.includes(',')) return { stacked: stacked[1], layout: stacked[2].toUpperCase() as StackedLayout };
  const outputs = t
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (new Set(outputs).size !== outputs.length) {
    throw new ExitLensError('exit-mapping', `The exit mapping "${text}" names an output twice.`, MAPPING_HELP);
  }
  return { outputs };
}

export function describeOutputs(model: ModelInfo, shapes?: Map<string, number[]>): string {
  return model.outputs
    .map((o) => `  ${displayName(o.name)}: ${o.dtype} ${formatShape(shapes?.get(o.name) ?? o.shape)}`)
    .join('\n');
}

function isBatchLike(d: Dim, batchDim: Dim): boolean {
  if (typeof d === 'string' || d === null) return true;
  return d === batchDim;
}

export function numberSuffix(name: string): number | null {
  const m = /(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Longest path, in nodes, from the graph inputs to the producer of each tensor. */
export function tensorDepths(model: ModelInfo): Map<string, number> {
  const depth = new Map<string, number>();
  // ONNX requires nodes in topological order; one pass suffices, and out-of-order
  // producers are handled by repeating until nothing changes.
  for (let pass = 0; pass < model.nodes.length + 1; pass++) {
    let changed = false;
    for (const node of model.nodes) {
      let d = 0;
      for (const input of node.inputs) if (input) d = Math.max(d, depth.get(input) ?? 0);
      for (const out of node.outputs) {
        if (depth.get(out) !== d + 1) {
          if ((depth.get(out) ?? 0) < d + 1) {
            depth.set(out, d + 1);
            changed = true;
          }
        }
      }
    }
    if (!changed) break;
  }
  return depth;
}

/**
 * The shape to classify an output by: declared dims where fixed; where the declared dim is
 * symbolic, the symbol is kept when the run shows it is the batch (so the batch stays
 * recognisable), else the run-time size.
 */
export function shapeOf(o: TensorInfo, runtime?: Map<string, number[]>, runtimeBatch?: number): Dim[] | null {
  const seen = runtime?.get(o.name);
  if (!seen) return o.shape;
  if (!o.shape || o.shape.length !== seen.length) return seen;
  return seen.map((d, i) => {
    const declared = o.shape![i];
    if (typeof declared === 'number') return declared;
    if (declared !== null && d === runtimeBatch) return declared;
    return d;
  });
}

/**
 * Finds the exits. `runtimeShapes` (output shapes seen in a batch-1 run) fills in outputs
 * whose shape the file does not declare.
 */
export function detectExits(
  model: ModelInfo,
  mapping?: ExitMapping,
  runtimeShapes?: Map<string, number[]>,
  runtimeBatch?: number,
): ExitLayout {
  const byName = new Map(model.outputs.map((o) => [o.name, o]));
  const batchDim: Dim = model.inputs[0]?.shape?.[0] ?? null;
  const missing = (name: string) =>
    new ExitLensError(
      'exit-mapping',
      `The exit mapping names "${displayName(name)}", but the model has no output of that name. Its outputs are:\n${describeOutputs(model, runtimeShapes)}`,
      MAPPING_HELP,
    );

  if (mapping && 'stacked' in mapping) {
    const o = byName.get(mapping.stacked);
    if (!o) throw missing(mapping.stacked);
    const shape = shapeOf(o, runtimeShapes, runtimeBatch);
    if (shape && shape.length !== 3) {
      throw new ExitLensError(
        'exit-mapping',
        `Output "${displayName(o.name)}" has shape ${formatShape(shape)}; a stacked exit output must have rank 3 ([N,E,C] or [E,N,C]).`,
        MAPPING_HELP,
      );
    }
    const e = shape ? shape[mapping.layout === 'NEC' ? 1 : 0] : null;
    const c = shape ? shape[2] : null;
    return {
      kind: 'stacked',
      output: o.name,
      layout: mapping.layout,
      exitCount: typeof e === 'number' ? e : null,
      classes: typeof c === 'number' ? c : null,
      orderedBy: 'stack-order',
    };
  }
  if (mapping) {
    for (const name of mapping.outputs) if (!byName.has(name)) throw missing(name);
    if (mapping.outputs.length < 2) {
      throw new ExitLensError(
        'exit-mapping',
        'The exit mapping names fewer than two outputs; an early-exit analysis needs at least two exits.',
        MAPPING_HELP,
      );
    }
    const cs = new Set<number>();
    for (const name of mapping.outputs) {
      const s = shapeOf(byName.get(name)!, runtimeShapes, runtimeBatch);
      if (s && s.length !== 2) {
        throw new ExitLensError(
          'exit-mapping',
          `Output "${displayName(name)}" has shape ${formatShape(s)}; each mapped exit must be [N, C].`,
          MAPPING_HELP,
        );
      }
      if (s && typeof s[1] === 'number') cs.add(s[1]);
    }
    if (cs.size > 1) {
      throw new ExitLensError(
        'exit-mapping',
        `The mapped exits have different class counts (${[...cs].join(', ')}); all exits must predict the same classes.`,
        MAPPING_HELP,
      );
    }
    return {
      kind: 'per-output',
      outputs: [...mapping.outputs],
      orderedBy: 'mapping',
      classes: cs.size ? [...cs][0] : null,
    };
  }

  // Heuristics: rank-3 stacked outputs first, then rank-2 [N, C] outputs.
  const stacked: { o: TensorInfo; layout: StackedLayout; e: number; c: number }[] = [];
  const flat: { o: TensorInfo; c: number }[] = [];
  for (const o of model.outputs) {
    const s = shapeOf(o, runtimeShapes, runtimeBatch);
    if (!s || typeof s[s.length - 1] !== 'number') continue;
    const c = s[s.length - 1] as number;
    if (s.length === 2 && isBatchLike(s[0], batchDim) && c >= 2) flat.push({ o, c });
    if (s.length === 3 && c >= 2) {
      const nec = isBatchLike(s[0], batchDim) && typeof s[1] === 'number';
      const enc = isBatchLike(s[1], batchDim) && typeof s[0] === 'number';
      if (nec && !enc) stacked.push({ o, layout: 'NEC', e: s[1] as number, c });
      else if (enc && !nec) stacked.push({ o, layout: 'ENC', e: s[0] as number, c });
    }
  }
  const noExits = (why: string) =>
    new ExitLensError(
      'model-no-exits',
      `No exits found in ${model.path}: ${why}. Its outputs are:\n${describeOutputs(model, runtimeShapes)}`,
      MAPPING_HELP,
    );
  if (stacked.length === 1 && stacked[0].e >= 2) {
    const s = stacked[0];
    return {
      kind: 'stacked',
      output: s.o.name,
      layout: s.layout,
      exitCount: s.e,
      classes: s.c,
      orderedBy: 'stack-order',
    };
  }
  if (stacked.length > 1) throw noExits('more than one output looks like stacked exits');
  if (flat.length === 0) throw noExits('no output has the shape [N, C] or [N, E, C] / [E, N, C]');
  // Exits share C: take the largest group of outputs with equal class counts.
  const groups = new Map<number, TensorInfo[]>();
  for (const f of flat) groups.set(f.c, [...(groups.get(f.c) ?? []), f.o]);
  const sizes = [...groups.values()].map((g) => g.length).sort((a, b) => b - a);
  if (sizes.length > 1 && sizes[0] === sizes[1]) {
    throw noExits(
      `the [N, C] outputs have different class counts (${[...groups.keys()].join(', ')}) and none is the majority`,
    );
  }
  const [classes, group] = [...groups.entries()].find(([, g]) => g.length === sizes[0])!;
  if (group.length < 2)
    throw noExits('only one classifier output was found; an early-exit analysis needs at least two exits');
  const suffixes = group.map((o) => numberSuffix(o.name));
  if (suffixes.every((s) => s !== null) && new Set(suffixes).size === suffixes.length) {
    const ordered = group
      .map((o, i) => ({ o, s: suffixes[i]! }))
      .sort((a, b) => a.s - b.s)
      .map((x) => x.o.name);
    return { kind: 'per-output', outputs: ordered, orderedBy: 'name-suffix', classes };
  }
  const depths = tensorDepths(model);
  const position = new Map(model.outputs.map((o, i) => [o.name, i]));
  const ordered = [...group]
    .sort(
      (a, b) => (depths.get(a.name) ?? 0) - (depths.get(b.name) ?? 0) || position.get(a.name)! - position.get(b.name)!,
    )
    .map((o) => o.name);
  return { kind: 'per-output', outputs: ordered, orderedBy: 'graph-depth', classes };
}

export function exitNames(layout: ExitLayout, exitCount: number): string[] {
  if (layout.kind === 'per-output') return [...layout.outputs];
  return Array.from({ length: exitCount }, (_, k) => `${layout.output}[${k}]`);
}
