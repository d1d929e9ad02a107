/**
 * `# exit-lens:` marker comments: the line each one speaks for, and how it names the site
 * there, makes one where the heuristics found none, or (`ignore`) removes the sites of its line.
 */
import type { Collected, ExplicitComment } from './headCandidates';
import { Draft, Span, spanOf, spanOf0 } from './headSites';
import type { SyntaxNode } from './pythonParser';

/** `# exit-lens: ignore` removes the heuristic sites of its line. */
const IGNORE_VALUE = 'ignore';

/** The line a comment speaks for: its own (trailing) or the next line with code (standalone). */
export function commentTarget(comment: ExplicitComment, lines: readonly string[]): number | undefined {
  if (comment.trailing) return comment.line;
  for (let l = comment.line + 1; l < lines.length; l++) {
    const text = lines[l].trim();
    if (text !== '' && !text.startsWith('#')) return l;
  }
  return undefined;
}

const firstColumn = (text: string): number => text.length - text.trimStart().length;

/** The statement a line belongs to (a trailing comment on `    64)  # exit-lens: x` speaks for the whole call). */
function statementAt(root: SyntaxNode, line: number, lines: readonly string[]): Span {
  const column = firstColumn(lines[line] ?? '');
  let node: SyntaxNode | null = root.descendantForPosition({ row: line, column });
  while (node?.parent && node.parent.type !== 'block' && node.parent.type !== 'module') node = node.parent;
  if (!node || node.type === 'module') {
    return { line, column, endLine: line, endColumn: (lines[line] ?? '').replace(/\r$/, '').length };
  }
  return spanOf(node);
}

/** Applies `# exit-lens:` comments: they name the site of their line, or make one there. */
export function applyExplicit(c: Collected, drafts: Draft[], root: SyntaxNode, lines: readonly string[]): Draft[] {
  let out = drafts;
  const byPosition = (a: Span, b: Span) => a.line - b.line || a.column - b.column;
  for (const comment of c.comments) {
    const line = commentTarget(comment, lines);
    if (line === undefined) continue;
    const value = comment.value;
    const ignore = value.toLowerCase() === IGNORE_VALUE;
    const starting = out
      .filter((d) => d.line === line)
      .sort((a, b) => Number(a.kind === 'class') - Number(b.kind === 'class') || byPosition(a, b));
    const spanning = out
      .filter((d) => d.kind !== 'class' && d.line < line && line <= d.endLine)
      .sort((a, b) => byPosition(b, a));
    const assignments = c.assignments
      .filter((a) => a.line === line || (a.line < line && line <= a.endLine))
      .sort((a, b) => byPosition(b, a));
    if (ignore) {
      const drop = new Set<Draft>(starting.length ? starting : spanning.slice(0, 1));
      out = out.filter((d) => !drop.has(d));
      continue;
    }
    const target = starting[0] ?? (assignments[0]?.line === line ? undefined : spanning[0]);
    if (target) {
      // Why first comment wins: two comments for one head are a mistake; keep the nearer one.
      if (target.explicitExit === undefined) {
        target.explicitExit = value;
        target.hidden = false;
      }
      continue;
    }
    const assignment = assignments[0];
    if (assignment) {
      out = [
        ...out,
        {
          kind: 'attribute',
          name: assignment.name,
          owner: assignment.owner,
          explicitExit: value,
          ...spanOf0(assignment),
        },
      ];
      continue;
    }
    out = [...out, { kind: 'comment', name: value, explicitExit: value, ...statementAt(root, line, lines) }];
  }
  return out;
}
