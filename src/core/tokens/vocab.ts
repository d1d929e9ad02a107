import { ExitLensError } from '../errors';
import { readRegularFile } from '../io/inputFiles';
import { MIB } from '../io/limits';

/**
 * The vocabulary of a language model (issue #18, token-level exits): token id → a string to
 * show for it. Two forms are read, as data only (nothing in them is run, and no other file is
 * looked up):
 *
 * - a JSON list of token strings, index = token id;
 * - a Hugging Face `tokenizer.json`: `model.vocab` is an object token → id (BPE, WordPiece,
 *   WordLevel) or a list of [token, score] pairs, index = id (Unigram); `added_tokens`
 *   ([{ id, content }]) add to it and, for an id both name, win.
 *
 * Display strings make the tokenizers' markers readable: a byte-level tokenizer's tokens
 * (GPT-2 style, 'Ġthe', 'Ċ') are turned back into their text (' the', '\n'); in other
 * tokenizers and in lists, 'Ġ' and '▁' show as a space and 'Ċ' as a line break. An id no token
 * names shows as `<id>`.
 */

export interface Vocab {
  /** Token id → display string. */
  tokens: string[];
  source: 'list' | 'tokenizer.json';
}

/** The largest vocabulary file read (the largest tokenizer.json files published are ~30 MB). */
export const MAX_VOCAB_BYTES = 64 * MIB;
/** Ids above this are refused: the token table has one entry per id, gaps included. */
export const MAX_TOKEN_ID = 2 ** 21 - 1;

const FORMS =
  'Give a JSON list of token strings (index = token id), or the tokenizer.json that Hugging Face tokenizers save (tokenizer.save_pretrained(folder) writes it next to the model).';

function invalid(file: string, why: string, hint = FORMS): ExitLensError {
  return new ExitLensError('bad-argument', `The vocabulary ${file} ${why}.`, hint);
}

