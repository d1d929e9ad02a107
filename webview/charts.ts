import * as d3 from 'd3';
import { tickLabels } from './ticks';

/**
 * Small d3 charts themed by VS Code's CSS variables (through classes in media/report.css).
 * Every chart is an <svg role="img"> with an aria-label; callers pair it with a table.
 */
const MARGIN = { top: 12, right: 14, bottom: 36, left: 54 };

export interface Series {
  name: string;
  cls: string;
  points: [number, number][];
  /** Draw dots at the points too. */
  dots?: boolean;
  dashed?: boolean;
  width?: number;
}

export interface Marker {
  id: string;
  x: number;
  y: number;
  cls: string;
  label: string;
  shape?: 'circle' | 'diamond' | 'square';
}

export interface LineChartSpec {
  ariaLabel: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  markers?: Marker[];
  height?: number;
  /** Tick label at the given number of digits (raised until no two labels read the same). */
  xFormat?: (v: number, digits: number) => string;
  yFormat?: (v: number, digits: number) => string;
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Logarithmic x axis (speed-ups span 1× to the cost ratio of the first exit). */
  xLog?: boolean;
  /** The container's width, when the caller has read it (see svgIn). */
  width?: number;
}

export interface LineChart {
  /** Moves (or creates) a marker without redrawing the chart: cheap enough for a slider. */
  setMarker(m: Marker): void;
}

/**
 * A fresh chart SVG in the container. Pass `knownWidth` when drawing several charts at once:
 * reading clientWidth after another chart was added forces a layout per chart.
 */
function svgIn(container: HTMLElement, ariaLabel: string, height: number, knownWidth?: number) {
  const width = Math.max(220, (knownWidth ?? container.clientWidth) || 480);
  d3.select(container).selectAll('svg').remove();
  const svg = d3
    .select(container)
    .append('svg')
    .attr('width', width)
    .attr('height', height)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img')
    .attr('aria-label', ariaLabel)
    .attr('class', 'chart');
  return { svg, width, height };
}

function padDomain([lo, hi]: [number, number], pad = 0.04): [number, number] {
  if (!(hi > lo)) return [lo - 0.5, hi + 0.5];
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}

/**
 * The points of a line at the chart's resolution: within each run of points that fall in one
 * pixel column, the first, lowest, highest and last (in their order), so the drawn line is the
 * same; points outside the domain are kept as the gaps they make. A Pareto frontier over 10^5
 * samples has tens of thousands of points for a few hundred columns.
 */
export function atPixelResolution(
  points: [number, number][],
  column: (p: [number, number]) => number,
  drawable: (p: [number, number]) => boolean,
): [number, number][] {
  const out: [number, number][] = [];
  let col = NaN;
  let first = -1;
  let lo = -1;
  let hi = -1;
  let last = -1;
  const flush = () => {
    if (first < 0) return;
    for (const i of [...new Set([first, lo, hi, last])].sort((a, b) => a - b)) out.push(points[i]);
    first = -1;
  };
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (!drawable(p)) {
      flush();
      out.push(p);
      col = NaN;
      continue;
    }
    const c = Math.round(column(p));
    if (c !== col) {
      flush();
      col = c;
      first = lo = hi = last = i;
      continue;
    }
    last = i;
    if (p[1] < points[lo][1]) lo = i;
    if (p[1] > points[hi][1]) hi = i;
  }
  flush();
  return out;
}

let clipCount = 0;

