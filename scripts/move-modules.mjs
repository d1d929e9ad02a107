// Moves TypeScript modules and rewrites every relative import that reaches them, so that a move is
// one commit of renames that git's rename detection follows (other branches' edits rebase onto it).
// Usage: node scripts/move-modules.mjs src/old.ts=src/new/place.ts [more old=new ...] [--dry-run]
// Each move is a `git mv`; then every relative specifier (import/export ... from, import(),
// require()) in src/, webview/, test/, bench/ and scripts/ is resolved against the file's old
// place and written again relative to its new place, keeping the specifier's style (no extension,
// `.js`, or the real extension). Mentions of a moved path in comments and docs (`src/old.ts`) are
// rewritten too, in those folders and in the top-level Markdown, docs/ and the build files.
import { execFileSync } from 'node:child_process';
import console from 'node:console';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';

const ROOT = process.cwd();
const CODE_DIRS = ['src', 'webview', 'test', 'bench', 'scripts'];
const TEXT_EXTRA = [
  'docs',
  '.vscode',
  'README.md',
  'CONTRIBUTING.md',
  'CHANGELOG.md',
  'esbuild.mjs',
  'eslint.config.mjs',
  'package.json',
];
const CODE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;
const TEXT = /\.(ts|tsx|mts|cts|js|mjs|cjs|md|json|jsonc)$/;
const RESOLVE_EXT = ['.ts', '.tsx', '.mts', '.js', '.mjs', '.cjs', '.json'];
// import/export ... from '…', import('…'), require('…'): group 1 is the quote, group 2 the specifier.
const SPEC = /(\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]*|\.{1,2})\2/gm;

const args = process.argv.slice(2);
const dry = args.includes('--dry-run');
const moves = new Map(); // absolute old -> absolute new
for (const a of args.filter((x) => x !== '--dry-run')) {
  const [from, to] = a.split('=');
  if (!from || !to) throw new Error(`not old=new: ${a}`);
  const abs = path.resolve(ROOT, from);
  if (!fs.existsSync(abs)) throw new Error(`no such file: ${from}`);
  moves.set(abs, path.resolve(ROOT, to));
}
if (moves.size === 0) {
  console.error('usage: node scripts/move-modules.mjs old=new [...] [--dry-run]');
  process.exit(2);
}

function walk(p) {
  if (!fs.existsSync(p)) return [];
  const st = fs.statSync(p);
  if (st.isFile()) return [p];
  return fs
    .readdirSync(p, { withFileTypes: true })
    .flatMap((e) =>
      e.name === 'node_modules' || e.name === 'fixtures' || (e.name.startsWith('.') && e.name !== '.vscode')
        ? []
        : walk(path.join(p, e.name)),
    );
}

/** The file a specifier names, from a file at `fromFile` (paths as before the moves). */
function resolveSpec(fromFile, spec) {
  const base = path.resolve(path.dirname(fromFile), spec);
  const stripped = base.replace(/\.(js|mjs|cjs)$/, '');
  const candidates = [
    base,
    ...RESOLVE_EXT.map((e) => stripped + e),
    ...RESOLVE_EXT.map((e) => path.join(base, 'index' + e)),
  ];
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile()) ?? null;
}

/** The specifier for `target` from a file at `fromFile`, in the style of `oldSpec`. */
function specFor(fromFile, target, oldSpec, oldTarget) {
  let rel = path.relative(path.dirname(fromFile), target).split(path.sep).join('/');
  if (!rel.startsWith('.')) rel = './' + rel;
  const oldExt = path.extname(oldTarget);
  if (oldSpec.endsWith(path.basename(oldTarget))) return rel; // written with its real extension
  const noExt = rel.slice(0, rel.length - oldExt.length);
  if (/\.(js|mjs|cjs)$/.test(oldSpec) && !oldSpec.endsWith(oldExt))
    return noExt + oldSpec.slice(oldSpec.lastIndexOf('.'));
  if (/\/index$/.test(noExt) && !/index$/.test(oldSpec)) return noExt.slice(0, -'/index'.length);
  return noExt;
}

const codeFiles = CODE_DIRS.flatMap((d) => walk(path.join(ROOT, d))).filter((f) => CODE.test(f));
const rewrites = new Map(); // new absolute path -> new content
for (const file of codeFiles) {
  const text = fs.readFileSync(file, 'utf8');
  const newFile = moves.get(file) ?? file;
  const out = text.replace(SPEC, (whole, lead, quote, spec) => {
    const target = resolveSpec(file, spec);
    if (!target) return whole;
    const newTarget = moves.get(target) ?? target;
    if (newTarget === target && newFile === file) return whole;
    const next = specFor(newFile, newTarget, spec, target);
    return `${lead}${quote}${next}${quote}`;
  });
  if (out !== text) rewrites.set(newFile, out);
}

// Path mentions in comments and docs: `src/old.ts` (and the same without its extension).
const mentions = [...moves].map(([from, to]) => [path.relative(ROOT, from), path.relative(ROOT, to)]);
const textFiles = [...CODE_DIRS, ...TEXT_EXTRA].flatMap((d) => walk(path.join(ROOT, d))).filter((f) => TEXT.test(f));
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
for (const file of textFiles) {
  const newFile = moves.get(file) ?? file;
  const text = rewrites.get(newFile) ?? fs.readFileSync(file, 'utf8');
  let out = text;
  for (const [from, to] of mentions) {
    out = out.replace(new RegExp(`(?<![\\w/.-])${escape(from)}(?![\\w])`, 'g'), to);
  }
  if (out !== text) rewrites.set(newFile, out);
}

for (const [from, to] of moves) {
  console.log(`${path.relative(ROOT, from)} -> ${path.relative(ROOT, to)}`);
  if (dry) continue;
  fs.mkdirSync(path.dirname(to), { recursive: true });
  execFileSync('git', ['mv', from, to]);
}
for (const [file, text] of rewrites) {
  console.log(`  rewrote ${path.relative(ROOT, file)}`);
  if (!dry) fs.writeFileSync(file, text);
}
