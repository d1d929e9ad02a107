import type { Emit, ProfileRequest } from '../../shared/engineProtocol';
import type { ReportWarning } from '../../shared/reportTypes';
import type { RunHooks } from '../runHandler';

/**
 * What every stage of a profile shares: the request, the channel to the caller, the cancel, and
 * what the report collects on the way (its warnings, in the order they arise, and the timings).
 */
export interface ProfileContext {
  req: ProfileRequest;
  emit: Emit;
  signal: AbortSignal | undefined;
  hooks: RunHooks;
  log: (message: string, level?: 'info' | 'warn' | 'error') => void;
  warnings: ReportWarning[];
  timings: Record<string, number>;
  /** When the run started (Date.now()). */
  started: number;
}

export function profileContext(
  req: ProfileRequest,
  emit: Emit,
  signal: AbortSignal | undefined,
  hooks: RunHooks,
): ProfileContext {
  return {
    req,
    emit,
    signal,
    hooks,
    log: (message, level = 'info') => emit({ type: 'log', id: req.id, level, message }),
    warnings: [],
    timings: {},
    started: Date.now(),
  };
}
