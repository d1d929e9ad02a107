/**
 * Exit heads from the exported graph (issue #15): test/fixtures/heads/models.py holds several
 * multi-exit models in one file, exported by make_heads.py with torch 1.13 to the .onnx files
 * beside it. Every expectation below is read off models.py by hand: which class is which file,
 * and each exit's defining line, found by searching the text (so the fixture's lines may move).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { EXIT_OK, EXIT_USER, main } from '../../src/cli/main';
import { parameterModule, scopeOfNodeName } from '../../src/core/onnx/exitHeadGraph';
import {
  type HeadsClass,
  type HeadsModel,
  type HeadsResult,
  findModelFiles,
  headsFromGraph,
  loadHeadsModel,
} from '../../src/core/python/headsFromGraph';
import { createPythonParser, nodeModulesParserWasm, type PythonParser } from '../../src/core/python/pythonParser';
import { fixture, tmpDir } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const HEADS = fixture('heads');
const MODELS_PY = path.join(HEADS, 'models.py');
const SOURCE = fs.readFileSync(MODELS_PY, 'utf8');
const LINES = SOURCE.split('\n');
const onnx = (name: string) => path.join(HEADS, `${name}.onnx`);

/** 1-based line of `class <name>`. */
function classLine(name: string): number {
  const i = LINES.findIndex((l) => l.startsWith(`class ${name}(`));
  assert.ok(i >= 0, `class ${name} in models.py`);
  return i + 1;
}
/** 1-based line of the first line of class `cls` that contains `text`. */
function lineIn(cls: string, text: string): number {
  const from = classLine(cls);
  const i = LINES.findIndex((l, k) => k >= from && l.includes(text));
  assert.ok(i >= 0, `"${text}" in class ${cls}`);
  return i + 1;
}

let parser: PythonParser;
let all: HeadsModel[];
before(async () => {
  parser = await createPythonParser(nodeModulesParserWasm(path.join(ROOT, 'node_modules')));
  all = ['separate_heads', 'list_plus_final', 'stacked', 'norm_heads', 'tiny_transformer'].map((n) =>
    loadHeadsModel(onnx(n)),
  );
});

const cls = (r: HeadsResult, name: string): HeadsClass => {
  const c = r.classes.find((k) => k.name === name);
  assert.ok(c, `class ${name} in the result`);
  return c;
};
/** `exit@line module` per entry, in the result's order. */
const brief = (c: HeadsClass) => c.exits.map((e) => `${e.exit}@${e.line} ${e.module}`);

describe('module paths from names', () => {
  it('reads scopes and parameter names as torch 1.13 writes them', () => {
    assert.equal(scopeOfNodeName('/heads.2/Gemm'), 'heads.2');
    assert.equal(scopeOfNodeName('/blocks/blocks.0/conv/Conv'), 'blocks.0.conv');
    assert.equal(scopeOfNodeName('/head_ln.2/ReduceMean_1'), 'head_ln.2');
    assert.equal(scopeOfNodeName('/Relu_1'), null);
    assert.equal(scopeOfNodeName('Gemm_12'), null);
    assert.equal(parameterModule('heads.2.weight'), 'heads.2');
    assert.equal(parameterModule('cls_token'), 'cls_token');
    assert.equal(parameterModule('onnx::MatMul_82'), null);
  });
});

