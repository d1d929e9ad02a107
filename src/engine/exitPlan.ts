import { ExitLensError } from '../core/errors';
import { ExitLayout, exitNames } from '../core/onnx/exits';

/**
 * What a run reads of the model's outputs, decided once the probe has run: the exits' layout, how
 * many exits and classes, their names, and the outputs every batch fetches. The inference
 * (src/engine/profile/infer.ts) fetches exactly `fetches` and hands each batch's outputs to the
 * set's consumer (sampleRun.ts, tokenRun.ts): an output that a run should read besides the exit
 * logits goes in this plan and in the consumer, nowhere else.
 */
export interface ExitPlan {
  layout: ExitLayout;
  exitCount: number;
  /** Classes per exit (a decoder's vocabulary, V). */
  classCount: number;
  names: string[];
  /** The session outputs each batch fetches, in the order the consumer reads them. */
  fetches: string[];
}

/** A decoder's plan: its exits' logits per position of sequences of `length` tokens. */
export interface TokenPlan extends ExitPlan {
  length: number;
}

/** A classifier's plan, from the run-time shapes of its exit outputs ([N, C] each, or one stack). */
export function planExits(layout: ExitLayout, outputShapes: Map<string, number[]>): ExitPlan {
  if (layout.kind === 'per-output') {
    const cs = new Set(layout.outputs.map((o) => outputShapes.get(o)?.[1]));
    if (cs.size !== 1 || [...cs][0] === undefined) {
      throw new ExitLensError(
        'model-no-exits',
        `The exits ${layout.outputs.join(', ')} do not share one class count at run time (${[...cs].join(', ')}).`,
        'Map the exits explicitly with --exits.',
      );
    }
    const C = [...cs][0]!;
    return {
      layout,
      exitCount: layout.outputs.length,
      classCount: C,
      names: exitNames(layout, layout.outputs.length),
      fetches: [...layout.outputs],
    };
  }
  const s = outputShapes.get(layout.output);
  if (!s || s.length !== 3)
    throw new ExitLensError(
      'model-no-exits',
      `Stacked exit output "${layout.output}" has run-time shape ${JSON.stringify(s)}, not rank 3.`,
      'Map the exits explicitly with --exits.',
    );
  const E = layout.layout === 'NEC' ? s[1] : s[0];
  return { layout, exitCount: E, classCount: s[2], names: exitNames(layout, E), fetches: [layout.output] };
}

/** A decoder's plan, from the run-time shapes of its exit outputs ([B, T, V] each, or one stack). */
export function planTokenExits(layout: ExitLayout, outputShapes: Map<string, number[]>, length: number): TokenPlan {
  if (layout.kind === 'per-output') {
    const V = outputShapes.get(layout.outputs[0])![2];
    return {
      layout,
      exitCount: layout.outputs.length,
      classCount: V,
      names: exitNames(layout, layout.outputs.length),
      fetches: [...layout.outputs],
      length,
    };
  }
  const s = outputShapes.get(layout.output)!;
  const E = layout.layout === 'NEC' ? s[1] : s[0];
  return { layout, exitCount: E, classCount: s[3], names: exitNames(layout, E), fetches: [layout.output], length };
}
