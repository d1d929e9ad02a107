/**
 * Finds the exit heads defined in PyTorch model code and ties each to an exit of the profiled
 * model, for the CodeLens annotations shown above every head. Python is parsed with
 * tree-sitter (web-tree-sitter and the tree-sitter-python grammar, both WebAssembly), so
 * strings, docstrings and comments never match the way line regexes would.
 *
 * Pure: no `vscode`, no DOM; it runs in Node and in VS Code's extension host.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
// Why `require`: the extension is bundled to CommonJS, and web-tree-sitter's ESM build reads
// `import.meta.url`, which is undefined there; its CommonJS build is what must be bundled.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');
import { ExitLensError } from '../errors';

type SyntaxNode = TreeSitter.Node;

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/** web-tree-sitter's runtime (its name since web-tree-sitter 0.25; older ones shipped `tree-sitter.wasm`). */
export const TREE_SITTER_WASM = 'web-tree-sitter.wasm';
/** The Python grammar, as the tree-sitter-python npm package ships it. */
export const PYTHON_GRAMMAR_WASM = 'tree-sitter-python.wasm';
/** The two files a host ships beside its bundle (the build copies them into `dist/`). */
export const PARSER_WASM_FILES: readonly string[] = [TREE_SITTER_WASM, PYTHON_GRAMMAR_WASM];

/** Paths of the two WebAssembly files, when they are not in one folder. */
export interface PythonParserWasm {
  /** web-tree-sitter's runtime, `web-tree-sitter.wasm`. */
  runtime: string;
  /** The grammar, `tree-sitter-python.wasm`. */
  grammar: string;
}

/** Where an npm install keeps the two files (tests load them from there, the build copies them). */
export function nodeModulesParserWasm(nodeModulesDir: string): PythonParserWasm {
  return {
    runtime: path.join(nodeModulesDir, 'web-tree-sitter', TREE_SITTER_WASM),
    grammar: path.join(nodeModulesDir, 'tree-sitter-python', PYTHON_GRAMMAR_WASM),
  };
}

/** A ready Python parser; one per process is enough (parsing is synchronous). */
export interface PythonParser {
  /** Parses Python source. The caller must `delete()` the tree: it lives in WebAssembly memory. */
  parse(source: string): TreeSitter.Tree;
}

class TreeSitterPythonParser implements PythonParser {
  constructor(private readonly parser: TreeSitter.Parser) {}

  parse(source: string): TreeSitter.Tree {
    const tree = this.parser.parse(source);
    // Why: web-tree-sitter returns null only without a language or after a cancelled parse.
    if (!tree) throw new ExitLensError('internal', 'The Python parser returned no syntax tree.');
    return tree;
  }
}

// Why module-level: the runtime can be initialised once per process, and the grammar and
// parser are reused by every later call (the extension asks on every CodeLens refresh).
let runtimeReady: Promise<void> | undefined;
const parsers = new Map<string, Promise<PythonParser>>();

/**
 * Loads web-tree-sitter's runtime and the Python grammar and returns a parser. `wasm` is the
 * folder holding both files (the extension's `dist/`) or their two paths. Repeated calls return
 * the same parser.
 */
export function createPythonParser(wasm: string | PythonParserWasm): Promise<PythonParser> {
  const files = typeof wasm === 'string'
    ? { runtime: path.join(wasm, TREE_SITTER_WASM), grammar: path.join(wasm, PYTHON_GRAMMAR_WASM) }
    : wasm;
  const cached = parsers.get(files.grammar);
  if (cached) return cached;
  const created = loadParser(files);
  parsers.set(files.grammar, created);
  // Why: a failed load (a missing file) must not poison later attempts with a fixed path.
  created.catch(() => parsers.delete(files.grammar));
  return created;
}

