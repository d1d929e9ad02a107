import type { PolicyKind, Report, TokenView } from '../../src/shared/reportTypes';
import { pct } from '../../src/shared/format';
import { el } from '../dom';
import {
  exitClasses,
  ruleText,
  sliderThreshold,
  textToken,
  tokenExit,
  tokenString,
  viewThreshold,
  visibleToken,
} from './tokenExit';

/**
 * The token view of a decoder's report (issue #18): the first sequences' text, each predicted
 * token (the token at t + 1 of a valid position t) coloured by the exit the chosen policy takes
 * at t, at the threshold of that policy's slider in the trade-offs section (the suggestion
 * where the report has no slider), so the colours follow the slider.
 */
export interface TokenViewOptions {
  /** The policy shown first (the page state's choice, else the best suggestion's policy). */
  policy: PolicyKind | null;
  onPolicy(kind: PolicyKind): void;
  /** The threshold slider of a policy, where the report has one. */
  slider(kind: PolicyKind): HTMLInputElement | null;
}

const KINDS: PolicyKind[] = ['confidence', 'entropy', 'margin', 'patience'];

type Position = TokenView['sequences'][number]['positions'][number];

interface Colourable {
  span: HTMLElement;
  pos: Position;
}

export function tokenSection(r: Report, opts: TokenViewOptions): HTMLElement | null {
  const view = r.tokenView;
  if (!view || view.sequences.length === 0) return null;
  const E = r.exitCount;
  const best = r.suggestions.find((s) => s.best && s.policy !== 'per-exit');
  let kind: PolicyKind = opts.policy ?? (best?.policy as PolicyKind | undefined) ?? 'confidence';
  const card = el('div', { class: 'card wide tokens-card' });
  card.append(el('h3', {}, 'Tokens'));
  card.append(
    el(
      'p',
      { class: 'note' },
      `Each predicted token (the token at t + 1 of a position t) is marked with the exit the policy takes at t, at the threshold of its slider under "Exit policies and trade-offs"; hover a token for every exit's prediction. Greyed: padding; unmarked: no position predicts it. The first ${view.sequences.length} sequences of the sample set.`,
    ),
  );

  const controls = el('div', { class: 'token-controls' });
  const chooser = el('div', { class: 'policy-chooser', role: 'radiogroup', 'aria-label': 'Policy of the token view' });
  const rule = el('span', { class: 'token-rule', 'aria-live': 'polite' });
  for (const k of KINDS) {
    const id = `token-policy-${k}`;
    const input = el('input', { type: 'radio', name: 'token-policy', id, value: k }) as HTMLInputElement;
    input.checked = k === kind;
    input.addEventListener('change', () => {
      if (!input.checked) return;
      kind = k;
      opts.onPolicy(k);
      recolour();
    });
    const label = el('label', { for: id, class: 'policy-option' });
    label.append(input, document.createTextNode(k));
    chooser.append(label);
  }
  controls.append(chooser, rule);
  card.append(controls);

  const legend = el('div', { class: 'legend token-legend', role: 'group', 'aria-label': 'Exit colours' });
  const counts: HTMLElement[] = [];
  /** The exit picked in the legend: the other exits' tokens are dimmed. */
  let only: number | null = null;
  const seqs = el('div', { class: 'token-seqs' });
  for (let k = 0; k < E; k++) {
    const item = el('button', {
      type: 'button',
      class: 'legend-item token-legend-item',
      'aria-pressed': 'false',
      'data-exit': String(k),
      title: `Show only the tokens that exit at ${k === E - 1 ? 'the final exit' : `exit ${k}`}`,
    });
    const count = el('span', { class: 'token-count' });
    counts.push(count);
    item.append(
      el('span', { class: `tok tok-x ${exitClasses(k, E)}`, 'aria-hidden': 'true' }, String(k)),
      document.createTextNode(k === E - 1 ? `final exit (${r.exits[k]?.name ?? k})` : `exit ${k}`),
      count,
    );
    item.addEventListener('click', () => {
      only = only === k ? null : k;
      legend
        .querySelectorAll('.token-legend-item')
        .forEach((b) => b.setAttribute('aria-pressed', String(b.getAttribute('data-exit') === String(only))));
      recolour();
    });
    legend.append(item);
  }
  const numbersId = 'token-exit-numbers';
  const numbers = el('input', { type: 'checkbox', id: numbersId }) as HTMLInputElement;
  numbers.addEventListener('change', () => seqs.classList.toggle('numbered', numbers.checked));
  const numbersLabel = el('label', { for: numbersId, class: 'legend-item token-numbers' });
  numbersLabel.append(numbers, document.createTextNode('exit numbers'));
  legend.append(numbersLabel);
  card.append(legend);

  const colourable = sequenceLines(view, seqs);
  card.append(seqs);

  const thresholdOf = (k: PolicyKind): { threshold: number | null; from: string } => {
    const slider = opts.slider(k);
    const curve = r.curves[k];
    if (slider && curve.points.length)
      return { threshold: sliderThreshold(curve, Number(slider.value)), from: 'slider' };
    const s = r.suggestions.find((x) => x.policy === k);
    if (s && !Array.isArray(s.threshold)) return { threshold: s.threshold, from: 'suggested' };
    return { threshold: null, from: 'no threshold' };
  };

  const recolour = () => {
    const { threshold, from } = thresholdOf(kind);
    const compared = viewThreshold(kind, threshold);
    rule.textContent = `${ruleText(kind, threshold)} (${from})`;
    const hist = new Array<number>(E).fill(0);
    for (const { span, pos } of colourable) {
      const k = tokenExit(pos, kind, compared);
      hist[k]++;
      span.className = `tok tok-x ${exitClasses(k, E)}${only !== null && k !== only ? ' dimmed' : ''}`;
      span.setAttribute('data-exit', String(k));
      span.title = tooltip(view, pos, k, kind, threshold);
    }
    const total = colourable.length || 1;
    counts.forEach((c, k) => (c.textContent = ` ${hist[k]} (${pct(hist[k] / total, 0)})`));
  };
  recolour();
  // The colours follow every policy's slider (only the chosen one's changes them).
  for (const k of KINDS) opts.slider(k)?.addEventListener('input', () => k === kind && recolour());
  return card;
}

