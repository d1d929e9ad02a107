/**
 * Exit-head finder and mapping: realistic PyTorch snippets (SDN, BranchyNet, DeeBERT, PABEE,
 * MSDNet, explicit `# exit-lens:` comments, the usual false positives) and the real
 * examples/sdn-digits/model.py. Snippets are arrays of lines, so the 0-based line numbers in
 * the `/* n *\/` margins are the ones asserted; each was checked by hand against the array.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { mapExitHeads } from '../../src/core/python/exitHeadMapping';
import { findExitHeads } from '../../src/core/python/exitHeads';
import { isExitHeadName, normaliseExitName } from '../../src/core/python/headNames';
import type { ExitHeadSite } from '../../src/core/python/headSites';
import {
  createPythonParser,
  nodeModulesParserWasm,
  PARSER_WASM_FILES,
  type PythonParser,
} from '../../src/core/python/pythonParser';

const ROOT = path.join(__dirname, '..', '..');

let parser: PythonParser;
before(async () => {
  // Why once: loading the two WebAssembly modules is the slow part; parsing is fast.
  parser = await createPythonParser(nodeModulesParserWasm(path.join(ROOT, 'node_modules')));
});

const py = (lines: string[]) => lines.join('\n');
/** The fields a test pins down, in a form that reads well in a failure message. */
const brief = (sites: ExitHeadSite[]) =>
  sites.map(
    (s) =>
      `${s.line}:${s.column} ${s.kind} ${s.name}${s.index !== undefined ? `[${s.index}]` : ''}${s.explicitExit !== undefined ? ` =${s.explicitExit}` : ''}`,
  );
const exits = (n: number, prefix = 'exit_') => Array.from({ length: n }, (_, k) => `${prefix}${k}`);
const site = (name: string, extra: Partial<ExitHeadSite> = {}): ExitHeadSite => ({
  kind: 'attribute',
  line: 0,
  column: 0,
  endLine: 0,
  endColumn: 0,
  name,
  owner: 'Net',
  ...extra,
});

describe('parser', () => {
  it('names the two WebAssembly files the build copies, and reuses one parser', async () => {
    assert.deepEqual(PARSER_WASM_FILES, ['web-tree-sitter.wasm', 'tree-sitter-python.wasm']);
    for (const f of PARSER_WASM_FILES)
      assert.ok(
        fs.existsSync(
          path.join(ROOT, 'node_modules', f === 'web-tree-sitter.wasm' ? 'web-tree-sitter' : 'tree-sitter-python', f),
        ),
      );
    assert.equal(await createPythonParser(nodeModulesParserWasm(path.join(ROOT, 'node_modules'))), parser);
  });

  it('loads from one folder holding both files (as dist/ does)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-wasm-'));
    try {
      const from = nodeModulesParserWasm(path.join(ROOT, 'node_modules'));
      fs.copyFileSync(from.runtime, path.join(dir, 'web-tree-sitter.wasm'));
      fs.copyFileSync(from.grammar, path.join(dir, 'tree-sitter-python.wasm'));
      const other = await createPythonParser(dir);
      assert.deepEqual(brief(findExitHeads(other, 'class A:\n    def __init__(self):\n        self.exit1 = H()\n')), [
        '2:8 attribute exit1',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with a clear error when a file is missing', async () => {
    await assert.rejects(createPythonParser(path.join(ROOT, 'no-such-dir')), /Cannot load the Python parser/);
  });
});

