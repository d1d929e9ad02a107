/**
 * Names taken from a model or a data file (input, output and array names, shape parameters,
 * the producer) are text from whoever wrote the file. Before they reach a terminal or a
 * Markdown file they are made inert here: control characters and invisible formatting
 * characters become visible escapes, so that no name can clear the screen, set the window
 * title, move the cursor, overwrite a line with a carriage return or start a fake one; in
 * Markdown no name becomes HTML, a link or table structure.
 */

/**
 * C0 controls (newline and tab included), DEL, C1 controls, and the invisible characters that
 * reorder or hide text: bidirectional overrides and isolates, zero-width characters, the line
 * and paragraph separators, the byte-order mark.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- control characters are what this finds
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu;
/** The same without the newline, for Exit Lens's own multi-line messages. */
const UNSAFE_KEEP_LINES =
  // eslint-disable-next-line no-control-regex -- control characters are what this finds
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/gu;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

function visible(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * A name as plain, inert text on one line: every control or invisible formatting character
 * shown as an escape (`\e`, `\r`, `\n`, `\x07`, `\u202e`). A backslash is left as it is.
 */
export function displayName(name: string): string {
  return String(name).replace(UNSAFE, visible);
}

/**
 * Text for a terminal that may hold names: like displayName, but line breaks stay, so that
 * Exit Lens's own multi-line messages keep their lines.
 */
export function terminalText(text: string): string {
  return String(text).replace(UNSAFE_KEEP_LINES, visible);
}

/**
 * A name as a Markdown code span: never HTML, a link or emphasis, whatever it holds. The fence
 * is one backtick longer than the longest run of backticks in the name (CommonMark), with a
 * space inside when the name starts or ends with a backtick; control characters are escaped
 * first, so that the span stays on its line. In a table cell, `|` still needs escaping as `\|`
 * (GitHub-flavoured tables split cells before reading code spans); tables do that for every cell.
 */
export function mdCode(name: string): string {
  const text = displayName(name);
  if (text === '') return '` `';
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || (text.startsWith(' ') && text.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/**
 * Prose that may hold names, for Markdown: HTML-escaped (`<`, `>`, `&`, quotes become
 * entities, so that no tag is ever formed), with the characters that start Markdown links,
 * images, emphasis, code and table cells backslash-escaped, and on one line.
 */
export function mdText(text: string): string {
  return displayName(text)
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
    .replace(/[\\`*_[\]()!|~#]/g, (c) => `\\${c}`);
}
