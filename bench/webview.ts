/**
 * The report webview at scale (issue 4, target 4): first render, and the update after a
 * threshold control moves, with a report that holds 10^5 per-sample records.
 *
 * The report is the product's own: a seeded logits file (E = 12, C = 10, N = 10^5) analysed by
 * `runAnalyze` with `includeRecords`, as `exit-lens analyze --records --html` does, so it
 * carries the per-sample records (labels, and pred and conf for each of the N x E
 * sample-exits) besides the exact curves, the frontier, the grid, the suggestions and the
 * drill-down. It is written as the self-contained HTML export (`staticReportHtml`: the same
 * webview bundle as the panel, the records in the page) and opened from disk in headless
 * Debian Chromium through playwright-core, 1400 x 1000 px. Every time is read in the page, on
 * its own performance timeline (origin: navigation start), not as wall time in Node.
 *
 * - First render: navigation start until the end of the animation frame that drew the charts
 *   (the webview's `exit-lens:charts-drawn` mark falls in it), style, layout and paint
 *   included, from that frame's long-animation-frame entry; if the frame took under 50 ms and
 *   has no entry, the `exit-lens:report-rendered` mark (a task queued from that frame, so
 *   after its paint, and after whatever else was queued). It includes reading the file,
 *   parsing the HTML and the report, building the page and drawing every chart; the records
 *   after the app may still be read after it (`documentLoadedMs`: the first load's load
 *   event). Median of the loads, each in a new page. `firstPaintMs` is when that frame was on
 *   screen (first contentful paint: rasterised and composited too).
 * - Threshold update: once the page has loaded, at the start of an animation frame, set a
 *   policy slider's value and dispatch an `input` event on it (what a drag does), then read
 *   the time in a task queued right after, which runs after the handler (readout, exit
 *   histogram, operating point on the chart) and that frame's style, layout and paint. Moves
 *   cycle over the four policy sliders, each to a seeded random position other than its own;
 *   median and 95th percentile.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { readWebviewAssets, staticReportHtml } from '../src/core/report/htmlExport';
import { runAnalyze } from '../src/engine/analyzeLogits';

const ROOT = path.resolve(__dirname, '..');
const CHROMIUM = process.env.EXIT_LENS_E2E_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export type MakeLogits = (file: string, N: number, E: number, C: number, seed: number) => Promise<void>;

export interface WebviewBenchResult {
  sampleCount: number;
  /** Sample-exit records in the report (N x E). */
  recordCount: number;
  htmlMB: number;
  loads: number;
  /** Median over the loads. */
  firstRenderMs: number;
  firstRenderRunsMs: number[];
  /** The median load's marks: report JSON parsed, charts drawn; whether its end came from a long-animation-frame entry. */
  firstRenderMarksMs: { bootParsed: number; chartsDrawn: number; fromFrameEntry: boolean };
  /**
   * The browser's first-contentful-paint time (median): when that frame was presented, after
   * rasterisation and compositing. Nothing is painted before the frame that draws the charts
   * (the page is built by a script before the first frame), so it is that frame's:
   * `firstPaintAfterCharts` checks it on every load.
   */
  firstPaintMs: number;
  firstPaintAfterCharts: boolean;
  /** Navigation start to the load event: the whole page read, the per-sample records included (first load). */
  documentLoadedMs: number;
  thresholdUpdateMsMedian: number;
  thresholdUpdateMsP95: number;
  /** The input handler alone (no style, layout or paint), median. */
  thresholdHandlerMsMedian: number;
  moves: number;
}

export type WebviewBench = WebviewBenchResult | { skipped: string };

// Page scripts are plain JavaScript text: tsx's transform would wrap named functions in a
// helper that does not exist in the page.
const READ_RENDER = `(async () => {
  const at = (name) => performance.getEntriesByName(name)[0]?.startTime ?? NaN;
  const drawn = at('exit-lens:charts-drawn');
  const frames = await new Promise((resolve) => {
    if (!PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')) return resolve([]);
    new PerformanceObserver((list) => resolve(list.getEntries())).observe({ type: 'long-animation-frame', buffered: true });
    setTimeout(() => resolve([]), 300);
  });
  const frame = frames.find((f) => f.startTime <= drawn && drawn <= f.startTime + f.duration);
  return {
    total: frame ? frame.startTime + frame.duration : at('exit-lens:report-rendered'),
    fromFrameEntry: Boolean(frame),
    bootParsed: at('exit-lens:boot-parsed'),
    chartsDrawn: drawn,
    documentLoaded: performance.getEntriesByType('navigation')[0].loadEventEnd || NaN,
    contentfulPaint: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
  };
})()`;

const MOVE_SLIDERS = `async ({ moves, seed }) => {
  let a = seed >>> 0; // mulberry32, as in src/core/analysis/split.ts
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const sliders = Array.from(document.querySelectorAll('input.slider[type="range"]'));
  if (sliders.length === 0) throw new Error('no threshold slider on the page');
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  // A task queued during a frame runs after that frame's style, layout and paint.
  const afterFrame = () => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve(performance.now());
    channel.port2.postMessage(null);
  });
  const handler = [];
  const update = [];
  for (let m = 0; m < moves; m++) {
    const slider = sliders[m % sliders.length];
    const max = Number(slider.max);
    let v = Number(slider.value);
    while (max > 0 && v === Number(slider.value)) v = Math.floor(rand() * (max + 1));
    await frame();
    const t0 = performance.now();
    slider.value = String(v);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    const t1 = performance.now();
    const t2 = await afterFrame();
    handler.push(t1 - t0);
    update.push(t2 - t0);
  }
  return { handler, update };
}`;

