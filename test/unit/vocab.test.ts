/**
 * The vocabulary reader (issue #18, token-level exits): a JSON list of token strings or a
 * Hugging Face tokenizer.json, read as data, bounded in size, with readable display strings.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ExitLensError } from '../../src/core/errors';
import { MAX_TOKEN_ID, MAX_VOCAB_BYTES, readVocab } from '../../src/core/tokens/vocab';
import { tmpDir } from './helpers';

function write(name: string, content: unknown): string {
  const file = path.join(tmpDir('exit-lens-vocab-'), name);
  fs.writeFileSync(file, typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content));
  return file;
}

/** Rejects with a user error (bad-argument) whose message and hint match. */
async function refused(file: string, message: RegExp, hint?: RegExp): Promise<void> {
  await assert.rejects(readVocab(file), (err: unknown) => {
    assert.ok(err instanceof ExitLensError, `expected an ExitLensError, got ${String(err)}`);
    assert.equal(err.code, 'bad-argument');
    assert.ok(err.isUserError);
    assert.match(err.message, message);
    assert.ok(err.message.includes(file), `the message names the file: ${err.message}`);
    assert.ok(err.hint && err.hint.length > 0, 'a hint says what to do next');
    if (hint) assert.match(err.hint, hint);
    return true;
  });
}

describe('readVocab: a JSON list of token strings', () => {
  it('index = token id; markers shown readably', async () => {
    const file = write('vocab.json', ['<pad>', 'a', ' ', '\n', 'Ġthe', '▁of', 'Ċ', 'é']);
    const v = await readVocab(file);
    assert.equal(v.source, 'list');
    assert.deepEqual(v.tokens, ['<pad>', 'a', ' ', '\n', ' the', ' of', '\n', 'é']);
  });

  it('a UTF-8 byte order mark is allowed', async () => {
    const file = write('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('["x","y"]')]));
    assert.deepEqual((await readVocab(file)).tokens, ['x', 'y']);
  });

  it('the example decoder vocabulary reads', async () => {
    const file = path.join(__dirname, '..', '..', 'examples', 'char-decoder', 'vocab.json');
    if (!fs.existsSync(file)) return;
    const v = await readVocab(file);
    assert.equal(v.tokens[0], '<pad>');
    assert.ok(v.tokens.includes('\n') && v.tokens.includes(' ') && v.tokens.includes('a'));
  });

  it('an item that is not a string, an empty list: refused, saying which', async () => {
    await refused(write('v.json', ['a', 3, 'b']), /item 1 is number 3, not a string/, /one string per token id/);
    await refused(write('v.json', ['a', null]), /item 1 is null/);
    await refused(write('v.json', []), /is an empty list/);
  });
});

describe('readVocab: Hugging Face tokenizer.json', () => {
  it('BPE, byte-level: model.vocab token → id, added tokens, gaps shown as <id>', async () => {
    const file = write('tokenizer.json', {
      version: '1.0',
      added_tokens: [
        { id: 0, content: '<|endoftext|>', special: true },
        { id: 9, content: '<|pad|>', special: true },
      ],
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false },
      decoder: { type: 'ByteLevel' },
      model: {
        type: 'BPE',
        // 'ĠÃ©' is ' é' byte-level encoded (0x20 0xC3 0xA9); 'Ã' alone is the first byte of a
        // two-byte character; 'ĉ' is a tab.
        vocab: { '<|endoftext|>': 0, Ġthe: 1, Ċ: 2, hello: 3, 'ĠÃ©': 4, Ã: 5, ĉ: 6, Ġ: 8 },
        merges: ['Ġ t', 'Ġt he'],
      },
    });
    const v = await readVocab(file);
    assert.equal(v.source, 'tokenizer.json');
    assert.deepEqual(v.tokens, ['<|endoftext|>', ' the', '\n', 'hello', ' é', '\\xC3', '\t', '<7>', ' ', '<|pad|>']);
  });

  it('byte-level inside a Sequence pre-tokenizer', async () => {
    const file = write('tokenizer.json', {
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split' }, { type: 'ByteLevel' }] },
      model: { type: 'BPE', vocab: { 'ĠÃ©t': 0, 'Ã©': 1 } },
    });
    assert.deepEqual((await readVocab(file)).tokens, [' ét', 'é']);
  });

  it('WordPiece (not byte-level): tokens as written, ## kept, é not byte-decoded', async () => {
    const file = write('tokenizer.json', {
      added_tokens: [{ id: 0, content: '[PAD]' }],
      model: { type: 'WordPiece', unk_token: '[UNK]', vocab: { '[PAD]': 0, '[UNK]': 1, café: 2, '##s': 3 } },
    });
    assert.deepEqual((await readVocab(file)).tokens, ['[PAD]', '[UNK]', 'café', '##s']);
  });

  it('Unigram: model.vocab is a list of [token, score], index = id; ▁ shown as a space', async () => {
    const file = write('tokenizer.json', {
      added_tokens: [{ id: 0, content: '<pad>' }],
      decoder: { type: 'Metaspace', replacement: '▁' },
      model: {
        type: 'Unigram',
        unk_id: 2,
        vocab: [
          ['<pad>', 0],
          ['</s>', 0],
          ['<unk>', 0],
          ['▁the', -3.1],
          ['s', -4.2],
        ],
      },
    });
    const v = await readVocab(file);
    assert.equal(v.source, 'tokenizer.json');
    assert.deepEqual(v.tokens, ['<pad>', '</s>', '<unk>', ' the', 's']);
  });

  it('an added token wins over model.vocab for the same id', async () => {
    const file = write('tokenizer.json', {
      added_tokens: [{ id: 1, content: '<mask>' }],
      model: { type: 'WordLevel', vocab: { a: 0, b: 1 } },
    });
    assert.deepEqual((await readVocab(file)).tokens, ['a', '<mask>']);
  });

  it('"__proto__" and "constructor" are ordinary tokens', async () => {
    const file = write('tokenizer.json', '{"model":{"type":"WordLevel","vocab":{"__proto__":0,"constructor":1}}}');
    assert.deepEqual((await readVocab(file)).tokens, ['__proto__', 'constructor']);
  });
});

