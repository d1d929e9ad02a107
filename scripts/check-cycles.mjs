// Reports import cycles among the project's TypeScript sources (src/ and webview/): every relative
// import and re-export is followed, type-only ones included, and each cycle is printed once.
// Usage: node scripts/check-cycles.mjs; exits 1 when there is a cycle.
import console from 'node:console';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';

const ROOTS = ['src', 'webview'];
const SPEC = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function resolve(from, spec) {
  if (!spec.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), spec).replace(/\.js$/, '');
  for (const c of [base + '.ts', base + '.tsx', path.join(base, 'index.ts')]) {
    if (fs.existsSync(c)) return path.relative(process.cwd(), c);
  }
  return null;
}

const files = ROOTS.flatMap(sources);
const graph = new Map();
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  const deps = new Set();
  for (const m of text.matchAll(SPEC)) {
    const to = resolve(f, m[1] ?? m[2]);
    if (to) deps.add(to);
  }
  graph.set(f, [...deps]);
}

// Tarjan's strongly connected components: a component of more than one file is a cycle.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const on = new Set();
const components = [];
function visit(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) {
      low.set(v, Math.min(low.get(v), idx.get(w)));
    }
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(comp.sort());
  }
}
for (const f of graph.keys()) if (!idx.has(f)) visit(f);

console.log(`${files.length} files, ${[...graph.values()].reduce((n, d) => n + d.length, 0)} imports`);
if (components.length === 0) {
  console.log('no import cycles');
} else {
  for (const c of components) console.log(`cycle (${c.length} files): ${c.join(' <-> ')}`);
  process.exitCode = 1;
}
