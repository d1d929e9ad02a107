import type { Report } from '../../src/shared/reportTypes';
import { section } from '../dom';
import { drilldownSection } from './drilldown';
import { exitTable } from './exitTable';
import { ChartFrame } from './frame';
import { header } from './header';
import type { ReportViewOptions } from './options';
import { overthinkingSection } from './overthinking';
import { tokenSection } from './tokens';
import { tradeoffSection } from './tradeoffs';

/**
 * Renders a report: header, per-exit table, layer-by-layer overthinking, trade-offs with
 * threshold controls, a decoder's tokens, drill-down; one file per card. Names from the model or
 * data are always set as text. The charts are drawn together once the page is built (frame.ts).
 */
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
