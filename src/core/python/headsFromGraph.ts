/**
 * Which code is which exit, from the exported graph (issue #15): every class of a Python file
 * is tied to the ONNX model it defines (or to none) by how well the modules it assigns in its
 * methods (`self.heads = nn.ModuleList(...)`) cover the model's top-level module names and the
 * other way round, and each exit's head modules (src/core/onnx/exitHeadGraph.ts) are put on the
 * lines that define them. `# exit-lens:` comments and a host's explicit map override; a model
 * that carries no module names falls back to the name heuristics (exitHeadMapping.ts), and
 * every entry says so. `exit-lens heads` prints the result; the CodeLens reads the same.
 *
 * Lines in the result are 1-based (as the CLI prints them): a host subtracts 1 for an editor.
 * Pure: no `vscode`, no DOM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitLensError } from '../errors';
import { GraphHeads, ModulePath, exitTensorsOf, graphHeads } from '../onnx/exitHeadGraph';
import { detectExits, exitNames as layoutExitNames, parseExitMapping } from '../onnx/exits';
import { ModelInfo, loadModelInfo } from '../onnx/model';
import { ExplicitExitMap, mapExitHeads, resolveExit } from './exitHeadMapping';
import { findExitHeads } from './exitHeads';
import { collect } from './headCandidates';
import { normaliseExitName } from './headNames';
import type { ExitHeadSite } from './headSites';
import { commentTarget } from './markerComments';
import type { PythonParser, SyntaxNode } from './pythonParser';
import { items, unwrap } from './valueShapes';

/** A model as the mapping reads it. */
export interface HeadsModel {
  /** The model's path as the caller names it (printed as is). */
  path: string;
  info: ModelInfo;
  /** The exits' tensors, shallowest first (exitTensorsOf); null when a stacked output could not be traced. */
  exitTensors: string[] | null;
  /** The exits' names, shallowest first (exits.ts exitNames): `exit_2`, or `logits[2]` for a stacked output. */
  exitNames: string[];
}

export interface HeadsOptions {
  /**
   * Per model path: site key → exit, as mapExitHeads takes it (`heads[2]`, `final`,
   * `Net.final`; an exit name or index). Hosts pass what their configuration says for the model
   * (`.vscode/exit-lens.json`, src/extension/modelConfig.ts). Wins over the graph.
   */
  explicit?: Readonly<Record<string, ExplicitExitMap>>;
  /** Class name → model path (or null for none): ties that skip the matching. */
  classModels?: Readonly<Record<string, string | null>>;
}

export interface HeadsExit {
  /** Exit index, shallowest first (exits.ts detectExits). */
  exit: number;
  /** 1-based line that defines the head module. */
  line: number;
  /** Module path as written in Python: `heads[2]`, `h0`, `final`. */
  module: string;
  exitName: string;
  /** How the entry was found, one phrase. */
  note: string;
}

export interface HeadsUnmapped {
  /** The exit, when the problem is about one; null for a marker or a module that names none. */
  exit: number | null;
  exitName?: string;
  module?: string;
  /** 1-based line, when the problem is at one. */
  line?: number;
  reason: string;
}

export interface HeadsClass {
  name: string;
  /** 1-based line of `class Name`. */
  line: number;
  /** The model's path as given, or null when the class is tied to none. */
  model: string | null;
  /** One entry per exit and defining line, by exit then line. */
  exits: HeadsExit[];
  /** Exits without a line, and markers or modules that could not be placed. */
  unmapped: HeadsUnmapped[];
  /** Why the class is tied to its model, or to none. */
  note: string;
}

export interface HeadsResult {
  classes: HeadsClass[];
  /** Models tied to no class, and why. */
  unmapped: { model: string; reason: string }[];
}

// ---------------------------------------------------------------------------------------------
// The Python side: classes, the modules they assign, where.

type Container = 'list' | 'dict' | null;