describe('headsFromGraph on models.py', () => {
  let r: HeadsResult;
  before(() => {
    // Why reversed: the ties must not depend on the order the models come in.
    r = headsFromGraph(parser, SOURCE, [...all].reverse());
  });

  it('ties each class to its own model, and the helper classes to none', () => {
    const want: Record<string, string | null> = {
      ConvBlock: null,
      SelfAttention: null,
      SeparateHeads: onnx('separate_heads'),
      ListPlusFinal: onnx('list_plus_final'),
      Stacked: onnx('stacked'),
      NormHeads: onnx('norm_heads'),
      TinyTransformer: onnx('tiny_transformer'),
    };
    assert.deepEqual(Object.fromEntries(r.classes.map((c) => [c.name, c.model])), want);
    for (const c of r.classes) assert.equal(c.line, classLine(c.name));
    assert.deepEqual(cls(r, 'ConvBlock').exits, []);
    assert.deepEqual(r.unmapped, []);
  });

  it('separate attributes: each exit on its own line', () => {
    const c = cls(r, 'SeparateHeads');
    assert.deepEqual(brief(c), [
      `0@${lineIn('SeparateHeads', 'self.h0 =')} h0`,
      `1@${lineIn('SeparateHeads', 'self.h1 =')} h1`,
      `2@${lineIn('SeparateHeads', 'self.h2 =')} h2`,
    ]);
    assert.deepEqual(c.unmapped, []);
  });

  it('a ModuleList of 3 plus a final classifier: exits 0-2 on the list, exit 3 on self.final', () => {
    const heads = lineIn('ListPlusFinal', 'self.heads =');
    // The last block and the pooling called by every head are not heads.
    assert.deepEqual(brief(cls(r, 'ListPlusFinal')), [
      `0@${heads} heads[0]`,
      `1@${heads} heads[1]`,
      `2@${heads} heads[2]`,
      `3@${lineIn('ListPlusFinal', 'self.final =')} final`,
    ]);
  });

  it('a stacked output: each exit traced through the Concat to its own head', () => {
    const c = cls(r, 'Stacked');
    const heads = lineIn('Stacked', 'self.heads =');
    assert.deepEqual(brief(c), [`0@${heads} heads[0]`, `1@${heads} heads[1]`, `2@${heads} heads[2]`]);
    assert.deepEqual(
      c.exits.map((e) => e.exitName),
      ['logits[0]', 'logits[1]', 'logits[2]'],
    );
  });

  it('LayerNorm + Linear heads in two lists: two lines per exit', () => {
    const ln = lineIn('NormHeads', 'self.head_ln =');
    const lin = lineIn('NormHeads', 'self.heads =');
    assert.ok(ln < lin);
    assert.deepEqual(brief(cls(r, 'NormHeads')), [
      `0@${ln} head_ln[0]`,
      `0@${lin} heads[0]`,
      `1@${ln} head_ln[1]`,
      `1@${lin} heads[1]`,
      `2@${ln} head_ln[2]`,
      `2@${lin} heads[2]`,
    ]);
  });

  it("attention's `heads` argument is no exit; the classifiers are", () => {
    const c = cls(r, 'TinyTransformer');
    const line = lineIn('TinyTransformer', 'self.classifiers =');
    assert.deepEqual(brief(c), [`0@${line} classifiers[0]`, `1@${line} classifiers[1]`]);
    const attention = cls(r, 'SelfAttention');
    assert.equal(attention.model, null);
    assert.deepEqual(attention.exits, []);
    const headsArg = lineIn('SelfAttention', 'self.heads = heads');
    assert.ok(r.classes.every((k) => k.exits.every((e) => e.line !== headsArg && !e.module.startsWith('attn'))));
  });

  it('notes say where each entry comes from', () => {
    for (const c of r.classes) for (const e of c.exits) assert.match(e.note, /^from the graph: /);
  });
});

describe('overrides and fallbacks', () => {
  it('a marker on a stacked model names exit_0 (and ignore drops a line)', () => {
    const normLine = lineIn('Stacked', 'self.norm =');
    const finalLine = lineIn('ListPlusFinal', 'self.final =');
    const edited = LINES.map((l, i) =>
      i + 1 === normLine ? `${l}  # exit-lens: exit_0` : i + 1 === finalLine ? `${l}  # exit-lens: ignore` : l,
    ).join('\n');
    const r = headsFromGraph(parser, edited, all);
    const stacked = cls(r, 'Stacked');
    const marked = stacked.exits.filter((e) => e.line === normLine);
    assert.deepEqual(
      marked.map((e) => [e.exit, e.module, e.note]),
      [[0, 'norm', 'named by # exit-lens: exit_0']],
    );
    // The graph's entries on other lines stay.
    assert.equal(stacked.exits.filter((e) => e.line === lineIn('Stacked', 'self.heads =')).length, 3);
    const lpf = cls(r, 'ListPlusFinal');
    assert.ok(lpf.exits.every((e) => e.line !== finalLine));
    assert.deepEqual(
      lpf.unmapped.map((u) => u.exit),
      [3],
    );
  });

  it('a marker naming no exit is reported, not applied', () => {
    const line = lineIn('SeparateHeads', 'self.h1 =');
    const edited = LINES.map((l, i) => (i + 1 === line ? `${l}  # exit-lens: exit_9` : l)).join('\n');
    const c = cls(headsFromGraph(parser, edited, all), 'SeparateHeads');
    assert.deepEqual(
      c.exits.map((e) => e.exit),
      [0, 1, 2],
    );
    assert.equal(c.unmapped.length, 1);
    assert.equal(c.unmapped[0].line, line);
    assert.match(c.unmapped[0].reason, /exit_9/);
  });

  it("the host's explicit map wins over the graph", () => {
    const model = all.find((m) => m.path === onnx('separate_heads'))!;
    const r = headsFromGraph(parser, SOURCE, [model], { explicit: { [model.path]: { b2: 'exit_2' } } });
    const c = cls(r, 'SeparateHeads');
    const e = c.exits.find((x) => x.module === 'b2');
    assert.ok(e);
    assert.equal(e.line, lineIn('SeparateHeads', 'self.b2 ='));
    assert.equal(e.exit, 2);
    assert.match(e.note, /exit mapping/);
  });

  it('a model that carries no names falls back to the name heuristics, and says so', () => {
    const model = loadHeadsModel(path.join(HEADS, 'nonames', 'list_plus_final_nonames.onnx'));
    assert.ok([...model.info.initializerShapes.keys()].every((n) => n.startsWith('onnx::')));
    const r = headsFromGraph(parser, SOURCE, [model]);
    const c = cls(r, 'ListPlusFinal');
    assert.equal(c.model, model.path);
    assert.match(c.note, /guessed from names: the model carries no parameter names/);
    assert.ok(c.exits.length > 0);
    for (const e of c.exits) assert.match(e.note, /guessed from names: the model carries no parameter names/);
    // No other class is tied to it.
    assert.deepEqual(
      r.classes.filter((k) => k.model !== null).map((k) => k.name),
      ['ListPlusFinal'],
    );
  });
});

