/**
 * The report app in a real browser (Debian's Chromium), through the self-contained HTML
 * export: the per-exit table shows the JSON report's figures, the threshold controls move the
 * operating point with no recomputation, nothing violates the CSP, names from the model are
 * rendered as text, it reads in a light and a dark colour scheme (screenshots saved), and
 * per-sample records sit after the app in their own element.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Browser, chromium, Page } from 'playwright-core';
import { main } from '../../src/cli/main';
import { readWebviewAssets, staticReportHtml } from '../../src/core/report/htmlExport';
import type { Report } from '../../src/core/analysis/analyze';
import { pct } from '../../src/core/report/summary';
import { ARTIFACTS, ROOT } from './harness';

const EXAMPLE = path.join(ROOT, 'examples', 'sdn-digits');
let browser: Browser;
let dir: string;
let report: Report;
let htmlFile: string;

async function cli(args: string[]): Promise<number> {
  return main(args, { out: () => undefined, err: (s) => process.stderr.write(s), isTTY: false });
}

async function open(
  file: string,
  colorScheme: 'light' | 'dark' = 'dark',
  width = 1400,
): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 1000 }, colorScheme });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __csp: string[] }).__csp = [
        ...((window as unknown as { __csp?: string[] }).__csp ?? []),
        `${e.violatedDirective} ${e.blockedURI}`,
      ];
    });
  });
  await page.goto(`file://${file}`);
  await page.waitForSelector('table.data tbody tr');
  const csp = await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
  problems.push(...csp.map((c) => `csp: ${c}`));
  return { page, problems };
}

describe('the report app (static HTML export) in Chromium', () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-static-'));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    htmlFile = path.join(dir, 'report.html');
    const json = path.join(dir, 'report.json');
    const code = await cli([
      'profile',
      path.join(EXAMPLE, 'model.onnx'),
      '--samples',
      path.join(EXAMPLE, 'test.npz'),
      '--calib',
      path.join(EXAMPLE, 'calib.npz'),
      '--ep',
      'cpu',
      '--json',
      json,
      '--html',
      htmlFile,
      '--quiet',
    ]);
    assert.equal(code, 0);
    report = JSON.parse(fs.readFileSync(json, 'utf8'));
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  after(async () => {
    await browser?.close();
  });

  it("shows the JSON report's per-exit figures, with no CSP violation or script error", async () => {
    const { page, problems } = await open(htmlFile);
    const rows = await page.$$eval('#section-exits table.data tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')),
    );
    assert.equal(rows.length, report.exitCount);
    rows.forEach((cells, k) => {
      assert.equal(cells[1], report.exits[k].name);
      assert.equal(cells[2], pct(report.exits[k].accuracy, 2));
      assert.equal(cells[5], pct(report.exits[k].agreement, 2));
    });
    assert.deepEqual(problems, []);
    await page.screenshot({ path: path.join(ARTIFACTS, 'static-report-dark.png'), fullPage: true });
    await page.close();
  });

  it('a threshold control moves the operating point and its readout', async () => {
    const { page } = await open(htmlFile);
    const slider = page.locator('#slider-confidence');
    const readout = page.locator('.control.c-conf .readout');
    const before = await readout.textContent();
    const max = Number(await slider.getAttribute('max'));
    await slider.focus();
    await page.keyboard.press('Home');
    const atFull = await readout.textContent();
    assert.notEqual(atFull, before);
    // Position 0 is the full model: nothing fires, so accuracy is the final exit's and speed-up baseline/cost(E-1).
    const final = report.exits[report.exitCount - 1];
    assert.match(atFull ?? '', new RegExp(`accuracy ${pct(final.accuracy, 2).replace('.', '\\.')}`));
    await page.keyboard.press('End');
    const last = report.curves.confidence.points[max];
    assert.match(
      (await readout.textContent()) ?? '',
      new RegExp(`accuracy ${pct(last.accuracy, 2).replace('.', '\\.')}`),
    );
    const hist = await page.$$eval('.control.c-conf .mini-bar', (bars) =>
      bars.map((b) => (b as HTMLElement).style.height),
    );
    const total = last.exitHistogram.reduce((a, b) => a + b, 0);
    assert.deepEqual(
      hist,
      last.exitHistogram.map((h) => `${Math.round((100 * h) / total)}%`),
    );
    await page.close();
  });

  it('reads in a light colour scheme and at sidebar width', async () => {
    const light = await open(htmlFile, 'light');
    await light.page.screenshot({ path: path.join(ARTIFACTS, 'static-report-light.png'), fullPage: true });
    await light.page.close();
    const narrow = await open(htmlFile, 'dark', 360);
    const overflow = await narrow.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px at 360px`);
    await narrow.page.screenshot({ path: path.join(ARTIFACTS, 'static-report-narrow.png'), fullPage: true });
    await narrow.page.close();
  });

  it('per-sample records (--records) follow the app in their own element; the report renders the same', async () => {
    const file = path.join(dir, 'records.html');
    const code = await cli([
      'profile',
      path.join(EXAMPLE, 'model.onnx'),
      '--samples',
      path.join(EXAMPLE, 'test.npz'),
      '--calib',
      path.join(EXAMPLE, 'calib.npz'),
      '--ep',
      'cpu',
      '--records',
      '--html',
      file,
      '--quiet',
    ]);
    assert.equal(code, 0);
    const { page, problems } = await open(file);
    const layout = await page.evaluate(() => {
      const boot = JSON.parse(document.getElementById('exit-lens-boot')!.textContent!);
      const node = document.getElementById('exit-lens-records')!;
      const records = JSON.parse(node.textContent!);
      const scripts = Array.from(document.querySelectorAll('script'));
      return {
        bootHasRecords: 'records' in boot.report,
        recordsAfterApp: scripts.indexOf(node as HTMLScriptElement) === scripts.length - 1,
        pred: records.pred.length,
        labels: records.labels.length,
        conf: records.conf.length,
      };
    });
    const N = report.samples.sampleCount;
    assert.deepEqual(layout, {
      bootHasRecords: false,
      recordsAfterApp: true,
      pred: N * report.exitCount,
      labels: N,
      conf: N * report.exitCount,
    });
    const rows = await page.$$eval('#section-exits table.data tbody tr', (trs) => trs.length);
    assert.equal(rows, report.exitCount);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('names from the model are rendered as text, never as markup', async () => {
    const hostile = JSON.parse(JSON.stringify(report)) as Report;
    const evil = '<img src=x onerror="window.__pwned=1">';
    hostile.exits[0].name = evil;
    hostile.warnings.push({ code: 'x', message: `<script>window.__pwned=2</script>${evil}` });
    hostile.samples.path = `/tmp/${evil}.npz`;
    const { js, css } = readWebviewAssets(ROOT);
    const file = path.join(dir, 'hostile.html');
    fs.writeFileSync(file, staticReportHtml(hostile, js, css));
    const { page } = await open(file);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(
      await page.locator('#section-exits table.data tbody tr').first().locator('td').nth(1).textContent(),
      evil,
    );
    await page.close();
  });
});
