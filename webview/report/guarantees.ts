import type { Report } from '../../src/shared/reportTypes';
import { pct } from '../../src/shared/format';
import { qualityName, qualityOf } from '../../src/shared/quality';
import { certifiedRule, guaranteeSentence, promiseSentence, riskSettingsText } from '../../src/shared/riskText';
import { measuredCost } from '../costAxis';
import { el, table } from '../dom';
import { speedupText } from '../format';
import { POLICY_LABEL } from './curve';

/**
 * The thresholds with a guarantee (docs/metrics.md "Thresholds with a guarantee"), under the
 * suggestions: the promise in one sentence, one row per policy, and why per-exit vectors have
 * none. Null for a report written before the guarantees.
 */
export function guaranteeBlock(r: Report): HTMLElement | null {
  const gs = r.guarantees ?? [];
  if (gs.length === 0) return null;
  const risk = r.settings.risk ?? gs[0];
  const box = el('div', { class: 'guarantees' });
  box.append(el('h3', {}, 'Thresholds with a guarantee'));
  box.append(el('p', { class: 'guarantee-sentence' }, promiseSentence(risk)));
  box.append(
    el(
      'p',
      { class: 'note' },
      `Certified by Learn-then-Test on the ${gs[0].n} calibration samples (${risk.loss} loss, ${riskSettingsText(risk)}): each policy's most aggressive threshold that keeps the guarantee; figures on the held-out test split.`,
    ),
  );
  const t = table(
    [
      'Policy',
      'Certified threshold',
      'Calib. risk (k/n)',
      'Test risk',
      `Test ${qualityName(r.samples)}`,
      measuredCost(r) ? 'Test speed-up (measured)' : 'Test speed-up',
      'Test exits per exit',
    ],
    gs.map((g) => [
      POLICY_LABEL[g.policy] ?? g.policy,
      g.threshold === null ? 'none certified — full model' : certifiedRule(g),
      `${g.calibration.losses}/${g.n} = ${pct(g.calibration.risk, 2)}`,
      pct(g.test.risk, 2),
      pct(qualityOf(r.samples.labelled, g.test), 2),
      speedupText(g.test.speedup),
      g.test.exitHistogram.join(' / '),
    ]),
    { numeric: [2, 3, 4, 5], caption: 'Thresholds with a guarantee' },
  );
  t.classList.add('guarantee-table');
  t.querySelectorAll('tbody tr').forEach((tr, i) => {
    tr.setAttribute('data-policy', gs[i].policy);
    tr.querySelectorAll('td')[1]?.setAttribute('title', guaranteeSentence(gs[i]));
  });
  const wrap = el('div', { class: 'table-wrap' });
  wrap.append(t);
  box.append(wrap);
  if (gs.some((g) => g.threshold === null))
    box.append(
      el(
        'p',
        { class: 'note' },
        `None certified: even the most conservative threshold could not be shown to keep the risk within ${pct(risk.epsilon, 1)}, so only the full model carries the guarantee; more calibration samples or a larger ε can certify one.`,
      ),
    );
  box.append(
    el(
      'p',
      { class: 'note' },
      'Per-exit threshold vectors get no guarantee: fixed-sequence testing needs one order of the thresholds from the most conservative, and a vector has none (many vectors are equally conservative).',
    ),
  );
  return box;
}
