import type { Curve, CurvePoint, PolicyKind, Report } from '../../src/shared/reportTypes';
import { pct } from '../../src/shared/format';
import { qualityName, unitName } from '../../src/shared/quality';
import { el } from '../dom';
import { qualityValue, speedupText } from '../format';
import { POLICY_CLASS, POLICY_LABEL, pointAt, sliderEnds, thresholdReadout } from './curve';
import type { ReportViewOptions } from './options';
import type { TradeoffChart } from './tradeoffChart';

/**
 * The "Operating point by policy" card: a threshold slider per policy over its exact curve, the
 * operating point's figures and exit histogram beside it, and the point on the trade-off chart.
 */
interface PolicyControl {
  kind: PolicyKind;
  curve: Curve;
  slider: HTMLInputElement;
  readout: HTMLElement;
  hist: HTMLElement[];
}

export class PolicyControls {
  readonly card = el('div', { class: 'card wide' });
  private readonly controls: PolicyControl[] = [];

  constructor(
    private readonly r: Report,
    private readonly opts: ReportViewOptions,
    private readonly chart: TradeoffChart,
  ) {
    this.card.append(el('h3', {}, 'Operating point by policy'));
    this.card.append(
      el(
        'p',
        { class: 'note' },
        'Move a threshold to see its operating point on the whole sample set (exact curves, no recomputation). Suggested thresholds are fitted on the calibration split.',
      ),
    );
    const grid = el('div', { class: 'controls' });
    this.card.append(grid);
    for (const curve of [r.curves.confidence, r.curves.entropy, r.curves.margin, r.curves.patience])
      if (curve.points.length) grid.append(this.row(curve));
  }

  /** Shows every slider's operating point (after the chart is drawn, and once at the start). */
  updateAll(): void {
    for (const c of this.controls) this.update(c, Number(c.slider.value));
  }

  private update(c: PolicyControl, index: number): void {
    const r = this.r;
    const p: CurvePoint = c.curve.points[index];
    const macsAxis = this.chart.macsAxis;
    const byMacs = macsAxis ? ` measured (${speedupText(macsAxis.x(p))} by MACs)` : '';
    c.readout.textContent = `${thresholdReadout(c.kind, p)} · ${qualityName(r.samples)} ${pct(qualityValue(r, p), 2)} · speed-up ${speedupText(p.speedup)}${byMacs} · saving ${pct(p.saving, 1)}`;
    const total = p.exitHistogram.reduce((a, b) => a + b, 0) || 1;
    p.exitHistogram.forEach((h, k) => {
      const bar = c.hist[k];
      bar.style.height = `${Math.round((100 * h) / total)}%`;
      bar.title = `exit ${k}: ${h} ${unitName(r.samples)} (${pct(h / total, 1)})`;
    });
    c.slider.setAttribute('aria-valuetext', c.readout.textContent ?? '');
    this.chart.setMarker({
      id: `op-${c.kind}`,
      x: this.chart.speedup(p),
      y: qualityValue(r, p),
      cls: `${POLICY_CLASS[c.kind]} op`,
      label: `${POLICY_LABEL[c.kind]}: ${c.readout.textContent}`,
      shape: 'circle',
    });
  }

  /** One policy's row: its slider (opening at the page state's position, else the suggestion's), readout and histogram. */
  private row(curve: Curve): HTMLElement {
    const r = this.r;
    const kind = curve.kind;
    const row = el('div', { class: `control ${POLICY_CLASS[kind]}` });
    const id = `slider-${kind}`;
    const label = el('label', { for: id, class: 'control-label' });
    label.append(el('span', { class: `swatch ${POLICY_CLASS[kind]}` }), document.createTextNode(POLICY_LABEL[kind]));
    const suggestion = r.suggestions.find((s) => s.policy === kind);
    const start = this.opts.sliders[kind] ?? (suggestion ? pointAt(curve, suggestion.threshold as number | null) : 0);
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
    this.controls.push(c);
    slider.addEventListener('input', () => {
      const i = Number(slider.value);
      this.update(c, i);
      this.opts.onSlider(kind, i);
    });
    const info = el('div', { class: 'control-info' });
    info.append(readout, histBox);
    const [left, right] = sliderEnds(curve);
    const ends = el('div', { class: 'slider-ends', id: `${id}-ends` });
    ends.append(el('span', {}, left), el('span', {}, right));
    slider.setAttribute('aria-describedby', `${id}-ends`);
    const sliderBox = el('div', { class: 'slider-box' });
    sliderBox.append(slider, ends);
    row.append(label, sliderBox, info);
    if (curve.thinned)
      row.append(el('div', { class: 'note' }, `${curve.points.length} of ${curve.totalPoints} exact points shown`));
    return row;
  }
}