describe('findExitHeads', () => {
  it('finds the four ModuleList elements and the ExitHead class in examples/sdn-digits/model.py', () => {
    const source = fs.readFileSync(path.join(ROOT, 'examples', 'sdn-digits', 'model.py'), 'utf8');
    const sites = findExitHeads(parser, source);
    // Line 9 of the file (0-based 8) is `class ExitHead(nn.Module):`; lines 39-42 (38-41) the
    // elements of `self.exits = nn.ModuleList([`, indented by 12 spaces. `self.blocks` and the
    // `head(x)` use in forward are not heads; the docstring's "exit head" is a string.
    assert.deepEqual(brief(sites), [
      '8:0 class ExitHead',
      '38:12 list-element exits[0]',
      '39:12 list-element exits[1]',
      '40:12 list-element exits[2]',
      '41:12 list-element exits[3]',
    ]);
    assert.ok(sites.slice(1).every((s) => s.owner === 'SDNDigits' && s.endLine === s.line));
    const mapped = mapExitHeads(sites, exits(4));
    assert.deepEqual(
      mapped.map((m) => [m.rule, m.exitName]),
      [
        ['type', undefined],
        ['list-index', 'exit_0'],
        ['list-index', 'exit_1'],
        ['list-index', 'exit_2'],
        ['list-index', 'exit_3'],
      ],
    );
  });

  it('BranchyNet: exit1/exit2 branches and a final classifier, past the false positives', () => {
    const source = py([
      'import torch.nn as nn' /* 0 */,
      '' /* 1 */,
      '' /* 2 */,
      'class BranchyNet(nn.Module):' /* 3 */,
      '    """Side branches self.exit1 = nn.Linear(...) and self.exit2 leave early."""' /* 4 */,
      '    def __init__(self, classes=10):' /* 5 */,
      '        super().__init__()' /* 6 */,
      '        self.head_dim = 64' /* 7 */,
      '        self.num_heads = 8' /* 8 */,
      '        self.exit_threshold = 0.9' /* 9 */,
      '        self.heads_count = 2' /* 10 */,
      '        self.features = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())' /* 11 */,
      '        self.exit1 = nn.Sequential(' /* 12 */,
      '            nn.Flatten(), nn.Linear(16 * 30 * 30, classes))' /* 13 */,
      '        self.exit2: nn.Module = nn.Linear(32, classes)' /* 14 */,
      '        # self.exit3 = nn.Linear(64, classes)' /* 15 */,
      '        self.classifier = nn.Linear(64, classes)' /* 16 */,
      '' /* 17 */,
      '    def forward(self, x):' /* 18 */,
      '        head = x[0]' /* 19 */,
      '        exit1 = nn.Linear(2, 2)' /* 20 */,
      '        msg = "self.exit4 = nn.Linear(1, 2)  # exit-lens: exit_1"' /* 21 */,
      '        return self.exit1(x), self.exit2(x), self.classifier(x)' /* 22 */,
    ]);
    const sites = findExitHeads(parser, source);
    // BranchyNet's name says Branch, but a class holding several heads is a model, not a head type.
    assert.deepEqual(brief(sites), ['12:8 attribute exit1', '14:8 attribute exit2', '16:8 attribute classifier']);
    assert.equal(sites[0].endLine, 13);
    // Outputs exit_0..exit_2: the suffixes 1, 2 count the two early exits from 1; the one
    // unnumbered head is the final exit.
    const mapped = mapExitHeads(sites, exits(3));
    assert.deepEqual(
      mapped.map((m) => [m.site.name, m.rule, m.exitIndex]),
      [
        ['exit1', 'suffix', 0],
        ['exit2', 'suffix', 1],
        ['classifier', 'final', 2],
      ],
    );
  });

  it('SDN-style comprehensions and generators give one "many" site each', () => {
    const source = py([
      'class SDN(nn.Module):' /* 0 */,
      '    def __init__(self, chans=(16, 32, 64), classes=10):' /* 1 */,
      '        super().__init__()' /* 2 */,
      '        self.exits = nn.ModuleList([ExitHead(c, classes) for c in chans])' /* 3 */,
      '' /* 4 */,
      'class SDN2(nn.Module):' /* 5 */,
      '    def __init__(self, chans=(16, 32, 64), classes=10):' /* 6 */,
      '        self.heads = torch.nn.ModuleList(ExitHead(c, classes) for c in chans)' /* 7 */,
      '        self.ramps = ModuleList(ramps)' /* 8 */,
      '        self.branches = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))' /* 9 */,
    ]);
    assert.deepEqual(brief(findExitHeads(parser, source)), [
      '3:8 list-many exits',
      '7:8 list-many heads',
      '8:8 list-many ramps',
      // An nn.Sequential is one head made of layers, not a list of exits.
      '9:8 attribute branches',
    ]);
  });

  it('DeeBERT: the highway list is "many"; BertHighway is a head type and its classifier a part of it', () => {
    const source = py([
      'class BertHighway(nn.Module):' /* 0 */,
      '    r"""A module to provide a shortcut from (the output of one non-final BertLayer in' /* 1 */,
      '    BertEncoder) to (cross-entropy computation in BertForSequenceClassification)"""' /* 2 */,
      '    def __init__(self, config):' /* 3 */,
      '        super().__init__()' /* 4 */,
      '        self.pooler = BertPooler(config)' /* 5 */,
      '        self.dropout = nn.Dropout(config.hidden_dropout_prob)' /* 6 */,
      '        self.classifier = nn.Linear(config.hidden_size, config.num_labels)' /* 7 */,
      '' /* 8 */,
      '' /* 9 */,
      'class DeeBertEncoder(nn.Module):' /* 10 */,
      '    def __init__(self, config):' /* 11 */,
      '        super().__init__()' /* 12 */,
      '        self.output_attentions = config.output_attentions' /* 13 */,
      '        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])' /* 14 */,
      '        self.highway = nn.ModuleList([BertHighway(config) for _ in range(config.num_hidden_layers)])' /* 15 */,
      '        self.early_exit_entropy = [-1 for _ in range(config.num_hidden_layers)]' /* 16 */,
    ]);
    const sites = findExitHeads(parser, source);
    assert.deepEqual(brief(sites), ['0:0 class BertHighway', '15:8 list-many highway']);
    const mapped = mapExitHeads(sites, exits(12, 'highway_'));
    assert.equal(mapped[0].rule, 'type');
    assert.equal(mapped[1].rule, 'many');
    assert.deepEqual(
      mapped[1].exitIndices,
      Array.from({ length: 12 }, (_, k) => k),
    );
  });

  it('PABEE: self.classifiers over the layers is "many"', () => {
    const source = py([
      'class AlbertForSequenceClassificationWithPabee(AlbertPreTrainedModel):' /* 0 */,
      '    def __init__(self, config):' /* 1 */,
      '        super().__init__(config)' /* 2 */,
      '        self.num_labels = config.num_labels' /* 3 */,
      '        self.albert = AlbertModelWithPabee(config)' /* 4 */,
      '        self.dropout = nn.Dropout(config.classifier_dropout_prob)' /* 5 */,
      '        self.classifiers = nn.ModuleList(' /* 6 */,
      '            [nn.Linear(config.hidden_size, self.config.num_labels) for _ in range(config.num_hidden_layers)]' /* 7 */,
      '        )' /* 8 */,
      '' /* 9 */,
      '    def forward(self, x, layer):' /* 10 */,
      '        logits = self.classifiers[layer](self.dropout(x))' /* 11 */,
      '        return logits' /* 12 */,
    ]);
    assert.deepEqual(brief(findExitHeads(parser, source)), ['6:8 list-many classifiers']);
  });

  it('MSDNet: self.classifier.append(...) in a loop is "many"; appends outside loops are numbered', () => {
    const source = py([
      'class MSDNet(nn.Module):' /* 0 */,
      '    def __init__(self, args):' /* 1 */,
      '        super(MSDNet, self).__init__()' /* 2 */,
      '        self.blocks = nn.ModuleList()' /* 3 */,
      '        self.classifier = nn.ModuleList()' /* 4 */,
      '        self.nBlocks = args.nBlocks' /* 5 */,
      '        for i in range(self.nBlocks):' /* 6 */,
      '            m, nIn = self._build_block(nIn, args, i)' /* 7 */,
      '            self.blocks.append(m)' /* 8 */,
      "            if args.data.startswith('cifar100'):" /* 9 */,
      '                self.classifier.append(' /* 10 */,
      '                    self._build_classifier_cifar(nIn * args.grFactor[-1], 100))' /* 11 */,
      "            elif args.data == 'ImageNet':" /* 12 */,
      '                self.classifier.append(' /* 13 */,
      '                    self._build_classifier_imagenet(nIn * args.grFactor[-1], 1000))' /* 14 */,
      '' /* 15 */,
      'class TwoExits(nn.Module):' /* 16 */,
      '    def __init__(self):' /* 17 */,
      '        self.exits = nn.ModuleList()' /* 18 */,
      '        self.exits.append(Head(16))' /* 19 */,
      '        self.exits.append(Head(32))' /* 20 */,
      '        self.exits += [Head(64)]' /* 21 */,
    ]);
    const sites = findExitHeads(parser, source);
    // The empty declarations (lines 4, 18) are not sites: the appends are where heads are built.
    assert.deepEqual(brief(sites), [
      '10:16 list-many classifier',
      '13:16 list-many classifier',
      '19:8 list-element exits[0]',
      '20:8 list-element exits[1]',
      '21:23 list-element exits[2]',
    ]);
    const mapped = mapExitHeads(sites, exits(5));
    // The two alternatives of one list both stand for every exit of MSDNet.
    assert.deepEqual(
      mapped.slice(0, 2).map((m) => [m.rule, m.exitIndices]),
      [
        ['many', [0, 1, 2, 3, 4]],
        ['many', [0, 1, 2, 3, 4]],
      ],
    );
    assert.deepEqual(
      mapped.slice(2).map((m) => m.exitIndex),
      [0, 1, 2],
    );
  });

  it('an empty list filled elsewhere is one "many" site at its declaration', () => {
    const source = py([
      'class Net(nn.Module):' /* 0 */,
      '    def __init__(self):' /* 1 */,
      '        self.exits = nn.ModuleList()' /* 2 */,
      '        self._add_exits(self.exits)' /* 3 */,
    ]);
    assert.deepEqual(brief(findExitHeads(parser, source)), ['2:8 list-many exits']);
  });

  it('explicit # exit-lens: comments, trailing and standalone, win and mark lines heuristics miss', () => {
    const source = py([
      'class Net(nn.Module):' /* 0 */,
      '    def __init__(self):' /* 1 */,
      '        super().__init__()' /* 2 */,
      '        self.stage1 = nn.Linear(8, 10)  # exit-lens: exit_0' /* 3 */,
      '        # Exit-Lens: exit_1' /* 4 */,
      '        # (the middle one, two comment lines above its code)' /* 5 */,
      '' /* 6 */,
      '        self.fc_mid = nn.Linear(16, 10)' /* 7 */,
      '        self.exit9 = nn.Linear(32, 10)  # exit-lens: 2' /* 8 */,
      '        self.branch1 = nn.Conv2d(3, 8, 1)  # noqa  # exit-lens: ignore' /* 9 */,
      '        self.exits = nn.ModuleList([' /* 10 */,
      '            Head(4), Head(5),  # exit-lens: exit_3' /* 11 */,
      '        ])' /* 12 */,
      '        note = "# exit-lens: exit_1"' /* 13 */,
      '        out = build_final(' /* 14 */,
      '            64)  # exit-lens: final' /* 15 */,
    ]);
    const sites = findExitHeads(parser, source);
    assert.deepEqual(brief(sites), [
      '3:8 attribute stage1 =exit_0', // `stage1` says nothing; the comment marks it
      '7:8 attribute fc_mid =exit_1', // standalone comment: the next line with code
      '8:8 attribute exit9 =2', // the comment wins over the suffix 9
      // line 9: `ignore` drops the heuristic site; line 13's "comment" is a string
      '11:12 list-element exits[0] =exit_3', // the first head of its line takes the name
      '11:21 list-element exits[1]',
      '14:8 comment final =final', // trailing comment inside a statement spanning lines 14-15
    ]);
    const mapped = mapExitHeads(sites, [...exits(4), 'final']);
    assert.deepEqual(
      mapped.map((m) => [m.rule, m.exitIndex]),
      [
        ['explicit', 0],
        ['explicit', 1],
        ['explicit', 2],
        ['explicit', 3],
        ['unmapped', undefined], // exits[1] would be exit 1, which a comment names
        ['explicit', 4],
      ],
    );
    assert.match(mapped[4].note, /exit_1 is named explicitly for line 8/);
  });

  it('ignores the false positives', () => {
    const source = py([
      'class MultiHeadAttention(nn.Module):' /* 0 */,
      '    """self.exits = nn.ModuleList([Head()]) in a docstring"""' /* 1 */,
      '    def __init__(self, d, exit_layers, head):' /* 2 */,
      '        self.head_dim = d // 8' /* 3 */,
      '        self.num_heads = 8' /* 4 */,
      '        self.exit_threshold = 0.9' /* 5 */,
      '        self.heads_count = len(head)' /* 6 */,
      '        self.pruned_heads = set()' /* 7 */,
      '        self.attn_heads = nn.ModuleList([nn.Linear(d, d) for _ in range(8)])' /* 8 */,
      '        self.exit_layers = exit_layers' /* 9 */,
      '        self.exit_points = [2, 5, 8]' /* 10 */,
      '        self.head = None' /* 11 */,
      '        self.classifier_weights = nn.Parameter(torch.ones(3))' /* 12 */,
      '        exit1 = nn.Linear(d, 10)' /* 13 */,
      '        head = x[0]' /* 14 */,
      '' /* 15 */,
      '    def forward(self, x, k):' /* 16 */,
      '        y = self.exits[k](x)' /* 17 */,
      '        self.exits[k].weight.data.zero_()' /* 18 */,
      "        print('self.exit1 = nn.Linear(4, 2)')" /* 19 */,
      '        return y' /* 20 */,
      '' /* 21 */,
      'class ExitConfig:' /* 22 */,
      '    threshold = 0.9' /* 23 */,
    ]);
    assert.deepEqual(brief(findExitHeads(parser, source)), []);
  });

  it('reads attribute names as words', () => {
    for (const name of [
      'exit1',
      'exit_2',
      'early_exit',
      'head3',
      'classifier',
      'ramps',
      'heads',
      'exits',
      'classifiers',
      'branches',
      'highway',
      'exitHeads',
      'fc_final',
      'lm_head',
    ]) {
      assert.ok(isExitHeadName(name), name);
    }
    for (const name of [
      'head_dim',
      'num_heads',
      'exit_threshold',
      'heads_count',
      'attn_heads',
      'pruned_heads',
      'exit_logits',
      'pre_classifier',
      'features',
      'final_norm',
      'lookahead',
    ]) {
      assert.ok(!isExitHeadName(name), name);
    }
  });

  it('reports columns in UTF-16 code units, like VS Code', () => {
    const sites = findExitHeads(parser, 'class N:\n    def f(self):\n        s = "é😀"; self.exit1 = H()\n');
    assert.deepEqual(brief(sites), ['2:19 attribute exit1']);
  });

  it('handles an empty or broken file', () => {
    assert.deepEqual(findExitHeads(parser, ''), []);
    const sites = findExitHeads(parser, 'class N(nn.Module):\n    def __init__(self:\n        self.exit1 = H(\n');
    assert.ok(Array.isArray(sites));
  });
});

