import { macs, num, pct, thresholdText } from '../../shared/format';
import { Report } from '../analysis/analyze';
import { summarizeProvider } from '../../shared/providerText';
import { qualityMetric, qualityOf, qualityPhrase } from '../../shared/quality';
import { lossWords, missesTargetOnTest, shortfallText } from '../../shared/riskText';
import { displayName, mdCode, mdText, terminalText } from '../io/text';

export { macs, num, pct, thresholdText } from '../../shared/format';

/**
 * Human-readable renderings of a report: a Markdown summary and plain-text tables for the CLI.
 * Names and paths from the files are made inert for each (text.ts): visible escapes for the
 * terminal; code spans and HTML-escaped text in Markdown, so that no renderer makes HTML of them.
 */

interface Table {
  head: string[];
  rows: string[][];
  /** Right-align these columns. */
  right?: number[];
}

export function textTable({ head, rows, right = [] }: Table): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((v, c) => (right.includes(c) ? v.padStart(widths[c]) : v.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable({ head, rows, right = [] }: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map((_, c) => (right.includes(c) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function costIsRelative(r: Report): boolean {
  return r.cost.source === 'relative';
}

/** `name` renders an exit's name: inert terminal text by default, a code span for Markdown. */
export function exitTable(r: Report, name: (s: string) => string = displayName): Table {
  const rel = costIsRelative(r);
  return {
    head: [
      'exit',
      'name',
      'accuracy',
      'mean conf',
      'ECE',
      'NLL',
      'agree final',
      rel ? 'cost (rel.)' : 'MACs',
      '% baseline',
    ],
    rows: r.exits.map((e) => [
      String(e.index),
      name(e.name),
      pct(e.accuracy, 2),
      num(e.meanConfidence),
      num(e.ece, 4),
      num(e.nll),
      pct(e.agreement, 2),
      macs(e.macs, rel),
      pct(e.relativeCost),
    ]),
    right: [0, 2, 3, 4, 5, 6, 7, 8],
  };
}

/** Measured latency per exit (--cost measured): ms per sample at batch 1 and at the run's batch, with the spread. */
export function latencyTable(r: Report): Table | null {
  const b = r.baselineLatency;
  if (!b) return null;
  const ms = (v: number) => (v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const row = (name: string, l: NonNullable<Report['baselineLatency']>) => [
    name,
    `${ms(l.batch1)} ± ${ms(l.spread.batch1 / 2)}`,
    `${ms(l.batch)} ± ${ms(l.spread.batch / 2)}`,
    `${((l.batch / b.batch) * 100).toFixed(1)}%`,
    `${l.repeats.batch1}/${l.repeats.batch}`,
  ];
  return {
    head: ['exit', 'ms/sample batch 1', `ms/sample batch ${b.batchSize}`, '% baseline', 'repeats'],
    rows: [...r.exits.filter((e) => e.latency).map((e) => row(String(e.index), e.latency!)), row('baseline', b)],
    right: [1, 2, 3, 4],
  };
}

export function suggestionTable(r: Report): Table {
  const quality = qualityMetric(r.samples.labelled);
  return {
    head: [
      'policy',
      'threshold',
      `calib ${quality}`,
      'calib speedup',
      `test ${quality}`,
      'test agreement',
      'test speedup',
      'test exits per exit',
    ],
    rows: r.suggestions.map((s) => [
      s.policy + (s.best ? ' *' : ''),
      thresholdText(s.threshold),
      pct(qualityOf(r.samples.labelled, s.calibration), 2),
      s.calibration.speedup === null ? '–' : `${s.calibration.speedup.toFixed(2)}x`,
      pct(qualityOf(r.samples.labelled, s.test), 2),
      pct(s.test.agreement, 2),
      s.test.speedup === null ? '–' : `${s.test.speedup.toFixed(2)}x`,
      s.test.exitHistogram.join('/'),
    ]),
    right: [2, 3, 4, 5, 6],
  };
}

export function guaranteeTable(r: Report): Table {
  const quality = qualityMetric(r.samples.labelled);
  return {
    head: [
      'policy',
      'certified',
      'calib risk',
      'test risk',
      `test ${quality}`,
      'test agreement',
      'test speedup',
      'test exits per exit',
    ],
    rows: (r.guarantees ?? []).map((g) => [
      g.policy,
      g.threshold === null ? 'none (full model)' : String(g.threshold),
      `${g.calibration.losses}/${g.n} = ${pct(g.calibration.risk, 2)}`,
      pct(g.test.risk, 2),
      pct(qualityOf(r.samples.labelled, g.test), 2),
      pct(g.test.agreement, 2),
      g.test.speedup === null ? '–' : `${g.test.speedup.toFixed(2)}x`,
      g.test.exitHistogram.join('/'),
    ]),
    right: [2, 3, 4, 5, 6],
  };
}

/** What the guarantees promise, and the settings they were fitted with, in one line. */
function guaranteeLine(r: Report): string {
  const g = r.guarantees?.[0];
  if (!g) return '';
  return `Thresholds with a guarantee (Learn-then-Test, ${g.loss} loss): with probability ≥ ${pct(1 - g.delta, 0)} over the calibration draw, at most ${pct(g.epsilon, 1)} of samples ${lossWords(g)}. Fitted on ${g.n} calibration samples; figures on the test split.`;
}

/** The heuristic suggestions that missed their target on the test split, in words. */
function shortfalls(r: Report): string[] {
  return r.suggestions
    .filter(missesTargetOnTest)
    .map((s) => `${s.policy} ${thresholdText(s.threshold)}: ${shortfallText(s)} (met on calibration only)`);
}

export function policyTable(r: Report): Table {
  return {
    head: ['policy', 'threshold', 'accuracy', 'agreement', 'speedup', 'exit histogram'],
    rows: r.policies.map((p) => [
      p.kind,
      String(p.threshold),
      pct(p.accuracy, 2),
      pct(p.agreement, 2),
      p.speedup === null ? '–' : `${p.speedup.toFixed(2)}x`,
      p.exitHistogram.join('/'),
    ]),
    right: [1, 2, 3, 4],
  };
}

function source(r: Report, path: (s: string) => string): string {
  return r.model ? path(r.model.path) : `${path(r.logitsFile ?? '')} (precomputed logits)`;
}

function providerLine(r: Report): string {
  const ep = r.executionProvider;
  if (!ep) return 'none (precomputed logits)';
  return summarizeProvider(ep).line;
}

function calibrationLine(r: Report, path: (s: string) => string): string {
  const c = r.samples.calibration;
  if (c.source === 'file')
    return `calibration set ${path(c.path ?? '')} (${c.sampleCount} samples); test = the sample set (${c.testSampleCount})`;
  if (c.source === 'split')
    return `seeded split of the sample set (seed ${c.seed}): ${c.sampleCount} calibration, ${c.testSampleCount} test`;
  return 'none';
}

/** What a decoder's samples are, in one line. */
function tokenLine(t: NonNullable<Report['samples']['tokens']>): string {
  return `Token-level exits: N = ${t.positions} token positions of ${t.sequences} sequences of ${t.length} tokens (labels: ${t.labels === 'next-token' ? 'the next token' : 'the labels array, -100 skipped'}; mask: ${t.mask ?? 'none'}); "classes" is the vocabulary, agreement is consistency with the last layer.`;
}

/** The CLI's stdout summary. */
export function textSummary(r: Report): string {
  const parts: string[] = [];
  parts.push(`Exit Lens report: ${source(r, displayName)}`);
  parts.push(
    `Samples: ${displayName(r.samples.path)}, N = ${r.samples.sampleCount}${r.samples.labelled ? '' : ' (unlabelled)'}; ${r.exitCount} exits, ${r.classCount} classes`,
  );
  if (r.samples.tokens) parts.push(tokenLine(r.samples.tokens));
  parts.push(`Execution provider: ${providerLine(r)}`);
  parts.push('');
  parts.push(textTable(exitTable(r)));
  const latency = latencyTable(r);
  if (latency) {
    parts.push('');
    parts.push(`Measured latency (${r.cost.measured?.provider.toUpperCase()}, median ± half the interquartile range):`);
    parts.push(textTable(latency));
  }
  if (r.overthinking) {
    const o = r.overthinking;
    parts.push('');
    parts.push(
      `Overthinking: oracle accuracy ${pct(o.oracleAccuracy, 2)}, destructive ${pct(o.destructiveRate, 2)}, wasteful ${pct(o.wastefulRate, 2)}, oracle speedup ${o.oracleSpeedup === null ? '–' : `${o.oracleSpeedup.toFixed(2)}x`}`,
    );
    parts.push(
      `First correct exit: ${o.firstCorrectHistogram
        .slice(0, -1)
        .map((c, k) => `${k}:${c}`)
        .join(' ')} never:${o.firstCorrectHistogram[o.firstCorrectHistogram.length - 1]}`,
    );
  }
  if (r.suggestions.length) {
    parts.push('');
    parts.push(
      `Suggested thresholds (${calibrationLine(r, displayName)}; target ${qualityMetric(r.samples.labelled)} ≥ ${pct(r.suggestions[0].target, 2)}; * = cheapest):`,
    );
    parts.push(textTable(suggestionTable(r)));
    for (const line of shortfalls(r)) parts.push(`! ${line}`);
  }
  if (r.guarantees?.length) {
    parts.push('');
    parts.push(`${guaranteeLine(r)}`);
    parts.push(textTable(guaranteeTable(r)));
  }
  parts.push('');
  parts.push(
    r.cost.source === 'measured' && r.baselineLatency
      ? `Speed-up = baseline latency / mean latency, measured (baseline ${r.baselineLatency.batch.toPrecision(3)} ms per sample at batch ${r.baselineLatency.batchSize}).`
      : `Speed-up = baseline MACs / mean MACs (baseline ${macs(r.baselineMacs, costIsRelative(r))}${costIsRelative(r) ? ', relative depth' : ' MACs'}).`,
  );
  for (const w of r.warnings) parts.push(`warning: ${displayName(w.message)}`);
  return terminalText(parts.join('\n'));
}

/** The Markdown summary written beside the JSON. */
export function markdownSummary(r: Report): string {
  const parts: string[] = [];
  parts.push(`# Exit Lens report`);
  parts.push('');
  parts.push(`- Source: ${source(r, mdCode)}`);
  parts.push(
    `- Samples: ${mdCode(r.samples.path)}, N = ${r.samples.sampleCount}${r.samples.labelled ? ', labelled' : ', unlabelled'}`,
  );
  parts.push(`- Exits: ${r.exitCount}, classes: ${r.classCount}`);
  if (r.samples.tokens) parts.push(`- ${mdText(tokenLine(r.samples.tokens))}`);
  parts.push(`- Execution provider: ${mdText(providerLine(r))}`);
  parts.push(`- Suggestions fitted on: ${calibrationLine(r, mdCode)}`);
  parts.push(`- Created: ${r.createdAt} by exit-lens ${r.tool.version} (report schema ${r.schemaVersion})`);
  if (r.warnings.length) {
    parts.push('');
    parts.push('## Warnings');
    parts.push('');
    for (const w of r.warnings) parts.push(`- ${mdText(w.message)}`);
  }
  parts.push('');
  parts.push('## Per-exit metrics');
  parts.push('');
  parts.push(mdTable(exitTable(r, mdCode)));
  const latency = latencyTable(r);
  if (latency) {
    parts.push('');
    parts.push(mdText(r.cost.measured?.method ?? ''));
    parts.push('');
    parts.push(mdTable(latency));
  }
  if (r.overthinking) {
    const o = r.overthinking;
    parts.push('');
    parts.push('## Overthinking');
    parts.push('');
    parts.push(`- Oracle accuracy (some exit is right): ${pct(o.oracleAccuracy, 2)}`);
    parts.push(`- Destructive (right earlier, wrong at the end): ${pct(o.destructiveRate, 2)}`);
    parts.push(`- Wasteful (right earlier and at the end): ${pct(o.wastefulRate, 2)}`);
    parts.push(`- Oracle speed-up: ${o.oracleSpeedup === null ? '–' : `${o.oracleSpeedup.toFixed(2)}x`}`);
    parts.push('');
    parts.push(
      mdTable({
        head: ['exit k → k+1', 'right→right', 'right→wrong', 'wrong→right', 'wrong→wrong', 'first correct at k'],
        rows: r.exits
          .map((e, k) => {
            const t = o.transitions[k];
            return [
              t ? `${k} → ${k + 1}` : `${k}`,
              t ? String(t.rr) : '',
              t ? String(t.rw) : '',
              t ? String(t.wr) : '',
              t ? String(t.ww) : '',
              String(o.firstCorrectHistogram[k]),
            ];
          })
          .concat([['never', '', '', '', '', String(o.firstCorrectHistogram[r.exitCount])]]),
        right: [1, 2, 3, 4, 5],
      }),
    );
  }
  if (r.suggestions.length) {
    parts.push('');
    parts.push('## Suggested thresholds');
    parts.push('');
    parts.push(
      `Target: ${qualityPhrase(r.samples.labelled)} ≥ ${pct(r.suggestions[0].target, 2)} on the calibration split (final exit minus ${pct(r.settings.maxAccuracyDrop, 1)}); figures on the test split. * = cheapest on calibration.`,
    );
    parts.push('');
    parts.push(mdTable(suggestionTable(r)));
    const missed = shortfalls(r);
    if (missed.length) {
      parts.push('');
      parts.push('Missed their target on the test split:');
      parts.push('');
      for (const line of missed) parts.push(`- ${mdText(line)}`);
    }
  }
  if (r.guarantees?.length) {
    parts.push('');
    parts.push('## Thresholds with a guarantee');
    parts.push('');
    parts.push(mdText(guaranteeLine(r)));
    parts.push('');
    parts.push(mdTable(guaranteeTable(r)));
  }
  parts.push('');
  parts.push('## Policy grid (whole sample set)');
  parts.push('');
  parts.push(mdTable(policyTable(r)));
  parts.push('');
  parts.push('## Conventions');
  parts.push('');
  for (const [k, v] of Object.entries(r.conventions)) parts.push(`- ${k}: ${v}`);
  parts.push(`- cost source: ${r.cost.note}`);
  parts.push('');
  return parts.join('\n');
}
