/**
 * Finds the exit heads defined in PyTorch model code, for the CodeLens annotations shown above
 * every head (exitHeadMapping.ts ties each to an exit of the profiled model). Python is parsed
 * with tree-sitter (pythonParser.ts), so strings, docstrings and comments never match the way
 * line regexes would. One walk collects the candidates (headCandidates.ts); here they become
 * sites by their names (headNames.ts) and what their values hold (valueShapes.ts), and
 * `# exit-lens:` comments have the last word (markerComments.ts).
 *
 * Pure: no `vscode`, no DOM; it runs in Node and in VS Code's extension host.
 */
import { AppendEvent, ClassDef, Collected, collect } from './headCandidates';
import { isExitHeadClassName, isExitHeadName } from './headNames';
import { Draft, ExitHeadSite, spanOf, spanOf0 } from './headSites';
import { applyExplicit } from './markerComments';
import type { PythonParser } from './pythonParser';
import { valueShape } from './valueShapes';

/** Heuristic sites from the collected assignments and appends. */
function heuristicDrafts(c: Collected): Draft[] {
  const drafts: Draft[] = [];
  const groupKey = (owner: string | undefined, name: string) => `${owner ?? ''}\u0000${name}`;
  const appendsBy = new Map<string, AppendEvent[]>();
  for (const a of c.appends)
    appendsBy.set(groupKey(a.owner, a.name), [...(appendsBy.get(groupKey(a.owner, a.name)) ?? []), a]);
  const declaredLength = new Map<string, number | null>();

  for (const a of c.assignments) {
    if (!a.value || !isExitHeadName(a.name)) continue;
    const key = groupKey(a.owner, a.name);
    const shape = valueShape(a.value, a.name);
    const base = { name: a.name, owner: a.owner };
    const noteLength = (n: number) => {
      const seen = declaredLength.get(key);
      declaredLength.set(key, seen === undefined || seen === n ? n : null);
    };
    switch (shape.shape) {
      case 'single':
        drafts.push({ ...base, kind: 'attribute', ...spanOf0(a) });
        break;
      case 'list':
        noteLength(shape.elements.length);
        shape.elements.forEach((e, index) => {
          if (!e) return;
          const k = shape.keys?.[index];
          drafts.push({ ...base, kind: 'list-element', index, ...(k !== undefined ? { key: k } : {}), ...spanOf(e) });
        });
        break;
      case 'many':
        declaredLength.set(key, null);
        drafts.push({ ...base, kind: 'list-many', ...spanOf0(a) });
        break;
      case 'empty':
        noteLength(0);
        // Why: with appends, the appends are where the heads are built; without, the empty
        // list is filled some other way, and the declaration is all there is to show.
        if (!appendsBy.has(key)) drafts.push({ ...base, kind: 'list-many', ...spanOf0(a) });
        break;
      case 'none':
        break;
    }
  }

  for (const [key, events] of appendsBy) {
    // Why: appends outside loops continue the declared list, if its length is known.
    let next: number | undefined = declaredLength.get(key) ?? (declaredLength.has(key) ? undefined : 0);
    for (const ev of events) {
      const base = { name: ev.name, owner: ev.owner, ...spanOf0(ev) };
      if (ev.many) {
        drafts.push({ ...base, kind: 'list-many' });
        next = undefined;
      } else {
        drafts.push({ ...base, kind: 'list-element', ...(next !== undefined ? { index: next } : {}) });
        if (next !== undefined) next++;
      }
    }
  }
  return drafts;
}

/**
 * Class sites, and the rule that tells head types from models: a head-named class whose body
 * holds a list of heads or two differently named heads is a model (`class BranchyNet` with
 * `self.exit1`, `self.exit2`); otherwise it is a head type, and its own single attributes
 * (`self.classifier` inside `class BertHighway`) are parts of the head, hidden.
 */
function classDrafts(classes: readonly ClassDef[], drafts: Draft[]): Draft[] {
  const out: Draft[] = [];
  for (const cls of classes) {
    if (!isExitHeadClassName(cls.name)) continue;
    const own = drafts.filter((d) => d.owner === cls.name && !d.hidden);
    const attributeNames = new Set(own.filter((d) => d.kind === 'attribute').map((d) => d.name));
    const isModel = own.some((d) => d.kind !== 'attribute') || attributeNames.size >= 2;
    if (isModel) continue;
    for (const d of own) d.hidden = true;
    out.push({ kind: 'class', name: cls.name, ...spanOf0(cls) });
  }
  return out;
}

/**
 * Every exit-head site in Python source, in source order: attribute heads, list elements,
 * lists of many heads, exit-head classes and lines marked by `# exit-lens:` comments. Lines
 * and columns are 0-based; columns count UTF-16 code units, as VS Code positions do.
 */
export function findExitHeads(parser: PythonParser, source: string): ExitHeadSite[] {
  const tree = parser.parse(source);
  try {
    const lines = source.split('\n');
    const collected = collect(tree.rootNode, lines);
    const heuristics = heuristicDrafts(collected);
    const classes = classDrafts(collected.classes, heuristics);
    const drafts = applyExplicit(collected, [...heuristics, ...classes], tree.rootNode, lines);
    return drafts
      .filter((d) => !d.hidden)
      .sort((a, b) => a.line - b.line || a.column - b.column)
      .map(({ hidden: _hidden, ...site }) => site);
  } finally {
    tree.delete();
  }
}
