import type { Report } from '../../src/shared/reportTypes';
import { providerName, summarizeProvider } from '../../src/shared/providerText';
import { button, el } from '../dom';
import { baseName } from '../format';
import { pythonSnippet, thresholdsJson } from '../snippets';
import type { ReportViewOptions } from './options';

/**
 * The report's header card: the model's name, what ran on which samples, the warnings, and the
 * actions (copy, re-run, open in the sidebar, export). Names from the model or data are set as text.
 */
/** Local date and time as YYYY-MM-DD HH:MM; toLocaleString would load ICU's locale data during the first render (50-100 ms). */
function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

export function header(r: Report, opts: ReportViewOptions): HTMLElement {
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
