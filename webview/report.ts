import type { Curve, CurvePoint, DrilldownSample, Report } from '../src/shared/reportTypes';
import { macs, num, pct, thresholdText } from '../src/shared/format';
import { fires } from '../src/shared/policyRule';
import { providerName, summarizeProvider } from '../src/shared/providerText';
import {
  certifiedRule,
  guaranteeSentence,
  missesTargetOnTest,
  promiseSentence,
  riskSettingsText,
  shortfallText,
} from '../src/shared/riskText';
import { LineChart, Marker, barChart, lineChart, stackedBars } from './charts';
import { button, details, el, section, table } from './dom';
import { baseName, quality, speedupText } from './format';
import { domainAround } from './ticks';
import { exitClasses } from './tokenExit';
import { tokenSection } from './tokenView';
import {
  CostAxis,
  MeasuredCost,
  latencyUnit,
  measuredCost,
  measuredSavingSentence,
  plusMinus,
  significant,
  tradeoffAxis,
} from './costAxis';
import { pythonSnippet, thresholdsJson } from './snippets';

/**
 * Renders a report: header, per-exit table, layer-by-layer overthinking, trade-offs with
 * threshold controls, drill-down. Names from the model or data are always set as text.
 */
export interface ReportViewOptions {
  mode: 'panel' | 'static';
  runId: string;
  focusExit: number | null;
  /** Scroll the focused exit's row into view (not when re-rendering in place); default true. */
  scrollToFocus?: boolean;
  /** Slider positions restored from the page state, by policy kind. */
  sliders: Record<string, number>;
  onSlider(kind: string, index: number): void;
  /** The token view's policy, restored from the page state (decoders only). */
  tokenPolicy?: string;
  onTokenPolicy?(kind: string): void;
  /** The trade-off chart's speed-up axis, restored from the page state (reports with measured costs only). */
  costAxis?: CostAxis;
  onCostAxis?(axis: CostAxis): void;
  actions: {
    copy(what: 'json' | 'python', text: string): void;
    rerun?(): void;
    openInSidebar?(): void;
    export?(format: 'json' | 'markdown' | 'html'): void;
  };
}

const POLICY_CLASS: Record<string, string> = {
  confidence: 'c-conf',
  entropy: 'c-ent',
  margin: 'c-margin',
  patience: 'c-pat',
  'per-exit': 'c-perexit',
};
const POLICY_LABEL: Record<string, string> = {
  confidence: 'Confidence ≥ τ',
  entropy: 'Entropy ≤ τ',
  margin: 'Margin ≥ τ',
  patience: 'Patience t',
  'per-exit': 'Per-exit confidence',
};

/**
 * What the quality figure is called: a decoder's is token accuracy, or, unlabelled, its
 * consistency with the final layer (CALM); a classifier's is accuracy or agreement.
 */
function qualityName(r: Report): string {
  if (!r.samples.tokens) return quality(r);
  return r.samples.labelled ? 'token accuracy' : 'consistency with the final layer';
}

/** Agreement with the final exit: "consistency with the final layer" for a decoder. */
function agreementName(r: Report): string {
  return r.samples.tokens ? 'consistency with the final layer' : 'agreement';
}

/** What a sample is: a token position for a decoder. */
function unitName(r: Report): string {
  return r.samples.tokens ? 'positions' : 'samples';
}

const capitalised = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function qualityOf(r: Report, p: { accuracy: number | null; agreement: number }): number {
  return r.samples.labelled ? (p.accuracy ?? NaN) : p.agreement;
}

/**
 * The charts of one render, drawn together in one animation frame once the page is built:
 * every container's width is read first (one layout), then every chart is drawn, instead of
 * a forced layout per chart. Then marks the render on the page's performance timeline (the
 * benchmark reads these): `exit-lens:charts-drawn` when the charts are in the page, and
 * `exit-lens:report-rendered` in a task queued from that frame, so after its style, layout
 * and paint.
 */
class ChartFrame {
  private readonly jobs: { box: HTMLElement; draw(width: number): void }[] = [];

  add(box: HTMLElement, draw: (width: number) => void): void {
    this.jobs.push({ box, draw });
  }

  schedule(): void {
    requestAnimationFrame(() => {
      const widths = this.jobs.map((j) => j.box.clientWidth);
      this.jobs.forEach((j, i) => j.draw(widths[i]));
      mark('exit-lens:charts-drawn');
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        mark('exit-lens:report-rendered');
      };
      channel.port2.postMessage(null);
    });
  }
}

function mark(name: string): void {
  performance.clearMarks(name);
  performance.mark(name);
}

