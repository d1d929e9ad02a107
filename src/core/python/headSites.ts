/**
 * What the exit-head finder reports: a site (where a head is defined, its kind and name), the
 * draft a site is while it is built, and source spans in 0-based lines and UTF-16 columns.
 */
import type { SyntaxNode } from './pythonParser';

/**
 * - `attribute`: one head assigned to `self.<name>` (`self.exit1 = nn.Linear(...)`).
 * - `list-element`: one element of a list of heads (`self.exits = nn.ModuleList([A, B])`, a
 *   ModuleDict entry, or an `append` outside a loop); `index` is its position when known.
 * - `list-many`: several heads behind one line (a comprehension, a variable, `append` in a loop).
 * - `class`: an exit-head type (`class ExitHead(nn.Module)`), not an instance.
 * - `comment`: a line only an `# exit-lens:` comment marks as a head.
 */
export type ExitHeadKind = 'attribute' | 'list-element' | 'list-many' | 'class' | 'comment';

export interface ExitHeadSite {
  kind: ExitHeadKind;
  /** 0-based line where the definition starts (where the lens goes). */
  line: number;
  /** 0-based column, in UTF-16 code units like VS Code positions. */
  column: number;
  /** 0-based end line and column (exclusive) of the definition. */
  endLine: number;
  endColumn: number;
  /** Attribute name (`exits`, `exit_2`), class name, or for a `comment` site the exit it names. */
  name: string;
  /** Position within the list of heads, for a `list-element` whose position is known. */
  index?: number;
  /** The key of an `nn.ModuleDict` entry. */
  key?: string;
  /** Exit named by an `# exit-lens:` comment: wins over every heuristic. */
  explicitExit?: string;
  /** The class whose body holds the definition; heads are mapped one class at a time. */
  owner?: string;
}

export interface Span {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

/** The span from the start of one node to the end of another (or the same). */
export function spanOf(start: SyntaxNode, end: SyntaxNode = start): Span {
  return {
    line: start.startPosition.row,
    column: start.startPosition.column,
    endLine: end.endPosition.row,
    endColumn: end.endPosition.column,
  };
}

/** A span's four fields alone, copied from anything that has them. */
export function spanOf0(s: Span): Span {
  return { line: s.line, column: s.column, endLine: s.endLine, endColumn: s.endColumn };
}

/** A site while it is being built: `hidden` ones only come back if a comment names them. */
export interface Draft extends ExitHeadSite {
  hidden?: boolean;
}
