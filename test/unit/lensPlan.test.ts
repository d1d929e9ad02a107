/**
 * The CodeLens plan (issue #15, src/core/python/lensPlan.ts) on test/fixtures/heads/models.py:
 * each class tied to a model shows that model's own figures on the lines that define its heads,
 * a model without a run gets one lens on its class line that profiles that model, and nothing
 * is tied across classes. The reports are small fakes whose accuracies differ per model and
 * exit, so a lens showing another model's (or another exit's) figure would be seen; the lines
 * are found by searching the fixture's text.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { findExitHeads } from '../../src/core/python/exitHeads';
import { type HeadsResult, headsFromGraph, loadHeadsModel } from '../../src/core/python/headsFromGraph';
import type { ExitHeadSite } from '../../src/core/python/headSites';
import { type LensRun, type LensTexts, GUESSED, modelAtLine, planLenses } from '../../src/core/python/lensPlan';
import { createPythonParser, nodeModulesParserWasm } from '../../src/core/python/pythonParser';
import type { Report } from '../../src/core/analysis/analyze';
import { fixture } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const HEADS = fixture('heads');
const SOURCE = fs.readFileSync(path.join(HEADS, 'models.py'), 'utf8');
const LINES = SOURCE.split('\n');
const onnx = (name: string) => path.join(HEADS, `${name}.onnx`);
const NAMES = ['separate_heads', 'list_plus_final', 'stacked', 'norm_heads', 'tiny_transformer'];

/** 0-based line of `class <name>`. */
const classLine = (name: string) => {
  const i = LINES.findIndex((l) => l.startsWith(`class ${name}(`));
  assert.ok(i >= 0, `class ${name}`);
  return i;
};
/** 0-based line of the first line of class `cls` holding `text`. */
const lineIn = (cls: string, text: string) => {
  const from = classLine(cls);
  const i = LINES.findIndex((l, k) => k >= from && l.includes(text));
  assert.ok(i >= 0, `"${text}" in ${cls}`);
  return i;
};

/** A report with `exits` exits whose accuracy is `base + k / 100`: 0.41, 0.42, … for base 0.4. */
function fakeReport(names: string[], base: number): Report {
  return {
    exitCount: names.length,
    createdAt: '2025-01-02T03:04:05.000Z',
    exits: names.map((name, k) => ({ name, accuracy: base + (k + 1) / 100 })),
  } as unknown as Report;
}
const texts: LensTexts = {
  exitTitle: (r, k) => `${r.exits[k].name} · acc ${((r.exits[k].accuracy ?? 0) * 100).toFixed(1)}%`,
  runNote: () => ' (note)',
};

let result: HeadsResult;
let sites: ExitHeadSite[];
before(async () => {
  const parser = await createPythonParser(nodeModulesParserWasm(path.join(ROOT, 'node_modules')));
  sites = findExitHeads(parser, SOURCE);
  result = headsFromGraph(
    parser,
    SOURCE,
    NAMES.map((n) => loadHeadsModel(onnx(n))),
  );
});

