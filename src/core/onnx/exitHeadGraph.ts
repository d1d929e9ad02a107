/**
 * Exit heads read off an exported graph: which modules of the PyTorch model compute each exit
 * and nothing else. PyTorch's exporter keeps parameter names as tensor names (`heads.2.weight`)
 * and, since torch 1.13, scopes node names by module (`/heads.2/Gemm`,
 * `/blocks/blocks.0/conv/Conv`); an exit's head is made of the nodes that feed that exit only
 * (ancestors of its tensor that are no other exit's ancestors), and their names give the
 * head's module paths. src/core/python/headsFromGraph.ts ties these paths to Python lines.
 *
 * Pure: no `vscode`, no DOM.
 */
import { ancestorNodes, traceStackedExits } from './cost';
import type { ExitLayout } from './exits';
import type { GraphNode, ModelInfo } from './model';

/** A module path, dotted as PyTorch names modules (`heads.2`, `blocks.0.conv`, `final`). */
export type ModulePath = string;

/** Parameter-like tensor names: `heads.2.weight`, `final.bias`, `cls_token`; not `onnx::MatMul_12` or `/a/b_output_0`. */
const PARAMETER_NAME = /^[A-Za-z_]\w*(\.\w+)*$/;

/** The module a parameter belongs to: `heads.2.weight` → `heads.2`; a top-level parameter (`cls_token`) is its own. */
export function parameterModule(name: string): ModulePath | null {
  if (!PARAMETER_NAME.test(name)) return null;
  const dot = name.lastIndexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/**
 * The module scope of a node name, dotted: `/heads.2/Gemm` → `heads.2`,
 * `/blocks/blocks.0/conv/Conv` → `blocks.0.conv` (a component that extends the one before it
 * with a dot refines it), `/Relu` or `Gemm_12` → null.
 */
export function scopeOfNodeName(name: string): ModulePath | null {
  if (!name.startsWith('/')) return null;
  const parts = name.split('/').filter(Boolean).slice(0, -1);
  if (parts.length === 0) return null;
  const path: string[] = [];
  for (const part of parts) {
    const last = path.length ? path[path.length - 1] : undefined;
    if (last !== undefined && part.startsWith(`${last}.`)) path[path.length - 1] = part;
    else path.push(part);
  }
  const dotted = path.join('.');
  return PARAMETER_NAME.test(dotted) ? dotted : null;
}

export interface GraphHeads {
  /** The exits' tensors, shallowest first (for a stacked output, traced through its Concat). */
  exitTensors: string[];
  /** Whether the graph carries module names at all (scoped node names or parameter names). */
  hasNames: boolean;
  /** First components of every module path in the graph: the model's top-level module names. */
  topLevel: Set<string>;
  /** Per exit: module paths of the nodes that feed that exit only. */
  exclusive: Set<ModulePath>[];
  /** Module paths of nodes that feed two exits or more (the trunk). */
  shared: Set<ModulePath>;
}

const isInitializerLike = (model: ModelInfo, t: string, aliases: ReadonlySet<string>) =>
  model.initializerShapes.has(t) || aliases.has(t);

/**
 * Module path of every node: its scope when its name has one; else the module of a parameter it
 * defines (the exporter's `Identity` nodes that alias deduplicated weights: `head_ln.0.weight` →
 * `head_ln.2.weight`) or reads. Scope components repeated by a second call of one module
 * (`/pool_1/...` beside `/pool/...`) are read as that module.
 */
export function nodeModules(model: ModelInfo): (ModulePath | null)[] {
  // Tensors that are weights under another name: outputs of Identity nodes reading an initializer.
  const aliases = new Set<string>();
  for (const n of model.nodes)
    if (n.opType === 'Identity' && model.initializerShapes.has(n.inputs[0] ?? '')) aliases.add(n.outputs[0]);
  const parameterNames = new Set<string>([...model.initializerShapes.keys(), ...aliases]);
  const paramPrefixes = new Set<string>();
  for (const p of parameterNames) {
    const m = parameterModule(p);
    if (m) m.split('.').forEach((_, i, parts) => paramPrefixes.add(parts.slice(0, i + 1).join('.')));
  }
  const scopes = model.nodes.map((n) => scopeOfNodeName(n.name));
  const seen = new Set<string>();
  for (const s of scopes) if (s) s.split('.').forEach((_, i, parts) => seen.add(parts.slice(0, i + 1).join('.')));
  // `/pool_1/GlobalAveragePool`: the second call of `pool`, when `pool` is seen and `pool_1` holds no parameter.
  const callOf = (path: ModulePath): ModulePath => {
    const parts = path.split('.');
    const out: string[] = [];
    for (const part of parts) {
      const m = /^(.*[^\d_])_(\d+)$/.exec(part);
      const prefix = [...out, part].join('.');
      const base = m ? [...out, m[1]].join('.') : undefined;
      out.push(base !== undefined && seen.has(base) && !paramPrefixes.has(prefix) ? m![1] : part);
    }
    return out.join('.');
  };
  const fromTensors = (n: GraphNode): ModulePath | null => {
    for (const t of [...n.outputs, ...n.inputs]) {
      if (!t || !isInitializerLike(model, t, aliases)) continue;
      const m = parameterModule(t);
      if (m) return m;
    }
    return null;
  };
  return model.nodes.map((n, i) => {
    const s = scopes[i];
    if (s) return callOf(s);
    return fromTensors(n);
  });
}

/** Whether tensor names look like parameter paths: at least one dotted (`a.weight`) name. */
function hasParameterNames(model: ModelInfo): boolean {
  for (const name of model.initializerShapes.keys()) if (name.includes('.') && PARAMETER_NAME.test(name)) return true;
  return false;
}

/**
 * The exit tensors of a layout: the outputs themselves, or, for a stacked output, the tensors
 * its Concat stacks (cost.ts traceStackedExits); null when a stack cannot be traced.
 */
export function exitTensorsOf(model: ModelInfo, layout: ExitLayout): string[] | null {
  if (layout.kind === 'per-output') return [...layout.outputs];
  if (layout.exitCount !== null) return traceStackedExits(model, layout.output, layout.exitCount);
  // Why the search: a symbolic exit dimension; the Concat's inputs tell the count.
  for (let e = 2; e <= Math.min(256, model.nodes.length); e++) {
    const traced = traceStackedExits(model, layout.output, e);
    if (traced) return traced;
  }
  return null;
}

/** The heads of each exit, as module paths, from the graph alone. */
export function graphHeads(model: ModelInfo, exitTensors: readonly string[]): GraphHeads {
  const modules = nodeModules(model);
  const ancestors = exitTensors.map((t) => ancestorNodes(model, t));
  const count = new Int32Array(model.nodes.length);
  for (const a of ancestors) for (const i of a) count[i]++;
  const exclusive = ancestors.map((a) => {
    const s = new Set<ModulePath>();
    for (const i of a) if (count[i] === 1 && modules[i]) s.add(modules[i]!);
    return s;
  });
  const shared = new Set<ModulePath>();
  modules.forEach((m, i) => {
    if (m && count[i] >= 2) shared.add(m);
  });
  const topLevel = new Set<string>();
  for (const m of modules) if (m) topLevel.add(m.split('.')[0]);
  const hasScopes = model.nodes.some((n) => scopeOfNodeName(n.name) !== null);
  return {
    exitTensors: [...exitTensors],
    hasNames: hasScopes || hasParameterNames(model),
    topLevel,
    exclusive,
    shared,
  };
}
