import { AnalysisInput, AnalysisResult, analyze } from '../core/analysis/analyze';
import { SpareWorker, parallelRunner } from '../core/analysis/parallel';
import type { Emit } from '../shared/engineProtocol';

/** The analysis as a step of a run: announced as its phase, its sweeps on worker threads where that pays. */

/** The analysis' policy sweeps on worker threads where that pays, saying so in the log. */
export function sweepRunner(emit: Emit, id: string, worker?: SpareWorker | null, signal?: AbortSignal) {
  return parallelRunner({
    worker,
    signal,
    onDone: ({ onWorkers, inline }) => {
      if (onWorkers > 0)
        emit({
          type: 'log',
          id,
          level: 'info',
          message: `Analysis: ${onWorkers} of ${onWorkers + inline} policy sweeps ran on worker threads.`,
        });
    },
  });
}

/** A profiled run's analysis (a single run's or a merge's), announced as the 'analysis' phase. */
export async function analyseRecords(
  emit: Emit,
  id: string,
  signal: AbortSignal | undefined,
  input: Omit<AnalysisInput, 'runner' | 'signal'>,
): Promise<AnalysisResult> {
  emit({ type: 'progress', id, phase: 'analysis', done: 0, total: 1, samplesPerSecond: null, etaSeconds: null });
  return analyze({ ...input, runner: sweepRunner(emit, id, null, signal), signal });
}
