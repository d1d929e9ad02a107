/**
 * The getting-started walkthrough (issue #15): each step's markdown exists and ships, each
 * `command:` link names a declared command, every declared command is registered, and the
 * example the first step opens is in the package.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

interface Step {
  id: string;
  title: string;
  description: string;
  media: { markdown?: string; image?: string; svg?: string };
  completionEvents?: string[];
}
const walkthroughs: { id: string; steps: Step[] }[] = pkg.contributes.walkthroughs;
const declared = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));

/** The commands a text links to: command:exitLens.profile, command:exitLens.x?args … */
function commandLinks(text: string): string[] {
  return [...text.matchAll(/command:([A-Za-z0-9_.-]+)/g)].map((m) => m[1]);
}

/** The `!` lines of .vscodeignore: what goes into the package. */
const shipped = fs
  .readFileSync(path.join(root, '.vscodeignore'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('!'))
  .map((l) => l.slice(1).trim());

describe('the getting-started walkthrough', () => {
  it('has steps whose markdown files exist, are small, and ship in the package', () => {
    const walkthrough = walkthroughs.find((w) => w.id === 'exitLens.gettingStarted');
    assert.ok(walkthrough, 'exitLens.gettingStarted is declared');
    assert.ok(walkthrough.steps.length >= 5);
    for (const w of walkthroughs) {
      for (const step of w.steps) {
        const markdown = step.media.markdown;
        assert.ok(markdown, `${step.id} has a markdown file`);
        const file = path.join(root, markdown);
        assert.ok(fs.statSync(file).isFile(), `${markdown} exists`);
        assert.ok(fs.statSync(file).size < 4096, `${markdown} stays small`);
        assert.ok(markdown.startsWith('media/') && shipped.includes('media/**'), `${markdown} ships`);
      }
    }
  });

  it('links only to declared commands, and completes on declared commands', () => {
    const linked: string[] = [];
    for (const w of walkthroughs) {
      for (const step of w.steps) {
        const links = commandLinks(step.description);
        const markdown = step.media.markdown && fs.readFileSync(path.join(root, step.media.markdown), 'utf8');
        if (markdown) links.push(...commandLinks(markdown));
        for (const c of links) assert.ok(declared.has(c), `${step.id} links to ${c}, which is declared`);
        for (const event of step.completionEvents ?? []) {
          const c = /^onCommand:(.+)$/.exec(event)?.[1];
          if (c) assert.ok(declared.has(c), `${step.id} completes on ${c}, which is declared`);
        }
        linked.push(...links);
      }
    }
    for (const c of ['exitLens.openExample', 'exitLens.profile', 'exitLens.checkGpu'])
      assert.ok(linked.includes(c), `the walkthrough links to ${c}`);
  });

  it('every declared command is registered by the extension', () => {
    const dir = path.join(root, 'src', 'extension');
    const source = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
      .join('\n');
    const registered = new Set(
      [...source.matchAll(/(?:registerCommand|\breg)\(\s*'(exitLens\.[A-Za-z]+)'/g)].map((m) => m[1]),
    );
    for (const c of declared) assert.ok(registered.has(c), `${c} is registered`);
  });

  it('ships the example that Open the Example copies', () => {
    for (const file of ['model.onnx', 'model.py', 'test.npz', 'calib.npz']) {
      const rel = `examples/sdn-digits/${file}`;
      assert.ok(shipped.includes(rel), `${rel} is in .vscodeignore's allow-list`);
      assert.ok(fs.statSync(path.join(root, rel)).size < 512 * 1024, `${rel} is small`);
    }
    const exampleSource = fs.readFileSync(path.join(root, 'src', 'extension', 'exampleCommands.ts'), 'utf8');
    assert.match(exampleSource, /EXAMPLE_FILES = \['model\.onnx', 'model\.py', 'test\.npz', 'calib\.npz'\]/);
  });
});