async function loadParser(files: PythonParserWasm): Promise<PythonParser> {
  try {
    runtimeReady ??= readFile(files.runtime).then((wasmBinary) => TreeSitter.Parser.init({ wasmBinary }));
    await runtimeReady.catch((err: unknown) => {
      runtimeReady = undefined;
      throw err;
    });
    const language = await TreeSitter.Language.load(await readFile(files.grammar));
    const parser = new TreeSitter.Parser();
    parser.setLanguage(language);
    return new TreeSitterPythonParser(parser);
  } catch (err) {
    throw new ExitLensError(
      'internal',
      `Cannot load the Python parser (${files.runtime}, ${files.grammar}): ${err instanceof Error ? err.message : String(err)}`,
      'Reinstall the extension; its dist/ folder must hold both WebAssembly files.',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Sites
// ---------------------------------------------------------------------------------------------

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

/** Node types whose visit the finder needs; every other node is skipped without a JS object. */
const VISITED = new Set(['class_definition', 'assignment', 'augmented_assignment', 'call', 'comment']);

/** Heads are named by these words (singular; plurals are reduced first). */
const HEAD_WORDS = new Set(['exit', 'head', 'classifier', 'clf', 'ramp', 'branch', 'highway']);
/** A `final` word with one of these names a final classifier (`fc_final`, `final_linear`). */
const FINAL_PARTS = new Set(['fc', 'linear', 'dense', 'proj', 'projection']);
/** First words that make a name a count or a flag (`num_heads`, `use_exit`, `pre_classifier`). */
const NOT_HEAD_FIRST = new Set([
  'num', 'n', 'nb', 'max', 'min', 'total', 'use', 'is', 'has', 'enable', 'enabled', 'do', 'with',
  'pruned', 'no', 'should', 'freeze', 'frozen', 'pre',
]);
/** Last words that make a name a property of heads rather than a head (`head_dim`, `exit_threshold`). */
const NOT_HEAD_LAST = new Set([
  'dim', 'dims', 'dimension', 'size', 'sizes', 'count', 'counts', 'cnt', 'number', 'num', 'threshold',
  'thresholds', 'thresh', 'idx', 'index', 'indices', 'id', 'ids', 'weight', 'weights', 'bias', 'scale',
  'loss', 'losses', 'logits', 'output', 'outputs', 'preds', 'predictions', 'prob', 'probs', 'score',
  'scores', 'result', 'results', 'features', 'feats', 'hidden', 'state', 'states', 'cache', 'stats',
  'history', 'mask', 'masks', 'ratio', 'ratios', 'rate', 'rates', 'type', 'types', 'mode', 'name',
  'names', 'cfg', 'config', 'args', 'kwargs', 'enabled', 'flag', 'flags', 'position', 'positions',
  'pos', 'points', 'locations', 'interval', 'temperature', 'temp', 'entropy', 'confidence', 'conf',
  'budget', 'cost', 'costs', 'macs', 'flops', 'latency', 'hook', 'hooks', 'handle', 'handles', 'fn',
  'func', 'criterion', 'policy', 'strategy', 'patience', 'counter', 'step', 'steps', 'epoch', 'lr',
  'token', 'tokens', 'len', 'length', 'width', 'depth', 'eps', 'dropout', 'drop', 'norm', 'act',
  'activation', 'pool', 'pooling', 'pooler', 'prune', 'path', 'file', 'str',
]);
/** Attention vocabulary: its "heads" are not exit heads (`attn_heads`, `MultiHeadAttention`). */
const ATTENTION_WORDS = new Set(['attn', 'attention', 'mha', 'multihead', 'qkv', 'self']);
/** Class names are exit-head types when a word is one of these. */
const HEAD_CLASS_WORDS = new Set(['exit', 'head', 'branch', 'branchy', 'ramp', 'highway']);
/** Class names with one of these words are something else (`ExitConfig`, `EarlyExitLoss`). */
const NOT_HEAD_CLASS = new Set([
  'attention', 'attn', 'multihead', 'config', 'configuration', 'args', 'arguments', 'output', 'outputs',
  'policy', 'strategy', 'criterion', 'loss', 'exception', 'error', 'code', 'status', 'callback',
  'mixin', 'test', 'tests', 'trainer', 'scheduler', 'dataset', 'result', 'results', 'type', 'mode',
  'enum', 'manager', 'hook', 'info', 'stats',
]);
/** Calls that build a list of modules; their elements are the exits. */
const LIST_CALLS = new Set(['ModuleList']);
/** Calls that build values, not modules (`set()`, `torch.zeros(...)`, `nn.Parameter(...)`). */
const NOT_MODULE_CALLS = new Set([
  'set', 'dict', 'frozenset', 'list', 'tuple', 'int', 'float', 'str', 'bool', 'len', 'range', 'sum',
  'min', 'max', 'round', 'abs', 'sorted', 'reversed', 'enumerate', 'zip', 'map', 'filter', 'getattr',
  'isinstance', 'hasattr', 'Parameter', 'tensor', 'zeros', 'ones', 'full', 'empty', 'arange',
  'linspace', 'rand', 'randn', 'zeros_like', 'ones_like', 'item', 'tolist', 'size', 'numel', 'dim',
  'count', 'index', 'split', 'strip', 'lower', 'upper', 'format', 'join', 'get', 'register_buffer',
]);
/** Call prefixes that never build modules. */
const NOT_MODULE_PREFIXES = ['np.', 'numpy.', 'math.'];
/** Expressions that are values, never modules. */
const LITERAL_TYPES = new Set([
  'integer', 'float', 'string', 'concatenated_string', 'true', 'false', 'none', 'unary_operator',
  'binary_operator', 'boolean_operator', 'comparison_operator', 'not_operator', 'ellipsis', 'lambda',
]);
/** Ancestors that repeat their body: an `append` inside adds several heads. */
const LOOP_TYPES = new Set([
  'for_statement', 'while_statement', 'list_comprehension', 'generator_expression',
  'set_comprehension', 'dictionary_comprehension',
]);
/** Ancestors past which a loop no longer repeats the code (a nested function is called elsewhere). */
const SCOPE_TYPES = new Set(['function_definition', 'class_definition', 'module', 'lambda']);

/** `# exit-lens: exit_2` (key case-insensitive; `exit_lens`/`exitlens` accepted too). */
const EXPLICIT_COMMENT = /(?:^|[^\w-])exit[-_]?lens\s*:\s*([^\s#,;]+)/i;
/** `# exit-lens: ignore` removes the heuristic sites of its line. */
const IGNORE_VALUE = 'ignore';

/** Words of an identifier: snake_case, camelCase, acronyms and digit runs, lower-cased. */
function splitWords(name: string): string[] {
  return (name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+/g) ?? []).map((w) => w.toLowerCase());
}

/** English plural to singular, enough for head vocabulary (`branches`, `heads`, `classes`). */
function singular(word: string): string {
  if (/(?:ch|sh|x|ss)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss') && word.length > 2) return word.slice(0, -1);
  return word;
}

function isHeadWord(word: string): boolean {
  const one = singular(word);
  // Why the suffix test: `earlyexit`, `earlyexits` written as one word.
  return HEAD_WORDS.has(one) || one.endsWith('exit');
}

const isDigits = (w: string): boolean => /^\d+$/.test(w);

/** Whether an attribute name says it holds an exit head (`exit_2`, `heads`, `fc_final`, not `head_dim`). */
export function isExitHeadName(name: string): boolean {
  const words = splitWords(name).filter((w) => !isDigits(w));
  if (words.length === 0) return false;
  if (words.some((w) => ATTENTION_WORDS.has(w))) return false;
  if (words.length > 1 && NOT_HEAD_FIRST.has(words[0])) return false;
  if (NOT_HEAD_LAST.has(words[words.length - 1])) return false;
  return words.some(isHeadWord) || (words.includes('final') && words.some((w) => FINAL_PARTS.has(w)));
}

/** Whether a class name says it is an exit-head type (`ExitHead`, `BranchyExit`, `BertHighway`). */
export function isExitHeadClassName(name: string): boolean {
  const words = splitWords(name);
  if (words.some((w) => NOT_HEAD_CLASS.has(w))) return false;
  return words.some((w) => HEAD_CLASS_WORDS.has(w) || HEAD_CLASS_WORDS.has(singular(w)));
}

/** The head noun is the last word (`self.head`, `self.exits`): a bare reference then is a head. */
function endsWithHeadWord(name: string): boolean {
  const words = splitWords(name).filter((w) => !isDigits(w));
  return words.length > 0 && isHeadWord(words[words.length - 1]);
}

function endsWithPluralHeadWord(name: string): boolean {
  const words = splitWords(name).filter((w) => !isDigits(w));
  const last = words[words.length - 1];
  return last !== undefined && isHeadWord(last) && singular(last) !== last;
}

/**
 * The comparison key for names: lower case, separators dropped, plurals made singular, so that
 * `exit_2` ~ `exit2` ~ `exits[2]` ~ `exits.2` ~ `Exit2`.
 */
export function normaliseExitName(name: string): string {
  return (name.toLowerCase().match(/[a-z]+|\d+/g) ?? []).map((w) => (isDigits(w) ? String(Number(w)) : singular(w))).join('');
}

/** The trailing number of a name (`exit_2` → 2, `head3` → 3), if any. */
function nameNumber(name: string): number | undefined {
  const digits = splitWords(name).filter(isDigits);
  return digits.length ? Number(digits[digits.length - 1]) : undefined;
}

/** The name without its number, normalised: heads sharing a stem are numbered together. */
function nameStem(name: string): string {
  const words = splitWords(name);
  let last = -1;
  words.forEach((w, i) => { if (isDigits(w)) last = i; });
  return normaliseExitName(words.filter((_, i) => i !== last).join('_'));
}

/** What an assigned value holds, as far as exits go. */
type ValueShape =
  | { shape: 'single' }
  | { shape: 'list'; elements: (SyntaxNode | undefined)[]; keys?: (string | undefined)[] }
  | { shape: 'many' }
  | { shape: 'empty' }
  | { shape: 'none' };

const SINGLE: ValueShape = { shape: 'single' };
const MANY: ValueShape = { shape: 'many' };
const EMPTY: ValueShape = { shape: 'empty' };
const NONE: ValueShape = { shape: 'none' };

function unwrap(node: SyntaxNode): SyntaxNode {
  let n = node;
  while (n.type === 'parenthesized_expression' && n.namedChildren.length === 1) n = n.namedChildren[0];
  return n;
}

/** Named children without comments (comments are extras that sit anywhere in a list). */
function items(node: SyntaxNode): SyntaxNode[] {
  return node.namedChildren.filter((c) => c.type !== 'comment');
}

function isLiteral(node: SyntaxNode): boolean {
  const n = unwrap(node);
  if (LITERAL_TYPES.has(n.type)) return true;
  if (n.type === 'list' || n.type === 'tuple') return items(n).every(isLiteral);
  return false;
}

/** A comprehension's body (the expression computed per item). */
function comprehensionShape(node: SyntaxNode): ValueShape {
  const body = node.childForFieldName('body') ?? items(node)[0];
  return body && isLiteral(body) ? NONE : MANY;
}

function listShape(elements: SyntaxNode[], keys?: (string | undefined)[]): ValueShape {
  if (elements.length === 0) return EMPTY;
  // Why: after `*heads` the positions of the following elements are unknown.
  if (elements.some((e) => e.type === 'list_splat' || e.type === 'dictionary_splat')) return MANY;
  if (elements.every(isLiteral)) return NONE;
  return { shape: 'list', elements: elements.map((e) => (isLiteral(e) ? undefined : e)), keys };
}

/** The text of a plain string literal (no f-string interpolation), else undefined. */
function stringValue(node: SyntaxNode): string | undefined {
  if (node.type !== 'string') return undefined;
  const parts = items(node).filter((c) => c.type !== 'string_start' && c.type !== 'string_end');
  if (parts.some((p) => p.type !== 'string_content')) return undefined;
  return parts.map((p) => p.text).join('');
}

function callShape(call: SyntaxNode, target: string): ValueShape {
  const fn = call.childForFieldName('function');
  const args = call.childForFieldName('arguments');
  const fname = fn?.text ?? '';
  const base = fname.slice(fname.lastIndexOf('.') + 1);
  const positional = args?.type === 'argument_list'
    ? items(args).filter((a) => a.type !== 'keyword_argument' && a.type !== 'dictionary_splat')
    : [];
  if (LIST_CALLS.has(base)) {
    if (args?.type === 'generator_expression') return comprehensionShape(args);
    if (positional.length === 0) return EMPTY;
    const first = unwrap(positional[0]);
    if (first.type === 'list' || first.type === 'tuple') return listShape(items(first));
    if (first.type === 'list_comprehension' || first.type === 'generator_expression') return comprehensionShape(first);
    return MANY;
  }
  if (base === 'ModuleDict') {
    if (positional.length === 0) return EMPTY;
    const first = unwrap(positional[0]);
    if (first.type !== 'dictionary') return MANY;
    const entries = items(first);
    if (entries.some((e) => e.type !== 'pair')) return listShape(entries);
    const values = entries.map((p) => p.childForFieldName('value')).filter((v): v is SyntaxNode => v !== null);
    const keys = entries.map((p) => {
      const key = p.childForFieldName('key');
      return key ? stringValue(key) : undefined;
    });
    return listShape(values, keys);
  }
  // Why: an `nn.Sequential` is one head made of layers, never a list of exits.
  if (base === 'Sequential') return SINGLE;
  if ((base === 'list' || base === 'tuple') && positional.length === 0) return EMPTY;
  if (NOT_MODULE_CALLS.has(base) || NOT_MODULE_PREFIXES.some((p) => fname.startsWith(p))) return NONE;
  return endsWithPluralHeadWord(target) ? MANY : SINGLE;
}

function valueShape(value: SyntaxNode, target: string): ValueShape {
  const v = unwrap(value);
  switch (v.type) {
    case 'call':
      return callShape(v, target);
    case 'list':
    case 'tuple':
      return listShape(items(v));
    case 'list_comprehension':
    case 'generator_expression':
      return comprehensionShape(v);
    case 'identifier':
    case 'attribute':
      // Why: `self.exit_layers = exit_layers` is a list of numbers; `self.head = head` a module.
      if (!endsWithHeadWord(target)) return NONE;
      return endsWithPluralHeadWord(target) ? MANY : SINGLE;
    case 'conditional_expression': {
      const parts = items(v);
      for (const part of [parts[0], parts[2]]) {
        const shape = part ? valueShape(part, target) : NONE;
        if (shape.shape !== 'none') return shape;
      }
      return NONE;
    }
    default:
      return NONE;
  }
}

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

interface Span {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

function spanOf(start: SyntaxNode, end: SyntaxNode = start): Span {
  return {
    line: start.startPosition.row,
    column: start.startPosition.column,
    endLine: end.endPosition.row,
    endColumn: end.endPosition.column,
  };
}

/** A `self.<name> = value` pair (every name, for `# exit-lens:` targets; the heuristics filter). */
interface SelfAssignment extends Span {
  name: string;
  owner?: string;
  value?: SyntaxNode;
}

/** `self.<name>.append(x)` / `.extend([...])` / `+= [...]`: heads added after the declaration. */
interface AppendEvent extends Span {
  name: string;
  owner?: string;
  many: boolean;
}

interface ClassDef extends Span {
  name: string;
}

interface ExplicitComment {
  line: number;
  column: number;
  trailing: boolean;
  value: string;
}

/** A site while it is being built: `hidden` ones only come back if a comment names them. */
interface Draft extends ExitHeadSite {
  hidden?: boolean;
}

interface Collected {
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

function collect(root: SyntaxNode, lines: readonly string[]): Collected {
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
        if (name === undefined || !right || node.childForFieldName('operator')?.type !== '+=' || !isExitHeadName(name)) break;
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

/** Heuristic sites from the collected assignments and appends. */
function heuristicDrafts(c: Collected): Draft[] {
  const drafts: Draft[] = [];
  const groupKey = (owner: string | undefined, name: string) => `${owner ?? ''}\u0000${name}`;
  const appendsBy = new Map<string, AppendEvent[]>();
  for (const a of c.appends) appendsBy.set(groupKey(a.owner, a.name), [...(appendsBy.get(groupKey(a.owner, a.name)) ?? []), a]);
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

function spanOf0(s: Span): Span {
  return { line: s.line, column: s.column, endLine: s.endLine, endColumn: s.endColumn };
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

/** The line a comment speaks for: its own (trailing) or the next line with code (standalone). */
function commentTarget(comment: ExplicitComment, lines: readonly string[]): number | undefined {
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
function applyExplicit(c: Collected, drafts: Draft[], root: SyntaxNode, lines: readonly string[]): Draft[] {
  let out = drafts;
  const byPosition = (a: Span, b: Span) => a.line - b.line || a.column - b.column;
  for (const comment of c.comments) {
    const line = commentTarget(comment, lines);
    if (line === undefined) continue;
    const value = comment.value;
    const ignore = value.toLowerCase() === IGNORE_VALUE;
    const starting = out.filter((d) => d.line === line).sort((a, b) => Number(a.kind === 'class') - Number(b.kind === 'class') || byPosition(a, b));
    const spanning = out
      .filter((d) => d.kind !== 'class' && d.line < line && line <= d.endLine)
      .sort((a, b) => byPosition(b, a));
    const assignments = c.assignments.filter((a) => a.line === line || (a.line < line && line <= a.endLine)).sort((a, b) => byPosition(b, a));
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
      out = [...out, { kind: 'attribute', name: assignment.name, owner: assignment.owner, explicitExit: value, ...spanOf0(assignment) }];
      continue;
    }
    out = [...out, { kind: 'comment', name: value, explicitExit: value, ...statementAt(root, line, lines) }];
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

// ---------------------------------------------------------------------------------------------
// Mapping to the model's exits
// ---------------------------------------------------------------------------------------------

/**
 * How a site was tied to its exit(s):
 * - `explicit`: an `# exit-lens:` comment on the site, or the host's explicit mapping.
 * - `name`: its name equals an exit's name once normalised (`early_exit` ~ output `early_exit`).
 * - `list-index`: element k of a list of heads is exit k.
 * - `suffix`: the number in its name, counted from 0 or from 1 (see `mapExitHeads`).
 * - `final`: the one unnumbered head beside the numbered ones is the final exit.
 * - `many`: a list built in a loop or comprehension stands for the exits no other site holds.
 * - `type`: an exit-head class; its instances carry the exits.
 * - `unmapped`: no rule applies; `note` says why.
 */
export type ExitMappingRule = 'explicit' | 'name' | 'list-index' | 'suffix' | 'final' | 'many' | 'type' | 'unmapped';

export interface MappedExitHead {
  site: ExitHeadSite;
  rule: ExitMappingRule;
  /** Indices into the model's exits (shallowest first): one for a head, several for `many`, none when unmapped. */
  exitIndices: number[];
  /** The exit, when the site is exactly one. */
  exitIndex?: number;
  exitName?: string;
  /** One phrase on how the exit was found or why it was not, for the lens's tooltip. */
  note: string;
}

/** Host-given mapping: site key (`exit1`, `exits[2]`, `classifier`, optionally `Owner.` first) → exit name or index. */
export type ExplicitExitMap = Readonly<Record<string, string | number>>;

type Resolved = { index: number } | { error: string };

/** An exit given by name (exact, then normalised) or index, checked against the model. */
function resolveExit(value: string | number, exitNames: readonly string[]): Resolved {
  const count = exitNames.length;
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value < count
      ? { index: value }
      : { error: `exit ${value} is out of range: the model has ${count} exits (0-${count - 1})` };
  }
  const text = value.trim();
  const exact = exitNames.indexOf(text);
  if (exact >= 0) return { index: exact };
  if (isDigits(text)) return resolveExit(Number(text), exitNames);
  const wanted = normaliseExitName(text);
  const matches = exitNames.flatMap((n, i) => (normaliseExitName(n) === wanted ? [i] : []));
  if (matches.length === 1) return { index: matches[0] };
  return { error: `"${text}" is not an exit of this model (its exits: ${exitNames.join(', ')})` };
}

/** The keys a host mapping may use for a site. */
function siteKeys(site: ExitHeadSite): string[] {
  const own = site.kind === 'list-element'
    ? [...(site.index !== undefined ? [`${site.name}[${site.index}]`] : []), ...(site.key !== undefined ? [site.key, `${site.name}[${site.key}]`] : [])]
    : [site.name];
  return site.owner ? [...own, ...own.map((k) => `${site.owner}.${k}`)] : own;
}

const isInstance = (s: ExitHeadSite): boolean => s.kind !== 'class';
const rangeSet = (from: number, count: number): Set<number> => new Set(Array.from({ length: count }, (_, i) => from + i));
const sameSet = (a: ReadonlySet<number>, b: ReadonlySet<number>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

/**
 * Ties each site to exits of the profiled model (`exitNames`, shallowest first, as the engine
 * orders them). Sites are taken one owner class at a time, rules in this order:
 *
 * 1. Explicit: the site's `# exit-lens:` comment, else `explicit[key]` (keys as `siteKeys`);
 *    an exit name (exact or normalised) or an index. An exit named explicitly is taken from
 *    every heuristic below.
 * 2. Name: an unnumbered head, or a ModuleDict entry, whose normalised name equals exactly one
 *    exit's (`early_exit` ~ `early_exit`, `exit2` ~ `exit_2`).
 * 3. List index: element k of a list of heads is exit k (Python positions count from 0).
 * 4. Numbered heads sharing a stem (`exit1`, `exit2`; suffix set S, E exits), first match wins:
 *    S = {1..E} → exit k-1; S = {0..E-1} → exit k; when one unnumbered head holds the final exit
 *    and the numbered heads number E-1: S = {1..E-1} → k-1, S = {0..E-2} → k; else the names,
 *    if every head of the stem equals a distinct exit's name; else S = {0..n-1} → k and
 *    S = {1..n} → k-1 (n < E); else unmapped. Why the exact sets come before the names:
 *    BranchyNet's `exit1, exit2, classifier` with outputs `exit_0..exit_2` would map `exit2` to
 *    `exit_2`, the final exit, by name.
 * 5. Final: exactly one unnumbered single head (`self.classifier`, `self.head`, `self.fc_final`)
 *    is the final exit when the numbered heads number E-1, or when one list of many heads
 *    stands for the others; otherwise it stays unmapped.
 * 6. Many: the one list built in a loop or comprehension stands for every exit no other site
 *    of its class holds; two such lists are ambiguous and stay unmapped.
 *
 * Class sites are not mapped (rule `type`) unless a comment names them. Returns one entry per
 * site, in the order given.
 */
export function mapExitHeads(sites: readonly ExitHeadSite[], exitNames: readonly string[], explicit?: ExplicitExitMap): MappedExitHead[] {
  const E = exitNames.length;
  const results: MappedExitHead[] = sites.map((site) => ({ site, rule: 'unmapped', exitIndices: [], note: '' }));
  const hostKeys = new Map(Object.entries(explicit ?? {}).map(([k, v]) => [normaliseExitName(k), v] as const));

  const owners = new Map<string, number[]>();
  sites.forEach((s, i) => owners.set(s.owner ?? '', [...(owners.get(s.owner ?? '') ?? []), i]));

  for (const members of owners.values()) {
    /** Exits named explicitly in this class → the site that names it. */
    const explicitClaims = new Map<number, number>();
    /** Exits any rule gave in this class (for the `many` rule). */
    const held = new Set<number>();
    const open = new Set<number>();

    const setOne = (i: number, index: number, rule: ExitMappingRule, note: string) => {
      const claimedAt = explicitClaims.get(index);
      if (rule !== 'explicit' && claimedAt !== undefined) {
        results[i] = { ...results[i], rule: 'unmapped', exitIndices: [], note: `${exitNames[index]} is named explicitly for line ${sites[claimedAt].line + 1}` };
      } else {
        results[i] = { ...results[i], rule, exitIndices: [index], exitIndex: index, exitName: exitNames[index], note };
        held.add(index);
      }
      open.delete(i);
    };
    const leave = (i: number, note: string) => {
      results[i] = { ...results[i], rule: 'unmapped', exitIndices: [], note };
      open.delete(i);
    };

    // 1. Explicit (and class sites).
    for (const i of members) {
      const site = sites[i];
      const hostValue = siteKeys(site).map((k) => hostKeys.get(normaliseExitName(k))).find((v) => v !== undefined);
      const value = site.explicitExit ?? hostValue;
      if (value === undefined) {
        if (isInstance(site)) open.add(i);
        else results[i] = { ...results[i], rule: 'type', note: 'an exit-head class: its instances carry the exits' };
        continue;
      }
      const how = site.explicitExit !== undefined ? `named by # exit-lens: ${site.explicitExit}` : `named by the exit mapping (${value})`;
      const r = resolveExit(value, exitNames);
      if ('error' in r) {
        leave(i, r.error);
      } else {
        setOne(i, r.index, 'explicit', how);
        if (!explicitClaims.has(r.index)) explicitClaims.set(r.index, i);
      }
    }

    const isPlain = (i: number) => sites[i].kind === 'attribute' && nameNumber(sites[i].name) === undefined;
    const isNumbered = (i: number) => sites[i].kind === 'attribute' && nameNumber(sites[i].name) !== undefined;
    const isIndexed = (i: number) => sites[i].kind === 'list-element' && sites[i].index !== undefined;

    // 2. Name: unnumbered heads and ModuleDict entries.
    for (const i of [...open]) {
      const site = sites[i];
      const name = site.kind === 'list-element' ? site.key : isPlain(i) ? site.name : undefined;
      if (name === undefined) continue;
      const matches = exitNames.flatMap((n, k) => (normaliseExitName(n) === normaliseExitName(name) ? [k] : []));
      if (matches.length === 1) setOne(i, matches[0], 'name', `its name matches the exit ${exitNames[matches[0]]}`);
    }

    // The picture the numbering rules read: numbered heads, the unnumbered ones, the lists.
    const numberedKeys = new Set(members.filter((i) => isIndexed(i) || isNumbered(i)).map((i) => (isIndexed(i) ? `${sites[i].name}[${sites[i].index}]` : normaliseExitName(sites[i].name))));
    const numberedCount = numberedKeys.size;
    const plainOpen = [...open].filter(isPlain);
    const plainNames = [...new Set(plainOpen.map((i) => sites[i].name))];
    const manyOpen = [...open].filter((i) => sites[i].kind === 'list-many');
    const manyNames = [...new Set(manyOpen.map((i) => sites[i].name))];
    // Why: a final exit already held by an unnumbered head (named, or by comment) is the same
    // picture as one unnumbered head left for it.
    const finalHeld = members.some((i) => results[i].exitIndex === E - 1 && !isNumbered(i) && !isIndexed(i));
    const oneFinalHead = plainNames.length === 1 || finalHeld;

    // 3. List index.
    for (const i of [...open].filter(isIndexed)) {
      const k = sites[i].index!;
      if (k < E) setOne(i, k, 'list-index', `element ${k} of ${sites[i].name}`);
      else leave(i, `element ${k} of ${sites[i].name}, but the model has ${E} exits`);
    }

    // 4. Numbered heads, one stem at a time.
    const stems = new Map<string, number[]>();
    for (const i of members.filter(isNumbered)) stems.set(nameStem(sites[i].name), [...(stems.get(nameStem(sites[i].name)) ?? []), i]);
    for (const group of stems.values()) {
      const todo = group.filter((i) => open.has(i));
      if (todo.length === 0) continue;
      const S = new Set(group.map((i) => nameNumber(sites[i].name)!));
      const n = S.size;
      const list = [...S].sort((a, b) => a - b).join(', ');
      let base: 0 | 1 | undefined;
      let why = '';
      if (sameSet(S, rangeSet(1, E))) [base, why] = [1, `suffixes ${list} count the ${E} exits from 1`];
      else if (sameSet(S, rangeSet(0, E))) [base, why] = [0, `suffixes ${list} count the ${E} exits from 0`];
      else if (oneFinalHead && numberedCount === E - 1 && sameSet(S, rangeSet(1, E - 1))) [base, why] = [1, `suffixes ${list} count the ${E - 1} early exits from 1`];
      else if (oneFinalHead && numberedCount === E - 1 && sameSet(S, rangeSet(0, E - 1))) [base, why] = [0, `suffixes ${list} count the ${E - 1} early exits from 0`];
      if (base === undefined) {
        const byName = todo.map((i) => exitNames.flatMap((x, k) => (normaliseExitName(x) === normaliseExitName(sites[i].name) && !explicitClaims.has(k) ? [k] : [])));
        if (byName.every((m) => m.length === 1) && new Set(byName.map((m) => m[0])).size === todo.length) {
          todo.forEach((i, j) => setOne(i, byName[j][0], 'name', `its name matches the exit ${exitNames[byName[j][0]]}`));
          continue;
        }
        if (n < E && sameSet(S, rangeSet(0, n))) [base, why] = [0, `suffixes ${list} count from 0`];
        else if (n < E && sameSet(S, rangeSet(1, n))) [base, why] = [1, `suffixes ${list} count from 1`];
      }
      if (base === undefined) {
        for (const i of todo) leave(i, `the suffixes ${list} do not tell which of the ${E} exits each head is`);
        continue;
      }
      for (const i of todo) {
        const k = nameNumber(sites[i].name)! - base;
        if (k >= 0 && k < E) setOne(i, k, 'suffix', why);
        else leave(i, `suffix ${k + base} is past the model's ${E} exits`);
      }
    }

    // 5. The final head.
    if (plainNames.length === 1) {
      const fits = manyNames.length === 1 ? numberedCount < E - 1 : manyNames.length === 0 && numberedCount === E - 1;
      for (const i of plainOpen) {
        if (!open.has(i)) continue;
        if (fits) setOne(i, E - 1, 'final', numberedCount ? `the one unnumbered head beside ${numberedCount} numbered ones: the final exit` : 'the one single head beside a list of heads: the final exit');
        else leave(i, manyNames.length > 1
          ? 'an unnumbered head beside several lists of heads'
          : `an unnumbered head beside ${numberedCount} numbered ones, for a model with ${E} exits`);
      }
    } else {
      for (const i of plainOpen) if (open.has(i)) leave(i, `${plainNames.length} unnumbered heads (${plainNames.join(', ')}): which is which is ambiguous`);
    }

    // Single heads whose position in their list is unknown.
    for (const i of [...open].filter((j) => sites[j].kind === 'list-element')) leave(i, `a head appended to ${sites[i].name} at an unknown position`);

    // 6. Lists of many heads.
    if (manyNames.length === 1) {
      const rest = Array.from({ length: E }, (_, k) => k).filter((k) => !held.has(k) && !explicitClaims.has(k));
      for (const i of manyOpen) {
        if (rest.length === 0) leave(i, 'every exit is already held by another head');
        else results[i] = { ...results[i], rule: 'many', exitIndices: rest, note: `a list of heads built in a loop or comprehension: exits ${rest[0]}-${rest[rest.length - 1]}`, ...(rest.length === 1 ? { exitIndex: rest[0], exitName: exitNames[rest[0]] } : {}) };
        open.delete(i);
      }
    } else {
      for (const i of manyOpen) leave(i, `${manyNames.length} lists of heads (${manyNames.join(', ')}): which exits each holds is ambiguous`);
    }

    for (const i of open) leave(i, 'no rule ties this head to an exit');
  }
  return results;
}
