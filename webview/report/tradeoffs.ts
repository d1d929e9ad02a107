import type { Report } from '../../src/shared/reportTypes';
import { pct } from '../../src/shared/format';
import { agreementName, qualityName } from '../../src/shared/quality';
import { details, el, table } from '../dom';
import { capitalised, qualityValue, speedupText } from '../format';
import type { ChartFrame } from './frame';
import type { ReportViewOptions } from './options';
import { PolicyControls } from './policyControls';
import { suggestionsCard } from './suggestions';
import { TradeoffChart } from './tradeoffChart';

/**
 * The "Exit policies and trade-offs" section: the trade-off chart, a threshold slider per
 * policy whose operating point moves on it, the suggested and certified thresholds, and the
 * policy grid as a table.
 */
export function tradeoffSection(r: Report, opts: ReportViewOptions, charts: ChartFrame): HTMLElement {
  const box = el('div', { class: 'tradeoffs' });
  const chart = new TradeoffChart(r, opts);
  const controls = new PolicyControls(r, opts, chart);
  chart.afterDraw = () => controls.updateAll();
  box.append(chart.card, controls.card, suggestionsCard(r));
  charts.add(chart.box, (width) => chart.draw(width));
  controls.updateAll();
  box.append(details('Policy grid table', policyGrid(r, chart.measured !== null)));
  return box;
}

/** The coarse policy grid (docs/metrics.md "Policies and curves"), for reading the figures as a table. */
function policyGrid(r: Report, measured: boolean): HTMLTableElement {
  return table(
    [
      'Policy',
      'Threshold',
      qualityName(r.samples),
      capitalised(agreementName(r.samples)),
      measured ? 'Speed-up (measured)' : 'Speed-up',
      'Exit histogram',
    ],
    r.policies.map((p) => [
      p.kind,
      String(p.threshold),
      pct(qualityValue(r, p), 2),
      pct(p.agreement, 2),
      speedupText(p.speedup),
      p.exitHistogram.join(' / '),
    ]),
    { numeric: [1, 2, 3, 4] },
  );
}
