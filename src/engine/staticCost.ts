import { ExitLensError } from '../core/errors';
import { exitCosts, nodeCosts, traceStackedExits } from '../core/onnx/cost';
import { ModelInfo } from '../core/onnx/model';
import type { CostInfo, ReportWarning } from '../shared/reportTypes';
import { ExitPlan } from './exitPlan';

/**
 * The exits' static costs: given by the user (--exit-costs), MACs read from the ONNX graph with
 * the probe's shapes (docs/metrics.md "Cost"), or, where the graph does not allow them, relative
 * depth; each fallback is said in a warning.
 */

export interface CostOutcome {
  exitMacs: number[];
  baselineMacs: number;
  info: CostInfo;
}

export function costForExits(
  model: ModelInfo,
  plan: ExitPlan,
  shapes: Map<string, number[]>,
  batch: number,
  userCosts: number[] | undefined,
  warnings: ReportWarning[],
): CostOutcome {
  const E = plan.exitCount;
  if (userCosts) {
    if (userCosts.length !== E) {
      throw new ExitLensError(
        'bad-argument',
        `--exit-costs gives ${userCosts.length} values but the model has ${E} exits.`,
        'Give one cumulative cost per exit, shallowest first.',
      );
    }
    return {
      exitMacs: [...userCosts],
      baselineMacs: userCosts[E - 1],
      info: {
        source: 'user',
        note: "Costs given by the user (cost(k) per exit; baseline = the final exit's cost).",
        uncostedNodes: [],
        uncountedOps: {},
      },
    };
  }
  let exitTensors: string[] | null;
  if (plan.layout.kind === 'per-output') exitTensors = plan.fetches;
  else exitTensors = traceStackedExits(model, plan.layout.output, E);
  if (!exitTensors) {
    warnings.push({
      code: 'cost-untraceable',
      message: `The stacked output "${(plan.layout as { output: string }).output}" is not built by a Concat of one tensor per exit, so per-exit MACs cannot be read from the graph. Costs fall back to relative depth (k+1)/E of the final exit; give real costs with --exit-costs.`,
    });
    const exitMacs = Array.from({ length: E }, (_, k) => (k + 1) / E);
    return {
      exitMacs,
      baselineMacs: 1,
      info: {
        source: 'relative',
        note: 'Relative depth (k+1)/E: the graph did not allow static costs.',
        uncostedNodes: [],
        uncountedOps: {},
      },
    };
  }
  const costs = nodeCosts(model, shapes);
  if (batch !== 1) for (let i = 0; i < costs.nodeMacs.length; i++) costs.nodeMacs[i] /= batch;
  const { exitMacs, baselineMacs } = exitCosts(model, exitTensors, costs.nodeMacs);
  if (costs.uncosted.length) {
    warnings.push({
      code: 'uncosted-nodes',
      message: `${costs.uncosted.length} Conv/Gemm/MatMul node(s) could not be costed (shapes unknown) and count 0: ${costs.uncosted
        .slice(0, 5)
        .map((u) => `${u.name} (${u.reason})`)
        .join(', ')}${costs.uncosted.length > 5 ? ', …' : ''}.`,
    });
  }
  const heavy = Object.entries(costs.uncountedOps);
  if (heavy.length) {
    warnings.push({
      code: 'uncounted-ops',
      message: `The graph has compute-heavy ops that the MAC definition counts as 0: ${heavy.map(([op, n]) => `${op} ×${n}`).join(', ')}; costs understate them.`,
    });
  }
  if (baselineMacs === 0) {
    warnings.push({
      code: 'zero-cost',
      message:
        'The model has no Conv, Gemm or MatMul on the path to its exits: MAC costs are 0 and speed-ups are undefined. Give costs with --exit-costs.',
    });
  }
  return {
    exitMacs,
    baselineMacs,
    info: {
      source: 'static',
      note: `MACs per sample from the ONNX graph with shapes from a batch-${batch} run.`,
      uncostedNodes: costs.uncosted,
      uncountedOps: costs.uncountedOps,
    },
  };
}

/** A decoder's static costs per token: the probe's sequence of `length` tokens, divided by its length. */
export function perToken(cost: CostOutcome, length: number): void {
  cost.exitMacs = cost.exitMacs.map((m) => m / length);
  cost.baselineMacs /= length;
  cost.info = {
    ...cost.info,
    note: `MACs per token: those of one sequence of ${length} tokens (from the ONNX graph), divided by ${length}.`,
  };
}
