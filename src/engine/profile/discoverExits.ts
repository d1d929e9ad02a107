import * as path from 'node:path';
import { ExitLensError, throwIfCancelled } from '../../core/errors';
import { ExitLayout, detectExits } from '../../core/onnx/exits';
import { detectTokenExits } from '../../core/onnx/tokenExits';
import { checkClassLabels } from '../../core/samples/samples';
import { TokenSource, tokenSource } from '../../core/tokens/tokens';
import { Vocab, readVocab } from '../../core/tokens/vocab';
import { discoverShapes } from '../costDiscovery';
import { ExitPlan, TokenPlan, planExits, planTokenExits } from '../exitPlan';
import { feedsFor, firstRows } from '../feeds';
import { loadOrt } from '../providers';
import { CostOutcome, costForExits, perToken } from '../staticCost';
import { ProfileContext } from './context';
import { ProfileInputs } from './openInputs';
import { ProfileSettings } from './validate';

/** The model's exits as the probe found them, and their static costs. */
export interface DiscoveredExits {
  layout: ExitLayout;
  plan: ExitPlan;
  /** A decoder's plan (the same object as `plan`), else null. */
  tokenPlan: TokenPlan | null;
  /** A decoder's token ids, mask and labels in the sample set, else null. */
  tokens: TokenSource | null;
  vocab: Vocab | null;
  cost: CostOutcome;
}

/** True when the probe's outputs carry a position axis of `length` tokens: a decoder's exits. */
function perTokenOutputs(shapes: Map<string, number[]>, batch: number, length: number): boolean {
  return [...shapes.values()].some(
    (s) => (s.length === 3 && s[0] === batch && s[1] === length) || (s.length === 4 && s[2] === length),
  );
}

/**
 * Stage 3, discover exits: one run at batch 1 (or the model's fixed batch) gives every shape;
 * from them the exits (a classifier's, or a decoder's per token position), the plan of what each
 * batch fetches, and the static costs.
 */
export async function discoverExits(
  run: ProfileContext,
  settings: ProfileSettings,
  inputs: ProfileInputs,
): Promise<DiscoveredExits> {
  const { mapping } = settings;
  const { req } = run;
  const { model, main, calib } = inputs;
  const o = loadOrt();
  const probeBatch = main.binding.fixedBatch ?? 1;
  const probeData = await firstRows(main.binding, probeBatch);
  const tCost = Date.now();
  run.emit({
    type: 'progress',
    id: req.id,
    phase: 'costing',
    done: 0,
    total: 1,
    samplesPerSecond: null,
    etaSeconds: null,
  });
  const discovery = await discoverShapes(
    model,
    inputs.proto,
    inputs.modelBytes,
    feedsFor(o, main.binding, probeData, probeBatch),
    probeBatch,
  );
  // A decoder (token ids in, logits per position out) is profiled per token position (src/core/tokens/tokens.ts).
  const tokenInputs = tokenSource(main.binding, null);
  const tokenMode = tokenInputs !== null && perTokenOutputs(discovery.outputShapes, probeBatch, tokenInputs.length);
  // The labels are read per token only once the exits are known to be per token.
  const tokens = tokenMode ? tokenSource(main.binding, main.binding.labels) : null;
  if (req.vocabPath && !tokens && !req.vocabFound)
    throw new ExitLensError(
      'bad-argument',
      'A vocabulary (--vocab) was given, but the model is not a decoder with token exits.',
      'Leave out --vocab: it names the tokens of a language model.',
    );
  const vocab = req.vocabPath && tokens ? await readVocab(path.resolve(req.vocabPath)) : null;
  let layout: ExitLayout;
  let plan: ExitPlan;
  let tokenPlan: TokenPlan | null = null;
  if (tokens) {
    layout = detectTokenExits(model, mapping, discovery.outputShapes, probeBatch, tokens.length);
    plan = tokenPlan = planTokenExits(layout, discovery.outputShapes, tokens.length);
    run.log(
      `Token exits (${layout.orderedBy}): ${plan.names.join(', ')}; vocabulary ${plan.classCount}, ${tokens.length} tokens per sequence.`,
    );
  } else {
    checkClassLabels(main.binding);
    if (calib) checkClassLabels(calib.binding);
    layout = detectExits(model, mapping, discovery.outputShapes, probeBatch);
    plan = planExits(layout, discovery.outputShapes);
    run.log(`Exits (${layout.orderedBy}): ${plan.names.join(', ')}; ${plan.classCount} classes.`);
  }
  const cost = costForExits(model, plan, discovery.shapes, probeBatch, req.exitCosts, run.warnings);
  if (tokenPlan && cost.info.source === 'static') perToken(cost, tokenPlan.length);
  run.timings.costingSeconds = (Date.now() - tCost) / 1000;
  throwIfCancelled(run.signal);
  return { layout, plan, tokenPlan, tokens, vocab, cost };
}
