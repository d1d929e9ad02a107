import type { ExecutionProviderInfo } from './reportTypes';

/**
 * How the execution provider of a run is told, the same in the CLI, the Markdown summary, the
 * report and the status bar. A GPU the user asked for and did not get is a fallback; the default
 * order ending on the CPU is not an alarm, only a fact: "CPU: no GPU provider available".
 */
const LABELS: Record<string, string> = { cuda: 'CUDA', webgpu: 'WebGPU', cpu: 'CPU', tensorrt: 'TensorRT' };

export function providerName(p: string): string {
  return LABELS[p] ?? p.toUpperCase();
}

/** Reports written before the precision was recorded have none; their runs were fp32 or CUDA's default. */
function precisionOf(info: ExecutionProviderInfo): string | null {
  return typeof info.precision === 'string' ? info.precision : null;
}

export type ProviderTone = 'gpu' | 'neutral' | 'fallback';

export interface ProviderSummary {
  /** e.g. "CUDA · tf32", "CPU · fp32" */
  badge: string;
  /** One line: what ran, and why not a GPU. */
  line: string;
  /** 'fallback' only when a provider the user named could not be used. */
  tone: ProviderTone;
  /** Each provider that was not used, with why and what to do. */
  notUsed: { provider: string; reason: string; nextStep: string | null }[];
}

export function summarizeProvider(info: ExecutionProviderInfo): ProviderSummary {
  const used = providerName(info.used);
  const precision = precisionOf(info);
  const badge = precision ? `${used} · ${precision}` : used;
  const notUsed = info.attempts
    .filter((a) => !a.ok)
    .map((a) => ({
      provider: a.provider,
      reason: (a.reason ?? 'unknown reason').replace(/\.$/, ''),
      nextStep: a.nextStep ?? null,
    }));
  const explicit = info.explicit !== false;
  const reasons = notUsed.map((n) => `${providerName(n.provider)}: ${n.reason}`).join('; ');
  let line: string;
  let tone: ProviderTone;
  if (info.used !== 'cpu') {
    tone = 'gpu';
    line = `${used}${precision ? ` (${info.precisionReason ?? precision})` : ''}${notUsed.length ? `; not used: ${reasons}` : ''}`;
  } else if (!notUsed.length) {
    tone = 'neutral';
    line = `CPU${precision ? ` (${precision})` : ''}, ${info.threads} threads`;
  } else if (!explicit) {
    tone = 'neutral';
    line = `CPU, ${info.threads} threads: no GPU provider available (${reasons})`;
  } else {
    tone = 'fallback';
    line = `CPU, ${info.threads} threads, instead of ${notUsed.map((n) => providerName(n.provider)).join(', ')} (${reasons})`;
  }
  return { badge, line, tone, notUsed };
}