/** Local date and time as YYYY-MM-DD HH:MM; toLocaleString would load ICU's locale data during the first render (50-100 ms). */
function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** The curve point in force at a threshold (the policy's own comparison). */
export function pointAt(curve: Curve, threshold: number | null): number {
  if (threshold === null) return 0;
  let at = 0;
  curve.points.forEach((p, i) => {
    if (p.threshold === null) return;
    // A point's threshold is the score that fires there: the point is in force when that score
    // fires at the chosen threshold (the analysis' own rule, src/shared/policyRule.ts).
    if (fires(curve.kind, p.threshold, threshold)) at = i;
  });
  return at;
}

/** Whether moving a curve's slider right (to later points) makes the policy stricter: fewer early exits. */
export function sliderStricterRight(curve: Curve): boolean {
  const first = curve.points[0];
  const last = curve.points[curve.points.length - 1];
  return Boolean(first && last && first.speedup !== null && last.speedup !== null && last.speedup < first.speedup);
}

function header(r: Report, opts: ReportViewOptions): HTMLElement {
  const h = el('header', { class: 'report-header' });
  const title = r.model ? baseName(r.model.path) : baseName(r.logitsFile ?? 'logits');
  h.append(el('h1', {}, `Exit Lens · ${title}`));
  const meta = el('div', { class: 'meta' });
  const item = (label: string, value: string, titleText?: string) => {
    const s = el('span', { class: 'meta-item', title: titleText ?? value });
    s.append(el('span', { class: 'meta-label' }, label), el('span', { class: 'meta-value' }, value));
    meta.append(s);
  };
  const tk = r.samples.tokens;
  item(
    'Samples',
    tk
      ? `${baseName(r.samples.path)} · ${tk.positions} token positions of ${tk.sequences} sequences of ${tk.length} tokens (labels: ${tk.labels === 'next-token' ? 'next token' : 'labels array'})${r.samples.labelled ? '' : ' · unlabelled'}`
      : `${baseName(r.samples.path)} · N = ${r.samples.sampleCount}${r.samples.labelled ? '' : ' · unlabelled'}`,
    r.samples.path,
  );
  item('Exits', tk ? `${r.exitCount} · vocabulary of ${r.classCount}` : `${r.exitCount} · ${r.classCount} classes`);
  const ep = r.executionProvider;
  if (ep) {
    // The badge says what ran and at what precision; a GPU the user named and did not get is
    // called a fallback, the default order ending on the CPU only "no GPU available".
    const sp = summarizeProvider(ep);
    const gpus = sp.notUsed.map((n) => providerName(n.provider)).join(', ');
    const value =
      sp.tone === 'fallback'
        ? `${sp.badge} (fallback: ${gpus} not usable)`
        : sp.tone === 'neutral' && sp.notUsed.length
          ? `${sp.badge} (no GPU available)`
          : sp.badge;
    const why = [
      sp.line,
      ...sp.notUsed.map((n) => `${providerName(n.provider)}: ${n.reason}${n.nextStep ? `\n  ${n.nextStep}` : ''}`),
    ].join('\n');
    item('Provider', value, why);
  } else item('Provider', 'none (precomputed logits)');
  item('Created', localTime(r.createdAt), r.createdAt);
  const c = r.samples.calibration;
  item(
    'Thresholds fitted on',
    c.source === 'file'
      ? `${baseName(c.path ?? '')} (${c.sampleCount})`
      : c.source === 'split'
        ? `seeded split (${c.sampleCount} / ${c.testSampleCount})`
        : 'none',
    c.path ?? '',
  );
  h.append(meta);
  if (r.warnings.length) {
    const list = el('ul', { class: 'warnings', 'aria-label': 'Warnings' });
    for (const w of r.warnings) list.append(el('li', { class: `warning w-${w.code}` }, w.message));
    h.append(list);
  }
  const bar = el('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Report actions' });
  bar.append(button('Copy thresholds (JSON)', () => opts.actions.copy('json', thresholdsJson(r)), 'secondary'));
  bar.append(button('Copy Python snippet', () => opts.actions.copy('python', pythonSnippet(r)), 'secondary'));
  if (opts.actions.rerun) bar.append(button('Re-run', () => opts.actions.rerun!(), 'secondary'));
  if (opts.actions.openInSidebar)
    bar.append(button('Open in sidebar', () => opts.actions.openInSidebar!(), 'secondary'));
  if (opts.actions.export) {
    bar.append(button('Export HTML', () => opts.actions.export!('html'), 'secondary'));
    bar.append(button('Export Markdown', () => opts.actions.export!('markdown'), 'secondary'));
  }
  h.append(bar);
  return h;
}

function exitTable(r: Report, focus: number | null): HTMLElement {
  const best = r.suggestions.find((s) => s.best);
  const perExit = r.suggestions.find((s) => s.policy === 'per-exit');
  const rel = r.cost.source === 'relative';
  // With --cost measured, the measured latency beside the static MACs (costAxis.ts).
  const m = measuredCost(r);
  const lu = latencyUnit(m?.baseline.batch ?? 1);
  const ms = (v: number, spread: number) => plusMinus(v * lu.scale, (spread / 2) * lu.scale);
  const head = [
    'Exit',
    'Name',
    r.samples.tokens ? 'Token accuracy' : 'Accuracy',
    'Mean conf.',
    'ECE',
    r.samples.tokens ? 'Consistency w/ final layer' : 'Agree w/ final',
    rel ? 'Cost (rel.)' : 'MACs',
    '% baseline',
    ...(m ? [`${lu.unit}/sample, batch ${m.batchSize}`, `${lu.unit}/sample, batch 1`, '% measured baseline'] : []),
    best ? `Exits here (${best.policy})` : 'Exits here',
    'Suggested τ',
  ];
  const rows = r.exits.map((e) => {
    const share = best ? best.test.exitHistogram[e.index] / Math.max(1, best.test.sampleCount) : null;
    const tau =
      perExit && Array.isArray(perExit.threshold) && e.index < r.exitCount - 1 ? perExit.threshold[e.index] : undefined;
    return [
      String(e.index),
      e.name,
      pct(e.accuracy, 2),
      num(e.meanConfidence),
      num(e.ece, 4),
      pct(e.agreement, 2),
      macs(e.macs, rel),
      pct(e.relativeCost),
      ...(m
        ? [
            ms(m.exits[e.index].batch, m.exits[e.index].spread.batch),
            ms(m.exits[e.index].batch1, m.exits[e.index].spread.batch1),
            pct(m.exits[e.index].batch / m.baseline.batch),
          ]
        : []),
      share === null ? '–' : pct(share, 1),
      tau === undefined
        ? e.index === r.exitCount - 1
          ? 'final'
          : '–'
        : tau === null
          ? 'never'
          : `conf ≥ ${tau.toFixed(3)}`,
    ];
  });
  const numeric = m ? [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] : [0, 2, 3, 4, 5, 6, 7, 8];
  const t = table(head, rows, { numeric, caption: 'Per-exit metrics' });
  t.querySelectorAll('tbody tr').forEach((tr, i) => {
    tr.setAttribute('data-exit', String(i));
    if (focus === i) tr.classList.add('focused');
    if (!m) return;
    const l = m.exits[i];
    const cells = tr.querySelectorAll('td');
    const tip = (batch: number, median: number, spread: number, repeats: number) =>
      `exit ${i} at batch ${batch}: median ${significant(median * lu.scale)} ${lu.unit} per sample, interquartile range ${significant(spread * lu.scale, 2)} ${lu.unit}, ${repeats} repeats`;
    cells[8]?.setAttribute('title', tip(m.batchSize, l.batch, l.spread.batch, l.repeats.batch));
    cells[9]?.setAttribute('title', tip(1, l.batch1, l.spread.batch1, l.repeats.batch1));
    cells[10]?.setAttribute(
      'title',
      `${significant(l.batch * lu.scale)} of the baseline's ${significant(m.baseline.batch * lu.scale)} ${lu.unit} per sample at batch ${m.batchSize}`,
    );
  });
  if (m) t.classList.add('measured');
  const wrap = el('div', { class: 'table-wrap' });
  wrap.append(t);
  const note = el(
    'p',
    { class: 'note' },
    `${r.samples.tokens ? 'MACs per token' : 'MACs per sample'} of exiting at k (heads of earlier exits included); baseline = the model without early exits (${macs(r.baselineMacs, rel)}). "Exits here" is the share of test ${unitName(r)} stopping at each exit under the best suggestion; "Suggested τ" is the per-exit confidence vector.`,
  );
  const box = el('div');
  box.append(wrap, note);
  const how = measuredNote(r, m, lu);
  if (how) box.append(how);
  return box;
}

