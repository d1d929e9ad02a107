import { firstCorrectExit } from '../analysis/overthinking';
import { ExitRecords } from '../records/records';
import type { DrilldownSample, InputPreview } from '../../shared/reportTypes';

/**
 * Drill-down: the samples that overthink destructively (right at some exit, wrong at the
 * final one), with every exit's prediction and confidence, and a preview of the input: a
 * small image when the input looks like one ([C,H,W] with C = 1 or 3, or [H,W]), token ids
 * otherwise.
 */

export const DRILLDOWN_LIMIT = 48;
const MAX_PREVIEW_SIDE = 64;
const MAX_TOKENS = 64;

/**
 * The first `limit` destructive samples in sample order, and how many there are in all (counted
 * here unless `knownTotal`, the overthinking figures' count, is given: then the scan stops at
 * the limit).
 */
export function destructiveSamples(
  rec: ExitRecords,
  limit = DRILLDOWN_LIMIT,
  knownTotal?: number,
): { indices: number[]; total: number } {
  const { sampleCount: N, exitCount: E, labels, pred } = rec;
  const indices: number[] = [];
  let total = 0;
  if (!labels) return { indices, total };
  for (let n = 0; n < N; n++) {
    if (pred[n * E + E - 1] === labels[n]) continue;
    if (firstCorrectExit(rec, n) < 0) continue;
    total++;
    if (indices.length < limit) indices.push(n);
    else if (knownTotal !== undefined) break;
  }
  return { indices, total: knownTotal ?? total };
}

export function drilldownSample(rec: ExitRecords, n: number, input?: InputPreview): DrilldownSample {
  const E = rec.exitCount;
  return {
    index: n,
    label: rec.labels ? rec.labels[n] : -1,
    firstCorrect: rec.labels ? firstCorrectExit(rec, n) : -1,
    preds: Array.from(rec.pred.subarray(n * E, n * E + E)),
    confs: Array.from(rec.conf.subarray(n * E, n * E + E)),
    input,
  };
}

/** A preview of one input row (its values and its shape without the batch dimension). */
export function inputPreview(values: ArrayLike<number>, rowShape: readonly number[], integer: boolean): InputPreview {
  let channels = 0;
  let height = 0;
  let width = 0;
  if (rowShape.length === 3 && (rowShape[0] === 1 || rowShape[0] === 3) && rowShape[1] >= 4 && rowShape[2] >= 4) {
    [channels, height, width] = rowShape;
  } else if (rowShape.length === 2 && rowShape[0] >= 4 && rowShape[1] >= 4 && !integer) {
    [channels, height, width] = [1, rowShape[0], rowShape[1]];
  }
  if (channels) {
    // Min-max scaling per image; nearest-neighbour downsampling to at most 64 px a side.
    // Plain loops with the finiteness test written out (v - v is 0 only for finite v): this runs
    // once per shown sample, mostly before the JIT has compiled it.
    let lo = Infinity;
    let hi = -Infinity;
    const count = values.length;
    for (let i = 0; i < count; i++) {
      const v = values[i];
      if (v - v === 0) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const span = hi > lo ? hi - lo : 1;
    const step = Math.max(1, Math.ceil(Math.max(height, width) / MAX_PREVIEW_SIDE));
    const h = Math.ceil(height / step);
    const w = Math.ceil(width / step);
    const out = new Uint8Array(h * w * channels);
    const plane = height * width;
    for (let c = 0; c < channels; c++) {
      let o = c;
      for (let y = 0; y < h; y++) {
        const row = c * plane + y * step * width;
        for (let x = 0; x < w; x++) {
          const v = values[row + x * step];
          out[o] = v - v === 0 ? Math.round((255 * (v - lo)) / span) : 0;
          o += channels;
        }
      }
    }
    return {
      kind: 'image',
      width: w,
      height: h,
      channels: channels as 1 | 3,
      pixels: Buffer.from(out).toString('base64'),
    };
  }
  const n = Math.min(values.length, MAX_TOKENS);
  const head = Array.from({ length: n }, (_, i) => Number(values[i]));
  return integer
    ? { kind: 'tokens', ids: head, truncated: values.length > n }
    : { kind: 'values', values: head, truncated: values.length > n };
}
