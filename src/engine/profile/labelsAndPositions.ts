import { ExitLensError } from '../../core/errors';
import { readLabels } from '../../core/samples/samples';
import { TokenPositions, TokenSource, tokenPositions, tokenSource } from '../../core/tokens/tokens';
import { tokenBatch } from '../tokenRun';
import { SampleSet, checkProfileMemory } from '../sampleSets';
import { ProfileContext } from './context';
import { DiscoveredExits } from './discoverExits';
import { ProfileInputs } from './openInputs';
import { ProfileSettings } from './validate';

/** What a set's records are of: its labels, and for a decoder its token positions. */
export interface SetRecordsPlan {
  set: SampleSet;
  /** A label per record (per sample, or per token position), or null when the set has none. */
  labels: Int32Array | null;
  /** A decoder's valid positions and their token source, else null. */
  positions: TokenPositions | null;
  tokens: TokenSource | null;
}

export interface LabelledSets {
  main: SetRecordsPlan;
  calib: SetRecordsPlan | null;
  /** A decoder's sequences per batch (fewer than asked when its logits would not fit), else null. */
  sequenceBatch: { batch: number; note: string | null } | null;
}

/**
 * Stage 4, labels and positions: a decoder's valid token positions (and their labels: the next
 * token, or the labels array), every set's labels, and the whole run's memory estimate checked
 * now that the exits are known, before the records are allocated.
 */
export async function labelsAndPositions(
  run: ProfileContext,
  settings: ProfileSettings,
  inputs: ProfileInputs,
  exits: DiscoveredExits,
): Promise<LabelledSets> {
  const { req } = run;
  const { main, calib, step } = inputs;
  const { plan, tokenPlan, tokens } = exits;
  const modelBytes = inputs.modelBytes.length;
  if (tokens && tokenPlan) {
    // Before the positions are read: their index (a label and a t, 8 bytes each) at its largest,
    // every position of every sequence valid; the exact records are checked once it is known.
    const most = (sequences: number) => sequences * Math.max(0, tokens.length - 1);
    const positions = most(tokens.sequences) + (calib ? most(calib.binding.sampleCount) : 0);
    checkProfileMemory(req, settings.limit, modelBytes, main, calib, step, plan.exitCount, {
      extra: {
        what: `the token positions' index (at most ${positions.toLocaleString('en-US')} positions)`,
        bytes: 8 * positions,
      },
    });
  }
  const mainPositions = tokens && tokenPlan ? await tokenPositions(tokens, tokenPlan.classCount) : null;
  const calibTokens = calib && tokenPlan ? tokenSource(calib.binding, calib.binding.labels) : null;
  if (calib && tokenPlan && !calibTokens)
    throw new ExitLensError(
      'samples-mismatch',
      `The calibration set ${calib.file.path} has no token ids for the decoder.`,
      'Give a calibration set tokenized like the sample set (input_ids and attention_mask).',
    );
  const calibPositions = calibTokens && tokenPlan ? await tokenPositions(calibTokens, tokenPlan.classCount) : null;
  // The exits are known: the whole estimate, before the labels and the records are allocated.
  const sequenceBatch = tokenPlan ? tokenBatch(settings.batchSize, tokenPlan) : null;
  checkProfileMemory(req, settings.limit, modelBytes, main, calib, step, plan.exitCount, {
    main: mainPositions?.count,
    calib: calibPositions?.count,
    // ONNX Runtime returns every exit's logits of a batch at once; at its peak a run holds
    // about three times that (tokenRun.ts TOKEN_LOGITS_BUDGET).
    extraHint:
      "A decoder's logits over its whole vocabulary are what takes the memory: profile shorter sequences (fewer tokens each), a smaller --batch, or raise --max-memory on a machine that has it.",
    extra:
      tokenPlan && sequenceBatch
        ? {
            what: `one batch's logits at their peak (about 3 × ${plan.exitCount} exits × ${sequenceBatch.batch} sequence${sequenceBatch.batch === 1 ? '' : 's'} × ${tokenPlan.length} tokens × ${plan.classCount.toLocaleString('en-US')} × 4 bytes)`,
            bytes: 3 * plan.exitCount * sequenceBatch.batch * tokenPlan.length * plan.classCount * 4,
          }
        : undefined,
  });

  const labels = mainPositions
    ? mainPositions.labels
    : main.binding.labels
      ? await readLabels(main.binding.labels, plan.classCount)
      : null;
  const calibLabels = calibPositions
    ? calibPositions.labels
    : calib?.binding.labels
      ? await readLabels(calib.binding.labels, plan.classCount)
      : null;
  if (sequenceBatch?.note) {
    run.log(sequenceBatch.note);
    run.warnings.push({ code: 'token-batch', message: sequenceBatch.note });
  }
  return {
    main: { set: main, labels, positions: mainPositions, tokens },
    calib: calib ? { set: calib, labels: calibLabels, positions: calibPositions, tokens: calibTokens } : null,
    sequenceBatch,
  };
}
