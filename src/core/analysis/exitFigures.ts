import { ExitRecords } from '../records/records';
import type { Overthinking } from '../../shared/reportTypes';
import { overthinkingPass } from './overthinking';

/** The report's overthinking figures: plain data, so that they can come from a worker thread. */
export interface OverthinkingFigures {
  /** Per exit, the share of samples right there and wrong at the final exit (null without labels). */
  destructive: (number | null)[];
  overthinking: Overthinking | null;
}

export function overthinkingFigures(
  rec: ExitRecords,
  exitMacs: readonly number[],
  baselineMacs: number,
): OverthinkingFigures {
  const pass = overthinkingPass(rec, exitMacs, baselineMacs);
  if (!pass) return { destructive: new Array<null>(rec.exitCount).fill(null), overthinking: null };
  const N = rec.sampleCount;
  return { destructive: Array.from(pass.rightThenWrong, (c) => c / N), overthinking: pass.overthinking };
}
