/**
 * Exit Lens as a user drives it in a real VS Code (code-server + Chromium), installed from the
 * packaged linux-x64 VSIX: profile from the command palette, the report webview against the
 * CLI's JSON, the sidebar and the CodeLens on the Python model code, cancelling a long run,
 * a broken model, a window reload, and screenshots of every view in a dark, a light and a
 * high-contrast theme, with the report also in a narrow editor.
 * Needs `npm run e2e:install` once and `npm run package` before each run.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeNpz } from '../../bench/npzWriter';
import { main } from '../../src/cli/main';
import type { Report } from '../../src/core/analysis/analyze';
import { macs, pct } from '../../src/core/report/summary';
import { certifiedRule } from '../../src/shared/riskText';
import { latencyUnit, measuredCost, measuredSavingSentence, plusMinus } from '../../webview/costAxis';
import { ROOT, THEMES, VSIX, Workbench, retry } from './harness';
import {
  cpuSeconds,
  engineProcesses,
  hostileMarkers,
  hostileWorkspace,
  mappedLibraries,
  processArgs,
  processCwd,
  processRunning,
  processesMapping,
} from './processes';

const EXAMPLE = path.join(ROOT, 'examples', 'sdn-digits');

/** A large unlabelled .npy (the example's inputs repeated), so a run lasts long enough to cancel. */
function writeLargeNpy(file: string, rows: number): void {
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, 1, 8, 8), }`;
  let dict = header;
  while ((10 + dict.length + 1) % 64) dict += ' ';
  dict += '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  const row = Buffer.alloc(64 * 4);
  for (let i = 0; i < 64; i++) row.writeFloatLE(((i * 7) % 17) / 16, i * 4);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, Buffer.concat([head, Buffer.from(dict, 'latin1')]));
  const chunk = Buffer.concat(Array.from({ length: 4096 }, () => row));
  for (let n = 0; n < rows; n += 4096)
    fs.writeSync(fd, n + 4096 <= rows ? chunk : chunk.subarray(0, (rows - n) * row.length));
  fs.closeSync(fd);
}

/**
 * A .npy of `rows` all-zero samples for the example model, written as a sparse file (a header,
 * then a hole): gigabytes long at no cost, for a run that cannot end while a test works beside it.
 */
function writeSparseNpy(file: string, rows: number): void {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, 1, 8, 8), }`;
  while ((10 + dict.length + 1) % 64) dict += ' ';
  dict += '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  const header = Buffer.concat([head, Buffer.from(dict, 'latin1')]);
  fs.writeFileSync(file, header);
  fs.truncateSync(file, header.length + rows * 64 * 4);
}

/** Screenshots of the Python model code with its lenses beside the sidebar, then of the model viewer. */
async function shootCodeAndViewer(wb: Workbench, theme: string): Promise<void> {
  await wb.openFile('model.py');
  await wb.openActivity('Exit Lens');
  await wb.page
    .locator('.monaco-editor .codelens-decoration', { hasText: 'exit_0' })
    .first()
    .waitFor({ timeout: 30_000 });
  await wb.screenshot(`sidebar-codelens-${theme}`);
  await wb.openFile('model.onnx');
  await (await wb.webviewFrame({ title: 'model.onnx' })).locator('h1').waitFor();
  await wb.screenshot(`onnx-viewer-${theme}`);
  // The GPU check's result (the rendered read-only document) in this theme.
  await wb.runCommand('Exit Lens: Check GPU Setup');
  const check = await wb.webviewFrame({ title: 'Preview GPU setup' }, 60_000);
  await check.locator('table tbody tr').nth(2).waitFor({ timeout: 60_000 });
  await wb.screenshot(`gpu-check-${theme}`);
}

/** The report scrolled to its suggestions and thresholds with a guarantee, then back to the top. */
async function shootGuarantees(wb: Workbench, name: string): Promise<void> {
  const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' });
  await report.locator('.guarantees').evaluate((e) => e.closest('.card')!.scrollIntoView({ block: 'start' }));
  await wb.screenshot(name);
  await report.locator('body').evaluate(() => window.scrollTo(0, 0));
}

/** The sidebar view's webview (the report panel's tab title also starts with "Exit Lens"). */
async function sidebarFrame(wb: Workbench) {
  return retry('find the sidebar webview', 30_000, async () => {
    for (let index = 0; index < 4; index++) {
      const frame = await wb.webviewFrame({ title: 'Exit Lens', index }, 5_000).catch(() => null);
      if (frame && (await frame.locator('main.sidebar .acc-row').count()) > 0) return frame;
    }
    throw new Error('no sidebar webview with per-exit bars yet');
  });
}

/** Picks `label` in the quick pick titled `title` (waiting for it, so a closing palette is not typed into). */
async function pickIn(wb: Workbench, title: string, label: string): Promise<void> {
  await wb.page
    .locator('.quick-input-widget .quick-input-title', { hasText: title })
    .waitFor({ state: 'visible', timeout: 20_000 });
  await wb.page.locator('.quick-input-widget .quick-input-box input').fill(label);
  await wb.page
    .locator('.quick-input-widget .monaco-list-row.focused', { hasText: label })
    .waitFor({ timeout: 10_000 });
  await wb.page.keyboard.press('Enter');
}

/** Starts profiling model.onnx on a large set and waits until inference is under way; returns the progress toast. */
async function startLongRun(wb: Workbench, samples = 'large.npy', rows = 400_000) {
  await wb.runCommand('Notifications: Clear All Notifications');
  await retry('start a run on the large sample set', 90_000, async () => {
    await wb.openFile('model.onnx');
    await wb.runCommand('Exit Lens: Profile Model Exits with Another Sample Set…');
    try {
      await pickIn(wb, 'sample set for model.onnx', samples);
      await pickIn(wb, 'calibration set', 'No calibration set');
    } catch (err) {
      await wb.page.keyboard.press('Escape');
      throw err;
    }
  });
  const toast = wb.page.locator('.notification-toast', { hasText: 'Exit Lens: profiling model.onnx' });
  await toast.waitFor({ timeout: 60_000 });
  await retry('see inference progress', 60_000, async () => {
    if (!new RegExp(`inference \\d+/${rows}`).test(await toast.innerText())) throw new Error(await toast.innerText());
  });
  return toast;
}

/** The installed extension's folder. */
function installedExtension(wb: Workbench): string {
  const dir = fs.readdirSync(wb.extensionsDir).find((d) => d.startsWith('exit-lens.exit-lens-'));
  assert.ok(dir, 'the extension is installed');
  return fs.realpathSync(path.join(wb.extensionsDir, dir));
}

function storedRuns(runsDir: string): string[] {
  const base = path.join(runsDir, 'runs');
  if (!fs.existsSync(base)) return [];
  return fs.readdirSync(base).flatMap((d) =>
    fs
      .readdirSync(path.join(base, d))
      .filter((f) => f.endsWith('.run.json'))
      .map((f) => `${d}/${f}`),
  );
}

/** The latest stored run of `model` (its report), read from the runs folder. */
function latestRun(runsDir: string, model: string): { runId: string; report: Report } {
  const runs = storedRuns(runsDir)
    .map((f) => JSON.parse(fs.readFileSync(path.join(runsDir, 'runs', f), 'utf8')))
    .filter((r) => r.request?.modelPath === model)
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  assert.ok(runs.length, `a stored run of ${model}`);
  return { runId: runs[0].runId, report: runs[0].report };
}

/** A small labelled sample set for a heads fixture model: input `x` of `shape`, labels `y` in [0, classes). */
async function headsSamples(file: string, shape: number[], classes: number): Promise<void> {
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  await writeNpz(file, [
    {
      name: 'x',
      descr: '<f4',
      shape,
      fill: (out, row, rows) => {
        for (let i = 0; i < rows * per; i++) out[i] = Math.sin((row * per + i) * 0.37) * 0.8;
      },
    },
    {
      name: 'y',
      descr: '<i8',
      shape: [shape[0]],
      fill: (out, row, rows) => {
        for (let i = 0; i < rows; i++) out[i] = BigInt((row + i) % classes);
      },
    },
  ]);
}