interface Render {
  total: number;
  fromFrameEntry: boolean;
  bootParsed: number;
  chartsDrawn: number;
  documentLoaded: number;
  contentfulPaint: number;
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}

/** The report of a seeded 10^5-sample logits file, with its per-sample records, as an HTML export. */
async function writeReportPage(
  tmp: string,
  makeLogits: MakeLogits,
): Promise<{ html: string; sampleCount: number; recordCount: number }> {
  const N = 1e5;
  const E = 12;
  const logits = path.join(tmp, 'webview-logits.npz');
  await makeLogits(logits, N, E, 10, 11);
  const report = await runAnalyze(
    { type: 'analyze', id: 'bench-webview', logitsPath: logits, includeRecords: true },
    () => undefined,
  );
  fs.rmSync(logits);
  const recordCount = report.records?.pred.length ?? 0;
  if (recordCount !== N * E || report.records?.conf.length !== N * E)
    throw new Error(`the report holds ${recordCount} records, not ${N * E}`);
  const { js, css } = readWebviewAssets(ROOT);
  const html = path.join(tmp, 'webview-report.html');
  fs.writeFileSync(html, staticReportHtml(report, js, css));
  return { html, sampleCount: N, recordCount };
}

/** Builds the report through the real analysis, writes its HTML export, and measures it in Chromium. */
export async function webviewBenchmark(opts: {
  quick: boolean;
  tmp: string;
  makeLogits: MakeLogits;
}): Promise<WebviewBench> {
  if (!fs.existsSync(CHROMIUM))
    return { skipped: `no Chromium at ${CHROMIUM} (npm run e2e:install installs Debian's)` };
  const page = await writeReportPage(opts.tmp, opts.makeLogits);
  try {
    return {
      sampleCount: page.sampleCount,
      recordCount: page.recordCount,
      ...(await measureReportPage(page.html, opts.quick)),
    };
  } finally {
    fs.rmSync(page.html);
  }
}

/** Opens a report's HTML export in headless Chromium and measures its first render and threshold updates. */
export async function measureReportPage(
  html: string,
  quick: boolean,
): Promise<Omit<WebviewBenchResult, 'sampleCount' | 'recordCount'>> {
  const htmlMB = fs.statSync(html).size / 2 ** 20;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const loads = quick ? 3 : 7;
    const renders: Render[] = [];
    let timings: { handler: number[]; update: number[] } = { handler: [], update: [] };
    for (let run = 0; run < loads; run++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // The first load runs to the load event (the slider moves come after it); the others stop at the first render.
      await page.goto(`file://${path.resolve(html)}`, { waitUntil: run === 0 ? 'load' : 'commit', timeout: 120_000 });
      await page.waitForFunction(
        () => performance.getEntriesByName('exit-lens:report-rendered').length > 0,
        undefined,
        { timeout: 60_000 },
      );
      if (errors.length) throw new Error(`the report page failed: ${errors.join('; ')}`);
      renders.push((await page.evaluate(READ_RENDER)) as Render);
      if (run === 0)
        timings = (await page.evaluate(
          `(${MOVE_SLIDERS})(${JSON.stringify({ moves: quick ? 60 : 200, seed: 4 })})`,
        )) as typeof timings;
      await page.close();
    }
    const mid = [...renders].sort((a, b) => a.total - b.total)[Math.floor((renders.length - 1) / 2)];
    return {
      htmlMB,
      loads,
      firstRenderMs: quantile(
        renders.map((r) => r.total),
        0.5,
      ),
      firstRenderRunsMs: renders.map((r) => r.total),
      firstRenderMarksMs: {
        bootParsed: mid.bootParsed,
        chartsDrawn: mid.chartsDrawn,
        fromFrameEntry: mid.fromFrameEntry,
      },
      firstPaintMs: quantile(
        renders.map((r) => r.contentfulPaint),
        0.5,
      ),
      firstPaintAfterCharts: renders.every((r) => r.contentfulPaint >= r.chartsDrawn),
      documentLoadedMs: renders[0].documentLoaded,
      thresholdUpdateMsMedian: quantile(timings.update, 0.5),
      thresholdUpdateMsP95: quantile(timings.update, 0.95),
      thresholdHandlerMsMedian: quantile(timings.handler, 0.5),
      moves: timings.update.length,
    };
  } finally {
    await browser.close();
  }
}

/** The benchmark table's rows for the webview. */
export function webviewRows(w: WebviewBench): string[][] {
  if ('skipped' in w) return [['webview (10^5 records)', 'not measured', w.skipped, '']];
  return [
    [
      `webview first render (N=1e5, ${w.recordCount} records)`,
      `${w.firstRenderMs.toFixed(0)} ms`,
      `median of ${w.loads} loads of a ${w.htmlMB.toFixed(1)} MB page`,
      `on screen at ${w.firstPaintMs.toFixed(0)} ms; whole page read at ${w.documentLoadedMs.toFixed(0)} ms`,
    ],
    [
      'webview threshold update',
      `${w.thresholdUpdateMsMedian.toFixed(1)} ms median`,
      `p95 ${w.thresholdUpdateMsP95.toFixed(1)} ms over ${w.moves} moves`,
      `handler alone ${w.thresholdHandlerMsMedian.toFixed(2)} ms`,
    ],
  ];
}
