import type { Curve, Report } from '../../src/shared/reportTypes';
import { pct, thresholdText } from '../../src/shared/format';
import { qualityName } from '../../src/shared/quality';
import { LineChart, Marker, Series, lineChart } from '../charts';
import { CostAxis, CostPoint, MeasuredCost, TradeoffAxis, measuredCost, tradeoffAxis } from '../costAxis';
import { button, el } from '../dom';
import { capitalised, qualityValue, speedupText } from '../format';
import { domainAround } from '../ticks';
import { POLICY_CLASS, POLICY_LABEL, pointAt } from './curve';
import type { ReportViewOptions } from './options';

/**
 * The trade-off chart: the quality against the speed-up of every policy's curve, the Pareto
 * frontier, the full model and the suggestions, and each slider's operating point. It opens
 * zoomed on the suggestions and the full model; with measured costs its speed-up axis switches
 * between the measured latency (the report's figures) and the MACs worked out from each point's
 * histogram (costAxis.ts).
 */
export class TradeoffChart {
  readonly card = el('div', { class: 'card wide' });
  readonly box = el('div', { class: 'chart-box tall' });
  /** The MACs axis beside a measured report's own, for the sliders' readouts; null otherwise. */
  readonly macsAxis: TradeoffAxis | null;
  readonly measured: MeasuredCost | null;
  /** Called after every draw, to put the sliders' operating points on the new chart. */
  afterDraw: () => void = () => {};
  private axis: CostAxis;
  private ax: TradeoffAxis;
  private chart: LineChart | null = null;
  private zoomed = true;
  private lastWidth = 0;
  private readonly curves: Curve[];
  private readonly fullQuality: number;
  private readonly axisNote = el(
    'p',
    { class: 'note axis-note' },
    "By MACs: each point's mean MACs from its exit histogram; the frontier is drawn through the curves' points (the report's own frontier is by measured latency).",
  );

  constructor(
    private readonly r: Report,
    private readonly opts: ReportViewOptions,
  ) {
    this.measured = measuredCost(r);
    this.axis = this.measured ? (opts.costAxis ?? 'measured') : 'macs';
    this.ax = tradeoffAxis(r, this.axis);
    this.macsAxis = this.measured ? tradeoffAxis(r, 'macs') : null;
    this.curves = [r.curves.confidence, r.curves.entropy, r.curves.margin, r.curves.patience];
    this.fullQuality = qualityValue(r, r.exits[r.exitCount - 1]);
    this.card.append(el('h3', {}, `${capitalised(qualityName(r.samples))} against speed-up`));
    const legend = chartLegend();
    this.card.append(legend, this.box);
    const frontierTotal = r.curves.frontierTotalPoints ?? r.curves.frontier.length;
    if (frontierTotal > r.curves.frontier.length)
      this.card.append(
        el(
          'p',
          { class: 'note' },
          `Pareto frontier: ${r.curves.frontier.length} of its ${frontierTotal} exact points, spread along it.`,
        ),
      );
    legend.after(this.tools());
  }

  /** A point's speed-up on the axis shown. */
  speedup(p: CostPoint): number {
    return this.ax.x(p);
  }

  /** Moves a slider's operating point without redrawing (nothing before the first draw). */
  setMarker(m: Marker): void {
    this.chart?.setMarker(m);
  }

  draw(width: number): void {
    this.lastWidth = width;
    this.axisNote.hidden = this.axis !== 'macs';
    const r = this.r;
    const markers = this.markers();
    const near = markers.filter((m) => m.id === 'full' || m.id.startsWith('sug-'));
    const zoom = this.zoomed && near.length > 1;
    const xZoom = zoom
      ? domainAround(
          near.map((m) => m.x),
          0.25,
          true,
        )
      : null;
    const yZoom = zoom
      ? domainAround(
          near.map((m) => m.y),
          0.5,
        )
      : null;
    this.chart = lineChart(this.box, {
      xDomain: xZoom ?? undefined,
      yDomain: yZoom ?? undefined,
      ariaLabel: `${qualityName(r.samples)} against ${this.ax.label} for the confidence, entropy, margin and patience policies, with the Pareto frontier; full model at ${pct(this.fullQuality, 1)}, ${speedupText(this.ax.fullX)}. The table below lists the suggestions.`,
      xLabel: this.ax.label,
      yLabel: qualityName(r.samples),
      series: this.series(),
      markers,
      xFormat: (v, digits) => `${v.toFixed(Math.max(digits, v >= 10 ? 0 : 1))}×`,
      yFormat: (v, digits) => pct(v, digits),
      xLog: true,
      height: 300,
      width,
    });
    this.afterDraw();
  }