/**
 * How the latencies of the table were measured, or why measured cost is unavailable; null
 * when the run did not ask for measured cost.
 */
function measuredNote(r: Report, m: MeasuredCost | null, lu: { unit: string; scale: number }): HTMLElement | null {
  const info = r.cost.measured;
  if (!info) return null;
  if (info.unavailable !== null || !m)
    return el(
      'p',
      { class: 'note measured-note unavailable' },
      `Measured cost is unavailable: ${info.unavailable ?? 'the report holds no latencies.'} Speed-ups use the static costs.`,
    );
  const b = m.baseline;
  return el(
    'p',
    { class: 'note measured-note' },
    `Measured latency on ${m.provider} (${m.precision}): ${lu.unit} per sample, the median ± half the interquartile range, at batch ${m.batchSize} and at batch 1; the model without early exits takes ${significant(b.batch * lu.scale)} ${lu.unit} per sample at batch ${m.batchSize} and ${significant(b.batch1 * lu.scale)} ${lu.unit} at batch 1. Speed-ups and mean costs below are by measured latency at batch ${m.batchSize}. ${m.method}`,
  );
}

function overthinkingSection(r: Report, charts: ChartFrame): HTMLElement {
  const box = el('div', { class: 'grid' });
  const o = r.overthinking;
  const accPanel = el('div', { class: 'card' });
  accPanel.append(
    el(
      'h3',
      {},
      r.samples.tokens
        ? `${capitalised(qualityName(r))} by exit`
        : r.samples.labelled
          ? 'Accuracy by exit'
          : 'Agreement with the final exit by exit',
    ),
  );
  const accChart = el('div', { class: 'chart-box' });
  accPanel.append(accChart);
  box.append(accPanel);
  charts.add(accChart, (width) => {
    const series = [
      {
        name: qualityName(r),
        cls: 'c-conf',
        dots: true,
        points: r.exits.map((e) => [e.index, qualityOf(r, e)] as [number, number]),
      },
    ];
    if (o)
      series.push({
        name: 'oracle accuracy',
        cls: 'c-oracle',
        dots: false,
        points: [
          [0, o.oracleAccuracy],
          [r.exitCount - 1, o.oracleAccuracy],
        ],
        dashed: true,
      } as never);
    lineChart(accChart, {
      ariaLabel: `${qualityName(r)} at each exit: ${r.exits.map((e) => `exit ${e.index} ${pct(qualityOf(r, e), 1)}`).join(', ')}${o ? `; oracle ${pct(o.oracleAccuracy, 1)}` : ''}`,
      xLabel: 'exit',
      yLabel: qualityName(r),
      series,
      xFormat: (v) => (Number.isInteger(v) ? String(v) : ''),
      yFormat: (v, digits) => pct(v, digits),
      height: 200,
      width,
    });
  });
  accPanel.append(
    details(
      'Table',
      table(
        ['Exit', qualityName(r)],
        r.exits.map((e) => [String(e.index), pct(qualityOf(r, e), 2)]),
        { numeric: [0, 1] },
      ),
    ),
  );
  if (!o) {
    box.append(el('p', { class: 'note' }, 'Overthinking needs labels: this sample set has none.'));
    return box;
  }
  const stats = el('div', { class: 'card stats' });
  stats.append(el('h3', {}, 'Overthinking'));
  const stat = (label: string, value: string, help: string) => {
    const d = el('div', { class: 'stat', title: help });
    d.append(el('div', { class: 'stat-value' }, value), el('div', { class: 'stat-label' }, label));
    stats.append(d);
  };
  stat('destructive', pct(o.destructiveRate, 2), 'Right at some exit, wrong at the final one');
  stat(
    'wasteful',
    pct(o.wastefulRate, 2),
    'Right earlier and at the end: the compute after the first correct exit is wasted',
  );
  stat('oracle accuracy', pct(o.oracleAccuracy, 2), 'Some exit is right');
  stat(
    measuredCost(r) ? 'oracle speed-up (measured)' : 'oracle speed-up',
    speedupText(o.oracleSpeedup),
    'Exiting at the first correct exit (else the final one): baseline / mean cost',
  );
  box.append(stats);

  const histPanel = el('div', { class: 'card' });
  histPanel.append(el('h3', {}, 'First correct exit'));
  const histChart = el('div', { class: 'chart-box' });
  histPanel.append(histChart);
  const labels = [...r.exits.map((e) => String(e.index)), 'never'];
  charts.add(histChart, (width) =>
    barChart(histChart, {
      ariaLabel: `${capitalised(unitName(r))} by first correct exit: ${labels.map((l, i) => `${l}: ${o.firstCorrectHistogram[i]}`).join(', ')}`,
      yLabel: unitName(r),
      bars: labels.map((l, i) => ({
        label: l,
        value: o.firstCorrectHistogram[i],
        cls: l === 'never' ? 'c-wrong' : 'c-conf',
      })),
      format: (v) => String(Math.round(v)),
      height: 200,
      width,
    }),
  );
  histPanel.append(
    details(
      'Table',
      table(
        ['First correct exit', capitalised(unitName(r))],
        labels.map((l, i) => [l, String(o.firstCorrectHistogram[i])]),
        { numeric: [1] },
      ),
    ),
  );
  box.append(histPanel);
  const settling = settlingCard(r, charts);
  if (settling) box.append(settling);

  const flowPanel = el('div', { class: 'card wide' });
  flowPanel.append(el('h3', {}, 'Right/wrong flow between consecutive exits'));
  const legend = el('div', { class: 'legend' });
  for (const [cls, name] of [
    ['c-rr', 'right → right'],
    ['c-rw', 'right → wrong'],
    ['c-wr', 'wrong → right'],
    ['c-ww', 'wrong → wrong'],
  ]) {
    const s = el('span', { class: 'legend-item' });
    s.append(el('span', { class: `swatch ${cls}` }), document.createTextNode(name));
    legend.append(s);
  }
  flowPanel.append(legend);
  const flowChart = el('div', { class: 'chart-box' });
  flowPanel.append(flowChart);
  charts.add(flowChart, (width) =>
    stackedBars(flowChart, {
      ariaLabel: `Transitions between exits: ${o.transitions.map((t) => `${t.from}→${t.to}: ${t.rr} stay right, ${t.rw} become wrong, ${t.wr} become right, ${t.ww} stay wrong`).join('; ')}`,
      rows: o.transitions.map((t) => ({
        label: `${t.from} → ${t.to}`,
        parts: [
          { name: 'right → right', value: t.rr, cls: 'c-rr' },
          { name: 'right → wrong', value: t.rw, cls: 'c-rw' },
          { name: 'wrong → right', value: t.wr, cls: 'c-wr' },
          { name: 'wrong → wrong', value: t.ww, cls: 'c-ww' },
        ],
      })),
      width,
    }),
  );
  flowPanel.append(
    details(
      'Table',
      table(
        ['Exits', 'right→right', 'right→wrong', 'wrong→right', 'wrong→wrong'],
        o.transitions.map((t) => [`${t.from} → ${t.to}`, String(t.rr), String(t.rw), String(t.wr), String(t.ww)]),
        { numeric: [1, 2, 3, 4] },
      ),
    ),
  );
  box.append(flowPanel);
  return box;
}

