import type { Emit, ProfileRequest } from '../../shared/engineProtocol';
import type { Report } from '../../shared/reportTypes';
import type { RunHooks } from '../runHandler';
import { analyse } from './analyse';
import { assemble } from './assemble';
import { profileContext } from './context';
import { discoverExits } from './discoverExits';
import { infer } from './infer';
import { labelsAndPositions } from './labelsAndPositions';
import { closeInputs, openInputs } from './openInputs';
import { validateProfile } from './validate';

/**
 * The profile run: a model on a sample set (and an optional calibration set) into a report, as a
 * sequence of stages, each in its own module; each takes what the ones before it produced.
 */
export async function runProfile(
  req: ProfileRequest,
  emit: Emit,
  signal?: AbortSignal,
  hooks: RunHooks = {},
): Promise<Report> {
  const run = profileContext(req, emit, signal, hooks);
  const settings = validateProfile(run);
  const inputs = await openInputs(run, settings);
  try {
    const exits = await discoverExits(run, settings, inputs);
    const sets = await labelsAndPositions(run, settings, inputs, exits);
    const inferred = await infer(run, settings, inputs, exits, sets);
    const analysed = await analyse(run, settings, inputs, exits, inferred);
    return await assemble(run, settings, inputs, exits, sets, inferred, analysed);
  } finally {
    await closeInputs(inputs);
  }
}