/**
 * Runs `command` from the explorer's context menu of the workspace's top-level entry `name`,
 * until `done` sees it take effect (a menu clicked while it fades in may not act).
 */
async function explorerCommand(wb: Workbench, name: string, command: string, done: () => Promise<void>): Promise<void> {
  await wb.openActivity('Explorer');
  // Folders expanded by earlier tests could push the entry out of the (virtual) list.
  await wb.runCommand('Collapse Folders in Explorer');
  const row = wb.page
    .locator('.explorer-folders-view .monaco-list-row')
    .filter({ has: wb.page.locator('.label-name', { hasText: new RegExp(`^${name}$`) }) })
    .first();
  await retry(`run "${command}" on ${name} from the explorer`, 90_000, async () => {
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    await row.click({ button: 'right' });
    const item = wb.page.locator('.monaco-menu .action-item', { hasText: command }).first();
    try {
      await item.waitFor({ state: 'visible', timeout: 5_000 });
      await item.hover();
      await wb.page.waitForTimeout(300);
    } catch (err) {
      await wb.page.keyboard.press('Escape');
      throw err;
    }
    await item.click();
    await wb.page.mouse.move(0, 0);
    await retry(`see "${command}" on ${name} take effect`, 20_000, done);
  });
}

/** Puts the active editor's line `line` (1-based) in view with Go to Line. */
async function goToLine(wb: Workbench, line: number): Promise<void> {
  await wb.runCommand('Go to Line/Column...');
  const input = wb.page.locator('.quick-input-widget .quick-input-box input');
  await input.fill(`:${line}`);
  await wb.page.keyboard.press('Enter');
  await wb.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 });
}

/**
 * The CodeLenses over the active editor's visible lines: each lens's title and tooltip, and the
 * text of the line it stands above (a lens is drawn in the gap just over its line).
 */
async function visibleLenses(wb: Workbench): Promise<{ title: string; tooltip: string; line: string }[]> {
  return wb.page
    .locator('.editor-group-container.active .monaco-editor')
    .first()
    .evaluate((root) => {
      // No named function here: the test's compiler would wrap it in a helper the page lacks.
      const lines = [...root.querySelectorAll('.view-lines .view-line')].map((el) => ({
        top: el.getBoundingClientRect().top,
        text: (el.textContent ?? '').replace(/\u00a0/g, ' ').trim(),
      }));
      return [...root.querySelectorAll('.codelens-decoration')].flatMap((dec) => {
        const bottom = dec.getBoundingClientRect().bottom;
        const below = lines.filter((l) => l.top >= bottom - 3).sort((a, b) => a.top - b.top)[0];
        // One <a> (or a <span> with a tooltip, for a lens without a command) per lens; the "|" between are bare spans.
        return [...dec.querySelectorAll(':scope > a, :scope > span[title]')].map((el) => ({
          title: (el.textContent ?? '').replace(/\u00a0/g, ' ').trim(),
          tooltip: el.getAttribute('title') ?? '',
          line: below?.text ?? '',
        }));
      });
    });
}

/** An sRGB colour with alpha from a computed style: rgb(), rgba() or color(srgb …). */
function parseColour(css: string): [number, number, number, number] {
  const srgb = css.match(/^color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)(?: \/ ([\d.e-]+))?\)$/);
  if (srgb) return [+srgb[1] * 255, +srgb[2] * 255, +srgb[3] * 255, srgb[4] === undefined ? 1 : +srgb[4]];
  const rgb = css.match(/^rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)(?:[,/] ?([\d.]+))?\)$/);
  if (rgb) return [+rgb[1], +rgb[2], +rgb[3], rgb[4] === undefined ? 1 : +rgb[4]];
  throw new Error(`unparsed colour ${css}`);
}

