import { SCHEMA_VERSION } from './reportTypes';
import type { Report, TensorInfo } from './reportTypes';
import type { QualityMetric } from './quality';

/**
 * Every message between the extension host and the report webview (panel, sidebar view)
 * is typed here, and checked on arrival on both sides: the host never trusts the page and
 * the page never trusts a message it does not know.
 */

/**
 * What the page starts from, in the JSON element `exit-lens-boot` (src/core/report/htmlExport.ts
 * reportPage writes it): which view to render, and for the static export the report itself.
 */
export interface Boot {
  view: 'panel' | 'sidebar' | 'static' | 'model';
  runId?: string;
  report?: Report;
}

/** One stored run as the sidebar and the model viewer list it (the host's run store writes it). */
export interface RunSummary {
  runId: string;
  modelPath: string | null;
  samplesPath: string;
  createdAt: string;
  provider: string | null;
  /** Accuracy (or agreement when unlabelled) of each exit. */
  exitQuality: number[];
  quality: QualityMetric;
  destructiveRate: number | null;
  best: { policy: string; threshold: string; speedup: number | null; accuracy: number | null } | null;
  /**
   * The certified threshold with the highest test speed-up (riskText.ts bestGuarantee): its rule
   * ("conf ≥ 0.93", or "none certified — full model"), the settings ("ε 5%, δ 10%"), its test
   * speed-up and accuracy (agreement when unlabelled), null when none is certified. Absent for
   * runs stored before the guarantees.
   */
  guaranteed?: { rule: string; settings: string; speedup: number | null; accuracy: number | null };
  /** Set when the speed-ups are by measured latency (--cost measured): the provider and batch size it was timed at. */
  measured?: { provider: string; batchSize: number };
}

export interface ModelEntry {
  modelPath: string;
  label: string;
  runs: RunSummary[];
}

export type SidebarState =
  | {
      kind: 'model';
      modelPath: string;
      label: string;
      source: string;
      latest: RunSummary | null;
      report: Report | null;
      running: boolean;
      trusted: boolean;
    }
  | { kind: 'workspace'; models: ModelEntry[]; running: boolean; trusted: boolean }
  | { kind: 'empty'; trusted: boolean }
  | { kind: 'untrusted' };

/** What the .onnx viewer shows: the model read in the extension host, costs from the latest run. */
export interface ModelView {
  path: string;
  producer: string;
  opset: number;
  irVersion: number;
  nodeCount: number;
  parameterCount: number;
  usesExternalData: boolean;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  exits: { index: number; name: string; macs: number | null }[];
  exitLayout: string;
  exitError: string | null;
  baselineMacs: number | null;
  costNote: string;
  latest: RunSummary | null;
  trusted: boolean;
  error: string | null;
}

export type ToWebview =
  | { type: 'report'; runId: string; report: Report; focusExit: number | null }
  | { type: 'model'; model: ModelView }
  | { type: 'focusExit'; exit: number }
  | { type: 'sidebar'; state: SidebarState }
  | { type: 'busy'; running: boolean; message: string | null };

export type ExportFormat = 'json' | 'markdown' | 'html';

export type FromWebview =
  | { type: 'ready' }
  | { type: 'copy'; what: 'json' | 'python'; text: string }
  | { type: 'rerun'; runId: string | null }
  | { type: 'openInSidebar'; runId: string }
  | { type: 'openReport'; runId: string; focusExit: number | null }
  | { type: 'profile'; modelPath: string | null }
  | { type: 'export'; runId: string; format: ExportFormat }
  | { type: 'openFile'; path: string };

const isString = (v: unknown): v is string => typeof v === 'string';
const isRunId = (v: unknown): v is string => isString(v) && v.length > 0 && v.length < 300;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a message from the page; anything else is dropped by the host. */
export function isFromWebview(v: unknown): v is FromWebview {
  if (!isObject(v) || !isString(v.type)) return false;
  switch (v.type) {
    case 'ready':
      return true;
    case 'copy':
      return (v.what === 'json' || v.what === 'python') && isString(v.text) && v.text.length < 100_000;
    case 'rerun':
      return v.runId === null || isRunId(v.runId);
    case 'openInSidebar':
      return isRunId(v.runId);
    case 'openReport':
      return (
        isRunId(v.runId) && (v.focusExit === null || (Number.isInteger(v.focusExit) && (v.focusExit as number) >= 0))
      );
    case 'profile':
      return v.modelPath === null || isString(v.modelPath);
    case 'export':
      return isRunId(v.runId) && (v.format === 'json' || v.format === 'markdown' || v.format === 'html');
    case 'openFile':
      return isString(v.path) && v.path.length < 4096;
    default:
      return false;
  }
}

/** Validates a message from the host (the page only renders what it recognises). */
export function isToWebview(v: unknown): v is ToWebview {
  if (!isObject(v) || !isString(v.type)) return false;
  switch (v.type) {
    case 'report':
      return (
        isRunId(v.runId) &&
        isObject(v.report) &&
        (v.report as { schemaVersion?: unknown }).schemaVersion === SCHEMA_VERSION &&
        (v.focusExit === null || Number.isInteger(v.focusExit))
      );
    case 'focusExit':
      return Number.isInteger(v.exit);
    case 'model':
      return isObject(v.model) && isString((v.model as { path?: unknown }).path);
    case 'sidebar':
      return isObject(v.state) && isString((v.state as { kind?: unknown }).kind);
    case 'busy':
      return typeof v.running === 'boolean' && (v.message === null || isString(v.message));
    default:
      return false;
  }
}
