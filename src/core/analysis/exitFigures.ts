import { ExitRecords } from '../records';
import { Overthinking, overthinking } from './overthinking';

/** The report's overthinking figures: plain data, so that they can come from a worker thread. */
export interface OverthinkingFigures {
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

export function overthinkingFigures(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number): OverthinkingFigures {
  const destructive: (number | null)[] = [];
  for (let k = 0; k < rec.exitCount; k++) destructive.push(rightThenWrong(rec, k));
  return { destructive, overthinking: overthinking(rec, exitMacs, baselineMacs) };
}