/** WCAG 2 contrast of a text colour on a (translucent) background laid over the page's. */
function contrastOn(text: string, background: string, page: string): number {
  const [pr, pg, pb] = parseColour(page);
  const [br, bg, bb, ba] = parseColour(background);
  const over = [br * ba + pr * (1 - ba), bg * ba + pg * (1 - ba), bb * ba + pb * (1 - ba)];
  const luminance = (c: number[]) =>
    c
      .slice(0, 3)
      .map((v) => v / 255)
      .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
      .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const [hi, lo] = [luminance(parseColour(text)), luminance(over)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}

/** Each exit's legend swatch in the Tokens card meets WCAG AA (4.5:1) on the editor background. */
async function assertExitContrast(wb: Workbench, title: string, theme: string): Promise<void> {
  const report = await wb.webviewFrame({ title });
  await retry(`see the exit colours meet 4.5:1 in ${theme}`, 10_000, async () => {
    const styles = await report
      .locator('.token-legend .tok-x')
      .evaluateAll((els) =>
        els.map((e) => [
          getComputedStyle(e).color,
          getComputedStyle(e).backgroundColor,
          getComputedStyle(document.body).backgroundColor,
        ]),
      );
    const ratios = styles.map(([fg, bg, page]) => contrastOn(fg, bg, page));
    if (ratios.length < 2 || ratios.some((r) => !(r >= 4.5)))
      throw new Error(
        `exit contrasts in ${theme}: ${ratios.map((r) => r.toFixed(2)).join(', ')} (${JSON.stringify(styles)})`,
      );
  });
}

describe('Exit Lens in VS Code', () => {
  let workspace = '';
  let runsDir = '';
  let wb: Workbench;
  let cliReport: Report;

  before(async () => {
    if (!fs.existsSync(VSIX)) throw new Error(`${path.relative(ROOT, VSIX)} is missing: run npm run package first`);
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-e2e-'));
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-e2e-runs-'));
    for (const f of ['model.onnx', 'model.py', 'test.npz', 'calib.npz', 'test_logits.npz'])
      fs.copyFileSync(path.join(EXAMPLE, f), path.join(workspace, f));
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'truncated.onnx'), path.join(workspace, 'broken.onnx'));
    for (const f of ['batch_bound.onnx', 'batch_bound_samples.npz'])
      fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', f), path.join(workspace, f));
    writeLargeNpy(path.join(workspace, 'large.npy'), 400_000);
    // 4 million rows (1 GB, sparse): minutes at batch size 8, so it is still running whatever the UI steps beside it take.
    writeSparseNpy(path.join(workspace, 'huge.npy'), 4_000_000);
    // The team file, and settings and files that try to point Exit Lens at a workspace engine,
    // Node or ONNX Runtime library (none of which may ever be used).
    hostileWorkspace(workspace, {
      models: [
        { model: 'model.onnx', samples: 'test.npz', calib: 'calib.npz', sources: ['model.py'] },
        { model: 'broken.onnx', samples: 'test.npz' },
        { model: 'batch_bound.onnx', samples: 'batch_bound_samples.npz' },
      ],
    });
    // The CLI's figures for the same model and sets: what the views must show.
    const json = path.join(runsDir, 'cli.json');
    const code = await main(
      [
        'profile',
        path.join(workspace, 'model.onnx'),
        '--samples',
        path.join(workspace, 'test.npz'),
        '--calib',
        path.join(workspace, 'calib.npz'),
        '--ep',
        'cpu',
        '--json',
        json,
        '--quiet',
      ],
      { out: () => undefined, err: () => undefined, isTTY: false },
    );
    assert.equal(code, 0);
    cliReport = JSON.parse(fs.readFileSync(json, 'utf8'));
    fs.rmSync(json);
    wb = await Workbench.launch({
      name: 'vscode',
      workspace,
      vsix: VSIX,
      theme: THEMES.dark,
      // Small batches make the long run slow enough to cancel on any machine.
      settings: {
        'exitLens.runsFolder': runsDir,
        'exitLens.executionProviders': ['cuda', 'cpu'],
        'exitLens.batchSize': 8,
        'editor.codeLens': true,
      },
    });
  });

  after(async () => {
    await wb?.stop();
    if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
    if (runsDir) fs.rmSync(runsDir, { recursive: true, force: true });
  });

  test("Profile Model Exits from the command palette: the report shows the CLI's per-exit accuracies", async () => {
    await wb.openFile('model.onnx');
    // A trusted workspace offers Profile in the editor title of an .onnx file (Restricted Mode does not: trust.e2e.ts).
    await wb.page
      .locator('.editor-actions .action-label[aria-label*="Profile Model Exits"]')
      .first()
      .waitFor({ timeout: 30_000 });
    await (await wb.webviewFrame({ title: 'model.onnx' })).locator('h1').waitFor({ timeout: 60_000 });
    await wb.screenshot('onnx-viewer-dark');
    await wb.runCommand('Exit Lens: Profile Model Exits');
    const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' }, 120_000);
    const rows = report.locator('#section-exits table.data tbody tr');
    await rows.first().waitFor({ timeout: 120_000 });
    assert.equal(await rows.count(), cliReport.exitCount);
    for (let k = 0; k < cliReport.exitCount; k++) {
      const cells = await rows.nth(k).locator('td').allInnerTexts();
      assert.equal(cells[1], cliReport.exits[k].name);
      assert.equal(cells[2], pct(cliReport.exits[k].accuracy, 2), `exit ${k} accuracy`);
      assert.equal(cells[6], macs(cliReport.exits[k].macs), `exit ${k} MACs`);
    }
    // The header says which provider ran, at what precision, and that the CUDA asked for (the
    // setting names it) was not usable; its tooltip gives the reason and the next step.
    const meta = await report.locator('.meta').innerText();
    assert.match(meta, /CPU · fp32 \(fallback: CUDA not usable\)/);
    const why = await report.locator('.meta-item', { hasText: 'Provider' }).getAttribute('title');
    assert.match(why ?? '', /CUDA: the CUDA provider library libonnxruntime_providers_cuda\.so is not installed/);
    assert.match(why ?? '', /Set Up GPU \(CUDA\)/);
    assert.equal(storedRuns(runsDir).length, 1);
    // The status bar names the provider.
    await wb.page.locator('.statusbar-item', { hasText: 'Exit Lens: CPU' }).waitFor({ timeout: 10_000 });
    await report.locator('.chart').first().waitFor();
    await wb.screenshot('report-dark');
    // Under the suggestions: each policy's certified threshold, or "none certified".
    const guarantees = report.locator('table.guarantee-table tbody tr');
    await guarantees.first().scrollIntoViewIfNeeded();
    assert.equal(await guarantees.count(), 4);
    for (const g of cliReport.guarantees!) {
      const row = report.locator(`table.guarantee-table tr[data-policy="${g.policy}"]`);
      assert.ok(await row.isVisible(), `the ${g.policy} guarantee row is visible`);
      const cells = await row.locator('td').allInnerTexts();
      assert.equal(cells[1], g.threshold === null ? 'none certified — full model' : certifiedRule(g), g.policy);
    }
    await shootGuarantees(wb, 'report-guarantees-dark');
  });

  test('Check GPU Setup: each provider with why it cannot run here and the next step', async () => {
    await wb.runCommand('Exit Lens: Check GPU Setup');
    await wb.waitForNotification(/profiles run on CPU/, 90_000);
    // The result opens rendered (the Markdown preview of a read-only document).
    const preview = await wb.webviewFrame({ title: 'Preview GPU setup' }, 60_000);
    await preview.locator('h1', { hasText: 'Exit Lens: GPU setup' }).waitFor({ timeout: 30_000 });
    const rows = (await preview.locator('table tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim());
    // This machine: no CUDA provider installed, no usable Vulkan, the CPU works.
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.match(
      rows[0],
      /^CUDA no the CUDA provider library libonnxruntime_providers_cuda\.so is not installed .* Set Up GPU \(CUDA\)/,
    );
    assert.match(
      rows[1],
      /^WebGPU no the Vulkan loader libvulkan\.so\.1 is not installed|^WebGPU no no GPU driver with Vulkan support/,
    );
    assert.match(rows[2], /^CPU yes/);
    assert.match(await preview.locator('body').innerText(), /a profile runs on CPU/);
    await wb.screenshot('gpu-check-dark');
    // The provider picker says per provider whether it may run here.
    await wb.runCommand('Exit Lens: Choose Execution Provider');
    const picker = wb.page.locator('.quick-input-widget');
    const webgpuRow = picker.locator('.monaco-list-row[aria-label^="WebGPU, then CPU"]');
    await webgpuRow.waitFor({ timeout: 30_000 });
    assert.match(
      (await webgpuRow.getAttribute('aria-label')) ?? '',
      /^WebGPU, then CPU, any GPU .*not usable here: (the Vulkan loader|no GPU driver)/,
    );
    await wb.screenshot('provider-picker-dark');
    await wb.page.keyboard.press('Escape');
  });

  test('workspace settings and files do not change what the engine runs or loads', async () => {
    const extension = installedExtension(wb);
    const engines = engineProcesses(wb.extensionsDir);
    assert.equal(engines.length, 1, 'the engine of the first profile');
    const args = processArgs(engines[0])!;
    // The editor's own runtime running the extension's own engine script, from the extension's folder.
    assert.equal(fs.realpathSync(args[args.length - 1]), path.join(extension, 'dist', 'engine.js'));
    assert.ok(!args.some((a) => a.includes(workspace)), `engine arguments: ${args.join(' ')}`);
    assert.ok(!fs.realpathSync(`/proc/${engines[0]}/exe`).startsWith(fs.realpathSync(workspace)));
    assert.equal(fs.realpathSync(processCwd(engines[0])!), extension);
    // ONNX Runtime (the binding and libonnxruntime) was loaded from the extension's node_modules only.
    const ort = mappedLibraries(engines[0], 'onnxruntime');
    assert.ok(
      ort.some((f) => f.endsWith('libonnxruntime.so.1')),
      `mapped: ${ort.join(', ')}`,
    );
    for (const f of ort) assert.ok(fs.realpathSync(f).startsWith(`${extension}/`), `${f} is not the extension's`);
    assert.deepEqual(processesMapping(workspace, ''), [], 'no process has a workspace file mapped');
    assert.deepEqual(hostileMarkers(workspace), [], 'no workspace engine, Node or onnxruntime-node was run');
  });

  test('the Python model code: CodeLens on each exit head and the sidebar summary', async () => {
    await wb.openFile('model.py');
    const lenses = wb.page.locator('.monaco-editor .codelens-decoration');
    await retry('see the exit-head lenses', 60_000, async () => {
      const texts = await lenses.allInnerTexts();
      if (!texts.some((t) => t.startsWith('exit_0 · acc'))) throw new Error(`lenses now: ${JSON.stringify(texts)}`);
    });
    const texts = (await lenses.allInnerTexts()).map((t) => t.trim());
    for (let k = 0; k < cliReport.exitCount; k++) {
      const e = cliReport.exits[k];
      const lens = texts.find((t) => t.startsWith(`${e.name} · `));
      assert.ok(lens, `no lens for ${e.name} in ${JSON.stringify(texts)}`);
      assert.ok(lens.includes(`acc ${pct(e.accuracy, 1)}`), `${lens} should show acc ${pct(e.accuracy, 1)}`);
      if (k < cliReport.exitCount - 1) {
        const conf = cliReport.suggestions.find((s) => s.policy === 'confidence')!;
        const share = conf.test.exitHistogram[k] / conf.test.sampleCount;
        assert.ok(
          lens.includes(`${pct(share, 0)} exit here at suggested conf ≥ ${(conf.threshold as number).toFixed(2)}`),
          `${lens}`,
        );
      }
    }
    // The tooltip names the certified confidence threshold beside the suggested one.
    const certified = cliReport.guarantees!.find((g) => g.policy === 'confidence')!;
    const tips = await lenses.locator('a[title]').evaluateAll((as) => as.map((a) => a.getAttribute('title') ?? ''));
    assert.ok(
      tips.some((t) => t.includes(`${certifiedRule(certified)} (ε 5%, δ 10%)`)),
      `lens tooltips: ${JSON.stringify(tips)}`,
    );
    await wb.openActivity('Exit Lens');
    const side = await sidebarFrame(wb);
    // The view follows the active editor (model.py, tied to model.onnx), after a short debounce.
    await retry('see the sidebar follow model.py', 30_000, async () => {
      const heading = await side.locator('h2').first().innerText();
      if (heading !== 'model.onnx') throw new Error(`sidebar heading: ${heading}`);
    });
    const values = await side.locator('.acc-value').allInnerTexts();
    assert.deepEqual(
      values,
      cliReport.exits.map((e) => pct(e.accuracy, 1)),
    );
    assert.match(await side.locator('.side-head .note').innerText(), /model\.py/);
    assert.match(
      await side.locator('.run').innerText(),
      /Suggested \(calibration target\): .*\n.*Guaranteed \(ε 5%, δ 10%\): /,
    );
    await wb.screenshot('sidebar-codelens-dark');
  });

  test('a long run can be cancelled: nothing is stored, the UI is idle again and one idle engine is left', async () => {
    const before = storedRuns(runsDir);
    const toast = await startLongRun(wb);
    const engines = engineProcesses(wb.extensionsDir);
    assert.equal(engines.length, 1, 'one engine runs the long run');
    await toast.hover();
    await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
    await wb.waitForNotification(/cancelled; nothing was stored/, 30_000);
    assert.deepEqual(storedRuns(runsDir), before);
    // The status bar item is back from "Exit Lens: model.onnx 12%" with a spinner to idle.
    await retry('see the status bar idle again', 30_000, async () => {
      const items = await wb.page.locator('.statusbar-item', { hasText: 'Exit Lens' }).allInnerTexts();
      if (items.length !== 1 || /%/.test(items[0])) throw new Error(`status bar: ${JSON.stringify(items)}`);
    });
    assert.equal(
      await wb.page.locator('.statusbar-item .codicon-modifier-spin').count(),
      0,
      'no spinner left in the status bar',
    );
    // The engine stopped the run and waits, idle, for the next one: still the one process, using no CPU.
    assert.deepEqual(engineProcesses(wb.extensionsDir), engines);
    await retry('see the engine idle', 30_000, async () => {
      const cpu0 = cpuSeconds(engines[0]);
      await new Promise((r) => setTimeout(r, 2_000));
      const used = cpuSeconds(engines[0]) - cpu0;
      if (used > 0.5) throw new Error(`the engine used ${used.toFixed(2)} CPU s in 2 s`);
    });
  });

  test('while a run is under way a second profile is refused, for the same model or another, and the refusal can cancel the run', async () => {
    const before = storedRuns(runsDir);
    await startLongRun(wb, 'huge.npy', 4_000_000);
    const engines = engineProcesses(wb.extensionsDir);
    assert.equal(engines.length, 1);
    await wb.runCommand('Exit Lens: Profile Model Exits');
    await wb.waitForNotification(
      /already profiling model\.onnx, so model\.onnx was not started: one run at a time keeps results apart/,
      30_000,
    );
    await wb.openFile('batch_bound.onnx');
    await wb.runCommand('Exit Lens: Profile Model Exits');
    await wb.waitForNotification(/already profiling model\.onnx, so batch_bound\.onnx was not started/, 30_000);
    assert.deepEqual(engineProcesses(wb.extensionsDir), engines, 'no second engine was started');
    const refusal = wb.page.locator('.notification-toast', { hasText: 'so batch_bound.onnx was not started' });
    await refusal.hover();
    await refusal.locator('.monaco-button', { hasText: 'Cancel That Run' }).click();
    await wb.waitForNotification(/the run of model\.onnx was cancelled; nothing was stored/, 30_000);
    assert.deepEqual(storedRuns(runsDir), before, 'neither the long run nor a refused one stored anything');
    assert.deepEqual(engineProcesses(wb.extensionsDir), engines);
  });

  test('a killed engine process is reported, earlier runs are kept, and the next profile works', async () => {
    const before = storedRuns(runsDir);
    await startLongRun(wb);
    const engines = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(wb.extensionsDir) && l.includes('dist/engine.js'))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
    assert.equal(engines.length, 1, `one engine process expected, found ${engines.length}`);
    process.kill(engines[0], 'SIGKILL');
    const text = await wb.waitForNotification(/engine was killed by SIGKILL/, 30_000);
    assert.match(text, /earlier reports are untouched/);
    assert.deepEqual(storedRuns(runsDir), before);
    // The killed engine is gone (reaped, not a zombie) and no other engine was left or started.
    assert.equal(processRunning(engines[0]), false, `engine ${engines[0]} is still there`);
    assert.equal(fs.existsSync(`/proc/${engines[0]}`), false, `engine ${engines[0]} was not reaped`);
    assert.deepEqual(engineProcesses(wb.extensionsDir), []);
    // The next profile starts a new engine and works.
    await wb.runCommand('Exit Lens: Profile Model Exits');
    await retry('see a new run stored', 120_000, async () => {
      if (storedRuns(runsDir).length !== before.length + 1) throw new Error(`runs: ${storedRuns(runsDir).length}`);
    });
    const after = engineProcesses(wb.extensionsDir);
    assert.equal(after.length, 1, 'one new engine');
    assert.notEqual(after[0], engines[0]);
  });

  test('a broken model gets a clear error message', async () => {
    await wb.runCommand('Notifications: Clear All Notifications');
    await wb.openFile('broken.onnx');
    await wb.runCommand('Exit Lens: Profile Model Exits');
    const text = await wb.waitForNotification(
      /Exit Lens:.*(not a readable ONNX model|truncated|does not hold an ONNX graph)/,
      90_000,
    );
    assert.match(text, /broken\.onnx/);
  });

  test('a model whose shapes break at its second batch: the samples and the node named, earlier runs kept, the next profile works', async () => {
    await wb.runCommand('Notifications: Clear All Notifications');
    const before = storedRuns(runsDir);
    assert.ok(before.length > 0);
    // exitLens.batchSize is 8 here: batch_bound.onnx runs samples 0..7 and fails on 8..11 (see make_fixtures.py).
    await wb.openFile('batch_bound.onnx');
    await wb.runCommand('Exit Lens: Profile Model Exits');
    const text = await wb.waitForNotification(/ONNX Runtime failed on samples/, 90_000);
    assert.match(text, /samples 8\.\.11 \(batch 2, 4 samples; the batches before it had 8 and ran\): Add node "\/Add"/);
    assert.deepEqual(storedRuns(runsDir), before, 'nothing stored, nothing removed');
    // The engine survived the failure: the next profile runs in it and is stored.
    const engines = engineProcesses(wb.extensionsDir);
    assert.equal(engines.length, 1);
    await wb.openFile('model.onnx');
    await wb.runCommand('Exit Lens: Profile Model Exits');
    await retry('see a new run stored', 120_000, async () => {
      if (storedRuns(runsDir).length !== before.length + 1) throw new Error(`runs: ${storedRuns(runsDir).length}`);
    });
    assert.deepEqual(engineProcesses(wb.extensionsDir), engines);
    for (const run of before) assert.ok(storedRuns(runsDir).includes(run), `${run} was kept`);
  });

  test('the report panel comes back after a window reload', async () => {
    // Toasts left by earlier tests can take the focus from a quick pick: clear them first.
    await wb.runCommand('Notifications: Clear All Notifications');
    await retry('open the latest report from the command palette', 90_000, async () => {
      await wb.runCommand('Exit Lens: Open Report');
      await wb.page
        .locator('.quick-input-widget .quick-input-title', { hasText: 'open report' })
        .waitFor({ state: 'visible', timeout: 10_000 });
      await wb.page
        .locator('.quick-input-widget .monaco-list-row.focused')
        .waitFor({ state: 'visible', timeout: 10_000 });
      await wb.page.keyboard.press('Enter');
      const frame = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' }, 15_000);
      await frame.locator('#section-exits table.data tbody tr').first().waitFor({ timeout: 15_000 });
    });
    await wb.reload();
    const again = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' }, 120_000);
    await again.locator('#section-exits table.data tbody tr').first().waitFor({ timeout: 60_000 });
    assert.equal(await again.locator('#section-exits table.data tbody tr').count(), cliReport.exitCount);
  });

  test('every view in a light theme', async () => {
    await wb.setTheme(THEMES.light);
    const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' });
    await report.locator('.chart').first().waitFor();
    await wb.screenshot('report-light');
    await shootGuarantees(wb, 'report-guarantees-light');
    await shootCodeAndViewer(wb, 'light');
  });

  test('the report fits a narrow editor, and every view in a high-contrast theme', async () => {
    const overflow = async () =>
      (await wb.webviewFrame({ title: 'Exit Lens: model.onnx' })).locator('body').evaluate(() => {
        // Wide tables may scroll inside their own box; the page itself must not scroll sideways.
        const root = document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
    // Each chart is redrawn for its box's new width (not scaled), once the resize settles.
    const chartsRedrawn = (what: string) =>
      retry(`see the report's charts redrawn ${what}`, 30_000, async () => {
        const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' });
        const charts = await report.locator('body').evaluate(() =>
          [...document.querySelectorAll('svg.chart')]
            .filter((svg) => svg.getBoundingClientRect().width > 0)
            .map((svg) => ({
              drawn: Number(svg.getAttribute('width')),
              box: Math.max(220, svg.parentElement!.clientWidth),
            })),
        );
        if (charts.length < 3) throw new Error(`${charts.length} charts drawn`);
        const off = charts.filter((c) => Math.abs(c.drawn - c.box) > 1);
        if (off.length) throw new Error(`charts drawn for another width: ${JSON.stringify(off)}`);
      });
    // A 900-pixel window leaves the report's editor about 580 pixels wide.
    await wb.page.setViewportSize({ width: 900, height: 1000 });
    try {
      const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' });
      await retry('see the report laid out for the narrow editor', 30_000, async () => {
        const width = await report.locator('body').evaluate(() => document.documentElement.clientWidth);
        if (width > 700) throw new Error(`the report is still ${width} px wide`);
      });
      await chartsRedrawn('for the narrow editor');
      assert.ok((await overflow()) <= 1, `the narrow report scrolls sideways by ${await overflow()} px`);
      await wb.screenshot('report-narrow-light');
      await shootGuarantees(wb, 'report-guarantees-narrow-light');
      await wb.setTheme(THEMES.highContrast);
      assert.ok((await overflow()) <= 1, `the narrow report scrolls sideways by ${await overflow()} px`);
      await wb.screenshot('report-narrow-hc');
      await shootGuarantees(wb, 'report-guarantees-narrow-hc');
    } finally {
      await wb.page.setViewportSize({ width: 1600, height: 1000 });
    }
    await chartsRedrawn('for the full-width editor');
    await wb.screenshot('report-hc');
    await shootGuarantees(wb, 'report-guarantees-hc');
    await shootCodeAndViewer(wb, 'hc');
  });

  test("a file of several models: each class's lenses show its own model's figures on its own lines", async () => {
    // test/fixtures/heads: five models in one models.py and their exports; two get profiled.
    const dir = path.join(workspace, 'heads');
    fs.mkdirSync(dir, { recursive: true });
    const files = ['separate_heads', 'list_plus_final', 'stacked', 'norm_heads', 'tiny_transformer'];
    for (const f of ['models.py', ...files.map((n) => `${n}.onnx`)])
      fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'heads', f), path.join(dir, f));
    await headsSamples(path.join(dir, 'lpf.npz'), [48, 1, 6, 6], 10);
    await headsSamples(path.join(dir, 'stacked.npz'), [48, 12], 4);
    // Their sample sets in the team file (no "sources": the graph ties the classes).
    const teamFile = path.join(workspace, '.vscode', 'exit-lens.json');
    const team = JSON.parse(fs.readFileSync(teamFile, 'utf8'));
    team.models.push(
      { model: 'heads/list_plus_final.onnx', samples: 'heads/lpf.npz' },
      { model: 'heads/stacked.onnx', samples: 'heads/stacked.npz' },
    );
    fs.writeFileSync(teamFile, JSON.stringify(team, null, 2));
    for (const name of ['list_plus_final', 'stacked']) {
      await wb.runCommand('Notifications: Clear All Notifications');
      const before = storedRuns(runsDir).length;
      await wb.openFile(`heads/${name}.onnx`);
      await wb.runCommand('Exit Lens: Profile Model Exits');
      await retry(`see a run of ${name}.onnx stored`, 120_000, async () => {
        if (storedRuns(runsDir).length !== before + 1) throw new Error(`runs: ${storedRuns(runsDir).length}`);
      });
    }
    const lpf = latestRun(runsDir, path.join(dir, 'list_plus_final.onnx'));
    const stacked = latestRun(runsDir, path.join(dir, 'stacked.onnx'));
    const title = (r: Report, k: number) => `${r.exits[k].name} · acc ${pct(r.exits[k].accuracy, 1)}`;

    await wb.setTheme(THEMES.dark);
    await wb.openFile('heads/models.py');
    const source = fs.readFileSync(path.join(dir, 'models.py'), 'utf8').split('\n');
    const lineOf = (text: string) => source.findIndex((l) => l.includes(text)) + 1;
    // All lenses, class by class, keyed by the text of their line.
    const seen = new Map<string, { title: string; tooltip: string; line: string }>();
    const collect = async (cls: string, until: (all: typeof seen) => boolean) => {
      await goToLine(wb, lineOf(`class ${cls}(`));
      await retry(`see the lenses of ${cls}`, 60_000, async () => {
        for (const l of await visibleLenses(wb)) seen.set(`${l.line}|${l.title}`, l);
        if (!until(seen)) throw new Error(`lenses now: ${JSON.stringify([...seen.keys()])}`);
      });
    };
    const on = (text: string) => [...seen.values()].filter((l) => l.line.includes(text));
    await collect('ListPlusFinal', () => on('self.final = nn.Linear(8, classes)').length > 0);
    // ListPlusFinal: exits 0-2 on its ModuleList line, the final exit on `self.final =`, its own figures.
    assert.deepEqual(
      on('self.heads = nn.ModuleList([nn.Linear(8, classes)').map((l) => l.title.split(' · ').slice(0, 2).join(' · ')),
      [0, 1, 2].map((k) => title(lpf.report, k)),
    );
    const final = on('self.final = nn.Linear(8, classes)');
    assert.equal(final.length, 1);
    assert.ok(final[0].title.startsWith(`${title(lpf.report, 3)} · final exit`), final[0].title);
    assert.match(final[0].tooltip, /^list_plus_final\.onnx, run of /);
    await collect('Stacked', () => on('nn.Linear(24, classes)').length > 0);
    // Stacked: its own exits and figures on its own ModuleList line.
    assert.deepEqual(
      on('self.heads = nn.ModuleList([nn.Linear(24, classes)').map((l) => l.title.split(' · ').slice(0, 2).join(' · ')),
      [0, 1, 2].map((k) => title(stacked.report, k)),
    );
    // The unprofiled models: one lens on the class line, profiling that model.
    for (const [cls, file] of [
      ['SeparateHeads', 'separate_heads'],
      ['NormHeads', 'norm_heads'],
      ['TinyTransformer', 'tiny_transformer'],
    ]) {
      await collect(cls, () => on(`class ${cls}(`).length > 0);
      assert.deepEqual(
        on(`class ${cls}(`).map((l) => l.title),
        [`Profile exits of ${file}.onnx`],
      );
    }
    // Attention heads are not exits; helper classes get no lens.
    assert.deepEqual(on('SelfAttention(d, heads=2)'), []);
    assert.deepEqual(on('self.heads = heads'), []);
    assert.deepEqual(on('class ConvBlock('), []);
    assert.deepEqual(on('class SelfAttention('), []);

    // The sidebar follows the class under the cursor.
    await goToLine(wb, lineOf('class Stacked('));
    await wb.openActivity('Exit Lens');
    const side = await sidebarFrame(wb);
    // Finding the sidebar's webview may bring the report's tab ("Exit Lens: …") to the front.
    await wb.openFile('heads/models.py');
    await retry('see the sidebar follow the Stacked class', 30_000, async () => {
      const heading = await side.locator('h2').first().innerText();
      if (heading !== 'stacked.onnx') throw new Error(`sidebar heading: ${heading}`);
    });
    await goToLine(wb, lineOf('class ListPlusFinal('));
    await retry('see the sidebar follow the ListPlusFinal class', 30_000, async () => {
      const heading = await side.locator('h2').first().innerText();
      if (heading !== 'list_plus_final.onnx') throw new Error(`sidebar heading: ${heading}`);
    });
    // ListPlusFinal's and Stacked's lenses in view (Go to Line centres a line that is out of view).
    await goToLine(wb, source.length);
    await goToLine(wb, lineOf('class Stacked(') - 2);
    await retry('see the sidebar follow the cursor back to ListPlusFinal', 30_000, async () => {
      const heading = await side.locator('h2').first().innerText();
      if (heading !== 'list_plus_final.onnx') throw new Error(`sidebar heading: ${heading}`);
    });
    await wb.screenshot('heads-codelens-dark');
    await wb.setTheme(THEMES.light);
    await wb.page.waitForTimeout(500);
    await wb.screenshot('heads-codelens-light');
  });

  test('a decoder: the Tokens card shows its text by exit, follows the policy, and the settling histogram', async () => {
    // examples/char-decoder with its vocab.json beside the model, which the profile finds.
    const dir = path.join(workspace, 'char-decoder');
    fs.mkdirSync(dir, { recursive: true });
    const example = path.join(ROOT, 'examples', 'char-decoder');
    fs.copyFileSync(path.join(example, 'model.onnx'), path.join(dir, 'char-decoder.onnx'));
    for (const f of ['test.npz', 'calib.npz', 'vocab.json']) fs.copyFileSync(path.join(example, f), path.join(dir, f));
    const teamFile = path.join(workspace, '.vscode', 'exit-lens.json');
    const team = JSON.parse(fs.readFileSync(teamFile, 'utf8'));
    team.models.push({
      model: 'char-decoder/char-decoder.onnx',
      samples: 'char-decoder/test.npz',
      calib: 'char-decoder/calib.npz',
    });
    fs.writeFileSync(teamFile, JSON.stringify(team, null, 2));
    await wb.setTheme(THEMES.dark);
    await wb.runCommand('Notifications: Clear All Notifications');
    const before = storedRuns(runsDir).length;
    await wb.openFile('char-decoder/char-decoder.onnx');
    await wb.runCommand('Exit Lens: Profile Model Exits');
    await retry('see a run of char-decoder.onnx stored', 120_000, async () => {
      if (storedRuns(runsDir).length !== before + 1) throw new Error(`runs: ${storedRuns(runsDir).length}`);
    });
    const run = latestRun(runsDir, path.join(dir, 'char-decoder.onnx')).report;
    const view = run.tokenView!;
    assert.ok(view, 'the report has a token view');
    assert.equal(view.vocabPath, path.join(dir, 'vocab.json'), 'the vocabulary beside the model was used');
    const report = await wb.webviewFrame({ title: 'Exit Lens: char-decoder.onnx' }, 120_000);
    const card = report.locator('.tokens-card');
    await card.waitFor({ timeout: 60_000 });
    const tk = run.samples.tokens!;
    assert.match(
      await report.locator('.meta').innerText(),
      new RegExp(
        `${tk.positions} token positions of ${tk.sequences} sequences of ${tk.length} tokens \\(labels: next token\\)`,
      ),
    );
    assert.equal(await report.locator('#section-exits th').nth(2).innerText(), 'Token accuracy');
    // The text of a sequence without padding, token by token from the vocabulary (↵ marks a line break).
    const full = view.sequences.findIndex((q) => q.mask.every((m) => m === 1));
    assert.ok(full >= 0, 'a sequence without padding');
    const expected = view.sequences[full].ids
      .map((id) => view.vocab![String(id)])
      .join('')
      .replace(/\n/g, '↵\n');
    const shown = await report.locator('.token-seq .seq-text').nth(full).textContent();
    assert.equal(shown, expected);
    assert.match(shown ?? '', /[A-Za-z]{3}/, 'text, not ids');
    // Every position of the view is marked with an exit, with a tooltip of each exit's prediction.
    const positions = view.sequences.reduce((a, q) => a + q.positions.length, 0);
    const marked = report.locator('.token-seqs .tok-x');
    assert.equal(await marked.count(), positions);
    const tip = (await marked.first().getAttribute('title')) ?? '';
    assert.match(tip, /^target '.+' \(position \d+\)\nexit 0: .*\nexit 1: /);
    assert.match(tip, /← exits here/);
    // The settling histogram: one bar per exit and the mean.
    const settling = report.locator('.card.settling');
    await settling.locator('svg.chart rect.bar').first().waitFor();
    assert.equal(await settling.locator('svg.chart rect.bar').count(), run.exitCount);
    assert.match((await settling.locator('.mean-line text').textContent()) ?? '', /^mean \d\.\d\d$/);
    assert.match(await settling.innerText(), /the layer from which the final prediction no longer changes/);
    // The policy chooser recolours: patience never exits at exit 0.
    const exits = () => marked.evaluateAll((spans) => spans.map((s) => s.getAttribute('data-exit')).join(''));
    const first = await exits();
    const startRule = await report.locator('.token-rule').innerText();
    await report.locator('label[for="token-policy-patience"]').click();
    await retry('see the tokens recoloured for patience', 10_000, async () => {
      if ((await exits()) === first) throw new Error('the colours did not change');
    });
    assert.match(await report.locator('.token-rule').innerText(), /^patience t = \d+ \(slider\)$/);
    assert.ok(!(await exits()).includes('0'), 'patience exits at exit 1 at the earliest');
    // The keyboard moves the chooser too (arrow keys in the radio group).
    await report.locator('#token-policy-patience').focus();
    await wb.page.keyboard.press('ArrowLeft');
    await retry('see the margin policy chosen by keyboard', 10_000, async () => {
      const rule = await report.locator('.token-rule').innerText();
      if (!rule.startsWith('margin')) throw new Error(`rule: ${rule} (first: ${startRule})`);
    });
    const tokens = report.locator('#section-tokens');
    await tokens.evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await wb.screenshot('tokens-dark');
    await assertExitContrast(wb, 'Exit Lens: char-decoder.onnx', 'dark');
    await settling.evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await wb.screenshot('settling-dark');
    await wb.setTheme(THEMES.light);
    await tokens.evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await wb.screenshot('tokens-light');
    await assertExitContrast(wb, 'Exit Lens: char-decoder.onnx', 'light');
    await wb.page.setViewportSize({ width: 900, height: 1000 });
    try {
      await retry('see the report laid out for the narrow editor', 30_000, async () => {
        const width = await report.locator('body').evaluate(() => document.documentElement.clientWidth);
        if (width > 700) throw new Error(`the report is still ${width} px wide`);
      });
      const overflow = await report
        .locator('body')
        .evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `the narrow report scrolls sideways by ${overflow} px`);
      await report.locator('#section-tokens').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await wb.screenshot('tokens-narrow-light');
      await wb.setTheme(THEMES.highContrast);
      await report.locator('#section-tokens').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await wb.screenshot('tokens-narrow-hc');
      await assertExitContrast(wb, 'Exit Lens: char-decoder.onnx', 'high contrast');
      await wb.setTheme(THEMES.highContrastLight);
      await report.locator('#section-tokens').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await wb.screenshot('tokens-narrow-hc-light');
      await assertExitContrast(wb, 'Exit Lens: char-decoder.onnx', 'high contrast light');
    } finally {
      await wb.page.setViewportSize({ width: 1600, height: 1000 });
    }
  });

  test('a lens click opens the report of its model on that exit, and the row stays focused and in view', async () => {
    await wb.setTheme(THEMES.dark);
    await wb.runCommand('View: Close All Editors');
    await wb.openFile('heads/models.py');
    const source = fs.readFileSync(path.join(workspace, 'heads', 'models.py'), 'utf8').split('\n');
    const lineOf = (text: string) => source.findIndex((l) => l.includes(text)) + 1;
    /** Clicks the lens whose title starts with `title`, above the line holding `text`. */
    const click = async (text: string, title: string) => {
      await goToLine(wb, lineOf(text));
      await retry(`click the lens "${title}"`, 90_000, async () => {
        const lenses = await visibleLenses(wb);
        if (!lenses.some((l) => l.line.includes(text) && l.title.startsWith(title)))
          throw new Error(`lenses: ${JSON.stringify(lenses.map((l) => l.title))}`);
        // The visible one: a lens of an editor out of view stays in the page, hidden.
        await wb.page
          .locator('.editor-group-container.active .codelens-decoration a:visible', { hasText: title })
          .first()
          .click({ timeout: 5_000 });
      });
    };
    /** The focused row of the report, once it is there and on screen, after `settleMs` more. */
    const focusedRow = async (settleMs: number) => {
      const report = await wb.webviewFrame({ title: 'Exit Lens: list_plus_final.onnx' }, 60_000);
      return retry('see the focused exit row in view', 60_000, async () => {
        await wb.page.waitForTimeout(settleMs);
        return report.locator('body').evaluate(() => {
          const row = document.querySelector('tr.focused');
          if (!row) throw new Error('no focused row');
          const r = row.getBoundingClientRect();
          if (r.bottom <= 0 || r.top >= window.innerHeight) throw new Error(`row out of view (${r.top})`);
          return (row.textContent ?? '').trim();
        });
      });
    };
    // The final exit's lens: the report opens on exit_3.
    await click('self.final = nn.Linear(8, classes)', 'exit_3 ·');
    assert.match(await focusedRow(0), /^3\s*exit_3/);
    // Still focused after the webview has settled (it once lost the row ~300 ms after opening).
    assert.match(await focusedRow(1500), /^3\s*exit_3/);
    // A second lens while the report is open in the same group: the row moves to exit_1 and stays.
    await wb.openFile('heads/models.py');
    await click('self.heads = nn.ModuleList([nn.Linear(8, classes)', 'exit_1 ·');
    assert.match(await focusedRow(0), /^1\s*exit_1/);
    assert.match(await focusedRow(1500), /^1\s*exit_1/);
    await wb.screenshot('lens-click-focus-dark');
  });

  test('report text meets WCAG AA contrast in dark, light and high-contrast themes', async () => {
    // The page's computed colours: each text colour blended over the first opaque background
    // behind it, then the WCAG 2 contrast ratio (4.5:1 for body text). A string, so that the
    // test's compiler adds no helpers the page lacks.
    const measure = `(body) => {
      const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
      const lum = (rgb) => {
        const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const out = [];
      for (const sel of ['.readout', '.slider-ends span', '.note', 'th', 'td', '.axis text, .tick text', 'h2, h3']) {
        for (const e of [...body.querySelectorAll(sel)].slice(0, 40)) {
          if (!(e.textContent || '').trim() || e.getClientRects().length === 0) continue;
          const cs = getComputedStyle(e);
          let fg = parse(e instanceof SVGElement ? cs.fill : cs.color);
          let bg = null;
          for (let a = e; a && !bg; a = a.parentElement) {
            const c = parse(getComputedStyle(a).backgroundColor);
            if (c.length === 4 ? c[3] > 0.99 : c.length === 3) bg = c.slice(0, 3);
          }
          bg = bg || parse(getComputedStyle(document.body).backgroundColor).slice(0, 3);
          let alpha = fg.length === 4 ? fg[3] : 1;
          for (let a = e; a; a = a.parentElement) alpha *= Number(getComputedStyle(a).opacity);
          const mixed = fg.slice(0, 3).map((v, i) => v * alpha + bg[i] * (1 - alpha));
          const [hi, lo] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
          out.push({ sel, text: (e.textContent || '').trim().slice(0, 30), ratio: (hi + 0.05) / (lo + 0.05) });
        }
      }
      return out;
    }`;
    // The report the lens click opened (the test before this one).
    for (const theme of [THEMES.dark, THEMES.light, THEMES.highContrast]) {
      await wb.setTheme(theme);
      await wb.page.waitForTimeout(500);
      const report = await wb.webviewFrame({ title: 'Exit Lens: list_plus_final.onnx' }, 60_000);
      const found = (await report.locator('body').evaluate(`(${measure})(document.body)`)) as {
        sel: string;
        text: string;
        ratio: number;
      }[];
      assert.ok(
        found.some((f) => f.sel === '.readout'),
        'the slider readouts were measured',
      );
      const low = found.filter((f) => f.ratio < 4.5);
      assert.deepEqual(low, [], `text under 4.5:1 in ${theme}`);
    }
    await wb.setTheme(THEMES.dark);
  });

  test('measured cost (exitLens.cost in the workspace settings): MACs and latency per exit, the speed-up axis switches, the saving in wall time', async () => {
    await wb.setTheme(THEMES.dark);
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Notifications: Clear All Notifications');
    const settingsFile = path.join(workspace, '.vscode', 'settings.json');
    const saved = fs.readFileSync(settingsFile, 'utf8');
    fs.writeFileSync(settingsFile, JSON.stringify({ ...JSON.parse(saved), 'exitLens.cost': 'measured' }, null, 2));
    const model = path.join(workspace, 'model.onnx');
    try {
      // The workspace's settings file is watched; give the editor a moment to read it again.
      await wb.page.waitForTimeout(2_000);
      const before = storedRuns(runsDir).length;
      await wb.openFile('model.onnx');
      await wb.runCommand('Exit Lens: Profile Model Exits');
      await retry('see the measured run stored', 180_000, async () => {
        if (storedRuns(runsDir).length !== before + 1) throw new Error(`runs: ${storedRuns(runsDir).length}`);
      });
      const run = latestRun(runsDir, model).report;
      assert.equal(run.cost.source, 'measured', `the workspace setting was read: ${run.cost.note}`);
      const m = measuredCost(run)!;
      assert.ok(m, 'the report holds every latency');
      const { unit, scale } = latencyUnit(m.baseline.batch);
      const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' }, 120_000);
      const rows = report.locator('#section-exits table.data tbody tr');
      await rows.first().waitFor({ timeout: 60_000 });
      // Both costs: MACs (and % of the baseline's), then ms (or µs) per sample at the batch size
      // and at batch 1 (median ± half the IQR), and % of the measured baseline.
      const head = await report.locator('#section-exits table.data thead th').allInnerTexts();
      assert.deepEqual(head.slice(6, 11), [
        'MACs',
        '% baseline',
        `${unit}/sample, batch ${m.batchSize}`,
        `${unit}/sample, batch 1`,
        '% measured baseline',
      ]);
      for (let k = 0; k < run.exitCount; k++) {
        const e = run.exits[k];
        const cells = await rows.nth(k).locator('td').allInnerTexts();
        assert.equal(cells[2], pct(cliReport.exits[k].accuracy, 2), `exit ${k} accuracy`);
        assert.equal(cells[6], macs(e.macs), `exit ${k} MACs`);
        assert.equal(cells[8], plusMinus(e.latency!.batch * scale, (e.latency!.spread.batch / 2) * scale), `exit ${k}`);
        assert.equal(cells[9], plusMinus(e.latency!.batch1 * scale, (e.latency!.spread.batch1 / 2) * scale));
        assert.equal(cells[10], pct(e.latency!.batch / m.baseline.batch));
      }
      assert.match(
        await report.locator('#section-exits .measured-note').innerText(),
        new RegExp(
          `^Measured latency on CPU \\(fp32\\): ${unit} per sample, the median ± half the interquartile range`,
        ),
      );
      await report.locator('.chart').first().waitFor();
      await wb.screenshot('measured-report-dark');
      // The trade-off chart: measured speed-up first, the MACs of the same points on request.
      const label = report.locator('#section-tradeoffs svg.chart .axis-label').first();
      const toggle = report.locator('#section-tradeoffs .axis-toggle');
      assert.equal(await label.textContent(), `speed-up by measured latency (CPU, batch ${m.batchSize})`);
      assert.equal(await toggle.innerText(), 'Speed-up by MACs');
      await report.locator('#section-tradeoffs').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await wb.screenshot('measured-tradeoff-dark');
      await toggle.click();
      await wb.page.mouse.move(0, 0);
      await retry('see the MACs axis', 10_000, async () => {
        const text = await label.textContent();
        if (text !== 'speed-up by MACs (baseline MACs / mean MACs)') throw new Error(`axis: ${text}`);
      });
      assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
      assert.equal(await toggle.innerText(), 'Speed-up by measured latency');
      await wb.screenshot('measured-tradeoff-macs-dark');
      // The drill-down: the wall time the best suggestion saves on this device, against the MACs.
      const saving = await report.locator('#section-drilldown .measured-saving').innerText();
      assert.match(
        saving,
        new RegExp(
          `^Exiting as suggested \\(.+\\) (saves|adds) [\\d.]+ ${unit} per sample \\([\\d.]+%\\) on CPU at batch ${m.batchSize}, against -?[\\d.]+% by MACs`,
        ),
      );
      assert.equal(saving, measuredSavingSentence(run));
      await report.locator('#section-drilldown').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await wb.screenshot('measured-drilldown-dark');
      // The sidebar says the speed-ups are measured.
      await wb.openActivity('Exit Lens');
      const side = await sidebarFrame(wb);
      await retry('see "measured" beside the sidebar speed-up', 30_000, async () => {
        const text = await side.locator('body').innerText();
        if (!/Suggested \(calibration target\): .*× measured at/.test(text)) throw new Error(text);
      });
      await wb.screenshot('measured-sidebar-dark');
      await wb.setTheme(THEMES.light);
      await report.locator('body').evaluate(() => window.scrollTo(0, 0));
      await wb.screenshot('measured-report-light');
      await report.locator('#section-tradeoffs').evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await wb.screenshot('measured-tradeoff-macs-light');
      await wb.page.setViewportSize({ width: 900, height: 1000 });
      try {
        await retry('see the report laid out for the narrow editor', 30_000, async () => {
          const width = await report.locator('body').evaluate(() => document.documentElement.clientWidth);
          if (width > 700) throw new Error(`the report is still ${width} px wide`);
        });
        const overflow = await report
          .locator('body')
          .evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 1, `the narrow report scrolls sideways by ${overflow} px`);
        // The resize re-rendered the report in place; the chart kept the axis chosen (page state).
        await retry('see the trade-off chart redrawn for the narrow editor, on the MACs axis', 30_000, async () => {
          const drawn = await report
            .locator('#section-tradeoffs svg.chart')
            .first()
            .evaluate((svg) => Number(svg.getAttribute('width')) - Math.max(220, svg.parentElement!.clientWidth));
          if (Math.abs(drawn) > 1) throw new Error(`the chart is drawn ${drawn} px off its box`);
        });
        assert.equal(await label.textContent(), 'speed-up by MACs (baseline MACs / mean MACs)');
        await report.locator('body').evaluate(() => window.scrollTo(0, 0));
        await wb.screenshot('measured-report-narrow-light');
        await report.locator('#section-tradeoffs').evaluate((e) => e.scrollIntoView({ block: 'start' }));
        await wb.page.waitForTimeout(300);
        await wb.screenshot('measured-tradeoff-narrow-light');
      } finally {
        await wb.page.setViewportSize({ width: 1600, height: 1000 });
      }
    } finally {
      fs.writeFileSync(settingsFile, saved);
      await wb.setTheme(THEMES.dark);
    }
  });

  test('Analyze Records (Merge Shards) on a folder from the explorer: the whole set’s report; a missing shard is named', async () => {
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Notifications: Clear All Notifications');
    // Three shards of the example, as docs/scale/README.md makes them, and a folder missing the second.
    const shards = path.join(workspace, 'shards');
    const partial = path.join(workspace, 'shards-missing');
    fs.mkdirSync(shards, { recursive: true });
    fs.mkdirSync(partial, { recursive: true });
    for (let i = 0; i < 3; i++) {
      const args = ['profile', path.join(workspace, 'model.onnx'), '--samples', path.join(workspace, 'test.npz')];
      args.push('--ep', 'cpu', '--shard', `${i}/3`, '--records-out', path.join(shards, `s${i}.exitrec`), '--quiet');
      const code = await main(args, { out: () => undefined, err: (t) => process.stderr.write(t), isTTY: false });
      assert.equal(code, 0, `shard ${i}/3`);
    }
    for (const i of [0, 2]) fs.copyFileSync(path.join(shards, `s${i}.exitrec`), path.join(partial, `s${i}.exitrec`));
    const before = storedRuns(runsDir).length;
    await explorerCommand(wb, 'shards', 'Analyze Records (Merge Shards)…', async () => {
      if (storedRuns(runsDir).length !== before + 1) throw new Error(`runs: ${storedRuns(runsDir).length}`);
    });
    const merged = latestRun(runsDir, path.join(workspace, 'model.onnx')).report;
    assert.equal(merged.samples.sampleCount, cliReport.samples.sampleCount);
    const report = await wb.webviewFrame({ title: 'Exit Lens: model.onnx' }, 120_000);
    const rows = report.locator('#section-exits table.data tbody tr');
    await rows.first().waitFor({ timeout: 60_000 });
    // The merged report (no calibration file: the suggestions fitted on the seeded split).
    assert.match(await report.locator('.meta').innerText(), /seeded split/);
    assert.equal(await rows.count(), cliReport.exitCount);
    for (let k = 0; k < cliReport.exitCount; k++) {
      const cells = await rows.nth(k).locator('td').allInnerTexts();
      assert.equal(cells[1], cliReport.exits[k].name);
      assert.equal(cells[2], pct(cliReport.exits[k].accuracy, 2), `exit ${k} accuracy, as the single run's`);
      assert.equal(merged.exits[k].accuracy, cliReport.exits[k].accuracy, `exit ${k} accuracy in the stored report`);
      assert.equal(cells[6], macs(cliReport.exits[k].macs), `exit ${k} MACs`);
    }
    await report.locator('.chart').first().waitFor();
    await wb.screenshot('merged-shards-dark');
    // A folder without shard 1/3: an error that names it, and nothing stored.
    await wb.runCommand('Notifications: Clear All Notifications');
    let text = '';
    await explorerCommand(wb, 'shards-missing', 'Analyze Records (Merge Shards)…', async () => {
      text = await wb.waitForNotification(/do not cover the sample set/, 1_000);
    });
    assert.match(text, /samples 133\.\.265 are in no file\. Missing: --shard 1\/3\./);
    assert.equal(storedRuns(runsDir).length, before + 1);
  });
});
