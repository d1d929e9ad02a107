// Builds the production bundles and packages a linux-x64 VSIX into .tmp/exit-lens-linux-x64.vsix.
//
// What goes in is decided by .vscodeignore (an allow-list): dist/ bundles and wasm, media/,
// package.json, README.md, LICENSE, the example the walkthrough opens (examples/sdn-digits: model, code
// and sample sets), and node_modules/onnxruntime-node (linux-x64 binaries only)
// with onnxruntime-common. onnxruntime-node is external to the esbuild bundles and is
// require()d at run time, so it must sit in node_modules/ beside dist/.
// After packaging, the archive is listed and checked, then unpacked to a temporary folder where
// onnxruntime-node is required from dist/ in a child Node process: the package is shown to
// load, not just to contain files.
//
// Usage: node scripts/package-vsix.mjs [--skip-build] [--out <file.vsix>]
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const target = 'linux-x64';

function fail(message) {
  console.error(`package-vsix: ${message}`);
  process.exit(1);
}

const outIndex = args.indexOf('--out');
if (outIndex >= 0 && !args[outIndex + 1]) fail('--out needs a file name');
const vsixPath = path.resolve(root, outIndex >= 0 ? args[outIndex + 1] : `.tmp/exit-lens-${target}.vsix`);

function run(command, commandArgs) {
  console.log(`> ${command} ${commandArgs.join(' ')}`);
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${commandArgs.join(' ')} exited with ${result.status ?? result.signal}`);
}

function formatBytes(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} kB`;
}

/** Lists the entries of a zip file with yauzl (a dependency of the extension already). */
async function listZip(file) {
  const yauzl = require('yauzl');
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries = [];
      zip.on('entry', (entry) => {
        entries.push({ name: entry.fileName, size: entry.uncompressedSize, compressed: entry.compressedSize });
        zip.readEntry();
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

// 1. Production build (minified, no source maps).
if (!args.includes('--skip-build')) run(process.execPath, ['esbuild.mjs', '--production']);
for (const bundle of ['extension.js', 'engine.js', 'cli.js']) {
  if (!fs.existsSync(path.join(root, 'dist', bundle))) fail(`dist/${bundle} is missing after the build`);
}
const ortBinary = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node';
if (!fs.existsSync(path.join(root, ortBinary))) fail(`${ortBinary} is missing: run npm ci first`);

// 2. Package with vsce's API. Dependencies are listed by npm (`npm list --production`) and
// filtered by .vscodeignore; no repository field and relative README links are accepted
// because the VSIX is not published to a marketplace from here.
fs.mkdirSync(path.dirname(vsixPath), { recursive: true });
const { createVSIX } = require('@vscode/vsce');
console.log(`> vsce package --target ${target} --out ${path.relative(root, vsixPath)}`);
try {
  await createVSIX({
    cwd: root,
    packagePath: vsixPath,
    target,
    dependencies: true,
    useYarn: false,
    allowMissingRepository: true,
    rewriteRelativeLinks: false,
    skipLicense: !fs.existsSync(path.join(root, 'LICENSE')),
  });
} catch (error) {
  fail(`vsce failed: ${error instanceof Error ? error.message : String(error)}`);
}

// 3. Check what went in. The example the walkthrough opens ships; the rest of examples/ does not.
const exampleFiles = ['model.onnx', 'model.py', 'test.npz', 'calib.npz'];
const entries = await listZip(vsixPath);
const names = new Set(entries.map((e) => e.name));
const required = [
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/dist/engine.js',
  'extension/dist/cli.js',
  'extension/node_modules/onnxruntime-node/package.json',
  'extension/node_modules/onnxruntime-node/dist/index.js',
  `extension/${ortBinary}`,
  'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
  'extension/node_modules/onnxruntime-common/package.json',
  'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
  'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
  ...exampleFiles.map((f) => `extension/examples/sdn-digits/${f}`),
];
for (const file of fs.readdirSync(path.join(root, 'dist'))) {
  if (file === 'webview.js' || file.endsWith('.wasm')) required.push(`extension/dist/${file}`);
}
const missing = required.filter((name) => !names.has(name));
if (![...names].some((n) => /^extension\/readme\.md$/i.test(n))) missing.push('extension/README.md');
if (missing.length) fail(`the VSIX lacks:\n  ${missing.join('\n  ')}`);

const forbidden = entries
  .map((e) => e.name)
  .filter(
    (n) =>
      /\/bin\/napi-v6\/(darwin|win32|linux\/arm64)\//.test(n) ||
      /\.map$/.test(n) ||
      /^extension\/(src|test|webview|docs|bench|scripts|\.tmp|\.e2e)\//.test(n) ||
      (/^extension\/examples\//.test(n) && !exampleFiles.some((f) => n === `extension/examples/sdn-digits/${f}`)) ||
      (/^extension\/node_modules\//.test(n) && !/^extension\/node_modules\/onnxruntime-(node|common)\//.test(n)),
  );
if (forbidden.length) fail(`the VSIX holds files it should not:\n  ${forbidden.slice(0, 20).join('\n  ')}`);

// 4. Unpack and load onnxruntime-node the way dist/engine.js does (require from dist/).
const unpacked = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-vsix-'));
try {
  const unzip = spawnSync('unzip', ['-q', vsixPath, 'extension/*', '-d', unpacked], { stdio: 'inherit' });
  if (unzip.error || unzip.status !== 0) {
    console.warn('package-vsix: unzip is not available; skipped the load check of onnxruntime-node');
  } else {
    const distDir = path.join(unpacked, 'extension', 'dist');
    const probe =
      "const ort = require(require.resolve('onnxruntime-node', { paths: [process.cwd()] }));" +
      "if (typeof ort.InferenceSession?.create !== 'function') throw new Error('no InferenceSession');" +
      "console.log('onnxruntime-node ' + ort.env.versions.node + ' loads from the unpacked VSIX');";
    const load = spawnSync(process.execPath, ['-e', probe], { cwd: distDir, stdio: 'inherit' });
    if (load.status !== 0) fail('onnxruntime-node does not load from the unpacked VSIX (see above)');
  }
} finally {
  fs.rmSync(unpacked, { recursive: true, force: true });
}

// 5. Summary.
const byArea = new Map();
for (const e of entries) {
  const parts = e.name.split('/');
  const inside = parts[0] === 'extension' ? parts.slice(1) : parts;
  const area =
    inside[0] === 'node_modules' ? inside.slice(0, 2).join('/') : inside.length > 1 ? `${inside[0]}/` : inside[0];
  const sum = byArea.get(area) ?? { files: 0, bytes: 0 };
  sum.files += 1;
  sum.bytes += e.size;
  byArea.set(area, sum);
}
console.log('\nContents (uncompressed):');
for (const [area, sum] of [...byArea].sort((a, b) => b[1].bytes - a[1].bytes)) {
  console.log(`  ${area.padEnd(48)} ${String(sum.files).padStart(4)} files  ${formatBytes(sum.bytes).padStart(9)}`);
}
const size = fs.statSync(vsixPath).size;
console.log(`\nVSIX: ${path.relative(root, vsixPath)} (${formatBytes(size)}, ${entries.length} entries)`);
