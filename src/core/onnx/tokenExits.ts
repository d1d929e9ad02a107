import { ExitLensError } from '../errors';
import { displayName } from '../io/text';
import type { Dim } from '../../shared/reportTypes';
import { ExitLayout, ExitMapping, MAPPING_HELP, describeOutputs, numberSuffix, shapeOf, tensorDepths } from './exits';
import { ModelInfo, formatShape } from './model';

/**
 * The exits of a decoder (docs/metrics.md "Token-level exits"): next-token logits per position,
 * one output per exit [B, T, V], or one stacked output [B, E, T, V] / [E, B, T, V]. Which
 * outputs, in which order: the explicit mapping first, else the numeric suffix of the names,
 * else graph depth, as for classifier exits (exits.ts). `runtimeShapes` are the outputs' shapes
 * in a probe run of `batch` sequences of `seqLen` tokens.
 */
export function detectTokenExits(
  model: ModelInfo,
  mapping: ExitMapping | undefined,
  runtimeShapes: Map<string, number[]>,
  batch: number,
  seqLen: number,
): ExitLayout {
  const byName = new Map(model.outputs.map((o) => [o.name, o]));
  const seen = (name: string): Dim[] | null => shapeOf(byName.get(name)!, runtimeShapes, batch);
  const runShape = (name: string) => runtimeShapes.get(name) ?? null;
  const isPerOutput = (s: number[] | null) =>
    s !== null && s.length === 3 && s[0] === batch && s[1] === seqLen && s[2] >= 2;
  const stackLayout = (s: number[] | null): 'NEC' | 'ENC' | null => {
    if (!s || s.length !== 4 || s[2] !== seqLen || s[3] < 2) return null;
    if (s[0] === batch && s[1] !== batch) return 'NEC';
    if (s[1] === batch && s[0] !== batch) return 'ENC';
    return null;
  };
  const refuse = (why: string) =>
    new ExitLensError(
      'model-no-exits',
      `No token exits found in ${model.path}: ${why}. For a decoder, each exit gives next-token logits [batch, tokens, vocabulary] (or one stacked output [batch, exits, tokens, vocabulary]). Its outputs, for ${batch} sequence${batch === 1 ? '' : 's'} of ${seqLen} tokens:\n${describeOutputs(model, runtimeShapes)}`,
      MAPPING_HELP,
    );
  if (mapping && 'stacked' in mapping) {
    if (!byName.has(mapping.stacked))
      throw refuse(`the mapping names "${displayName(mapping.stacked)}", which is not an output`);
    const s = runShape(mapping.stacked);
    if (!s || s.length !== 4)
      throw refuse(`"${displayName(mapping.stacked)}" has shape ${formatShape(seen(mapping.stacked))}, not rank 4`);
    return {
      kind: 'stacked',
      output: mapping.stacked,
      layout: mapping.layout,
      exitCount: mapping.layout === 'NEC' ? s[1] : s[0],
      classes: s[3],
      orderedBy: 'stack-order',
      tokens: true,
    };
  }
  if (mapping) {
    for (const name of mapping.outputs) {
      if (!byName.has(name)) throw refuse(`the mapping names "${displayName(name)}", which is not an output`);
      if (!isPerOutput(runShape(name)))
        throw refuse(`the mapped output "${displayName(name)}" has shape ${formatShape(seen(name))}`);
    }
    const vs = new Set(mapping.outputs.map((n) => runShape(n)![2]));
    if (vs.size !== 1) throw refuse(`the mapped outputs have different vocabularies (${[...vs].join(', ')})`);
    if (mapping.outputs.length < 2) throw refuse('the mapping names fewer than two outputs');
    return {
      kind: 'per-output',
      outputs: [...mapping.outputs],
      orderedBy: 'mapping',
      classes: [...vs][0],
      tokens: true,
    };
  }
  const stacked = model.outputs.filter((o) => stackLayout(runShape(o.name)) !== null);
  if (stacked.length === 1) {
    const s = runShape(stacked[0].name)!;
    const layout = stackLayout(s)!;
    const e = layout === 'NEC' ? s[1] : s[0];
    if (e >= 2)
      return {
        kind: 'stacked',
        output: stacked[0].name,
        layout,
        exitCount: e,
        classes: s[3],
        orderedBy: 'stack-order',
        tokens: true,
      };
  }
  if (stacked.length > 1) throw refuse('more than one output looks like stacked exits');
  const flat = model.outputs.filter((o) => isPerOutput(runShape(o.name)));
  const groups = new Map<number, string[]>();
  for (const o of flat) {
    const v = runShape(o.name)![2];
    groups.set(v, [...(groups.get(v) ?? []), o.name]);
  }
  const biggest = [...groups.values()].sort((a, b) => b.length - a.length);
  if (biggest.length === 0) throw refuse('no output has the shape [batch, tokens, vocabulary]');
  if (biggest.length > 1 && biggest[0].length === biggest[1].length)
    throw refuse('the per-token outputs have different vocabularies and none is the majority');
  const group = biggest[0];
  if (group.length < 2) throw refuse('only one per-token output was found; an early-exit analysis needs at least two');
  const classes = runShape(group[0])![2];
  const suffixes = group.map(numberSuffix);
  if (suffixes.every((s) => s !== null) && new Set(suffixes).size === suffixes.length) {
    const ordered = group.map((name, i) => ({ name, s: suffixes[i]! })).sort((a, b) => a.s - b.s);
    return { kind: 'per-output', outputs: ordered.map((x) => x.name), orderedBy: 'name-suffix', classes, tokens: true };
  }
  const depths = tensorDepths(model);
  const position = new Map(model.outputs.map((o, i) => [o.name, i]));
  const ordered = [...group].sort(
    (a, b) => (depths.get(a) ?? 0) - (depths.get(b) ?? 0) || position.get(a)! - position.get(b)!,
  );
  return { kind: 'per-output', outputs: ordered, orderedBy: 'graph-depth', classes, tokens: true };
}