describe('mapExitHeads', () => {
  it('normalises names: exit_2 ~ exit2 ~ exits[2] ~ exits.2', () => {
    const keys = ['exit_2', 'exit2', 'exits[2]', 'exits.2', 'Exit2', 'EXITS_02'].map(normaliseExitName);
    assert.equal(new Set(keys).size, 1);
    assert.notEqual(normaliseExitName('exit_2'), normaliseExitName('exit_3'));
  });

  it('suffixes 1..E count from 1; 0..E-1 from 0', () => {
    const oneBased = mapExitHeads(
      ['head1', 'head2', 'head3'].map((n) => site(n)),
      exits(3),
    );
    assert.deepEqual(
      oneBased.map((m) => [m.rule, m.exitIndex]),
      [
        ['suffix', 0],
        ['suffix', 1],
        ['suffix', 2],
      ],
    );
    const zeroBased = mapExitHeads(
      ['exit0', 'exit1', 'exit2'].map((n) => site(n)),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(
      zeroBased.map((m) => m.exitIndex),
      [0, 1, 2],
    );
  });

  it('exact sets beat names: BranchyNet exit1, exit2 + classifier with outputs exit_0..exit_2', () => {
    const mapped = mapExitHeads([site('exit1'), site('exit2'), site('classifier')], exits(3));
    assert.deepEqual(
      mapped.map((m) => m.exitName),
      ['exit_0', 'exit_1', 'exit_2'],
    );
    // 0-based early exits with a final head: exit0, exit1 + head → 0, 1, 2.
    assert.deepEqual(
      mapExitHeads([site('exit0'), site('exit1'), site('head')], exits(3)).map((m) => m.exitIndex),
      [0, 1, 2],
    );
  });

  it('matches names when the suffixes alone say nothing', () => {
    const mapped = mapExitHeads(
      [site('head3'), site('head6'), site('early_exit')],
      ['head_3', 'head_6', 'early_exit', 'final'],
    );
    assert.deepEqual(
      mapped.map((m) => [m.rule, m.exitIndex]),
      [
        ['name', 0],
        ['name', 1],
        ['name', 2],
      ],
    );
    const sparse = mapExitHeads([site('head3'), site('head6')], exits(4));
    assert.deepEqual(
      sparse.map((m) => m.rule),
      ['unmapped', 'unmapped'],
    );
    assert.match(sparse[0].note, /suffixes 3, 6/);
  });

  it('a single unnumbered head is final only beside E-1 numbered heads', () => {
    const list = (n: number) => Array.from({ length: n }, (_, index) => site('exits', { kind: 'list-element', index }));
    assert.deepEqual(
      mapExitHeads([...list(3), site('fc_final')], exits(4)).map((m) => m.exitIndex),
      [0, 1, 2, 3],
    );
    const tooFew = mapExitHeads([...list(2), site('classifier')], exits(4));
    assert.equal(tooFew[2].rule, 'unmapped');
    const two = mapExitHeads([...list(2), site('classifier'), site('head')], exits(3));
    assert.deepEqual(
      two.slice(2).map((m) => m.rule),
      ['unmapped', 'unmapped'],
    );
    assert.match(two[2].note, /2 unnumbered heads/);
    assert.equal(mapExitHeads([site('classifier')], exits(3))[0].rule, 'unmapped');
  });

  it('a list of many heads takes every exit the others leave', () => {
    const mapped = mapExitHeads([site('exits', { kind: 'list-many' }), site('head')], exits(4));
    assert.deepEqual(
      mapped.map((m) => [m.rule, m.exitIndices]),
      [
        ['many', [0, 1, 2]],
        ['final', [3]],
      ],
    );
    const twoLists = mapExitHeads(
      [site('exits', { kind: 'list-many' }), site('ramps', { kind: 'list-many' })],
      exits(4),
    );
    assert.deepEqual(
      twoLists.map((m) => m.rule),
      ['unmapped', 'unmapped'],
    );
  });

  it('explicit comments and mappings win; unknown exits are reported', () => {
    const sites = [
      site('exit1', { explicitExit: 'exit_3' }),
      site('exit2'),
      site('exit3'),
      site('exit4'),
      site('ExitHead', { kind: 'class' }),
    ];
    const mapped = mapExitHeads(sites, exits(4));
    // Suffixes 1..4 give exit4 → exit 3, which the comment on exit1 names: the comment wins.
    assert.deepEqual(
      mapped.map((m) => [m.rule, m.exitIndex]),
      [
        ['explicit', 3],
        ['suffix', 1],
        ['suffix', 2],
        ['unmapped', undefined],
        ['type', undefined],
      ],
    );
    const host = mapExitHeads(
      [site('exits', { kind: 'list-element', index: 0 }), site('exits', { kind: 'list-element', index: 1 })],
      exits(3),
      { 'exits.1': 2, 'Net.exits[0]': 'exit_1' },
    );
    assert.deepEqual(
      host.map((m) => [m.rule, m.exitIndex]),
      [
        ['explicit', 1],
        ['explicit', 2],
      ],
    );
    const bad = mapExitHeads(
      [site('stage', { explicitExit: 'exit_9' }), site('stage2', { explicitExit: '7' })],
      exits(3),
    );
    assert.deepEqual(
      bad.map((m) => m.rule),
      ['unmapped', 'unmapped'],
    );
    assert.match(bad[0].note, /"exit_9" is not an exit of this model/);
    assert.match(bad[1].note, /out of range/);
  });

  it('maps each class on its own', () => {
    const sites = [
      site('exit1', { owner: 'A' }),
      site('exit2', { owner: 'A' }),
      site('exits', { owner: 'B', kind: 'list-many' }),
    ];
    const mapped = mapExitHeads(sites, exits(2));
    assert.deepEqual(
      mapped.map((m) => m.exitIndices),
      [[0], [1], [0, 1]],
    );
  });
});
