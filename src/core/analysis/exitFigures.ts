import { ExitRecords } from '../records';
import { ExitMetrics, exitMetrics } from './exitMetrics';
import { Overthinking, overthinking } from './overthinking';

/** What the report says per exit and about overthinking: plain data, so that it can come from a worker thread. */
export interface ExitFigures {
  metrics: ExitMetrics[];
  /** Per exit, the share of samples right there and wrong at the final exit (null without labels). */
  destructive: (number | null)[];
  overthinking: Overthinking | null;
}

/** Share of samples right at exit k and wrong at the final exit. */
export function rightThenWrong(rec: ExitRecords, k: number): number | null {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  if (!labels) return null;
  let count = 0;
  for (let n = 0; n < N; n++) if (pred[n * E + k] === labels[n] && pred[n * E + E - 1] !== labels[n]) count++;
  return count / N;
}

export function exitFigures(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number): ExitFigures {
  const metrics = exitMetrics(rec);
  return { metrics, destructive: metrics.map((m) => rightThenWrong(rec, m.index)), overthinking: overthinking(rec, exitMacs, baselineMacs) };
}
