/**
 * The one walk over a Python syntax tree that collects what the exit-head finder reads:
 * `self.<name> = value` assignments, heads appended to lists, class definitions and
 * `# exit-lens:` comments, each with its owner class and source span.
 */
import { isExitHeadName } from './headNames';
import { Span, spanOf } from './headSites';
import type { SyntaxNode } from './pythonParser';
import { isLiteral, items, unwrap } from './valueShapes';

/** Node types whose visit the finder needs; every other node is skipped without a JS object. */
const VISITED = new Set(['class_definition', 'assignment', 'augmented_assignment', 'call', 'comment']);

/** Ancestors that repeat their body: an `append` inside adds several heads. */
const LOOP_TYPES = new Set([
  'for_statement',
  'while_statement',
  'list_comprehension',
  'generator_expression',
  'set_comprehension',
  'dictionary_comprehension',
]);
/** Ancestors past which a loop no longer repeats the code (a nested function is called elsewhere). */
const SCOPE_TYPES = new Set(['function_definition', 'class_definition', 'module', 'lambda']);

/** `# exit-lens: exit_2` (key case-insensitive; `exit_lens`/`exitlens` accepted too). */
const EXPLICIT_COMMENT = /(?:^|[^\w-])exit[-_]?lens\s*:\s*([^\s#,;]+)/i;

/** `self.<name>` → name; anything else → undefined. */
function selfAttribute(node: SyntaxNode): string | undefined {
  if (node.type !== 'attribute') return undefined;
  const object = node.childForFieldName('object');
  const attribute = node.childForFieldName('attribute');
  return object?.type === 'identifier' && object.text === 'self' && attribute ? attribute.text : undefined;
}

function ownerClass(node: SyntaxNode): string | undefined {
  for (let n = node.parent; n; n = n.parent) {
    if (n.type === 'class_definition') return n.childForFieldName('name')?.text;
  }
  return undefined;
}

function insideLoop(node: SyntaxNode): boolean {
  for (let n = node.parent; n; n = n.parent) {
    if (LOOP_TYPES.has(n.type)) return true;
    if (SCOPE_TYPES.has(n.type)) return false;
  }
  return false;
}

/** A `self.<name> = value` pair (every name, for `# exit-lens:` targets; the heuristics filter). */
export interface SelfAssignment extends Span {
  name: string;
  owner?: string;
  value?: SyntaxNode;
}

/** `self.<name>.append(x)` / `.extend([...])` / `+= [...]`: heads added after the declaration. */
export interface AppendEvent extends Span {
  name: string;
  owner?: string;
  many: boolean;
}

export interface ClassDef extends Span {
  name: string;
}

export interface ExplicitComment {
  line: number;
  column: number;
  trailing: boolean;
  value: string;
}

export interface Collected {
  assignments: SelfAssignment[];
  appends: AppendEvent[];
  classes: ClassDef[];
  comments: ExplicitComment[];
}

/** Visits the nodes the finder needs, depth-first in source order, with a cursor (no JS object per node). */
function visitTree(root: SyntaxNode, visit: (node: SyntaxNode) => void): void {
  const cursor = root.walk();
  try {
    let arrived = true;
    for (;;) {
      if (arrived && VISITED.has(cursor.nodeType)) visit(cursor.currentNode);
      if (arrived && cursor.gotoFirstChild()) continue;
      if (cursor.gotoNextSibling()) {
        arrived = true;
        continue;
      }
      if (!cursor.gotoParent()) break;
      arrived = false;
    }
  } finally {
    cursor.delete();
  }
}

export function collect(root: SyntaxNode, lines: readonly string[]): Collected {
  const out: Collected = { assignments: [], appends: [], classes: [], comments: [] };
  const addAppend = (name: string, at: SyntaxNode, many: boolean) => {
    out.appends.push({ name, owner: ownerClass(at), many: many || insideLoop(at), ...spanOf(at) });
  };
  visitTree(root, (node) => {
    switch (node.type) {
      case 'class_definition': {
        const name = node.childForFieldName('name');
        if (name) out.classes.push({ name: name.text, ...spanOf(node, name) });
        break;
      }
      case 'assignment': {
        const left = node.childForFieldName('left');
        if (!left) break;
        // Why the loop: `self.a = self.b = Head()` nests assignments; each target gets the value.
        let value = node.childForFieldName('right') ?? undefined;
        while (value?.type === 'assignment') value = value.childForFieldName('right') ?? undefined;
        const owner = ownerClass(node);
        const single = selfAttribute(left);
        if (single !== undefined) {
          out.assignments.push({ name: single, owner, value, ...spanOf(left, value ?? left) });
        } else if ((left.type === 'pattern_list' || left.type === 'tuple_pattern') && value) {
          const targets = items(left);
          const values = value.type === 'expression_list' || value.type === 'tuple' ? items(value) : [];
          targets.forEach((t, i) => {
            const name = selfAttribute(t);
            const v = values.length === targets.length ? values[i] : undefined;
            if (name !== undefined) out.assignments.push({ name, owner, value: v, ...spanOf(t, v ?? t) });
          });
        }
        break;
      }
      case 'augmented_assignment': {
        const left = node.childForFieldName('left');
        const right = node.childForFieldName('right');
        const name = left ? selfAttribute(left) : undefined;
        if (name === undefined || !right || node.childForFieldName('operator')?.type !== '+=' || !isExitHeadName(name))
          break;
        const r = unwrap(right);
        if (r.type === 'list' || r.type === 'tuple') {
          for (const e of items(r)) if (!isLiteral(e)) addAppend(name, e, e.type === 'list_splat');
        } else addAppend(name, node, true);
        break;
      }
      case 'call': {
        const fn = node.childForFieldName('function');
        const args = node.childForFieldName('arguments');
        if (fn?.type !== 'attribute' || !args) break;
        const method = fn.childForFieldName('attribute')?.text;
        const object = fn.childForFieldName('object');
        const name = object ? selfAttribute(object) : undefined;
        if ((method !== 'append' && method !== 'extend') || name === undefined || !isExitHeadName(name)) break;
        const arg = args.type === 'argument_list' ? items(args)[0] : args;
        if (!arg || isLiteral(arg)) break;
        if (method === 'append') {
          addAppend(name, node, false);
        } else {
          const a = unwrap(arg);
          if (a.type === 'list' || a.type === 'tuple') {
            for (const e of items(a)) if (!isLiteral(e)) addAppend(name, e, e.type === 'list_splat');
          } else addAppend(name, node, true);
        }
        break;
      }
      case 'comment': {
        const match = EXPLICIT_COMMENT.exec(node.text);
        if (!match) break;
        const { row, column } = node.startPosition;
        const before = (lines[row] ?? '').slice(0, column);
        out.comments.push({ line: row, column, trailing: before.trim() !== '', value: match[1] });
        break;
      }
    }
  });
  return out;
}