/**
 * A decoder's settling exits (docs/metrics.md "Token-level exits"): how many positions settle
 * at each exit, with the mean. Shown for decoders only, where early layers often already hold
 * the final prediction.
 */
function settlingCard(r: Report, charts: ChartFrame): HTMLElement | null {
  const hist = r.overthinking?.settlingHistogram;
  if (!r.samples.tokens || !hist || hist.length !== r.exitCount) return null;
  const mean = r.overthinking?.meanSettlingExit;
  const total = hist.reduce((a, b) => a + b, 0) || 1;
  const panel = el('div', { class: 'card settling' });
  panel.append(el('h3', {}, 'Settling exit'));
  panel.append(
    el(
      'p',
      { class: 'note' },
      `A position's settling exit is the layer from which the final prediction no longer changes: that exit and every later one predict what the final exit predicts.${mean === undefined ? '' : ` Mean settling exit: ${mean.toFixed(2)}.`}`,
    ),
  );
  const chart = el('div', { class: 'chart-box' });
  panel.append(chart);
  const labels = r.exits.map((e) => String(e.index));
  charts.add(chart, (width) =>
    barChart(chart, {
      ariaLabel: `Positions by settling exit: ${labels.map((l, i) => `${l}: ${hist[i]}`).join(', ')}${mean === undefined ? '' : `; mean ${mean.toFixed(2)}`}`,
      yLabel: 'positions',
      bars: labels.map((l, i) => ({
        label: l,
        value: hist[i],
        cls: `xc ${exitClasses(i, r.exitCount)}`,
        title: `settle at exit ${l}: ${hist[i]} positions (${pct(hist[i] / total, 1)})`,
      })),
      format: (v) => String(Math.round(v)),
      height: 200,
      width,
      mean,
    }),
  );
  panel.append(
    details(
      'Table',
      table(
        ['Settling exit', 'Positions', 'Share'],
        labels.map((l, i) => [l, String(hist[i]), pct(hist[i] / total, 1)]),
        { numeric: [1, 2] },
      ),
    ),
  );
  return panel;
}

interface PolicyControl {
  kind: string;
  curve: Curve;
  slider: HTMLInputElement;
  readout: HTMLElement;
  hist: HTMLElement[];
}

