import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';

/**
 * DOM helpers. Text always goes in through textContent and attributes through setAttribute,
 * so names taken from a model or a data file can never become markup.
 */
export function el(tag: string, attrs: Record<string, string> = {}, text?: string): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A VS Code-styled button (@vscode-elements/elements). */
export function button(label: string, onClick: () => void, kind: 'primary' | 'secondary' = 'primary'): HTMLElement {
  const b = el('vscode-button', kind === 'secondary' ? { secondary: '' } : {}, label);
  b.addEventListener('click', onClick);
  return b;
}

/** A collapsible report section with a heading; open by default. */
export function section(id: string, heading: string, content: HTMLElement): HTMLElement {
  const s = el('vscode-collapsible', { id: `section-${id}`, heading, open: '', class: 'section' });
  const body = el('div', { class: 'section-body' });
  body.append(content);
  s.append(body);
  return s;
}

/** A disclosure holding a chart's table alternative. */
export function details(summary: string, content: HTMLElement): HTMLElement {
  const d = el('details', { class: 'alt-table' });
  d.append(el('summary', {}, summary), content);
  return d;
}

export function table(
  head: string[],
  rows: string[][],
  opts: { numeric?: number[]; caption?: string } = {},
): HTMLTableElement {
  const t = el('table', { class: 'data' }) as HTMLTableElement;
  if (opts.caption) t.append(el('caption', { class: 'sr-only' }, opts.caption));
  const thead = el('thead');
  const hr = el('tr');
  head.forEach((h, i) => hr.append(el('th', { scope: 'col', class: opts.numeric?.includes(i) ? 'num' : '' }, h)));
  thead.append(hr);
  const tbody = el('tbody');
  for (const row of rows) {
    const tr = el('tr');
    row.forEach((v, i) => tr.append(el('td', { class: opts.numeric?.includes(i) ? 'num' : '' }, v)));
    tbody.append(tr);
  }
  t.append(thead, tbody);
  return t;
}
