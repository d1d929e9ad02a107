import { ExitLensError } from '../../core/errors';
import { MemoryLimit, boundThreads, memoryLimit } from '../../core/io/limits';
import { ExitMapping, parseExitMapping } from '../../core/onnx/exits';
import { DEFAULT_BATCH, DEFAULT_MAX_ACCURACY_DROP, GpuPrecision } from '../../shared/defaults';
import { ProviderName, defaultThreads, parseGpuPrecision, parseProviders, providersExplicit } from '../providers';
import { validateCommon } from '../runOptions';
import { ProfileContext } from './context';

/** A profile's settings, checked before any file is read. */
export interface ProfileSettings {
  batchSize: number;
  providers: ProviderName[];
  /** The providers were asked for (not the default order): one not used is a warning. */
  explicitProviders: boolean;
  gpuPrecision: GpuPrecision;
  threads: number;
  limit: MemoryLimit;
  mapping: ExitMapping | undefined;
  maxAccuracyDrop: number;
}

/** Stage 1, validate: every option of the request checked, with what to give instead. */
export function validateProfile(run: ProfileContext): ProfileSettings {
  const { req } = run;
  validateCommon(req);
  const batchSize = req.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ExitLensError(
      'bad-argument',
      `Batch size ${req.batchSize} is not a positive integer.`,
      'Use --batch 1 or more (default 64).',
    );
  }
  if (req.cost !== undefined && req.cost !== 'static' && req.cost !== 'measured')
    throw new ExitLensError(
      'bad-argument',
      `Cost "${req.cost}" is not one Exit Lens knows.`,
      'Give --cost static (MACs read from the graph, the default) or --cost measured (per-exit latency timed on the execution provider).',
    );
  if (req.cost === 'measured' && req.exitCosts)
    throw new ExitLensError(
      'bad-argument',
      '--cost measured and --exit-costs both give the costs.',
      'Drop one: --exit-costs for costs of your own, --cost measured to time each exit here.',
    );
  const providers = parseProviders(req.executionProviders);
  const explicitProviders = providersExplicit(req.executionProviders);
  const gpuPrecision = parseGpuPrecision(req.gpuPrecision);
  if (req.threads !== undefined && !(Number.isInteger(req.threads) && req.threads >= 1)) {
    throw new ExitLensError(
      'bad-argument',
      `Thread count ${req.threads} is not a positive integer.`,
      'Use --threads 1 or more (default: all cores).',
    );
  }
  // More threads than the machine runs at once only slow ONNX Runtime down, and tens of
  // thousands never finish starting: bounded, and said so.
  const { threads, note: threadsNote } = boundThreads(req.threads ?? defaultThreads());
  if (threadsNote) run.log(threadsNote, 'warn');
  const limit = memoryLimit(req.maxMemory);
  const mapping = req.exits ? parseExitMapping(req.exits) : undefined;
  return {
    batchSize,
    providers,
    explicitProviders,
    gpuPrecision,
    threads,
    limit,
    mapping,
    maxAccuracyDrop: req.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP,
  };
}