function tradeoffSection(r: Report, opts: ReportViewOptions, charts: ChartFrame): HTMLElement {
  const box = el('div', { class: 'tradeoffs' });
  const chartBox = el('div', { class: 'chart-box tall' });
  const chartCard = el('div', { class: 'card wide' });
  chartCard.append(el('h3', {}, `${capitalised(qualityName(r))} against speed-up`));
  const legend = el('div', { class: 'legend' });
  for (const kind of ['confidence', 'entropy', 'margin', 'patience']) {
    const s = el('span', { class: 'legend-item' });
    s.append(el('span', { class: `swatch ${POLICY_CLASS[kind]}` }), document.createTextNode(POLICY_LABEL[kind]));
    legend.append(s);
  }
  for (const [cls, name] of [
    ['c-frontier', 'Pareto frontier'],
    ['c-full', 'full model'],
    ['c-suggest', 'suggestions'],
  ]) {
    const s = el('span', { class: 'legend-item' });
    s.append(el('span', { class: `swatch ${cls}` }), document.createTextNode(name));
    legend.append(s);
  }
  chartCard.append(legend, chartBox);
  const frontierTotal = r.curves.frontierTotalPoints ?? r.curves.frontier.length;
  if (frontierTotal > r.curves.frontier.length)
    chartCard.append(
      el(
        'p',
        { class: 'note' },
        `Pareto frontier: ${r.curves.frontier.length} of its ${frontierTotal} exact points, spread along it.`,
      ),
    );
  box.append(chartCard);
  const curves: Curve[] = [r.curves.confidence, r.curves.entropy, r.curves.margin, r.curves.patience];
  // The speed-up axis: the report's own cost, or, with measured costs, a choice of the measured
  // latency (the report's figures) and the MACs worked out from each point's histogram.
  const measured = measuredCost(r);
  let axis: CostAxis = measured ? (opts.costAxis ?? 'measured') : 'macs';
  let ax = tradeoffAxis(r, axis);
  const macsAxis = measured ? tradeoffAxis(r, 'macs') : null;
  const speedup = (p: { meanCost: number; exitHistogram: number[] }) => ax.x(p);
  const controls: PolicyControl[] = [];
  let chart: LineChart | null = null;
  const full = r.exits[r.exitCount - 1];
  const fullPoint: [number, number] = [ax.fullX, qualityOf(r, full)];

  const controlsCard = el('div', { class: 'card wide' });
  controlsCard.append(el('h3', {}, 'Operating point by policy'));
  controlsCard.append(
    el(
      'p',
      { class: 'note' },
      'Move a threshold to see its operating point on the whole sample set (exact curves, no recomputation). Suggested thresholds are fitted on the calibration split.',
    ),
  );
  const grid = el('div', { class: 'controls' });
  controlsCard.append(grid);
  box.append(controlsCard);

  const update = (c: PolicyControl, index: number) => {
    const p: CurvePoint = c.curve.points[index];
    const tText =
      p.threshold === null
        ? c.kind === 'patience'
          ? '0 (no early exit)'
          : 'none fires (full model)'
        : c.kind === 'patience'
          ? String(p.threshold)
          : p.threshold.toFixed(4);
    const byMacs = macsAxis ? ` measured (${speedupText(macsAxis.x(p))} by MACs)` : '';
    c.readout.textContent = `${c.kind === 'patience' ? 't' : 'τ'} = ${tText} · ${qualityName(r)} ${pct(qualityOf(r, p), 2)} · speed-up ${speedupText(p.speedup)}${byMacs} · saving ${pct(p.saving, 1)}`;
    const total = p.exitHistogram.reduce((a, b) => a + b, 0) || 1;
    p.exitHistogram.forEach((h, k) => {
      const bar = c.hist[k];
      bar.style.height = `${Math.round((100 * h) / total)}%`;
      bar.title = `exit ${k}: ${h} ${unitName(r)} (${pct(h / total, 1)})`;
    });
    c.slider.setAttribute('aria-valuetext', c.readout.textContent ?? '');
    chart?.setMarker({
      id: `op-${c.kind}`,
      x: speedup(p),
      y: qualityOf(r, p),
      cls: `${POLICY_CLASS[c.kind]} op`,
      label: `${POLICY_LABEL[c.kind]}: ${c.readout.textContent}`,
      shape: 'circle',
    });
  };

  for (const curve of curves) {
    if (curve.points.length === 0) continue;
    const kind = curve.kind;
    const row = el('div', { class: `control ${POLICY_CLASS[kind]}` });
    const id = `slider-${kind}`;
    const label = el('label', { for: id, class: 'control-label' });
    label.append(el('span', { class: `swatch ${POLICY_CLASS[kind]}` }), document.createTextNode(POLICY_LABEL[kind]));
    const suggestion = r.suggestions.find((s) => s.policy === kind);
    const start = opts.sliders[kind] ?? (suggestion ? pointAt(curve, suggestion.threshold as number | null) : 0);
    const slider = el('input', {
      id,
      type: 'range',
      min: '0',
      max: String(curve.points.length - 1),
      step: '1',
      value: String(Math.min(start, curve.points.length - 1)),
      class: 'slider',
    }) as HTMLInputElement;
    const readout = el('div', { class: 'readout', 'aria-live': 'polite' });
    const histBox = el('div', { class: 'mini-hist', role: 'img', 'aria-label': `exit histogram for ${kind}` });
    const hist: HTMLElement[] = [];
    for (let k = 0; k < r.exitCount; k++) {
      const col = el('div', { class: 'mini-col' });
      const bar = el('div', { class: `mini-bar ${POLICY_CLASS[kind]}` });
      col.append(bar, el('div', { class: 'mini-label' }, String(k)));
      histBox.append(col);
      hist.push(bar);
    }
    const c: PolicyControl = { kind, curve, slider, readout, hist };
    controls.push(c);
    slider.addEventListener('input', () => {
      const i = Number(slider.value);
      update(c, i);
      opts.onSlider(kind, i);
    });
    const info = el('div', { class: 'control-info' });
    info.append(readout, histBox);
    // Which way is stricter: the curve runs from the full model to the most exits for the score
    // policies, the other way for patience (a larger t waits longer).
    const stricterRight = sliderStricterRight(curve);
    const ends = el('div', { class: 'slider-ends', id: `${id}-ends` });
    ends.append(
      el('span', {}, stricterRight ? '← faster' : '← stricter'),
      el('span', {}, stricterRight ? 'stricter →' : 'faster →'),
    );
    slider.setAttribute('aria-describedby', `${id}-ends`);
    const sliderBox = el('div', { class: 'slider-box' });
    sliderBox.append(slider, ends);
    row.append(label, sliderBox, info);
    if (curve.thinned)
      row.append(el('div', { class: 'note' }, `${curve.points.length} of ${curve.totalPoints} exact points shown`));
    grid.append(row);
  }

  const suggestionTable = table(
    [
      'Policy',
      'Threshold',
      `Calib. ${qualityName(r)}`,
      `Test ${qualityName(r)}`,
      r.samples.tokens ? 'Test consistency' : 'Test agreement',
      measured ? 'Test speed-up (measured)' : 'Test speed-up',
      'Test exits per exit',
    ],
    r.suggestions.map((s) => [
      `${POLICY_LABEL[s.policy] ?? s.policy}${s.best ? ' ★' : ''}`,
      thresholdText(s.threshold),
      pct(r.samples.labelled ? s.calibration.accuracy : s.calibration.agreement, 2),
      pct(r.samples.labelled ? s.test.accuracy : s.test.agreement, 2),
      pct(s.test.agreement, 2),
      speedupText(s.test.speedup),
      s.test.exitHistogram.join(' / '),
    ]),
    { numeric: [2, 3, 4, 5], caption: 'Suggested thresholds (★ = cheapest on calibration)' },
  );
  // A suggestion met its target on calibration only: say so in its row where the test split
  // falls short (words and a symbol, not colour alone; the exact figures in the tooltip).
  const missed = r.suggestions.map(missesTargetOnTest);
  suggestionTable.querySelectorAll('tbody tr').forEach((tr, i) => {
    const s = r.suggestions[i];
    if (!missed[i]) return;
    const why = `${shortfallText(s)}: met on the calibration split only`;
    const mark = el('span', { class: 'target-miss', title: why }, '⚠ below target on test');
    mark.append(el('span', { class: 'sr-only' }, ` (${why})`));
    tr.querySelector('td')?.append(mark);
  });
  const sugCard = el('div', { class: 'card wide' });
  sugCard.append(el('h3', {}, 'Suggested thresholds'));
  if (r.suggestions.length) {
    sugCard.append(
      el(
        'p',
        { class: 'note' },
        `Target: ${qualityName(r)} ≥ ${pct(r.suggestions[0].target, 2)} on the calibration split (final exit minus ${pct(r.settings.maxAccuracyDrop, 1)}), lowest mean cost; figures on the held-out test split.${missed.some(Boolean) ? ` ⚠ marks a suggestion whose test figure falls short of the target: it was met on calibration only${r.guarantees?.length ? '; the thresholds with a guarantee below bound the risk instead' : ''}.` : ''}`,
      ),
    );
    const wrap = el('div', { class: 'table-wrap' });
    wrap.append(suggestionTable);
    sugCard.append(wrap);
  } else sugCard.append(el('p', { class: 'note' }, 'No suggestions: the sample set is too small to split.'));
  const guarantees = guaranteeBlock(r);
  if (guarantees) sugCard.append(guarantees);
  box.append(sugCard);

  // The chart opens on the suggestions and the full model; the toggle shows the whole curve.
  let zoomed = true;
  let lastWidth = 0;
  const zoomButton = button(
    'Whole curve',
    () => {
      zoomed = !zoomed;
      zoomButton.textContent = zoomed ? 'Whole curve' : 'Suggestions';
      zoomButton.setAttribute('aria-pressed', String(!zoomed));
      drawTradeoff(chartBox.clientWidth || lastWidth);
    },
    'secondary',
  );
  zoomButton.setAttribute('aria-pressed', 'false');
  zoomButton.title = 'Switch between the region of the suggestions and the whole curve';
  const axisNote = el(
    'p',
    { class: 'note axis-note' },
    "By MACs: each point's mean MACs from its exit histogram; the frontier is drawn through the curves' points (the report's own frontier is by measured latency).",
  );
  const tools = el('div', { class: 'chart-tools' });
  tools.append(zoomButton);
  legend.after(tools);
  if (measured) {
    // The toggle names the axis it switches to; aria-pressed says whether the MACs axis is on.
    const showAxis = () => {
      axisButton.textContent = axis === 'measured' ? 'Speed-up by MACs' : 'Speed-up by measured latency';
      axisButton.setAttribute('aria-pressed', String(axis === 'macs'));
    };
    const axisButton = button(
      '',
      () => {
        axis = axis === 'measured' ? 'macs' : 'measured';
        ax = tradeoffAxis(r, axis);
        showAxis();
        opts.onCostAxis?.(axis);
        drawTradeoff(chartBox.clientWidth || lastWidth);
      },
      'secondary',
    );
    axisButton.classList.add('axis-toggle');
    showAxis();
    axisButton.title = `Switch the speed-up axis between the latency measured on ${measured.provider} at batch ${measured.batchSize} and the static MACs of the same operating points`;
    tools.append(axisButton);
    chartBox.after(axisNote);
  }
  const drawTradeoff = (width: number) => {
    lastWidth = width;
    fullPoint[0] = ax.fullX;
    axisNote.hidden = axis !== 'macs';
    const series = curves.map((c) => ({
      name: POLICY_LABEL[c.kind],
      cls: POLICY_CLASS[c.kind],
      dots: c.kind === 'patience',
      points: c.points.map((p) => [speedup(p), qualityOf(r, p)] as [number, number]).sort((a, b) => a[0] - b[0]),
    }));
    series.push({
      name: 'Pareto frontier',
      cls: 'c-frontier',
      dots: false,
      points: ax.frontier(),
      width: 2.5,
    } as never);
    const markers: Marker[] = [
      {
        id: 'full',
        x: fullPoint[0],
        y: fullPoint[1],
        cls: 'c-full',
        label: `Full model (final exit): ${pct(fullPoint[1], 2)}, ${speedupText(fullPoint[0])}`,
        shape: 'square',
      },
    ];
    for (const s of r.suggestions) {
      if (s.policy === 'per-exit') continue;
      const curve = r.curves[s.policy as 'confidence'];
      const p = curve.points[pointAt(curve, s.threshold as number | null)];
      if (p)
        markers.push({
          id: `sug-${s.policy}`,
          x: speedup(p),
          y: qualityOf(r, p),
          cls: `c-suggest ${POLICY_CLASS[s.policy]}`,
          label: `Suggested ${s.policy} ${thresholdText(s.threshold)}: ${pct(qualityOf(r, p), 2)}, ${speedupText(speedup(p))}${measured ? (axis === 'measured' ? ' measured' : ' by MACs') : ''} on the whole set`,
          shape: 'diamond',
        });
    }
    const near = markers.filter((m) => m.id === 'full' || m.id.startsWith('sug-'));
    const xZoom =
      zoomed && near.length > 1
        ? domainAround(
            near.map((m) => m.x),
            0.25,
            true,
          )
        : null;
    const yZoom =
      zoomed && near.length > 1
        ? domainAround(
            near.map((m) => m.y),
            0.5,
          )
        : null;
    chart = lineChart(chartBox, {
      xDomain: xZoom ?? undefined,
      yDomain: yZoom ?? undefined,
      ariaLabel: `${qualityName(r)} against ${ax.label} for the confidence, entropy, margin and patience policies, with the Pareto frontier; full model at ${pct(fullPoint[1], 1)}, ${speedupText(fullPoint[0])}. The table below lists the suggestions.`,
      xLabel: ax.label,
      yLabel: qualityName(r),
      series,
      markers,
      xFormat: (v, digits) => `${v.toFixed(Math.max(digits, v >= 10 ? 0 : 1))}×`,
      yFormat: (v, digits) => pct(v, digits),
      xLog: true,
      height: 300,
      width,
    });
    for (const c of controls) update(c, Number(c.slider.value));
  };
  charts.add(chartBox, drawTradeoff);
  for (const c of controls) update(c, Number(c.slider.value));
  box.append(
    details(
      'Policy grid table',
      table(
        [
          'Policy',
          'Threshold',
          qualityName(r),
          capitalised(agreementName(r)),
          measured ? 'Speed-up (measured)' : 'Speed-up',
          'Exit histogram',
        ],
        r.policies.map((p) => [
          p.kind,
          String(p.threshold),
          pct(qualityOf(r, p), 2),
          pct(p.agreement, 2),
          speedupText(p.speedup),
          p.exitHistogram.join(' / '),
        ]),
        { numeric: [1, 2, 3, 4] },
      ),
    ),
  );
  return box;
}

