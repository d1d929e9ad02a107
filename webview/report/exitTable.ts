import type { Report } from '../../src/shared/reportTypes';
import { macs, num, pct } from '../../src/shared/format';
import { unitName } from '../../src/shared/quality';
import { MeasuredCost, latencyUnit, measuredCost, plusMinus, significant } from '../costAxis';
import { el, table } from '../dom';

/**
 * The per-exit card: each exit's accuracy, confidence, calibration, agreement and cost (with
 * --cost measured, the measured latency beside the static MACs), where the best suggestion
 * exits, and the per-exit thresholds.
 */
export function exitTable(r: Report, focus: number | null): HTMLElement {
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
    `${r.samples.tokens ? 'MACs per token' : 'MACs per sample'} of exiting at k (heads of earlier exits included); baseline = the model without early exits (${macs(r.baselineMacs, rel)}). "Exits here" is the share of test ${unitName(r.samples)} stopping at each exit under the best suggestion; "Suggested τ" is the per-exit confidence vector.`,
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
