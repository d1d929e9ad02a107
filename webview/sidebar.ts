import { pct } from '../src/shared/format';
import { providerName } from '../src/shared/providerText';
import { button, el } from './dom';
import type { FromWebview, RunSummary, SidebarState } from '../src/shared/protocol';

/** The sidebar: the model tied to the active editor, the workspace's models, or how to start. */
function age(iso: string): string {
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(s)) return '';
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function runSummary(run: RunSummary, post: (m: FromWebview) => void): HTMLElement {
  const box = el('div', { class: 'run' });
  const meta = el('div', { class: 'run-meta' });
  meta.append(
    el('span', { class: 'badge' }, (run.provider ?? 'logits').toUpperCase()),
    el('span', { class: 'note' }, ` ${age(run.createdAt)} · ${run.samplesPath.split(/[\\/]/).pop()}`),
  );
  box.append(meta);
  const bars = el('div', {
    class: 'acc-bars',
    role: 'img',
    'aria-label': `${run.quality} by exit: ${run.exitQuality.map((q, k) => `exit ${k} ${pct(q, 1)}`).join(', ')}`,
  });
  run.exitQuality.forEach((q, k) => {
    const row = el('div', { class: 'acc-row' });
    const track = el('div', { class: 'acc-track' });
    const fill = el('div', { class: 'acc-fill' });
    fill.style.width = `${Math.max(0, Math.min(100, q * 100))}%`;
    track.append(fill);
    row.append(el('span', { class: 'acc-label' }, `exit ${k}`), track, el('span', { class: 'acc-value' }, pct(q, 1)));
    bars.append(row);
  });
  box.append(bars);
  if (run.destructiveRate !== null)
    box.append(el('div', { class: 'stat-line' }, `Destructive overthinking: ${pct(run.destructiveRate, 2)}`));
  // A speed-up by measured latency says so (the static MACs' needs no word).
  const speed = (s: number | null) => (s === null ? '–' : `${s.toFixed(2)}×${run.measured ? ' measured' : ''}`);
  const measuredTip = run.measured
    ? ` Speed-up by latency measured on ${providerName(run.measured.provider)} at batch ${run.measured.batchSize}.`
    : '';
  if (run.best) {
    box.append(
      el(
        'div',
        {
          class: 'stat-line',
          title: `Meets its target on the calibration split; it may miss it on new data.${measuredTip}`,
        },
        `Suggested (calibration target): ${run.best.policy} ${run.best.threshold} → ${speed(run.best.speedup)} at ${pct(run.best.accuracy, 2)}`,
      ),
    );
  }
  const g = run.guaranteed;
  if (g)
    box.append(
      el(
        'div',
        {
          class: 'stat-line guaranteed',
          title: `Certified by Learn-then-Test on the calibration split: the risk stays within ε with probability ≥ 1 − δ.${measuredTip}`,
        },
        `Guaranteed (${g.settings}): ${g.rule}${g.speedup === null ? '' : ` → ${speed(g.speedup)} at ${pct(g.accuracy, 2)}`}`,
      ),
    );
  const actions = el('div', { class: 'actions' });
  actions.append(button('Open Report', () => post({ type: 'openReport', runId: run.runId, focusExit: null })));
  box.append(actions);
  return box;
}

/** Said instead of a Profile button in Restricted Mode (the host refuses to profile there anyway). */
const RESTRICTED_NOTE =
  'Restricted Mode: profiling is off in an untrusted workspace (loading a model runs native code). Existing reports still open.';

export function renderSidebar(root: HTMLElement, state: SidebarState, post: (m: FromWebview) => void): void {
  root.replaceChildren();
  root.classList.add('sidebar');
  if (state.kind === 'untrusted') {
    root.append(el('h2', {}, 'Restricted Mode'));
    root.append(
      el(
        'p',
        {},
        'Exit Lens does not profile models in an untrusted workspace: loading a model runs native code. Existing reports still open. Trust the workspace to profile.',
      ),
    );
    return;
  }
  if (state.kind === 'empty') {
    root.append(el('h2', {}, 'Profile your first early-exit model'));
    const steps = el('ol', { class: 'howto' });
    steps.append(
      el(
        'li',
        {},
        'Export the model to ONNX with one output per exit (exit_0, exit_1, …) or one stacked [N, E, C] output: torch.onnx.export(model, x, "model.onnx", output_names=["exit_0", "exit_1", "exit_2"], dynamic_axes={...}).',
      ),
      el(
        'li',
        {},
        'Save a sample set beside it: np.savez("test.npz", x=inputs, label=labels), and optionally a calibration set.',
      ),
      el('li', {}, 'Run "Exit Lens: Profile Model Exits" from the command palette, or right-click the .onnx file.'),
    );
    root.append(steps);
    if (state.trusted) root.append(button('Profile a model…', () => post({ type: 'profile', modelPath: null })));
    return;
  }
  if (state.kind === 'model') {
    const h = el('div', { class: 'side-head' });
    h.append(el('h2', { title: state.modelPath }, state.label), el('div', { class: 'note' }, state.source));
    root.append(h);
    if (state.latest) root.append(runSummary(state.latest, post));
    else root.append(el('p', { class: 'note' }, 'No profile of this model yet.'));
    if (!state.trusted) {
      root.append(el('p', { class: 'note restricted' }, RESTRICTED_NOTE));
      return;
    }
    const actions = el('div', { class: 'actions' });
    actions.append(
      button(
        state.running ? 'Profiling…' : 'Profile',
        () => post({ type: 'profile', modelPath: state.modelPath }),
        state.latest ? 'secondary' : 'primary',
      ),
    );
    root.append(actions);
    return;
  }
  root.append(el('h2', {}, 'Models in this workspace'));
  if (state.models.length === 0) root.append(el('p', { class: 'note' }, 'No .onnx models found.'));
  if (!state.trusted) root.append(el('p', { class: 'note restricted' }, RESTRICTED_NOTE));
  for (const m of state.models) {
    const box = el('div', { class: 'model-entry' });
    box.append(el('h3', { title: m.modelPath }, m.label));
    if (m.runs[0]) box.append(runSummary(m.runs[0], post));
    else box.append(el('p', { class: 'note' }, 'Not profiled yet.'));
    if (state.trusted) {
      const actions = el('div', { class: 'actions' });
      actions.append(button('Profile', () => post({ type: 'profile', modelPath: m.modelPath }), 'secondary'));
      box.append(actions);
    }
    if (m.runs.length > 1) box.append(el('div', { class: 'note' }, `${m.runs.length} runs kept`));
    root.append(box);
  }
}