/**
 * The thresholds with a guarantee (docs/metrics.md "Thresholds with a guarantee"), under the
 * suggestions: the promise in one sentence, one row per policy, and why per-exit vectors have
 * none. Null for a report written before the guarantees.
 */
function guaranteeBlock(r: Report): HTMLElement | null {
  const gs = r.guarantees ?? [];
  if (gs.length === 0) return null;
  const risk = r.settings.risk ?? gs[0];
  const box = el('div', { class: 'guarantees' });
  box.append(el('h3', {}, 'Thresholds with a guarantee'));
  box.append(el('p', { class: 'guarantee-sentence' }, promiseSentence(risk)));
  box.append(
    el(
      'p',
      { class: 'note' },
      `Certified by Learn-then-Test on the ${gs[0].n} calibration samples (${risk.loss} loss, ${riskSettingsText(risk)}): each policy's most aggressive threshold that keeps the guarantee; figures on the held-out test split.`,
    ),
  );
  const t = table(
    [
      'Policy',
      'Certified threshold',
      'Calib. risk (k/n)',
      'Test risk',
      `Test ${qualityName(r)}`,
      measuredCost(r) ? 'Test speed-up (measured)' : 'Test speed-up',
      'Test exits per exit',
    ],
    gs.map((g) => [
      POLICY_LABEL[g.policy] ?? g.policy,
      g.threshold === null ? 'none certified — full model' : certifiedRule(g),
      `${g.calibration.losses}/${g.n} = ${pct(g.calibration.risk, 2)}`,
      pct(g.test.risk, 2),
      pct(qualityOf(r, g.test), 2),
      speedupText(g.test.speedup),
      g.test.exitHistogram.join(' / '),
    ]),
    { numeric: [2, 3, 4, 5], caption: 'Thresholds with a guarantee' },
  );
  t.classList.add('guarantee-table');
  t.querySelectorAll('tbody tr').forEach((tr, i) => {
    tr.setAttribute('data-policy', gs[i].policy);
    tr.querySelectorAll('td')[1]?.setAttribute('title', guaranteeSentence(gs[i]));
  });
  const wrap = el('div', { class: 'table-wrap' });
  wrap.append(t);
  box.append(wrap);
  if (gs.some((g) => g.threshold === null))
    box.append(
      el(
        'p',
        { class: 'note' },
        `None certified: even the most conservative threshold could not be shown to keep the risk within ${pct(risk.epsilon, 1)}, so only the full model carries the guarantee; more calibration samples or a larger ε can certify one.`,
      ),
    );
  box.append(
    el(
      'p',
      { class: 'note' },
      'Per-exit threshold vectors get no guarantee: fixed-sequence testing needs one order of the thresholds from the most conservative, and a vector has none (many vectors are equally conservative).',
    ),
  );
  return box;
}

