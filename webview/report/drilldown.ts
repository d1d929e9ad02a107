import type { DrilldownSample, Report } from '../../src/shared/reportTypes';
import { measuredSavingSentence } from '../costAxis';
import { el } from '../dom';

/**
 * The drill-down card: the samples that overthink destructively (right at some exit, wrong at
 * the final one), each with its input and every exit's prediction.
 */
function previewElement(s: DrilldownSample): HTMLElement {
  const input = s.input;
  if (input?.kind === 'image') {
    const canvas = document.createElement('canvas');
    canvas.width = input.width;
    canvas.height = input.height;
    canvas.className = 'thumb';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `input image of sample ${s.index}`);
    const ctx = canvas.getContext('2d');
    if (ctx) {
      const raw = atob(input.pixels);
      const img = ctx.createImageData(input.width, input.height);
      for (let i = 0; i < input.width * input.height; i++) {
        for (let c = 0; c < 3; c++)
          img.data[i * 4 + c] = raw.charCodeAt(i * input.channels + (input.channels === 3 ? c : 0));
        img.data[i * 4 + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    return canvas;
  }
  if (input?.kind === 'tokens')
    return el('code', { class: 'tokens' }, `${input.ids.join(' ')}${input.truncated ? ' …' : ''}`);
  if (input?.kind === 'values')
    return el(
      'code',
      { class: 'tokens' },
      `${input.values.map((v) => v.toPrecision(3)).join(' ')}${input.truncated ? ' …' : ''}`,
    );
  return el('span', { class: 'note' }, 'no input preview');
}

export function drilldownSection(r: Report): HTMLElement {
  const box = el('div');
  // What exiting saves in wall time on the device that measured it (--cost measured).
  const saving = measuredSavingSentence(r);
  if (saving) box.append(el('p', { class: 'measured-saving' }, saving));
  const d = r.drilldown;
  if (!d || d.samples.length === 0) {
    box.append(
      el(
        'p',
        { class: 'note' },
        d
          ? 'No sample overthinks destructively: every sample right at some exit is right at the final exit.'
          : 'Drill-down needs labels.',
      ),
    );
    return box;
  }
  box.append(
    el(
      'p',
      { class: 'note' },
      `${d.destructiveCount} samples are right at some exit but wrong at the final one; the first ${d.samples.length} are shown. Green: the exit is right; red: wrong.`,
    ),
  );
  const grid = el('div', { class: 'samples' });
  for (const s of d.samples) {
    const card = el('div', {
      class: 'sample',
      tabindex: '0',
      'aria-label': `sample ${s.index}, label ${s.label}, first correct at exit ${s.firstCorrect}`,
    });
    const top = el('div', { class: 'sample-top' });
    top.append(previewElement(s));
    const info = el('div', { class: 'sample-info' });
    info.append(
      el('div', {}, `#${s.index}`),
      el('div', {}, `label ${s.label}`),
      el('div', {}, `first right: exit ${s.firstCorrect}`),
    );
    top.append(info);
    card.append(top);
    const chips = el('div', { class: 'chips' });
    s.preds.forEach((p, k) => {
      chips.append(
        el(
          'span',
          {
            class: `chip ${p === s.label ? 'right' : 'wrong'}`,
            title: `exit ${k}: predicts ${p} with confidence ${s.confs[k].toFixed(3)}`,
          },
          `${k}: ${p === -1 ? 'NaN' : p} (${s.confs[k].toFixed(2)})`,
        ),
      );
    });
    card.append(chips);
    grid.append(card);
  }
  box.append(grid);
  return box;
}
