import type { Report } from '../../src/shared/reportTypes';
import { pct, thresholdText } from '../../src/shared/format';
import { qualityName, qualityOf } from '../../src/shared/quality';
import { missesTargetOnTest, shortfallText } from '../../src/shared/riskText';
import { measuredCost } from '../costAxis';
import { el, table } from '../dom';
import { speedupText } from '../format';
import { POLICY_LABEL } from './curve';
import { guaranteeBlock } from './guarantees';

/**
 * The "Suggested thresholds" card: each policy's suggestion, fitted on the calibration split and
 * tested on the held-out one, a mark on those that miss their target on test, and under them
 * the thresholds with a guarantee.
 */
export function suggestionsCard(r: Report): HTMLElement {
  const sugCard = el('div', { class: 'card wide' });
  sugCard.append(el('h3', {}, 'Suggested thresholds'));
  if (r.suggestions.length) {
    const missed = r.suggestions.map(missesTargetOnTest);
    sugCard.append(
      el(
        'p',
        { class: 'note' },
        `Target: ${qualityName(r.samples)} ≥ ${pct(r.suggestions[0].target, 2)} on the calibration split (final exit minus ${pct(r.settings.maxAccuracyDrop, 1)}), lowest mean cost; figures on the held-out test split.${missed.some(Boolean) ? ` ⚠ marks a suggestion whose test figure falls short of the target: it was met on calibration only${r.guarantees?.length ? '; the thresholds with a guarantee below bound the risk instead' : ''}.` : ''}`,
      ),
    );
    const wrap = el('div', { class: 'table-wrap' });
    wrap.append(suggestionTable(r, missed));
    sugCard.append(wrap);
  } else sugCard.append(el('p', { class: 'note' }, 'No suggestions: the sample set is too small to split.'));
  const guarantees = guaranteeBlock(r);
  if (guarantees) sugCard.append(guarantees);
  return sugCard;
}

function suggestionTable(r: Report, missed: boolean[]): HTMLTableElement {
  const labelled = r.samples.labelled;
  const t = table(
    [
      'Policy',
      'Threshold',
      `Calib. ${qualityName(r.samples)}`,
      `Test ${qualityName(r.samples)}`,
      r.samples.tokens ? 'Test consistency' : 'Test agreement',
      measuredCost(r) ? 'Test speed-up (measured)' : 'Test speed-up',
      'Test exits per exit',
    ],
    r.suggestions.map((s) => [
      `${POLICY_LABEL[s.policy] ?? s.policy}${s.best ? ' ★' : ''}`,
      thresholdText(s.threshold),
      pct(qualityOf(labelled, s.calibration), 2),
      pct(qualityOf(labelled, s.test), 2),
      pct(s.test.agreement, 2),
      speedupText(s.test.speedup),
      s.test.exitHistogram.join(' / '),
    ]),
    { numeric: [2, 3, 4, 5], caption: 'Suggested thresholds (★ = cheapest on calibration)' },
  );
  // A suggestion met its target on calibration only: say so in its row where the test split
  // falls short (words and a symbol, not colour alone; the exact figures in the tooltip).
  t.querySelectorAll('tbody tr').forEach((tr, i) => {
    const s = r.suggestions[i];
    if (!missed[i]) return;
    const why = `${shortfallText(s)}: met on the calibration split only`;
    const mark = el('span', { class: 'target-miss', title: why }, '⚠ below target on test');
    mark.append(el('span', { class: 'sr-only' }, ` (${why})`));
    tr.querySelector('td')?.append(mark);
  });
  return t;
}