function previewElement(s: DrilldownSample): HTMLElement {
  const input = s.input;
  if (input?.kind === 'image') {
    const canvas = document.createElement('canvas');
    canvas.width = input.width;
    canvas.height = input.height;
    canvas.className = 'thumb';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `input image of sample ${s.index}`);
    const ctx = canvas.getContext('2d');
    if (ctx) {
      const raw = atob(input.pixels);
      const img = ctx.createImageData(input.width, input.height);
      for (let i = 0; i < input.width * input.height; i++) {
        for (let c = 0; c < 3; c++)
          img.data[i * 4 + c] = raw.charCodeAt(i * input.channels + (input.channels === 3 ? c : 0));
        img.data[i * 4 + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    return canvas;
  }
  if (input?.kind === 'tokens')
    return el('code', { class: 'tokens' }, `${input.ids.join(' ')}${input.truncated ? ' …' : ''}`);
  if (input?.kind === 'values')
    return el(
      'code',
      { class: 'tokens' },
      `${input.values.map((v) => v.toPrecision(3)).join(' ')}${input.truncated ? ' …' : ''}`,
    );
  return el('span', { class: 'note' }, 'no input preview');
}

function drilldownSection(r: Report): HTMLElement {
  const box = el('div');
  // What exiting saves in wall time on the device that measured it (--cost measured).
  const saving = measuredSavingSentence(r);
  if (saving) box.append(el('p', { class: 'measured-saving' }, saving));
  const d = r.drilldown;
  if (!d || d.samples.length === 0) {
    box.append(
      el(
        'p',
        { class: 'note' },
        d
          ? 'No sample overthinks destructively: every sample right at some exit is right at the final exit.'
          : 'Drill-down needs labels.',
      ),
    );
    return box;
  }
  box.append(
    el(
      'p',
      { class: 'note' },
      `${d.destructiveCount} samples are right at some exit but wrong at the final one; the first ${d.samples.length} are shown. Green: the exit is right; red: wrong.`,
    ),
  );
  const grid = el('div', { class: 'samples' });
  for (const s of d.samples) {
    const card = el('div', {
      class: 'sample',
      tabindex: '0',
      'aria-label': `sample ${s.index}, label ${s.label}, first correct at exit ${s.firstCorrect}`,
    });
    const top = el('div', { class: 'sample-top' });
    top.append(previewElement(s));
    const info = el('div', { class: 'sample-info' });
    info.append(
      el('div', {}, `#${s.index}`),
      el('div', {}, `label ${s.label}`),
      el('div', {}, `first right: exit ${s.firstCorrect}`),
    );
    top.append(info);
    card.append(top);
    const chips = el('div', { class: 'chips' });
    s.preds.forEach((p, k) => {
      chips.append(
        el(
          'span',
          {
            class: `chip ${p === s.label ? 'right' : 'wrong'}`,
            title: `exit ${k}: predicts ${p} with confidence ${s.confs[k].toFixed(3)}`,
          },
          `${k}: ${p === -1 ? 'NaN' : p} (${s.confs[k].toFixed(2)})`,
        ),
      );
    });
    card.append(chips);
    grid.append(card);
  }
  box.append(grid);
  return box;
}

export function renderReport(root: HTMLElement, r: Report, opts: ReportViewOptions): void {
  const charts = new ChartFrame();
  root.replaceChildren();
  root.append(header(r, opts));
  root.append(section('exits', 'Per-exit accuracy and cost', exitTable(r, opts.focusExit)));
  root.append(section('overthinking', 'Layer-by-layer overthinking', overthinkingSection(r, charts)));
  const tradeoffs = tradeoffSection(r, opts, charts);
  root.append(section('tradeoffs', 'Exit policies and trade-offs', tradeoffs));
  const tokens = tokenSection(r, {
    policy: (['confidence', 'entropy', 'margin', 'patience'] as const).find((k) => k === opts.tokenPolicy) ?? null,
    onPolicy: (kind) => opts.onTokenPolicy?.(kind),
    slider: (kind) => tradeoffs.querySelector<HTMLInputElement>(`#slider-${kind}`),
  });
  if (tokens) root.append(section('tokens', 'Tokens: the exit each prediction takes', tokens));
  root.append(section('drilldown', 'Drill-down: destructive overthinking', drilldownSection(r)));
  if (opts.focusExit !== null && opts.scrollToFocus !== false) focusExit(root, opts.focusExit);
  charts.schedule();
}

export function focusExit(root: HTMLElement, exit: number): void {
  root.querySelectorAll('tr.focused').forEach((tr) => tr.classList.remove('focused'));
  const row = root.querySelector<HTMLElement>(`tr[data-exit="${exit}"]`);
  if (row) {
    row.classList.add('focused');
    row.scrollIntoView({ block: 'center' });
  }
}
