// Builds: the extension host, the engine's child process (dist/engine.js) and the analysis' worker thread (node, cjs;
// vscode and onnxruntime-node stay external), the CLI (node, cjs), and the webview (browser, esm).
// Flags: --watch rebuilds on change; --production minifies and drops source maps.
import * as esbuild from 'esbuild';
import console from 'node:console';
import * as fs from 'node:fs';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'info',
  legalComments: 'none',
};

const node = {
  ...common,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode', 'onnxruntime-node'],
};

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist' },
  { ...node, entryPoints: { engine: 'src/engine/engineProcess.ts' }, outdir: 'dist' },
  // Worker thread for the analysis' parallel record filling and sweeps (src/core/analysis/parallel.ts loads it from beside the bundle).
  { ...node, entryPoints: { analysisThread: 'src/core/analysis/analysisThread.ts' }, outdir: 'dist' },
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
];
if (fs.existsSync('webview/main.ts')) {
  builds.push({
    ...common,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
  });
}

/**
 * Watch mode: a change under src/ or webview/ (or to package.json) rebuilds every bundle, and each
 * rebuild is reported as one cycle for the editor's problem matcher (.vscode/tasks.json, "npm:
 * watch"): "[exit-lens watch] build started", one line per problem as `file:line:column:
 * error|warning: text` (a file in several bundles once), then "[exit-lens watch] build finished,
 * N errors". esbuild's own report, with code frames, still shows above each problem line.
 */
async function watchAll() {
  const contexts = await Promise.all(builds.map((b) => esbuild.context({ ...b, logLevel: 'warning' })));
  let running = false;
  let again = false;
  let pending = null;
  const cycle = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    console.log('[exit-lens watch] build started');
    const results = await Promise.allSettled(contexts.map((c) => c.rebuild()));
    const lines = new Set();
    let errors = 0;
    for (const r of results) {
      const { errors: e = [], warnings: w = [] } = r.status === 'fulfilled' ? r.value : r.reason;
      for (const [kind, list] of [
        ['error', e],
        ['warning', w],
      ]) {
        for (const m of list) {
          const at = m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}` : 'esbuild.mjs:1:1';
          const line = `${at}: ${kind}: ${m.text}`;
          if (lines.has(line)) continue;
          lines.add(line);
          if (kind === 'error') errors++;
          console.log(line);
        }
      }
    }
    if (fs.existsSync('dist/cli.js')) fs.chmodSync('dist/cli.js', 0o755);
    console.log(`[exit-lens watch] build finished, ${errors} errors`);
    running = false;
    if (again) {
      again = false;
      void cycle();
    }
  };
  await cycle();
  const changed = () => {
    clearTimeout(pending);
    pending = setTimeout(cycle, 100);
  };
  for (const dir of ['src', 'webview']) fs.watch(dir, { recursive: true }, changed);
  fs.watch('package.json', changed);
}

if (watch) {
  await watchAll();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  if (fs.existsSync('dist/cli.js')) fs.chmodSync('dist/cli.js', 0o755);
}

// The Python parser ships beside the bundles: web-tree-sitter's runtime and the Python grammar
// (src/core/python/pythonParser.ts loads both from dist/; PARSER_WASM_FILES names them).
{
  const path = await import('node:path');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const parserWasm = [
    require.resolve('web-tree-sitter/web-tree-sitter.wasm'),
    path.join(path.dirname(require.resolve('tree-sitter-python/package.json')), 'tree-sitter-python.wasm'),
  ];
  fs.mkdirSync('dist', { recursive: true });
  for (const file of parserWasm) fs.copyFileSync(file, path.join('dist', path.basename(file)));
}