  private redraw(): void {
    this.draw(this.box.clientWidth || this.lastWidth);
  }

  /** Every policy's curve and the Pareto frontier on the axis shown. */
  private series(): Series[] {
    const series: Series[] = this.curves.map((c) => ({
      name: POLICY_LABEL[c.kind],
      cls: POLICY_CLASS[c.kind],
      dots: c.kind === 'patience',
      points: c.points
        .map((p) => [this.speedup(p), qualityValue(this.r, p)] as [number, number])
        .sort((a, b) => a[0] - b[0]),
    }));
    series.push({ name: 'Pareto frontier', cls: 'c-frontier', dots: false, points: this.ax.frontier(), width: 2.5 });
    return series;
  }

  /** The full model and each suggestion (per-exit vectors have no point on a curve). */
  private markers(): Marker[] {
    const r = this.r;
    const markers: Marker[] = [
      {
        id: 'full',
        x: this.ax.fullX,
        y: this.fullQuality,
        cls: 'c-full',
        label: `Full model (final exit): ${pct(this.fullQuality, 2)}, ${speedupText(this.ax.fullX)}`,
        shape: 'square',
      },
    ];
    const on = this.measured ? (this.axis === 'measured' ? ' measured' : ' by MACs') : '';
    for (const s of r.suggestions) {
      if (s.policy === 'per-exit') continue;
      const curve = r.curves[s.policy];
      const p = curve.points[pointAt(curve, s.threshold as number | null)];
      if (p)
        markers.push({
          id: `sug-${s.policy}`,
          x: this.speedup(p),
          y: qualityValue(r, p),
          cls: `c-suggest ${POLICY_CLASS[s.policy]}`,
          label: `Suggested ${s.policy} ${thresholdText(s.threshold)}: ${pct(qualityValue(r, p), 2)}, ${speedupText(this.speedup(p))}${on} on the whole set`,
          shape: 'diamond',
        });
    }
    return markers;
  }

  /** The zoom toggle, and with measured costs the axis toggle and its note. */
  private tools(): HTMLElement {
    // The chart opens on the suggestions and the full model; the toggle shows the whole curve.
    const zoomButton = button(
      'Whole curve',
      () => {
        this.zoomed = !this.zoomed;
        zoomButton.textContent = this.zoomed ? 'Whole curve' : 'Suggestions';
        zoomButton.setAttribute('aria-pressed', String(!this.zoomed));
        this.redraw();
      },
      'secondary',
    );
    zoomButton.setAttribute('aria-pressed', 'false');
    zoomButton.title = 'Switch between the region of the suggestions and the whole curve';
    const tools = el('div', { class: 'chart-tools' });
    tools.append(zoomButton);
    const measured = this.measured;
    if (!measured) return tools;
    // The toggle names the axis it switches to; aria-pressed says whether the MACs axis is on.
    const showAxis = () => {
      axisButton.textContent = this.axis === 'measured' ? 'Speed-up by MACs' : 'Speed-up by measured latency';
      axisButton.setAttribute('aria-pressed', String(this.axis === 'macs'));
    };
    const axisButton = button(
      '',
      () => {
        this.axis = this.axis === 'measured' ? 'macs' : 'measured';
        this.ax = tradeoffAxis(this.r, this.axis);
        showAxis();
        this.opts.onCostAxis?.(this.axis);
        this.redraw();
      },
      'secondary',
    );
    axisButton.classList.add('axis-toggle');
    showAxis();
    axisButton.title = `Switch the speed-up axis between the latency measured on ${measured.provider} at batch ${measured.batchSize} and the static MACs of the same operating points`;
    tools.append(axisButton);
    this.box.after(this.axisNote);
    return tools;
  }
}

/** The policies' colours, the frontier's, the full model's and the suggestions'. */
function chartLegend(): HTMLElement {
  const legend = el('div', { class: 'legend' });
  const item = (cls: string, name: string) => {
    const s = el('span', { class: 'legend-item' });
    s.append(el('span', { class: `swatch ${cls}` }), document.createTextNode(name));
    legend.append(s);
  };
  for (const kind of ['confidence', 'entropy', 'margin', 'patience']) item(POLICY_CLASS[kind], POLICY_LABEL[kind]);
  item('c-frontier', 'Pareto frontier');
  item('c-full', 'full model');
  item('c-suggest', 'suggestions');
  return legend;
}