describe('exit-lens heads', () => {
  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s), isTTY: false });
    return { code, out, err };
  }

  it('prints the JSON for every model under the folder', async () => {
    const { code, out, err } = await run(['heads', MODELS_PY]);
    assert.equal(code, EXIT_OK, err);
    const json = JSON.parse(out) as HeadsResult;
    assert.deepEqual(Object.keys(json).sort(), ['classes', 'unmapped']);
    for (const c of json.classes) {
      for (const k of ['name', 'line', 'model', 'exits']) assert.ok(k in c, `${c.name}: ${k}`);
      for (const e of c.exits) for (const k of ['exit', 'line', 'module']) assert.ok(k in e);
    }
    assert.equal(cls(json, 'ListPlusFinal').model, onnx('list_plus_final'));
    assert.deepEqual(
      cls(json, 'ListPlusFinal').exits.map((e) => [e.exit, e.line, e.module]),
      [
        [0, lineIn('ListPlusFinal', 'self.heads ='), 'heads[0]'],
        [1, lineIn('ListPlusFinal', 'self.heads ='), 'heads[1]'],
        [2, lineIn('ListPlusFinal', 'self.heads ='), 'heads[2]'],
        [3, lineIn('ListPlusFinal', 'self.final ='), 'final'],
      ],
    );
    assert.equal(cls(json, 'ConvBlock').model, null);
    // The nameless copy under nonames/ is found too, and tied to no class (each is taken).
    assert.deepEqual(
      json.unmapped.map((u) => u.model),
      [path.join(HEADS, 'nonames', 'list_plus_final_nonames.onnx')],
    );
  });

  it('--model reads only the models named', async () => {
    const { code, out } = await run(['heads', MODELS_PY, '--model', onnx('stacked'), '--model', onnx('norm_heads')]);
    assert.equal(code, EXIT_OK);
    const json = JSON.parse(out) as HeadsResult;
    assert.deepEqual(
      json.classes.filter((c) => c.model).map((c) => [c.name, c.model]),
      [
        ['Stacked', onnx('stacked')],
        ['NormHeads', onnx('norm_heads')],
      ],
    );
  });

  it('refuses a missing file, a file that is not Python, and an unreadable model (exit 2)', async () => {
    const dir = tmpDir();
    const cases = [
      [['heads', path.join(dir, 'missing.py')], /no such file/],
      [['heads', onnx('stacked')], /not a Python file/],
      [['heads', MODELS_PY, '--model', fixture('not_onnx.onnx')], /not a readable ONNX model/],
      [['heads'], /heads needs a Python file/],
    ] as const;
    for (const [args, message] of cases) {
      const { code, out, err } = await run([...args]);
      assert.equal(code, EXIT_USER, args.join(' '));
      assert.equal(out, '');
      assert.match(err, message);
    }
  });

  it('bounds the search: no node_modules, at most the cap', async () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'node_modules', 'x'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', 'x', 'm.onnx'), '');
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, `m${i}.onnx`), '');
    assert.deepEqual(await findModelFiles(dir, 3), {
      files: [0, 1, 2].map((i) => path.join(dir, `m${i}.onnx`)),
      capped: true,
    });
    assert.equal((await findModelFiles(dir)).files.length, 5);
  });
});
