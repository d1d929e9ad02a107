import { ExitLensError, describeError } from '../core/errors';
import type { Emit } from '../shared/engineProtocol';
import type { Report } from '../shared/reportTypes';
import { runAnalyze } from './analyzeLogits';
import { runMerge } from './merge';
import { runProfile } from './profile/runProfile';
import { RunHandler, RunHooks, RunRequest } from './runHandler';

/** Every kind of run, by its request type: a new kind is one more entry here. */
const RUNS: { [K in RunRequest['type']]: RunHandler<Extract<RunRequest, { type: K }>> } = {
  profile: runProfile,
  analyze: runAnalyze,
  merge: runMerge,
};

/** Runs one request and reports its end as a result or error event; never throws. */
export async function handleRequest(
  req: RunRequest,
  emit: Emit,
  signal?: AbortSignal,
  hooks: RunHooks = {},
): Promise<Report | null> {
  try {
    const run = RUNS[req.type] as RunHandler<RunRequest>;
    const report = await run(req, emit, signal, hooks);
    emit({ type: 'result', id: req.id, report });
    return report;
  } catch (err) {
    if (err instanceof ExitLensError) {
      emit({
        type: 'error',
        id: req.id,
        code: err.code,
        message: err.message,
        hint: err.hint,
        userError: err.isUserError,
      });
    } else {
      emit({
        type: 'error',
        id: req.id,
        code: 'internal',
        message: `Internal error: ${describeError(err)}`,
        hint: 'Please report this with the log.',
        userError: false,
      });
      emit({ type: 'log', id: req.id, level: 'error', message: (err as Error)?.stack ?? String(err) });
    }
    return null;
  }
}
