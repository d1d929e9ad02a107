import type { CostAxis } from '../costAxis';

/**
 * How a report is shown and what its controls call back: the host (the panel, or the static
 * export with no host), the focused exit, and the UI state restored from the page.
 */
export interface ReportViewOptions {
  mode: 'panel' | 'static';
  runId: string;
  focusExit: number | null;
  /** Scroll the focused exit's row into view (not when re-rendering in place); default true. */
  scrollToFocus?: boolean;
  /** Slider positions restored from the page state, by policy kind. */
  sliders: Record<string, number>;
  onSlider(kind: string, index: number): void;
  /** The token view's policy, restored from the page state (decoders only). */
  tokenPolicy?: string;
  onTokenPolicy?(kind: string): void;
  /** The trade-off chart's speed-up axis, restored from the page state (reports with measured costs only). */
  costAxis?: CostAxis;
  onCostAxis?(axis: CostAxis): void;
  actions: {
    copy(what: 'json' | 'python', text: string): void;
    rerun?(): void;
    openInSidebar?(): void;
    export?(format: 'json' | 'markdown' | 'html'): void;
  };
}