export async function readVocab(file: string): Promise<Vocab> {
  const bytes = readRegularFile(
    file,
    (why) =>
      new ExitLensError(
        'bad-argument',
        `Cannot read the vocabulary ${file}: ${why}.`,
        'Check the path given with --vocab: it should name a JSON list of token strings or a tokenizer.json.',
      ),
    MAX_VOCAB_BYTES,
  );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw invalid(file, 'is not UTF-8 text (a binary file, such as a SentencePiece .model, is not read)');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(
      file,
      `is not JSON (${err instanceof Error ? err.message : String(err)}); a vocab.txt, merges.txt or SentencePiece .model file is not read`,
    );
  }
  if (Array.isArray(json)) return { tokens: fromList(file, json), source: 'list' };
  if (isObject(json) && isObject(json.model)) return { tokens: fromTokenizer(file, json), source: 'tokenizer.json' };
  if (isObject(json) && ('tokenizer_class' in json || 'model_max_length' in json || 'added_tokens_decoder' in json))
    throw invalid(
      file,
      'looks like a tokenizer_config.json, which holds settings but no vocabulary',
      'Give the tokenizer.json in the same folder (tokenizer.save_pretrained(folder) writes it), or a JSON list of token strings.',
    );
  throw invalid(
    file,
    `is JSON, but ${isObject(json) ? 'an object without a "model" object' : `a ${json === null ? 'null' : typeof json}`}: neither a list of token strings nor a Hugging Face tokenizer.json`,
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fromList(file: string, list: unknown[]): string[] {
  if (list.length === 0) throw invalid(file, 'is an empty list');
  if (list.length > MAX_TOKEN_ID + 1)
    throw invalid(
      file,
      `lists ${list.length.toLocaleString('en-US')} tokens, more than the ${(MAX_TOKEN_ID + 1).toLocaleString('en-US')} Exit Lens reads`,
    );
  return list.map((t, i) => {
    if (typeof t !== 'string')
      throw invalid(
        file,
        `is a list, but its item ${i} is ${describe(t)}, not a string`,
        'A vocabulary list holds one string per token id, e.g. ["<pad>", "a", "b"].',
      );
    return markers(t);
  });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `"${v.slice(0, 40)}"`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

function checkId(file: string, id: unknown, where: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
    throw invalid(
      file,
      `gives ${where} the id ${describe(id)}, not a whole number ≥ 0`,
      'Check that the file is a tokenizer.json as Hugging Face tokenizers write it.',
    );
  if (id > MAX_TOKEN_ID)
    throw invalid(
      file,
      `gives ${where} the id ${id.toLocaleString('en-US')}, above the largest Exit Lens reads (${MAX_TOKEN_ID.toLocaleString('en-US')})`,
      'Check that the file is a tokenizer.json as Hugging Face tokenizers write it.',
    );
  return id;
}

function fromTokenizer(file: string, json: Record<string, unknown>): string[] {
  const model = json.model as Record<string, unknown>;
  const vocab = model.vocab;
  const named = new Map<number, string>();
  const shape =
    'Its model.vocab should be an object token → id (BPE, WordPiece, WordLevel) or a list of [token, score] pairs (Unigram).';
  if (Array.isArray(vocab)) {
    if (vocab.length > MAX_TOKEN_ID + 1)
      throw invalid(
        file,
        `has ${vocab.length.toLocaleString('en-US')} tokens, more than the ${(MAX_TOKEN_ID + 1).toLocaleString('en-US')} Exit Lens reads`,
      );
    vocab.forEach((entry, id) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string')
        throw invalid(
          file,
          `is a tokenizer.json whose model.vocab item ${id} is ${describe(entry)}, not a [token, score] pair`,
          shape,
        );
      named.set(id, entry[0]);
    });
  } else if (isObject(vocab)) {
    for (const [token, id] of Object.entries(vocab)) {
      const k = checkId(file, id, `the token "${token.slice(0, 40)}" (in model.vocab)`);
      if (!named.has(k)) named.set(k, token);
    }
  } else {
    throw invalid(
      file,
      `is a tokenizer.json${typeof model.type === 'string' ? ` (model ${model.type})` : ''} without a vocabulary: its model.vocab is ${vocab === undefined ? 'missing' : describe(vocab)}`,
      shape,
    );
  }
  const added = json.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added))
      throw invalid(
        file,
        `is a tokenizer.json whose added_tokens is ${describe(added)}, not a list`,
        'added_tokens should be a list of { "id": …, "content": … }.',
      );
    added.forEach((t, i) => {
      if (!isObject(t) || typeof t.content !== 'string')
        throw invalid(
          file,
          `is a tokenizer.json whose added_tokens item ${i} is not { "id": …, "content": "…" }`,
          'added_tokens should be a list of { "id": …, "content": … }.',
        );
      named.set(checkId(file, t.id, `the added token "${t.content.slice(0, 40)}"`), t.content);
    });
  }
  if (named.size === 0) throw invalid(file, 'is a tokenizer.json with no tokens');
  const byteLevel = usesByteLevel(json.decoder) || usesByteLevel(json.pre_tokenizer);
  const addedIds = new Set(Array.isArray(added) ? added.map((t) => (t as { id: number }).id) : []);
  let size = 0;
  for (const id of named.keys()) size = Math.max(size, id + 1);
  const tokens = new Array<string>(size);
  for (let id = 0; id < size; id++) {
    const token = named.get(id);
    if (token === undefined) tokens[id] = `<${id}>`;
    // Added tokens ("<|endoftext|>", "[CLS]") are stored as written, not byte-level encoded.
    else tokens[id] = byteLevel && !addedIds.has(id) ? fromByteLevel(token) : markers(token);
  }
  return tokens;
}

/** Whether a decoder or pre-tokenizer (or a Sequence of them) is ByteLevel. */
function usesByteLevel(part: unknown, depth = 0): boolean {
  if (!isObject(part) || depth > 8) return false;
  if (part.type === 'ByteLevel') return true;
  for (const key of ['decoders', 'pretokenizers']) {
    const list = part[key];
    if (Array.isArray(list) && list.some((p) => usesByteLevel(p, depth + 1))) return true;
  }
  return false;
}

/** Tokenizers' markers made readable: 'Ġ' and '▁' a space, 'Ċ' a line break. */
function markers(token: string): string {
  return token.replace(/[Ġ▁]/g, ' ').replace(/Ċ/g, '\n');
}

/**
 * GPT-2's byte-level alphabet: every byte is one printable character, bytes that are printable
 * Latin-1 as themselves, the others (space, controls…) as U+0100 onwards in byte order.
 */
const BYTE_OF = (() => {
  const map = new Map<string, number>();
  let next = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map.set(String.fromCharCode(printable ? b : 256 + next++), b);
  }
  return map;
})();

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A byte-level token as text: ' the' for 'Ġthe'. A token that is part of a character (one byte
 * of a multi-byte UTF-8 sequence) shows its bytes as \xNN; a character outside the alphabet
 * (an unusual file) shows as itself.
 */
function fromByteLevel(token: string): string {
  const bytes: number[] = [];
  for (const ch of token) {
    const b = BYTE_OF.get(ch);
    if (b === undefined) return markers(token);
    bytes.push(b);
  }
  try {
    return STRICT_UTF8.decode(new Uint8Array(bytes));
  } catch {
    return bytes
      .map((b) =>
        b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`,
      )
      .join('');
  }
}
