/**
 * What a value assigned to a head-named attribute holds, as far as exits go: one head, a list of
 * heads (its elements, and a ModuleDict's keys), many heads behind one expression, an empty
 * list, or no module at all (`self.exit_layers = [2, 4]`); read off the syntax tree.
 */
import { endsWithHeadWord, endsWithPluralHeadWord } from './headNames';
import type { SyntaxNode } from './pythonParser';

/** Calls that build a list of modules; their elements are the exits. */
const LIST_CALLS = new Set(['ModuleList']);
/** Calls that build values, not modules (`set()`, `torch.zeros(...)`, `nn.Parameter(...)`). */
const NOT_MODULE_CALLS = new Set([
  'set',
  'dict',
  'frozenset',
  'list',
  'tuple',
  'int',
  'float',
  'str',
  'bool',
  'len',
  'range',
  'sum',
  'min',
  'max',
  'round',
  'abs',
  'sorted',
  'reversed',
  'enumerate',
  'zip',
  'map',
  'filter',
  'getattr',
  'isinstance',
  'hasattr',
  'Parameter',
  'tensor',
  'zeros',
  'ones',
  'full',
  'empty',
  'arange',
  'linspace',
  'rand',
  'randn',
  'zeros_like',
  'ones_like',
  'item',
  'tolist',
  'size',
  'numel',
  'dim',
  'count',
  'index',
  'split',
  'strip',
  'lower',
  'upper',
  'format',
  'join',
  'get',
  'register_buffer',
]);
/** Call prefixes that never build modules. */
const NOT_MODULE_PREFIXES = ['np.', 'numpy.', 'math.'];
/** Expressions that are values, never modules. */
const LITERAL_TYPES = new Set([
  'integer',
  'float',
  'string',
  'concatenated_string',
  'true',
  'false',
  'none',
  'unary_operator',
  'binary_operator',
  'boolean_operator',
  'comparison_operator',
  'not_operator',
  'ellipsis',
  'lambda',
]);

/** What an assigned value holds, as far as exits go. */
export type ValueShape =
  | { shape: 'single' }
  | { shape: 'list'; elements: (SyntaxNode | undefined)[]; keys?: (string | undefined)[] }
  | { shape: 'many' }
  | { shape: 'empty' }
  | { shape: 'none' };

const SINGLE: ValueShape = { shape: 'single' };
const MANY: ValueShape = { shape: 'many' };
const EMPTY: ValueShape = { shape: 'empty' };
const NONE: ValueShape = { shape: 'none' };

export function unwrap(node: SyntaxNode): SyntaxNode {
  let n = node;
  while (n.type === 'parenthesized_expression' && n.namedChildren.length === 1) n = n.namedChildren[0];
  return n;
}

/** Named children without comments (comments are extras that sit anywhere in a list). */
export function items(node: SyntaxNode): SyntaxNode[] {
  return node.namedChildren.filter((c) => c.type !== 'comment');
}

export function isLiteral(node: SyntaxNode): boolean {
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
  const positional =
    args?.type === 'argument_list'
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

export function valueShape(value: SyntaxNode, target: string): ValueShape {
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