interface ClassAttribute {
  name: string;
  /** 0-based line of the assignment. */
  line: number;
  /** Whether the value builds a module (or a parameter), which the graph can show. */
  module: boolean;
  /** A ModuleList / list of modules (elements by index) or a ModuleDict (by key). */
  container: Container;
}

interface PyClass {
  name: string;
  line: number;
  endLine: number;
  bases: string[];
  /** Own attributes, first assignment wins. */
  own: Map<string, ClassAttribute>;
  /** Classes of this file it instantiates in its assignments. */
  uses: Set<string>;
}

const LIST_CALLS = new Set(['ModuleList', 'ParameterList']);
const DICT_CALLS = new Set(['ModuleDict', 'ParameterDict']);

function callBase(call: SyntaxNode): string {
  const fn = call.childForFieldName('function')?.text ?? '';
  return fn.slice(fn.lastIndexOf('.') + 1);
}

/** Whether an expression builds a module: `nn.Linear(...)`, `ConvBlock(...)`, `nn.Parameter(...)` (capitalised calls). */
function buildsModule(node: SyntaxNode): boolean {
  const v = unwrap(node);
  if (v.type === 'call') return /^[A-Z]/.test(callBase(v));
  if (v.type === 'conditional_expression') {
    const parts = items(v);
    return [parts[0], parts[2]].some((p) => p !== undefined && buildsModule(p));
  }
  return false;
}

function attributeKind(value: SyntaxNode | undefined): { module: boolean; container: Container } {
  if (!value) return { module: false, container: null };
  const v = unwrap(value);
  if (v.type === 'call') {
    const base = callBase(v);
    if (LIST_CALLS.has(base)) return { module: true, container: 'list' };
    if (DICT_CALLS.has(base)) return { module: true, container: 'dict' };
    return { module: /^[A-Z]/.test(base), container: null };
  }
  if (v.type === 'list' || v.type === 'tuple') {
    const m = items(v).some(buildsModule);
    return { module: m, container: m ? 'list' : null };
  }
  if (v.type === 'list_comprehension' || v.type === 'generator_expression') {
    const body = v.childForFieldName('body') ?? items(v)[0];
    const m = body !== undefined && buildsModule(body);
    return { module: m, container: m ? 'list' : null };
  }
  return { module: buildsModule(v), container: null };
}

function readClasses(parser: PythonParser, source: string): PyClass[] {
  const tree = parser.parse(source);
  try {
    const lines = source.split('\n');
    const c = collect(tree.rootNode, lines);
    const names = new Set(c.classes.map((k) => k.name));
    const classes: PyClass[] = [];
    const byName = new Map<string, PyClass>();
    // Superclasses, from the syntax tree (collect keeps names and spans only).
    const bases = new Map<string, string[]>();
    const ends = new Map<number, number>();
    const walk = (n: SyntaxNode) => {
      if (n.type === 'class_definition') {
        ends.set(n.startPosition.row, n.endPosition.row);
        const name = n.childForFieldName('name')?.text;
        const sup = n.childForFieldName('superclasses');
        if (name && sup)
          bases.set(
            name,
            items(sup).map((b) => b.text.slice(b.text.lastIndexOf('.') + 1)),
          );
      }
      for (const child of n.namedChildren)
        if (child.type === 'class_definition' || child.type === 'block' || child.type === 'decorated_definition')
          walk(child);
    };
    walk(tree.rootNode);
    for (const k of c.classes) {
      const cls: PyClass = {
        name: k.name,
        line: k.line,
        endLine: ends.get(k.line) ?? k.endLine,
        bases: (bases.get(k.name) ?? []).filter((b) => names.has(b) && b !== k.name),
        own: new Map(),
        uses: new Set(),
      };
      if (!byName.has(k.name)) byName.set(k.name, cls);
      classes.push(cls);
    }
    for (const a of c.assignments) {
      const cls = a.owner !== undefined ? byName.get(a.owner) : undefined;
      if (!cls) continue;
      for (const other of names)
        if (other !== cls.name && a.value && new RegExp(`\\b${other}\\s*\\(`).test(a.value.text)) cls.uses.add(other);
      if (cls.own.has(a.name)) continue;
      cls.own.set(a.name, { name: a.name, line: a.line, ...attributeKind(a.value) });
    }
    return classes;
  } finally {
    tree.delete();
  }
}

