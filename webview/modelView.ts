import type { Dim } from '../src/shared/reportTypes';
import { macs, pct } from '../src/shared/format';
import { button, el, table } from './dom';
import type { FromWebview, ModelView } from '../src/shared/protocol';

/** The read-only .onnx viewer: inputs, outputs, detected exits and their costs, and a Profile button. */
const shape = (s: Dim[] | null) => (s ? `[${s.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '[?]');

export function renderModel(root: HTMLElement, m: ModelView, post: (msg: FromWebview) => void): void {
  root.replaceChildren();
  root.append(el('h1', {}, m.path.split(/[\\/]/).pop() ?? m.path));
  root.append(el('p', { class: 'note', title: m.path }, m.path));
  if (m.error) {
    root.append(el('ul', { class: 'warnings' }));
    root.querySelector('.warnings')!.append(el('li', { class: 'warning' }, m.error));
    return;
  }
  const meta = el('div', { class: 'meta' });
  const item = (label: string, value: string) => {
    const s = el('span', { class: 'meta-item' });
    s.append(el('span', { class: 'meta-label' }, label), el('span', { class: 'meta-value' }, value));
    meta.append(s);
  };
  item('Producer', m.producer || '–');
  item('Opset', String(m.opset));
  item('Nodes', m.nodeCount.toLocaleString());
  item('Parameters', m.parameterCount.toLocaleString());
  if (m.usesExternalData) item('Weights', 'external data file');
  root.append(meta);
  const actions = el('div', { class: 'actions' });
  if (m.trusted) actions.append(button('Profile exits…', () => post({ type: 'profile', modelPath: m.path })));
  else
    actions.append(
      el('span', { class: 'note' }, 'Profiling is off in Restricted Mode (loading a model runs native code).'),
    );
  if (m.latest)
    actions.append(
      button(
        'Open latest report',
        () => post({ type: 'openReport', runId: m.latest!.runId, focusExit: null }),
        'secondary',
      ),
    );
  root.append(actions);

  root.append(el('h2', {}, `Exits (${m.exitLayout})`));
  if (m.exitError) {
    const w = el('ul', { class: 'warnings' });
    w.append(el('li', { class: 'warning' }, m.exitError));
    root.append(w);
  } else {
    const rows = m.exits.map((e) => [
      String(e.index),
      e.name,
      e.macs === null ? '–' : macs(e.macs),
      e.macs === null || !m.baselineMacs ? '–' : pct(e.macs / m.baselineMacs),
      m.latest ? pct(m.latest.exitQuality[e.index], 2) : '–',
    ]);
    const wrap = el('div', { class: 'table-wrap' });
    wrap.append(
      table(['Exit', 'Output', 'MACs', '% baseline', m.latest ? `Latest ${m.latest.quality}` : 'Accuracy'], rows, {
        numeric: [0, 2, 3, 4],
      }),
    );
    root.append(wrap, el('p', { class: 'note' }, m.costNote));
  }
  root.append(el('h2', {}, 'Inputs'));
  root.append(
    table(
      ['Name', 'Type', 'Shape'],
      m.inputs.map((i) => [i.name, i.dtype, shape(i.shape)]),
    ),
  );
  root.append(el('h2', {}, 'Outputs'));
  root.append(
    table(
      ['Name', 'Type', 'Shape'],
      m.outputs.map((o) => [o.name, o.dtype, shape(o.shape)]),
    ),
  );
}