export function lineChart(container: HTMLElement, spec: LineChartSpec): LineChart {
  const { svg, width, height } = svgIn(container, spec.ariaLabel, spec.height ?? 240, spec.width);
  const all = spec.series
    .flatMap((s) => s.points)
    .concat((spec.markers ?? []).map((m) => [m.x, m.y] as [number, number]));
  const xs = all.map((p) => p[0]).filter(Number.isFinite);
  const ys = all.map((p) => p[1]).filter(Number.isFinite);
  const positive = xs.filter((v) => v > 0);
  const logDomain: [number, number] = spec.xDomain ?? [(d3.min(positive) ?? 1) / 1.08, (d3.max(positive) ?? 10) * 1.08];
  const x =
    spec.xLog && positive.length
      ? d3
          .scaleLog()
          .domain(logDomain)
          .range([MARGIN.left, width - MARGIN.right])
      : d3
          .scaleLinear()
          .domain(spec.xDomain ?? padDomain([d3.min(xs) ?? 0, d3.max(xs) ?? 1]))
          .range([MARGIN.left, width - MARGIN.right]);
  const y = d3
    .scaleLinear()
    .domain(spec.yDomain ?? padDomain([d3.min(ys) ?? 0, d3.max(ys) ?? 1]))
    .nice()
    .range([height - MARGIN.bottom, MARGIN.top]);
  const ticksX = Math.max(2, Math.floor((width - MARGIN.left - MARGIN.right) / 70));
  // A log axis' ticks crowd towards its high end: only ticks at least 60 px from the previous
  // labelled one are labelled (left to right), so labels never collide.
  const xTicks = x.ticks(ticksX);
  let lastPx = -Infinity;
  const xShown = spec.xLog
    ? xTicks.filter((v) => {
        if (x(v) - lastPx < 60) return false;
        lastPx = x(v);
        return true;
      })
    : xTicks;
  const xText = tickLabels(xShown, spec.xFormat ?? ((v) => String(v)));
  const xLabels = new Map(xShown.map((v, i) => [v, xText[i]]));
  svg
    .append('g')
    .attr('class', 'axis')
    .attr('transform', `translate(0,${height - MARGIN.bottom})`)
    .call(
      d3
        .axisBottom(x)
        .tickValues(xTicks)
        .tickFormat((v) => xLabels.get(Number(v)) ?? ''),
    );
  const yTicks = y.ticks(5);
  const yText = tickLabels(yTicks, spec.yFormat ?? ((v) => String(v)));
  svg
    .append('g')
    .attr('class', 'axis')
    .attr('transform', `translate(${MARGIN.left},0)`)
    .call(
      d3
        .axisLeft(y)
        .tickValues(yTicks)
        .tickFormat((_, i) => yText[i]),
    );
  svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('x', (MARGIN.left + width - MARGIN.right) / 2)
    .attr('y', height - 4)
    .attr('text-anchor', 'middle')
    .text(spec.xLabel);
  svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('transform', `translate(11,${(MARGIN.top + height - MARGIN.bottom) / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text(spec.yLabel);
  const line = d3
    .line<[number, number]>()
    .defined((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .x((p) => x(p[0]))
    .y((p) => y(p[1]));
  const inDomain = (p: [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!spec.xLog || p[0] > 0);
  line.defined(inDomain);
  // A domain narrower than the data (a zoomed chart) clips the lines and markers to the plot.
  const clipId = `plot-clip-${++clipCount}`;
  svg
    .append('clipPath')
    .attr('id', clipId)
    .append('rect')
    .attr('x', MARGIN.left)
    .attr('y', MARGIN.top)
    .attr('width', Math.max(0, width - MARGIN.left - MARGIN.right))
    .attr('height', Math.max(0, height - MARGIN.top - MARGIN.bottom));
  const plot = svg.append('g').attr('clip-path', `url(#${clipId})`);
  for (const s of spec.series) {
    const g = plot.append('g').attr('class', `series ${s.cls}`);
    g.append('title').text(s.name);
    const drawn = s.points.length > 4 * width ? atPixelResolution(s.points, (p) => x(p[0]), inDomain) : s.points;
    g.append('path')
      .datum(drawn)
      .attr('class', `line ${s.dashed ? 'dashed' : ''}`)
      .attr('d', line)
      .style('stroke-width', `${s.width ?? 1.5}px`);
    if (s.dots) {
      g.selectAll('circle')
        .data(s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])))
        .join('circle')
        .attr('class', 'dot')
        .attr('r', 3)
        .attr('cx', (p) => x(p[0]))
        .attr('cy', (p) => y(p[1]));
    }
  }
  const markerLayer = plot.append('g').attr('class', 'markers');
  const symbol = (shape: Marker['shape']) =>
    d3
      .symbol()
      .type(shape === 'diamond' ? d3.symbolDiamond : shape === 'square' ? d3.symbolSquare : d3.symbolCircle)
      .size(shape === 'circle' || !shape ? 70 : 90)();
  const setMarker = (m: Marker) => {
    let g = markerLayer.select<SVGGElement>(`g[data-id="${m.id}"]`);
    if (g.empty()) {
      g = markerLayer.append('g').attr('data-id', m.id);
      g.append('path').attr('class', `marker ${m.cls}`).attr('d', symbol(m.shape));
      g.append('title');
    }
    const visible = Number.isFinite(m.x) && Number.isFinite(m.y);
    g.classed('hidden', !visible);
    if (visible) g.attr('transform', `translate(${x(m.x)},${y(m.y)})`);
    g.select('title').text(m.label);
  };
  for (const m of spec.markers ?? []) setMarker(m);
  return { setMarker };
}

export interface Bar {
  label: string;
  value: number;
  cls: string;
  title?: string;
}