describe('readVocab: files that are neither form', () => {
  it('not JSON, not UTF-8: refused with the forms it reads', async () => {
    await refused(write('vocab.txt', '[PAD]\n[UNK]\nthe\n'), /is not JSON/, /tokenizer\.json/);
    await refused(write('spm.model', Buffer.from([0x0a, 0xff, 0xfe, 0x00, 0x81])), /is not UTF-8 text/, /JSON list/);
  });

  it('JSON of another shape: refused, saying what it is', async () => {
    await refused(
      write('x.json', { vocab_size: 3 }),
      /an object without a "model" object/,
      /JSON list of token strings/,
    );
    await refused(write('x.json', '"abc"'), /a string: neither a list/);
    await refused(write('x.json', 'null'), /a null/);
    await refused(
      write('tokenizer_config.json', { tokenizer_class: 'GPT2Tokenizer', model_max_length: 1024 }),
      /looks like a tokenizer_config\.json/,
      /tokenizer\.json in the same folder/,
    );
  });

  it('a tokenizer.json with a malformed vocabulary: refused, saying where', async () => {
    await refused(
      write('t.json', { model: { type: 'BPE' } }),
      /\(model BPE\) without a vocabulary: its model\.vocab is missing/,
      /object token → id/,
    );
    await refused(write('t.json', { model: { vocab: 'abc' } }), /model\.vocab is "abc"/);
    await refused(
      write('t.json', { model: { vocab: { a: 0, b: -1 } } }),
      /the token "b" \(in model\.vocab\) the id number -1/,
    );
    await refused(write('t.json', { model: { vocab: { a: 0, b: 1.5 } } }), /id number 1\.5, not a whole number/);
    await refused(write('t.json', { model: { vocab: { a: '0' } } }), /id "0"/);
    await refused(write('t.json', { model: { vocab: { a: MAX_TOKEN_ID + 1 } } }), /above the largest Exit Lens reads/);
    await refused(
      write('t.json', { model: { vocab: [['a', 0], 'b'] } }),
      /model\.vocab item 1 is "b", not a \[token, score\] pair/,
    );
    await refused(write('t.json', { model: { vocab: {} } }), /with no tokens/);
    await refused(
      write('t.json', { added_tokens: {}, model: { vocab: { a: 0 } } }),
      /added_tokens is an object, not a list/,
    );
    await refused(write('t.json', { added_tokens: [{ id: 1 }], model: { vocab: { a: 0 } } }), /added_tokens item 0/);
    await refused(
      write('t.json', { added_tokens: [{ id: null, content: 'x' }], model: { vocab: { a: 0 } } }),
      /the added token "x" the id null/,
    );
  });
});

describe('readVocab: bounded reads', () => {
  it('a file over the limit is refused before it is read', async () => {
    const file = write('big.json', '');
    // A sparse file: the size is checked on the open file, so nothing of it is read.
    fs.truncateSync(file, MAX_VOCAB_BYTES + 1);
    await refused(file, /Cannot read the vocabulary .*: it is 67,108,865 bytes, more than the 67,108,864/, /--vocab/);
  });

  it('a folder, a missing file: refused as unreadable', async () => {
    const dir = tmpDir('exit-lens-vocab-');
    await refused(dir, /Cannot read the vocabulary .*: it is a folder/);
    await refused(path.join(dir, 'missing.json'), /Cannot read the vocabulary .*: no such file/);
  });
});
