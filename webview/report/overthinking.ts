import type { Overthinking, Report } from '../../src/shared/reportTypes';
import { pct } from '../../src/shared/format';
import { qualityName, qualityOf, qualityPhrase, unitName } from '../../src/shared/quality';
import { barChart, lineChart, stackedBars } from '../charts';
import { measuredCost } from '../costAxis';
import { details, el, table } from '../dom';
import { capitalised, speedupText } from '../format';
import type { ChartFrame } from './frame';
import { exitClasses } from './tokenExit';

/**
 * The layer-by-layer overthinking card (Kaya et al., Shallow-Deep Networks, ICML 2019): the
 * quality at each exit, the overthinking rates, the first correct exit, a decoder's settling
 * exit, and the right/wrong flow between consecutive exits. Each chart has its table.
 */
export function overthinkingSection(r: Report, charts: ChartFrame): HTMLElement {
  const box = el('div', { class: 'grid' });
  const o = r.overthinking;
  box.append(qualityByExitCard(r, charts));
  if (!o) {
    box.append(el('p', { class: 'note' }, 'Overthinking needs labels: this sample set has none.'));
    return box;
  }
  box.append(overthinkingStats(r, o));
  box.append(firstCorrectCard(r, o, charts));
  const settling = settlingCard(r, charts);
  if (settling) box.append(settling);
  box.append(flowCard(o, charts));
  return box;
}

/** The quality at each exit, with the oracle's where there are labels. */
function qualityByExitCard(r: Report, charts: ChartFrame): HTMLElement {
  const o = r.overthinking;
  const name = qualityName(r.samples);
  const quality = (e: Report['exits'][number]) => qualityOf(r.samples.labelled, e) ?? NaN;
  const accPanel = el('div', { class: 'card' });
  accPanel.append(el('h3', {}, `${capitalised(r.samples.tokens ? name : qualityPhrase(r.samples.labelled))} by exit`));
  const accChart = el('div', { class: 'chart-box' });
  accPanel.append(accChart);
  charts.add(accChart, (width) => {
    const series = [
      {
        name,
        cls: 'c-conf',
        dots: true,
        points: r.exits.map((e) => [e.index, quality(e)] as [number, number]),
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
      ariaLabel: `${name} at each exit: ${r.exits.map((e) => `exit ${e.index} ${pct(quality(e), 1)}`).join(', ')}${o ? `; oracle ${pct(o.oracleAccuracy, 1)}` : ''}`,
      xLabel: 'exit',
      yLabel: name,
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
        ['Exit', name],
        r.exits.map((e) => [String(e.index), pct(quality(e), 2)]),
        { numeric: [0, 1] },
      ),
    ),
  );
  return accPanel;
}

/** The overthinking rates and the oracle's accuracy and speed-up. */
function overthinkingStats(r: Report, o: Overthinking): HTMLElement {
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
  return stats;
}

/** How many samples are first right at each exit (or never). */
function firstCorrectCard(r: Report, o: Overthinking, charts: ChartFrame): HTMLElement {
  const unit = unitName(r.samples);
  const histPanel = el('div', { class: 'card' });
  histPanel.append(el('h3', {}, 'First correct exit'));
  const histChart = el('div', { class: 'chart-box' });
  histPanel.append(histChart);
  const labels = [...r.exits.map((e) => String(e.index)), 'never'];
  charts.add(histChart, (width) =>
    barChart(histChart, {
      ariaLabel: `${capitalised(unit)} by first correct exit: ${labels.map((l, i) => `${l}: ${o.firstCorrectHistogram[i]}`).join(', ')}`,
      yLabel: unit,
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
        ['First correct exit', capitalised(unit)],
        labels.map((l, i) => [l, String(o.firstCorrectHistogram[i])]),
        { numeric: [1] },
      ),
    ),
  );
  return histPanel;
}

/** Right/wrong flow from each exit to the next. */
function flowCard(o: Overthinking, charts: ChartFrame): HTMLElement {
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
  return flowPanel;
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
