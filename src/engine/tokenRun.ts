import type * as ort from 'onnxruntime-node';
import { firstCorrectExit } from '../core/analysis/overthinking';
import { DRILLDOWN_LIMIT, drilldownSample } from '../core/report/drilldown';
import { ExitLensError } from '../core/errors';
import { NumericArray } from '../core/npy/npy';
import { ExitRecords, allocateRecords, fillExitRecords } from '../core/records/records';
import { SampleBinding } from '../core/samples/samples';
import { TokenPositions, TokenSource } from '../core/tokens/tokens';
import type { Drilldown } from '../shared/reportTypes';
import { InferredBatch, runBatches } from './batches';
import { TokenPlan } from './exitPlan';

/**
 * Profiling a decoder's token exits (docs/metrics.md "Token-level exits"): batches of whole
 * sequences run through the model; each exit's [B, T, V] logits are read at the valid
 * positions only (src/core/tokens/tokens.ts) into the compact per-position records, one run of
 * consecutive positions at a time, so that no logits are copied.
 */

/**
 * The logits one batch may hold at once (all exits together, as ONNX Runtime returns them). A
 * run holds about three times as much at its peak (the head's MatMul and bias outputs besides
 * the outputs), which the budget leaves room for.
 */
export const TOKEN_LOGITS_BUDGET = 128 * 2 ** 20;

/**
 * Sequences per batch: the asked batch, or fewer so that one batch's logits (E × B × T × V
 * float32) stay within TOKEN_LOGITS_BUDGET; never fewer than one sequence. The note says why.
 */
export function tokenBatch(asked: number, plan: TokenPlan): { batch: number; note: string | null } {
  const perSequence = plan.exitCount * plan.length * plan.classCount * 4;
  const fit = Math.max(1, Math.floor(TOKEN_LOGITS_BUDGET / perSequence));
  if (asked <= fit) return { batch: asked, note: null };
  const mb = (b: number) => `${Math.round(b / 2 ** 20).toLocaleString('en-US')} MB`;
  return {
    batch: fit,
    note: `Batches of ${fit} sequence${fit === 1 ? '' : 's'} instead of ${asked}: one sequence's logits over ${plan.exitCount} exits, ${plan.length} tokens and a vocabulary of ${plan.classCount.toLocaleString('en-US')} take ${mb(perSequence)}, and a batch's logits are kept under ${mb(TOKEN_LOGITS_BUDGET)}${fit * perSequence > TOKEN_LOGITS_BUDGET ? ' (one sequence is already more: it runs alone)' : ''}.`,
  };
}

/** Where exit k's logits of sequence i, position t start in an output, and the stride between positions. */
function logitsAt(plan: TokenPlan, fed: number, k: number, i: number, t: number): number {
  const { length: T, classCount: V, exitCount: E } = plan;
  if (plan.layout.kind === 'per-output') return (i * T + t) * V;
  if (plan.layout.layout === 'NEC') return ((i * E + k) * T + t) * V;
  return ((k * fed + i) * T + t) * V;
}

function checkShape(plan: TokenPlan, t: ort.Tensor, name: string, fed: number): void {
  const { length: T, classCount: V, exitCount: E } = plan;
  const want =
    plan.layout.kind === 'per-output' ? [fed, T, V] : plan.layout.layout === 'NEC' ? [fed, E, T, V] : [E, fed, T, V];
  if (t.dims.map(Number).join() !== want.join())
    throw new ExitLensError(
      'inference-failed',
      `Exit output "${name}" has shape [${t.dims.join(', ')}] for ${fed} sequence${fed === 1 ? '' : 's'} of ${T} tokens; expected [${want.join(', ')}].`,
      'Map the exits explicitly with --exits.',
    );
}

export interface TokenRunContext {
  session: ort.InferenceSession;
  binding: SampleBinding;
  source: TokenSource;
  positions: TokenPositions;
  plan: TokenPlan;
  batch: number;
  feeds: (data: NumericArray[], rows: number) => Record<string, ort.Tensor>;
  logitsOf: (t: ort.Tensor) => ArrayLike<number>;
  runError: (err: unknown, first: number, rows: number) => Error;
  progress: (done: number, force?: boolean) => void;
  signal?: AbortSignal;
  drilldown?: Drilldown;
}

/** Runs the sequences batch by batch into per-position records. */
export async function inferTokenRecords(c: TokenRunContext): Promise<ExitRecords> {
  const { plan, positions, binding } = c;
  const rec = allocateRecords(positions.count, plan.exitCount, plan.classCount, positions.labels);
  const idsAt = binding.inputs.indexOf(c.source.ids);
  await runBatches({
    session: c.session,
    binding,
    step: binding.fixedBatch ?? c.batch,
    feeds: c.feeds,
    consumer: {
      fetches: plan.fetches,
      consume: (b) => {
        fillTokenRecords(rec, plan, positions, b, c.logitsOf);
        if (c.drilldown)
          captureTokenDestructive(rec, positions, b.data[idsAt], b.first, b.rows, plan.length, c.drilldown);
      },
    },
    runError: c.runError,
    afterBatch: (after) => c.progress(positions.seqStart[after]),
    signal: c.signal,
  });
  c.progress(positions.count, true);
  return rec;
}

/** Fills the records of a batch's valid positions from its exits' [B, T, V] logits, after checking their shapes. */
function fillTokenRecords(
  rec: ExitRecords,
  plan: TokenPlan,
  positions: TokenPositions,
  { outputs, first, rows, fed }: InferredBatch,
  logitsOf: (t: ort.Tensor) => ArrayLike<number>,
): void {
  const tensors = plan.fetches.map((name) => {
    const t = outputs[name] as ort.Tensor;
    checkShape(plan, t, name, fed);
    return logitsOf(t);
  });
  for (let k = 0; k < plan.exitCount; k++) {
    const z = plan.layout.kind === 'per-output' ? tensors[k] : tensors[0];
    for (let i = 0; i < rows; i++) {
      const from = positions.seqStart[first + i];
      const to = positions.seqStart[first + i + 1];
      // Runs of consecutive t: one call each, logits read in place with a stride of V.
      for (let p = from; p < to;) {
        let q = p + 1;
        while (q < to && positions.t[q] === positions.t[q - 1] + 1) q++;
        fillExitRecords(rec, z, logitsAt(plan, fed, k, i, positions.t[p]), plan.classCount, q - p, p, k);
        p = q;
      }
    }
  }
}

/** Tokens of context shown for a destructive position. */
const CONTEXT = 48;

/** Destructive positions (right at some exit, wrong at the final one), with the tokens before them. */
function captureTokenDestructive(
  rec: ExitRecords,
  positions: TokenPositions,
  ids: NumericArray,
  s0: number,
  rows: number,
  T: number,
  out: Drilldown,
): void {
  const E = rec.exitCount;
  for (let i = 0; i < rows; i++) {
    for (let p = positions.seqStart[s0 + i]; p < positions.seqStart[s0 + i + 1]; p++) {
      if (rec.pred[p * E + E - 1] === rec.labels![p] || firstCorrectExit(rec, p) < 0) continue;
      out.destructiveCount++;
      if (out.samples.length >= DRILLDOWN_LIMIT) continue;
      const t = positions.t[p];
      const from = Math.max(0, t + 1 - CONTEXT);
      const context = Array.from({ length: t + 1 - from }, (_, j) => Number(ids[i * T + from + j]));
      out.samples.push(drilldownSample(rec, p, { kind: 'tokens', ids: context, truncated: from > 0 }));
    }
  }
}
