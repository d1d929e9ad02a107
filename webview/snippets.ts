/**
 * What the report's "Copy thresholds (JSON)" and "Copy Python snippet" buttons copy: plain
 * functions of the report, with no DOM, so that they can be run and checked outside a page.
 */
import type { Report } from '../src/shared/reportTypes';
import { pct } from '../src/shared/format';
import { qualityMetric, qualityOf } from '../src/shared/quality';
import { baseName, speedupText } from './format';

export function thresholdsJson(r: Report): string {
  const out = {
    model: r.model ? baseName(r.model.path) : r.logitsFile ? baseName(r.logitsFile) : null,
    fittedOn: r.samples.calibration,
    target: r.suggestions[0] ? { metric: r.suggestions[0].targetMetric, value: r.suggestions[0].target } : null,
    suggestions: r.suggestions.map((s) => ({
      policy: s.policy,
      threshold: s.threshold,
      best: s.best,
      test: {
        accuracy: s.test.accuracy,
        agreement: s.test.agreement,
        speedup: s.test.speedup,
        exitHistogram: s.test.exitHistogram,
      },
    })),
  };
  return JSON.stringify(out, null, 2);
}

/**
 * The "Copy Python snippet" code: the best suggestion as a plain-Python `exit_index` for
 * deployment code. It works out each exit's scores as the report does (max-shifted exp, sums
 * rounded once with math.fsum, conf = 1/s, margin = conf - second/s, normalised entropy from
 * the same sums), so that a sample whose score equals the threshold lands on the same side;
 * NaN or infinite logits never stop a sample. Any sequence of logits works: a torch tensor,
 * a numpy array or a list.
 */
export function pythonSnippet(r: Report): string {
  const best = r.suggestions.find((s) => s.best);
  const lines = [
    `# Exit Lens suggested exit policy for ${r.model ? baseName(r.model.path) : 'the model'}`,
    `# fitted on ${r.samples.calibration.source === 'file' ? baseName(r.samples.calibration.path ?? '') : 'a seeded split of the sample set'}; speed-up = baseline MACs / mean MACs`,
    'import math',
    '',
  ];
  if (!best) return `${lines.join('\n')}# no suggestion in this report\n`;
  const t = best.threshold;
  lines.push(`EXIT_POLICY = ${JSON.stringify(best.policy)}`);
  lines.push(
    `EXIT_THRESHOLD = ${Array.isArray(t) ? `[${t.map((v) => (v === null ? 'math.inf' : String(v))).join(', ')}]` : t === null ? 'None  # no early exit meets the target' : String(t)}`,
  );
  lines.push(
    `# test split: ${pct(qualityOf(r.samples.labelled, best.test), 2)} ${qualityMetric(r.samples.labelled)}, ${speedupText(best.test.speedup)} speed-up`,
  );
  lines.push(
    '',
    '',
    'def exit_scores(z):',
    '    """(prediction, confidence, margin, normalised entropy) of one exit\'s logits, computed as',
    '    Exit Lens computes them; None when a logit is NaN or infinite."""',
    '    z = [float(v) for v in (z.tolist() if hasattr(z, "tolist") else z)]',
    '    if not all(math.isfinite(v) for v in z):',
    '        return None',
    '    top = max(z)',
    '    pred = z.index(top)  # ties: the lowest class index',
    '    e = [1.0 if c == pred else math.exp(v - top) for c, v in enumerate(z)]',
    '    s = math.fsum(e)',
    '    t = math.fsum(ec * (v - top) for c, (ec, v) in enumerate(zip(e, z)) if c != pred)',
    '    conf = 1 / s',
    '    if len(z) < 2:',
    '        return pred, conf, conf, 0.0',
    '    second = max(ec for c, ec in enumerate(e) if c != pred)',
    '    h = (math.log(s) - t / s) / math.log(len(z))',
    '    return pred, conf, conf - second / s, min(1.0, max(0.0, h))',
    '',
    '',
    'def exit_index(exit_logits):',
    '    """exit_logits: one sequence of C logits per exit, shallowest first. Returns the exit to',
    '    stop at; an exit whose logits are NaN or infinite never stops a sample."""',
    '    last = len(exit_logits) - 1',
  );
  if (t === null) {
    lines.push('    return last');
  } else if (best.policy === 'patience') {
    lines.push(
      '    counter = 0',
      '    preds = [(exit_scores(z) or (-1,))[0] for z in exit_logits]',
      '    for k in range(1, len(preds)):',
      '        counter = counter + 1 if preds[k] >= 0 and preds[k] == preds[k - 1] else 0',
      '        if counter == EXIT_THRESHOLD:',
      '            return k',
      '    return last',
    );
  } else {
    const test =
      best.policy === 'confidence'
        ? 'conf >= EXIT_THRESHOLD'
        : best.policy === 'per-exit'
          ? 'conf >= EXIT_THRESHOLD[k]'
          : best.policy === 'margin'
            ? 'margin >= EXIT_THRESHOLD'
            : 'entropy <= EXIT_THRESHOLD';
    lines.push(
      '    for k, z in enumerate(exit_logits[:-1]):',
      '        scores = exit_scores(z)',
      '        if scores is None:',
      '            continue',
      '        _, conf, margin, entropy = scores',
      `        if ${test}:`,
      '            return k',
      '    return last',
    );
  }
  return `${lines.join('\n')}\n`;
}