/** Own attributes, then those of base classes in the same file (own win). */
function attributesOf(
  cls: PyClass,
  byName: ReadonlyMap<string, PyClass>,
  seen = new Set<string>(),
): Map<string, ClassAttribute> {
  const out = new Map<string, ClassAttribute>();
  if (seen.has(cls.name)) return out;
  seen.add(cls.name);
  for (const b of cls.bases) {
    const base = byName.get(b);
    if (base) for (const [k, v] of attributesOf(base, byName, seen)) out.set(k, v);
  }
  for (const [k, v] of cls.own) out.set(k, v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tying classes to models.

/** How well a class's module attributes and a model's top-level module names cover each other. */
export interface Coverage {
  /** Share of the model's top-level names the class defines. */
  model: number;
  /** Share of the class's module attributes the model holds. */
  cls: number;
  shared: number;
}

export function coverage(classModules: ReadonlySet<string>, topLevel: ReadonlySet<string>): Coverage {
  let shared = 0;
  for (const n of classModules) if (topLevel.has(n)) shared++;
  return {
    model: topLevel.size ? shared / topLevel.size : 0,
    cls: classModules.size ? shared / classModules.size : 0,
    shared,
  };
}

/** Both shares must reach this for a tie: below, classes sharing a few names (`stem`, `heads`) are told apart, or tied to none. */
export const MIN_COVERAGE = 0.5;

const score = (c: Coverage) => (c.model + c.cls > 0 ? (2 * c.model * c.cls) / (c.model + c.cls) : 0);
const pct = (x: number) => `${Math.round(x * 100)}%`;
const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

// ---------------------------------------------------------------------------------------------
// Units: what a module path means in a class (`heads.2.0` → element 2 of the list `heads`).

interface Unit {
  attr: string;
  key?: string;
  /** `heads[2]`, `h0`, `final`. */
  module: string;
  /** Modules of one kind: a list's elements, or numbered attributes (`b1`, `b2`). */
  family: string;
}

function unitOf(p: ModulePath, attrs: ReadonlyMap<string, ClassAttribute>): Unit {
  const parts = p.split('.');
  const attr = parts[0];
  const a = attrs.get(attr);
  const container: Container = a ? a.container : /^\d+$/.test(parts[1] ?? '') ? 'list' : null;
  const key = container && parts.length > 1 ? parts[1] : undefined;
  return {
    attr,
    ...(key !== undefined ? { key } : {}),
    module: key !== undefined ? `${attr}[${key}]` : attr,
    family: key !== undefined ? attr : attr.replace(/_?\d+$/, '') || attr,
  };
}

function siteModule(site: ExitHeadSite, position?: number): string {
  if (site.kind === 'list-element')
    return site.index !== undefined
      ? `${site.name}[${site.index}]`
      : site.key !== undefined
        ? `${site.name}[${site.key}]`
        : site.name;
  if (site.kind === 'list-many' && position !== undefined) return `${site.name}[${position}]`;
  return site.name;
}

const NO_NAMES_NOTE = 'guessed from names: the model carries no parameter names';

// ---------------------------------------------------------------------------------------------

/**
 * Ties the classes of `source` to `models` and each exit to the lines of its head; see the file
 * comment. Every class of the file has an entry, in source order.
 */
export function headsFromGraph(
  parser: PythonParser,
  source: string,
  models: readonly HeadsModel[],
  options: HeadsOptions = {},
): HeadsResult {
  const classes = readClasses(parser, source);
  const byName = new Map(classes.map((c) => [c.name, c] as const));
  const attrs = new Map(classes.map((c) => [c, attributesOf(c, byName)] as const));
  const moduleNames = (c: PyClass) => new Set([...attrs.get(c)!.values()].filter((a) => a.module).map((a) => a.name));
  const sites = findExitHeads(parser, source);
  const lines = source.split('\n');

  const graphs = new Map<HeadsModel, GraphHeads | null>();
  for (const m of models) graphs.set(m, m.exitTensors ? graphHeads(m.info, m.exitTensors) : null);
  const hasNames = (m: HeadsModel) => {
    const g = graphs.get(m);
    return g ? g.hasNames : graphHeads(m.info, []).hasNames;
  };
  const topLevelOf = (m: HeadsModel) => (graphs.get(m) ?? graphHeads(m.info, [])).topLevel;

  // 1. Ties: explicit, then by coverage (best pairs first, one model per class and one class per model).
  const tie = new Map<PyClass, { model: HeadsModel | null; note: string; byNames: boolean }>();
  const taken = new Map<HeadsModel, PyClass>();
  const refused = new Map<HeadsModel, string>();
  for (const [className, modelPath] of Object.entries(options.classModels ?? {})) {
    const cls = byName.get(className);
    if (!cls) continue;
    if (modelPath === null) {
      tie.set(cls, { model: null, note: 'tied to no model explicitly', byNames: false });
      continue;
    }
    const model = models.find((m) => m.path === modelPath);
    if (model && !taken.has(model)) {
      tie.set(cls, { model, note: 'tied explicitly', byNames: !hasNames(model) });
      taken.set(model, cls);
    }
  }
  const pairs: { cls: PyClass; model: HeadsModel; cov: Coverage; order: number }[] = [];
  classes.forEach((cls, ci) => {
    if (tie.has(cls)) return;
    const own = moduleNames(cls);
    if (own.size === 0) return;
    models.forEach((model, mi) => {
      if (taken.has(model) || !hasNames(model)) return;
      const cov = coverage(own, topLevelOf(model));
      if (cov.shared > 0 && cov.model >= MIN_COVERAGE && cov.cls >= MIN_COVERAGE)
        pairs.push({ cls, model, cov, order: ci * 10_000 + mi });
    });
  });
  pairs.sort((a, b) => score(b.cov) - score(a.cov) || b.cov.shared - a.cov.shared || a.order - b.order);
  for (const p of pairs) {
    if (tie.has(p.cls) || taken.has(p.model)) continue;
    tie.set(p.cls, {
      model: p.model,
      note: `defines ${pct(p.cov.model)} of the model's top-level modules; the model holds ${pct(p.cov.cls)} of the class's modules`,
      byNames: false,
    });
    taken.set(p.model, p.cls);
  }
  for (const p of pairs)
    if (!taken.has(p.model) && !refused.has(p.model))
      refused.set(
        p.model,
        `matches class ${p.cls.name}, which is tied to ${tie.get(p.cls)?.model?.path ?? 'no model'}, a better match`,
      );

  // 2. Models without names: the one class they can be (its name in the file name, or the only candidate).
  const siteOwners = new Set(sites.filter((s) => s.kind !== 'class' && s.owner).map((s) => s.owner!));
  const usedInside = new Set(classes.flatMap((c) => [...c.uses]));
  for (const model of models) {
    if (taken.has(model) || hasNames(model)) continue;
    const candidates = classes.filter((c) => !tie.has(c) && siteOwners.has(c.name) && !usedInside.has(c.name));
    const file = squash(path.basename(model.path, path.extname(model.path)));
    const byFileName = candidates
      .filter((c) => squash(c.name).length >= 3 && file.includes(squash(c.name)))
      .sort((a, b) => b.name.length - a.name.length);
    const cls = byFileName[0] ?? (candidates.length === 1 ? candidates[0] : undefined);
    if (!cls) {
      refused.set(
        model,
        candidates.length === 0
          ? 'the model carries no parameter names, and no class left in the file has exit heads to guess from'
          : `the model carries no parameter names, and ${candidates.length} classes could be it (${candidates.map((c) => c.name).join(', ')}); name the file after its class, or mark the heads with # exit-lens: exit_k`,
      );
      continue;
    }
    tie.set(cls, {
      model,
      note: `${NO_NAMES_NOTE}; ${byFileName[0] ? 'the file name holds the class name' : 'the one class left with exit heads'}`,
      byNames: true,
    });
    taken.set(model, cls);
  }

  // 3. Each class's exits.
  const result: HeadsClass[] = classes.map((cls) => {
    const t = tie.get(cls);
    const base = { name: cls.name, line: cls.line + 1 };
    if (!t || !t.model) {
      const own = moduleNames(cls);
      return {
        ...base,
        model: null,
        exits: [],
        unmapped: [],
        note: t
          ? t.note
          : own.size === 0
            ? 'assigns no modules: not a model'
            : "no model's top-level modules match the class's well enough",
      };
    }
    const model = t.model;
    const explicit = options.explicit?.[model.path];
    const classSites = sites.filter((s) => s.owner === cls.name);
    const g = graphs.get(model);
    const out =
      g && !t.byNames
        ? fromGraph(cls, attrs.get(cls)!, model, g, classSites, explicit, lines, source)
        : fromNames(
            classSites,
            model,
            explicit,
            g ? NO_NAMES_NOTE : 'guessed from names: the stacked output could not be traced to one tensor per exit',
          );
    out.exits.sort((a, b) => a.exit - b.exit || a.line - b.line);
    return { ...base, model: model.path, ...out, note: t.note };
  });

  const unmapped = models
    .filter((m) => !taken.has(m))
    .map((m) => ({
      model: m.path,
      reason:
        refused.get(m) ??
        (hasNames(m)
          ? "no class in the file defines enough of the model's top-level modules"
          : 'the model carries no parameter names, and no class could be guessed'),
    }));
  return { classes: result, unmapped };
}

interface ClassExits {
  exits: HeadsExit[];
  unmapped: HeadsUnmapped[];
}

/** Entries from the graph, then `# exit-lens:` comments and the host's map over them. */
function fromGraph(
  cls: PyClass,
  attrs: ReadonlyMap<string, ClassAttribute>,
  model: HeadsModel,
  g: GraphHeads,
  sites: readonly ExitHeadSite[],
  explicit: ExplicitExitMap | undefined,
  lines: readonly string[],
  source: string,
): ClassExits {
  const names = model.exitNames;
  const E = names.length;
  const trunk = new Set([...g.shared].map((p) => unitOf(p, attrs).family));
  const unitsByExit = g.exclusive.map((paths) => {
    const m = new Map<string, Unit>();
    for (const p of paths) {
      const u = unitOf(p, attrs);
      m.set(u.module, u);
    }
    return m;
  });
  const exitsOfUnit = new Map<string, number[]>();
  unitsByExit.forEach((m, k) => {
    for (const key of m.keys()) exitsOfUnit.set(key, [...(exitsOfUnit.get(key) ?? []), k]);
  });
  let exits: HeadsExit[] = [];
  const unmapped: HeadsUnmapped[] = [];
  const why = new Map<number, string>();
  for (let k = 0; k < E; k++) {
    const units = [...(unitsByExit[k]?.values() ?? [])];
    const heads = units.filter((u) => !trunk.has(u.family) && exitsOfUnit.get(u.module)!.length === 1);
    if (heads.length === 0) {
      const sharedUnits = units.filter((u) => exitsOfUnit.get(u.module)!.length > 1).map((u) => u.module);
      why.set(
        k,
        units.length === 0
          ? 'no named node feeds this exit alone'
          : sharedUnits.length
            ? `its own nodes belong to modules shared with other exits (${sharedUnits.join(', ')})`
            : `only trunk modules feed this exit alone (${units.map((u) => u.module).join(', ')})`,
      );
    }
    for (const u of heads) {
      const a = attrs.get(u.attr);
      if (!a) {
        unmapped.push({
          exit: k,
          exitName: names[k],
          module: u.module,
          reason: `the graph's module ${u.module} is not assigned in class ${cls.name}`,
        });
        continue;
      }
      exits.push({
        exit: k,
        line: a.line + 1,
        module: u.module,
        exitName: names[k],
        note: `from the graph: ${u.key !== undefined ? `${u.attr}.${u.key}` : u.attr} feeds ${names[k]} alone`,
      });
    }
  }

  // `# exit-lens: ignore` lines drop their entries; marked lines hold the exit they name.
  const { ignored } = ignoreLines(source, lines, cls);
  exits = exits.filter((e) => !ignored.has(e.line));
  for (const s of sites) {
    if (s.explicitExit === undefined) continue;
    const line = s.line + 1;
    const r = resolveExit(s.explicitExit, names);
    if ('error' in r) {
      unmapped.push({ exit: null, line, module: siteModule(s), reason: `# exit-lens: ${s.explicitExit}: ${r.error}` });
      continue;
    }
    exits = exits.filter((e) => e.line !== line);
    exits.push({
      exit: r.index,
      line,
      module: s.kind === 'comment' ? (moduleAtLine(attrs, s.line) ?? s.name) : siteModule(s),
      exitName: names[r.index],
      note: `named by # exit-lens: ${s.explicitExit}`,
    });
  }

  // The host's map: `heads[2]`, `heads.2`, `final`, optionally `Class.` first.
  for (const [rawKey, value] of Object.entries(explicit ?? {})) {
    const key = rawKey.startsWith(`${cls.name}.`) ? rawKey.slice(cls.name.length + 1) : rawKey;
    const m = /^([A-Za-z_]\w*)(?:\[['"]?([^\]'"]+)['"]?\]|\.(\w+))?$/.exec(key);
    if (!m || !attrs.has(m[1])) continue;
    const elem = m[2] ?? m[3];
    const module = elem !== undefined ? `${m[1]}[${elem}]` : m[1];
    const r = resolveExit(value, names);
    const line = attrs.get(m[1])!.line + 1;
    if ('error' in r) {
      unmapped.push({ exit: null, line, module, reason: `the exit mapping for ${rawKey}: ${r.error}` });
      continue;
    }
    exits = exits.filter((e) => normaliseExitName(e.module) !== normaliseExitName(module));
    exits.push({ exit: r.index, line, module, exitName: names[r.index], note: `named by the exit mapping (${value})` });
  }

  const placed = new Set(exits.map((e) => e.exit));
  for (let k = 0; k < E; k++)
    if (!placed.has(k) && !unmapped.some((u) => u.exit === k))
      unmapped.push({
        exit: k,
        exitName: names[k],
        reason: why.get(k) ?? 'its head modules were all overridden by # exit-lens: comments or the exit mapping',
      });
  unmapped.sort((a, b) => (a.exit ?? -1) - (b.exit ?? -1) || (a.line ?? 0) - (b.line ?? 0));
  return { exits, unmapped };
}

function moduleAtLine(attrs: ReadonlyMap<string, ClassAttribute>, line: number): string | undefined {
  for (const a of attrs.values()) if (a.line === line) return a.name;
  return undefined;
}

/** 1-based lines of a class that `# exit-lens: ignore` speaks for. */
function ignoreLines(source: string, lines: readonly string[], cls: PyClass): { ignored: Set<number> } {
  const ignored = new Set<number>();
  if (!/ignore/i.test(source)) return { ignored };
  const re = /(?:^|[^\w-])exit[-_]?lens\s*:\s*ignore\b/i;
  lines.forEach((text, row) => {
    const hash = text.indexOf('#');
    if (hash < 0 || !re.test(text.slice(hash))) return;
    const trailing = text.slice(0, hash).trim() !== '';
    const target = commentTarget({ line: row, column: hash, trailing, value: 'ignore' }, lines);
    if (target !== undefined && target >= cls.line && target <= cls.endLine) ignored.add(target + 1);
  });
  return { ignored };
}

/** Entries from the name heuristics (mapExitHeads), for a model without names. */
function fromNames(
  sites: readonly ExitHeadSite[],
  model: HeadsModel,
  explicit: ExplicitExitMap | undefined,
  why: string,
): ClassExits {
  const names = model.exitNames;
  const mapped = mapExitHeads(
    sites.filter((s) => s.kind !== 'class'),
    names,
    explicit,
  );
  const exits: HeadsExit[] = [];
  const unmapped: HeadsUnmapped[] = [];
  for (const m of mapped) {
    if (m.exitIndices.length === 0) {
      unmapped.push({ exit: null, line: m.site.line + 1, module: siteModule(m.site), reason: `${why}; ${m.note}` });
      continue;
    }
    m.exitIndices.forEach((k, i) =>
      exits.push({
        exit: k,
        line: m.site.line + 1,
        module: siteModule(m.site, i),
        exitName: names[k],
        note: m.rule === 'explicit' ? m.note : `${why} (${m.note})`,
      }),
    );
  }
  const placed = new Set(exits.map((e) => e.exit));
  names.forEach((n, k) => {
    if (!placed.has(k))
      unmapped.push({ exit: k, exitName: n, reason: `${why}, and no head in the class was tied to it` });
  });
  return { exits, unmapped };
}

// ---------------------------------------------------------------------------------------------
// Loading models and finding them.

/**
 * Reads a model for the mapping: its exits as the analysis finds them (`exits`: an explicit
 * mapping, as `--exits` or a model entry's `exits` take it), and their tensors.
 */
export function loadHeadsModel(file: string, exits?: string): HeadsModel {
  const info = loadModelInfo(file);
  const layout = detectExits(info, exits ? parseExitMapping(exits) : undefined);
  const exitTensors = exitTensorsOf(info, layout);
  const count = layout.kind === 'per-output' ? layout.outputs.length : (layout.exitCount ?? exitTensors?.length ?? 0);
  return { path: file, info, exitTensors, exitNames: layoutExitNames(layout, count) };
}

/** At most this many models are read from a folder (the rest are named in the result). */
export const MAX_MODEL_FILES = 64;
/** Folders at most this deep below the start are searched. */
export const MAX_SEARCH_DEPTH = 8;
/** Folders never searched. */
export const SKIPPED_FOLDERS = new Set(['node_modules', '.git', '.hg', '.svn', '__pycache__', '.venv', 'venv', '.tox']);

/** Folders read at most by one search: a huge tree under the file is not walked whole. */
export const MAX_SEARCH_FOLDERS = 2000;

/**
 * `.onnx` files under `folder`, recursively, in name order: no links followed, `node_modules`,
 * `.git` and virtual environments skipped, at most `maxFiles` files over MAX_SEARCH_FOLDERS
 * folders (`capped` says when there was more). Read asynchronously, so that the editor's host
 * is never held by a large tree; a folder that cannot be read is refused only at the top.
 */
export async function findModelFiles(
  folder: string,
  maxFiles = MAX_MODEL_FILES,
): Promise<{ files: string[]; capped: boolean }> {
  const files: string[] = [];
  let folders = 0;
  let capped = false;
  const visit = async (dir: string, depth: number): Promise<void> => {
    if (capped || ++folders > MAX_SEARCH_FOLDERS) {
      capped = true;
      return;
    }
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (depth === 0)
        throw new ExitLensError(
          'bad-argument',
          `Cannot read the folder ${dir}: ${(err as Error).message}`,
          'Check the path.',
        );
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (capped) return;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(e.name) && depth < MAX_SEARCH_DEPTH) await visit(p, depth + 1);
      } else if (e.isFile() && e.name.toLowerCase().endsWith('.onnx')) {
        if (files.length >= maxFiles) {
          capped = true;
          return;
        }
        files.push(p);
      }
    }
  };
  await visit(folder, 0);
  return { files, capped };
}
