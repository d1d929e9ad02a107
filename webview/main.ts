import type { Report } from '../src/shared/reportTypes';
import { el } from './dom';
import { Boot, FromWebview, isToWebview } from '../src/shared/protocol';
import { focusExit, renderReport } from './report';
import { renderModel } from './modelView';
import { renderSidebar } from './sidebar';

/**
 * The report app. One bundle serves three hosts: the report panel and the sidebar view
 * (talking to the extension through postMessage) and the self-contained HTML export (the
 * report embedded in the page, no host).
 */
interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): PageState | undefined;
  setState(state: PageState): void;
}

interface PageState {
  runId?: string;
  sliders?: Record<string, number>;
  /** The token view's policy (a decoder's report). */
  tokenPolicy?: string;
  /** The trade-off chart's speed-up axis (a report with measured costs). */
  costAxis?: 'measured' | 'macs';
  scrollY?: number;
}

declare function acquireVsCodeApi(): VsCodeApi;

const vscode: VsCodeApi | null = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : null;
const bootNode = document.getElementById('exit-lens-boot');
const boot: Boot = bootNode?.textContent ? (JSON.parse(bootNode.textContent) as Boot) : { view: 'panel' };
performance.mark('exit-lens:boot-parsed');
const root = document.getElementById('app') ?? document.body;
let state: PageState = vscode?.getState() ?? {};
/** The report on the page and the exit it is focused on (kept through re-renders). */
let current: { runId: string; report: Report; focus: number | null } | null = null;

function post(message: FromWebview): void {
  vscode?.postMessage(message);
}

function saveState(patch: Partial<PageState>): void {
  state = { ...state, ...patch };
  vscode?.setState(state);
}

function copy(what: 'json' | 'python', text: string): void {
  if (vscode) post({ type: 'copy', what, text });
  else void navigator.clipboard?.writeText(text);
}

/**
 * Renders a report. A different run opens at its top; the same run (a window reload) gets its
 * scroll back, unless an exit is to be focused. `keepScroll` re-renders in place (a resize):
 * the focused row stays highlighted and the page stays where it was.
 */
function showReport(runId: string, report: Report, focus: number | null, keepScroll = false): void {
  const sameRun = state.runId === runId;
  const scrollY = window.scrollY;
  current = { runId, report, focus };
  if (!sameRun) saveState({ runId, sliders: {}, tokenPolicy: undefined, costAxis: undefined, scrollY: 0 });
  const interactive = boot.view !== 'static';
  renderReport(root, report, {
    mode: boot.view === 'static' ? 'static' : 'panel',
    runId,
    focusExit: focus,
    scrollToFocus: !keepScroll,
    sliders: state.sliders ?? {},
    onSlider: (kind, index) => saveState({ sliders: { ...(state.sliders ?? {}), [kind]: index } }),
    tokenPolicy: state.tokenPolicy,
    onTokenPolicy: (kind) => saveState({ tokenPolicy: kind }),
    costAxis: state.costAxis,
    onCostAxis: (axis) => saveState({ costAxis: axis }),
    actions: {
      copy,
      rerun: interactive ? () => post({ type: 'rerun', runId }) : undefined,
      openInSidebar: interactive ? () => post({ type: 'openInSidebar', runId }) : undefined,
      export: interactive ? (format) => post({ type: 'export', runId, format }) : undefined,
    },
  });
  if (keepScroll) window.scrollTo(0, scrollY);
  else if (focus !== null) return;
  else if (!sameRun) window.scrollTo(0, 0);
  else if (state.scrollY) requestAnimationFrame(() => window.scrollTo(0, state.scrollY ?? 0));
}

let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => {
    if (current) showReport(current.runId, current.report, current.focus, true);
  }, 150);
});

let scrollTimer: number | undefined;
window.addEventListener('scroll', () => {
  window.clearTimeout(scrollTimer);
  scrollTimer = window.setTimeout(() => saveState({ scrollY: window.scrollY }), 200);
});

window.addEventListener('message', (event: MessageEvent) => {
  const m: unknown = event.data;
  if (!isToWebview(m)) return; // unknown or malformed: ignored
  switch (m.type) {
    case 'report':
      // The same run again (the panel shown again, say): re-rendered in place, its focus kept.
      if (m.focusExit === null && current?.runId === m.runId) showReport(m.runId, m.report, current.focus, true);
      else showReport(m.runId, m.report, m.focusExit);
      break;
    case 'focusExit':
      if (current) current.focus = m.exit;
      focusExit(root, m.exit);
      break;
    case 'sidebar':
      renderSidebar(root, m.state, post);
      break;
    case 'model':
      renderModel(root, m.model, post);
      break;
    case 'busy': {
      document.getElementById('busy')?.remove();
      if (m.running) {
        const b = el('div', { id: 'busy', class: 'busy', role: 'status' });
        b.append(el('vscode-progress-ring'), el('span', {}, m.message ?? 'Profiling…'));
        root.prepend(b);
      }
      break;
    }
  }
});

if (boot.view === 'static' && boot.report) showReport(boot.runId ?? 'static', boot.report, null);
else {
  if (boot.view === 'panel') root.append(el('p', { class: 'note' }, 'Loading report…'));
  post({ type: 'ready' });
}