describe('planLenses', () => {
  it("puts each profiled model's own figures on its head lines, and a profile lens on each unprofiled class", () => {
    const runs = new Map<string, LensRun | null>([
      [onnx('list_plus_final'), { runId: 'lpf/1', report: fakeReport(['exit_0', 'exit_1', 'exit_2', 'exit_3'], 0.5) }],
      [onnx('stacked'), { runId: 'st/1', report: fakeReport(['logits[0]', 'logits[1]', 'logits[2]'], 0.7) }],
    ]);
    const plan = planLenses(result, runs, texts, sites);
    const at = (line: number) => plan.filter((p) => p.line === line).map((p) => p.title);

    // ListPlusFinal: exits 0-2 on the ModuleList line, in order; the final exit on `self.final =`.
    const lpfHeads = lineIn('ListPlusFinal', 'self.heads = nn.ModuleList');
    assert.deepEqual(at(lpfHeads), ['exit_0 · acc 51.0%', 'exit_1 · acc 52.0%', 'exit_2 · acc 53.0%']);
    assert.deepEqual(at(lineIn('ListPlusFinal', 'self.final =')), ['exit_3 · acc 54.0%']);
    for (const p of plan.filter((q) => q.className === 'ListPlusFinal')) {
      assert.equal(p.command, 'exitLens.openReport');
      assert.equal(p.model, onnx('list_plus_final'));
      assert.equal(p.args[0], 'lpf/1');
      assert.match(p.tooltip, /^list_plus_final\.onnx, run of 2025-01-02T03:04:05\.000Z: .* \(note\) Click to open/);
    }
    assert.deepEqual(
      plan.filter((q) => q.line === lpfHeads).map((p) => p.args),
      [
        ['lpf/1', 0],
        ['lpf/1', 1],
        ['lpf/1', 2],
      ],
    );

    // Stacked: its own figures on its own ModuleList line (not ListPlusFinal's).
    const stHeads = lineIn('Stacked', 'self.heads = nn.ModuleList');
    assert.deepEqual(at(stHeads), ['logits[0] · acc 71.0%', 'logits[1] · acc 72.0%', 'logits[2] · acc 73.0%']);
    assert.deepEqual(
      plan.filter((q) => q.className === 'Stacked').map((p) => [p.line, p.args]),
      [
        [stHeads, ['st/1', 0]],
        [stHeads, ['st/1', 1]],
        [stHeads, ['st/1', 2]],
      ],
    );

    // The unprofiled models: one lens on the class line, profiling that model.
    for (const [cls, file] of [
      ['SeparateHeads', 'separate_heads'],
      ['NormHeads', 'norm_heads'],
      ['TinyTransformer', 'tiny_transformer'],
    ]) {
      const mine = plan.filter((p) => p.className === cls);
      assert.deepEqual(
        mine.map((p) => [p.line, p.title, p.command, p.args]),
        [[classLine(cls), `Profile exits of ${file}.onnx`, 'exitLens.profile', [onnx(file)]]],
      );
    }
    // Helper classes get nothing; nothing lies on the attention `heads` lines.
    assert.equal(plan.filter((p) => p.className === 'ConvBlock' || p.className === 'SelfAttention').length, 0);
    assert.deepEqual(at(lineIn('SelfAttention', 'self.heads = heads')), []);
    assert.deepEqual(at(lineIn('TinyTransformer', 'SelfAttention(d, heads=2)')), []);
    // No cross-tying: every lens's model is its class's model.
    for (const p of plan)
      assert.equal(p.model, result.classes.find((c) => c.name === p.className)?.model, `${p.className}: ${p.title}`);
    // By line.
    assert.deepEqual(
      plan.map((p) => p.line),
      [...plan.map((p) => p.line)].sort((a, b) => a - b),
    );
  });

  it('a head in two lists gets a lens on each line; a run with fewer exits than the model asks for a new profile', () => {
    const runs = new Map<string, LensRun | null>([
      [onnx('norm_heads'), { runId: 'nh/1', report: fakeReport(['exit_0', 'exit_1'], 0.2) }],
    ]);
    const plan = planLenses(result, runs, texts).filter((p) => p.className === 'NormHeads');
    const ln = lineIn('NormHeads', 'self.head_ln =');
    const hd = lineIn('NormHeads', 'self.heads =');
    assert.deepEqual(
      plan.filter((p) => p.line === ln).map((p) => p.title),
      [
        'exit_0 · acc 21.0%',
        'exit_1 · acc 22.0%',
        'exit_2 · not in the latest run of norm_heads.onnx (2 exits): profile again',
      ],
    );
    assert.equal(plan.filter((p) => p.line === hd).length, 3);
    assert.equal(plan.filter((p) => p.command === 'exitLens.profile').length, 2);
    // With the sites, the LayerNorms spelled one per line get a lens each on their own line;
    // the heads, all on one line, stay there.
    const bySite = planLenses(result, runs, texts, sites).filter((p) => p.className === 'NormHeads');
    const lnLines = [0, 1, 2].map((k) => lineIn('NormHeads', 'nn.LayerNorm(32),') + k);
    assert.deepEqual(
      bySite.filter((p) => p.line !== hd).map((p) => [p.line, p.title.slice(0, 6)]),
      [
        [lnLines[0], 'exit_0'],
        [lnLines[1], 'exit_1'],
        [lnLines[2], 'exit_2'],
      ],
    );
    assert.equal(bySite.filter((p) => p.line === hd).length, 3);
  });

  it('says on the class line which exits are not in the code and why, and marks guessed entries', () => {
    const lpf = result.classes.find((c) => c.name === 'ListPlusFinal')!;
    const edited: HeadsResult = {
      classes: [
        {
          ...lpf,
          exits: lpf.exits.filter((e) => e.exit !== 3).map((e) => ({ ...e, note: `${GUESSED} (index 0)` })),
          unmapped: [{ exit: 3, exitName: 'exit_3', reason: 'no named node feeds this exit alone' }],
        },
      ],
      unmapped: [],
    };
    const runs = new Map([[onnx('list_plus_final'), { runId: 'lpf/1', report: fakeReport(['a', 'b', 'c', 'd'], 0) }]]);
    const plan = planLenses(edited, runs, texts);
    const classLens = plan.filter((p) => p.line === classLine('ListPlusFinal'));
    assert.equal(classLens.length, 1);
    assert.equal(classLens[0].title, '⚠ exit 3 (exit_3) not found in the code: no named node feeds this exit alone');
    assert.equal(classLens[0].command, '');
    assert.match(classLens[0].tooltip, /exit-lens: exit_k/);
    const heads = plan.filter((p) => p.line === lineIn('ListPlusFinal', 'self.heads = nn.ModuleList'));
    assert.deepEqual(
      heads.map((p) => p.title),
      ['a · acc 1.0% · guessed from names', 'b · acc 2.0% · guessed from names', 'c · acc 3.0% · guessed from names'],
    );
  });

  it('several exits on one line keep their name and accuracy in the title, the rest in the tooltip', () => {
    const runs = new Map([[onnx('stacked'), { runId: 'st/1', report: fakeReport(['l0', 'l1', 'l2'], 0.3) }]]);
    const long: LensTexts = { exitTitle: (r, k) => `${texts.exitTitle(r, k)} · ${k}0% exit here · destructive 1.0%` };
    const plan = planLenses(result, runs, long, sites).filter((p) => p.className === 'Stacked');
    assert.deepEqual(
      plan.map((p) => p.title),
      ['l0 · acc 31.0%', 'l1 · acc 32.0%', 'l2 · acc 33.0%'],
    );
    assert.match(plan[1].tooltip, /^l1 · acc 32\.0% · 10% exit here · destructive 1\.0%\nstacked\.onnx, run of /);
    // A lone exit on its line keeps the whole text.
    const lpf = new Map([[onnx('list_plus_final'), { runId: 'l/1', report: fakeReport(['a', 'b', 'c', 'd'], 0) }]]);
    const final = planLenses(result, lpf, long, sites).find((p) => p.line === lineIn('ListPlusFinal', 'self.final ='));
    assert.equal(final?.title, 'd · acc 4.0% · 30% exit here · destructive 1.0%');
  });

  it('modelAtLine: the class at or above the line, else the first tied class', () => {
    assert.equal(modelAtLine(result, lineIn('Stacked', 'def forward')), onnx('stacked'));
    assert.equal(modelAtLine(result, classLine('NormHeads')), onnx('norm_heads'));
    assert.equal(modelAtLine(result, 0), onnx('separate_heads'));
    assert.equal(modelAtLine({ classes: [], unmapped: [] }, 3), null);
  });
});