export function barChart(
  container: HTMLElement,
  spec: {
    ariaLabel: string;
    yLabel: string;
    bars: Bar[];
    height?: number;
    format?: (v: number) => string;
    yMax?: number;
    width?: number;
    /** A dashed vertical line at a mean in bar units (0 = the first bar's centre, 1 = the second's). */
    mean?: number;
  },
): void {
  const { svg, width, height } = svgIn(container, spec.ariaLabel, spec.height ?? 200, spec.width);
  const x = d3
    .scaleBand()
    .domain(spec.bars.map((b) => b.label))
    .range([MARGIN.left, width - MARGIN.right])
    .padding(0.2);
  const y = d3
    .scaleLinear()
    .domain([0, spec.yMax ?? Math.max(1e-9, d3.max(spec.bars, (b) => b.value) ?? 1)])
    .nice()
    .range([height - MARGIN.bottom, MARGIN.top]);
  svg
    .append('g')
    .attr('class', 'axis')
    .attr('transform', `translate(0,${height - MARGIN.bottom})`)
    .call(d3.axisBottom(x));
  svg
    .append('g')
    .attr('class', 'axis')
    .attr('transform', `translate(${MARGIN.left},0)`)
    .call(
      d3
        .axisLeft(y)
        .ticks(4)
        .tickFormat((v) => (spec.format ? spec.format(Number(v)) : String(v))),
    );
  svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('transform', `translate(11,${(MARGIN.top + height - MARGIN.bottom) / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text(spec.yLabel);
  const bars = svg
    .append('g')
    .selectAll('rect')
    .data(spec.bars)
    .join('rect')
    .attr('class', (b) => `bar ${b.cls}`)
    .attr('x', (b) => x(b.label)!)
    .attr('width', x.bandwidth())
    .attr('y', (b) => y(b.value))
    .attr('height', (b) => Math.max(0, y(0) - y(b.value)));
  bars.append('title').text((b) => b.title ?? `${b.label}: ${spec.format ? spec.format(b.value) : b.value}`);
  if (spec.mean !== undefined && Number.isFinite(spec.mean) && spec.bars.length) {
    const mx = x(spec.bars[0].label)! + x.bandwidth() / 2 + spec.mean * x.step();
    const g = svg.append('g').attr('class', 'mean-line');
    g.append('line')
      .attr('x1', mx)
      .attr('x2', mx)
      .attr('y1', MARGIN.top)
      .attr('y2', height - MARGIN.bottom);
    const text = `mean ${spec.mean.toFixed(2)}`;
    const right = mx + 4 + text.length * 6 < width - MARGIN.right;
    g.append('text')
      .attr('x', right ? mx + 4 : mx - 4)
      .attr('y', MARGIN.top + 10)
      .attr('text-anchor', right ? 'start' : 'end')
      .text(text);
  }
}

export interface StackPart {
  name: string;
  value: number;
  cls: string;
}

/** One horizontal 100% bar per row, e.g. right→right / right→wrong / … between exits k and k+1. */
export function stackedBars(
  container: HTMLElement,
  spec: { ariaLabel: string; rows: { label: string; parts: StackPart[] }[]; rowHeight?: number; width?: number },
): void {
  const rowHeight = spec.rowHeight ?? 22;
  const height = MARGIN.top + spec.rows.length * (rowHeight + 6) + 4;
  const { svg, width } = svgIn(container, spec.ariaLabel, height, spec.width);
  const left = 64;
  const x = d3
    .scaleLinear()
    .domain([0, 1])
    .range([left, width - MARGIN.right]);
  spec.rows.forEach((row, i) => {
    const total = row.parts.reduce((a, p) => a + p.value, 0) || 1;
    const yTop = MARGIN.top + i * (rowHeight + 6);
    svg
      .append('text')
      .attr('class', 'row-label')
      .attr('x', left - 6)
      .attr('y', yTop + rowHeight / 2 + 4)
      .attr('text-anchor', 'end')
      .text(row.label);
    let acc = 0;
    for (const p of row.parts) {
      const frac = p.value / total;
      const rect = svg
        .append('rect')
        .attr('class', `bar ${p.cls}`)
        .attr('x', x(acc))
        .attr('y', yTop)
        .attr('width', Math.max(0, x(acc + frac) - x(acc)))
        .attr('height', rowHeight);
      rect.append('title').text(`${row.label} ${p.name}: ${p.value} (${(100 * frac).toFixed(1)}%)`);
      if (x(acc + frac) - x(acc) > 34) {
        svg
          .append('text')
          .attr('class', 'bar-text')
          .attr('x', x(acc) + 4)
          .attr('y', yTop + rowHeight / 2 + 4)
          .text(`${(100 * frac).toFixed(0)}%`);
      }
      acc += frac;
    }
  });
}
