import { ExitRecords } from '../records';

/** Overthinking (Kaya et al., Shallow-Deep Networks, ICML 2019), as METRICS.md defines it. */
export interface Transition {
  from: number;
  to: number;
  rr: number;
  rw: number;
  wr: number;
  ww: number;
}

export interface Overthinking {
  oracleAccuracy: number;
  destructiveRate: number;
  wastefulRate: number;
  oracleSpeedup: number | null;
  /** Counts of f(x) = k for k = 0..E-1, then the count of `never` last. */
  firstCorrectHistogram: number[];
  transitions: Transition[];
}

/** f(x) = min{k : pred_k = y}, or -1 when no exit is right. */
export function firstCorrectExit(rec: ExitRecords, n: number): number {
  const E = rec.exitCount;
  const y = rec.labels![n];
  for (let k = 0; k < E; k++) if (rec.pred[n * E + k] === y) return k;
  return -1;
}

export function overthinking(rec: ExitRecords, exitMacs: readonly number[], baselineMacs: number): Overthinking | null {
  const { sampleCount: N, exitCount: E, labels } = rec;
  if (!labels) return null;
  const last = E - 1;
  const hist = new Array<number>(E + 1).fill(0);
  const transitions: Transition[] = [];
  for (let k = 0; k < last; k++) transitions.push({ from: k, to: k + 1, rr: 0, rw: 0, wr: 0, ww: 0 });
  let defined = 0;
  let destructive = 0;
  let wasteful = 0;
  let oracleCost = 0;
  for (let n = 0; n < N; n++) {
    const y = labels[n];
    const f = firstCorrectExit(rec, n);
    const finalRight = rec.pred[n * E + last] === y;
    if (f >= 0) {
      defined++;
      hist[f]++;
      if (!finalRight) destructive++;
      else if (f < last) wasteful++;
    } else {
      hist[E]++;
    }
    oracleCost += exitMacs[f >= 0 ? f : last];
    let prevRight = rec.pred[n * E] === y;
    for (let k = 0; k < last; k++) {
      const nextRight = rec.pred[n * E + k + 1] === y;
      const t = transitions[k];
      if (prevRight && nextRight) t.rr++;
      else if (prevRight) t.rw++;
      else if (nextRight) t.wr++;
      else t.ww++;
      prevRight = nextRight;
    }
  }
  const meanOracleCost = oracleCost / N;
  return {
    oracleAccuracy: defined / N,
    destructiveRate: destructive / N,
    wastefulRate: wasteful / N,
    oracleSpeedup: meanOracleCost > 0 ? baselineMacs / meanOracleCost : null,
    firstCorrectHistogram: hist,
    transitions,
  };
}
