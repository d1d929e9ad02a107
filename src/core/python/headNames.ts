/**
 * The vocabulary of exit heads in Python: which attribute and class names say "exit head"
 * (`exit_2`, `heads`, `fc_final`, `BranchyExit`; not `head_dim` nor `MultiHeadAttention`), and the
 * normalised names, numbers and stems that the mapping to the model's exits compares.
 */

/** Heads are named by these words (singular; plurals are reduced first). */
const HEAD_WORDS = new Set(['exit', 'head', 'classifier', 'clf', 'ramp', 'branch', 'highway']);
/** A `final` word with one of these names a final classifier (`fc_final`, `final_linear`). */
const FINAL_PARTS = new Set(['fc', 'linear', 'dense', 'proj', 'projection']);
/** First words that make a name a count or a flag (`num_heads`, `use_exit`, `pre_classifier`). */
const NOT_HEAD_FIRST = new Set([
  'num',
  'n',
  'nb',
  'max',
  'min',
  'total',
  'use',
  'is',
  'has',
  'enable',
  'enabled',
  'do',
  'with',
  'pruned',
  'no',
  'should',
  'freeze',
  'frozen',
  'pre',
]);
/** Last words that make a name a property of heads rather than a head (`head_dim`, `exit_threshold`). */
const NOT_HEAD_LAST = new Set([
  'dim',
  'dims',
  'dimension',
  'size',
  'sizes',
  'count',
  'counts',
  'cnt',
  'number',
  'num',
  'threshold',
  'thresholds',
  'thresh',
  'idx',
  'index',
  'indices',
  'id',
  'ids',
  'weight',
  'weights',
  'bias',
  'scale',
  'loss',
  'losses',
  'logits',
  'output',
  'outputs',
  'preds',
  'predictions',
  'prob',
  'probs',
  'score',
  'scores',
  'result',
  'results',
  'features',
  'feats',
  'hidden',
  'state',
  'states',
  'cache',
  'stats',
  'history',
  'mask',
  'masks',
  'ratio',
  'ratios',
  'rate',
  'rates',
  'type',
  'types',
  'mode',
  'name',
  'names',
  'cfg',
  'config',
  'args',
  'kwargs',
  'enabled',
  'flag',
  'flags',
  'position',
  'positions',
  'pos',
  'points',
  'locations',
  'interval',
  'temperature',
  'temp',
  'entropy',
  'confidence',
  'conf',
  'budget',
  'cost',
  'costs',
  'macs',
  'flops',
  'latency',
  'hook',
  'hooks',
  'handle',
  'handles',
  'fn',
  'func',
  'criterion',
  'policy',
  'strategy',
  'patience',
  'counter',
  'step',
  'steps',
  'epoch',
  'lr',
  'token',
  'tokens',
  'len',
  'length',
  'width',
  'depth',
  'eps',
  'dropout',
  'drop',
  'norm',
  'act',
  'activation',
  'pool',
  'pooling',
  'pooler',
  'prune',
  'path',
  'file',
  'str',
]);
/** Attention vocabulary: its "heads" are not exit heads (`attn_heads`, `MultiHeadAttention`). */
const ATTENTION_WORDS = new Set(['attn', 'attention', 'mha', 'multihead', 'qkv', 'self']);
/** Class names are exit-head types when a word is one of these. */
const HEAD_CLASS_WORDS = new Set(['exit', 'head', 'branch', 'branchy', 'ramp', 'highway']);
/** Class names with one of these words are something else (`ExitConfig`, `EarlyExitLoss`). */
const NOT_HEAD_CLASS = new Set([
  'attention',
  'attn',
  'multihead',
  'config',
  'configuration',
  'args',
  'arguments',
  'output',
  'outputs',
  'policy',
  'strategy',
  'criterion',
  'loss',
  'exception',
  'error',
  'code',
  'status',
  'callback',
  'mixin',
  'test',
  'tests',
  'trainer',
  'scheduler',
  'dataset',
  'result',
  'results',
  'type',
  'mode',
  'enum',
  'manager',
  'hook',
  'info',
  'stats',
]);

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

export const isDigits = (w: string): boolean => /^\d+$/.test(w);

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
export function endsWithHeadWord(name: string): boolean {
  const words = splitWords(name).filter((w) => !isDigits(w));
  return words.length > 0 && isHeadWord(words[words.length - 1]);
}

export function endsWithPluralHeadWord(name: string): boolean {
  const words = splitWords(name).filter((w) => !isDigits(w));
  const last = words[words.length - 1];
  return last !== undefined && isHeadWord(last) && singular(last) !== last;
}

/**
 * The comparison key for names: lower case, separators dropped, plurals made singular, so that
 * `exit_2` ~ `exit2` ~ `exits[2]` ~ `exits.2` ~ `Exit2`.
 */
export function normaliseExitName(name: string): string {
  return (name.toLowerCase().match(/[a-z]+|\d+/g) ?? [])
    .map((w) => (isDigits(w) ? String(Number(w)) : singular(w)))
    .join('');
}

/** The trailing number of a name (`exit_2` → 2, `head3` → 3), if any. */
export function nameNumber(name: string): number | undefined {
  const digits = splitWords(name).filter(isDigits);
  return digits.length ? Number(digits[digits.length - 1]) : undefined;
}

/** The name without its number, normalised: heads sharing a stem are numbered together. */
export function nameStem(name: string): string {
  const words = splitWords(name);
  let last = -1;
  words.forEach((w, i) => {
    if (isDigits(w)) last = i;
  });
  return normaliseExitName(words.filter((_, i) => i !== last).join('_'));
}