/** Each sequence's line of tokens into `seqs`; returns the predicted tokens, to be coloured by their exit. */
function sequenceLines(view: TokenView, seqs: HTMLElement): Colourable[] {
  const colourable: Colourable[] = [];
  const vocab = view.vocab;
  for (const seq of view.sequences) {
    const byT = new Map<number, Position>();
    for (const p of seq.positions) byT.set(p.t, p);
    const line = el('div', {
      class: `token-seq${vocab ? '' : ' ids'}`,
      tabindex: '0',
      'aria-label': `sequence ${seq.index}: ${seq.positions.length} predicted tokens`,
    });
    line.append(el('span', { class: 'seq-label', 'aria-hidden': 'true' }, `#${seq.index}`));
    const text = el('span', { class: 'seq-text' });
    let i = 0;
    while (i < seq.ids.length) {
      if (seq.mask[i] === 0) {
        // A run of padding reads as one greyed mark, not dozens of <pad>.
        let j = i;
        while (j < seq.ids.length && seq.mask[j] === 0) j++;
        const pad = visibleToken(tokenString(vocab, seq.ids[i]));
        text.append(
          el(
            'span',
            { class: 'tok pad', title: `${j - i} padding token${j - i === 1 ? '' : 's'} (mask 0)` },
            j - i === 1 ? pad : `${pad} × ${j - i}`,
          ),
        );
        i = j;
        continue;
      }
      const id = seq.ids[i];
      const s = tokenString(vocab, id);
      // A token's closing line breaks go after its span: the mark (↵) stays on its line.
      const written = vocab ? textToken(s) : String(id);
      const body = written.replace(/\n+$/, '');
      const span = el('span', { class: 'tok' }, body);
      const pos = byT.get(i - 1);
      if (pos) colourable.push({ span, pos });
      else span.title = `${visibleToken(s)}: no position predicts this token`;
      text.append(span);
      if (body.length < written.length) text.append(document.createTextNode(written.slice(body.length)));
      i++;
    }
    if (seq.truncated)
      text.append(el('span', { class: 'tok more', title: 'the rest of the sequence is not in the report' }, ' …'));
    line.append(text);
    seqs.append(line);
  }
  return colourable;
}

/** A predicted token's tooltip: its target, each exit's prediction and confidence, and where the policy exits. */
function tooltip(view: TokenView, pos: Position, exit: number, kind: PolicyKind, threshold: number | null): string {
  const name = (id: number) => (id < 0 ? 'non-finite output' : `'${visibleToken(tokenString(view.vocab, id))}'`);
  const E = pos.preds.length;
  const lines = [`target ${name(pos.label)} (position ${pos.t})`];
  pos.preds.forEach((p, k) => {
    const mark = p === pos.label ? '✓' : '✗';
    lines.push(
      `exit ${k}: ${name(p)} ${pct(pos.conf[k], 1)} ${mark}${k === exit ? `  ← exits here` : ''}${k === E - 1 ? ' (final)' : ''}`,
    );
  });
  lines.push(`${ruleText(kind, threshold)}: exits at ${exit === E - 1 ? 'the final exit' : `exit ${exit}`}`);
  return lines.join('\n');
}
