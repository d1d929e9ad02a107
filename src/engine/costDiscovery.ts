import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ExitLensError } from '../core/errors';
import { withExtraOutputs } from '../core/onnx/edit';
import { ModelInfo } from '../core/onnx/model';
import { blockingCall } from '../core/io/blocking';
import { tensorsNeededForCost } from '../core/onnx/cost';
import { loadOrt } from './providers';
import { withStagedModel } from './stagedModel';

/**
 * Shapes for the MAC formulas come from one batch-1 run of the model with the intermediate
 * tensors the formulas read exposed as extra outputs: exact for any op, with no hand-written
 * shape inference to keep in step with ONNX. Runs on the CPU provider.
 */
export interface ShapeDiscovery {
  shapes: Map<string, number[]>;
  /** Declared graph outputs' shapes at batch `batch`. */
  outputShapes: Map<string, number[]>;
  batch: number;
}

/**
 * Discoveries kept by the engine, which stays up between runs in VS Code: a re-run skips the
 * extra session (seconds for a large model). Keyed by the identity of the model file and of its
 * external data files (path, size, modification time, inode; not the change time, which the
 * discovery's own hard links to external data move) and by the probe's inputs (names, types,
 * shapes and bytes), so a hit is exactly what a new discovery would give; a re-exported model
 * is a different file.
 */
const cache = new Map<string, ShapeDiscovery>();
const CACHE_ENTRIES = 8;
let sessionsCreated = 0;

/** How many discovery sessions this process has created (for tests). */
export function discoverySessionsCreated(): number {
  return sessionsCreated;
}

function cacheKey(model: ModelInfo, feeds: Record<string, ort.Tensor>, need: string[]): string | null {
  try {
    const dir = path.dirname(model.path);
    const files = [model.path, ...model.externalDataFiles.map((f) => path.resolve(dir, f))];
    const identity = files.map((f) => {
      const st = fs.statSync(f);
      return `${f}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
    });
    const h = crypto.createHash('sha256');
    for (const name of Object.keys(feeds).sort()) {
      const t = feeds[name];
      h.update(`${name}\0${t.type}\0${t.dims.join('x')}\0`);
      const d = t.data;
      if (Array.isArray(d)) h.update(JSON.stringify(d));
      else h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
    h.update(need.join('\0'));
    return `${identity.join('\0')}\0${h.digest('hex')}`;
  } catch {
    return null;
  }
}

function copyOf(d: ShapeDiscovery): ShapeDiscovery {
  const clone = (m: Map<string, number[]>) => new Map([...m].map(([k, v]) => [k, [...v]]));
  return { shapes: clone(d.shapes), outputShapes: clone(d.outputShapes), batch: d.batch };
}

export async function discoverShapes(
  model: ModelInfo,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the decoded ModelProto
  proto: any,
  /** The model file's bytes, as decoded into `proto`. */
  modelBytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  batch: number,
): Promise<ShapeDiscovery> {
  const need = tensorsNeededForCost(model).filter((t) => !model.inputs.some((i) => i.name === t));
  const key = cacheKey(model, feeds, need);
  const known = key === null ? undefined : cache.get(key);
  if (known) {
    // Most recently used last: the oldest entry goes first when the cache is full.
    cache.delete(key!);
    cache.set(key!, known);
    return copyOf(known);
  }
  const found = await discoverWithSession(model, proto, modelBytes, feeds, batch, need);
  if (key !== null) {
    cache.delete(key);
    cache.set(key, copyOf(found));
    while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  }
  return found;
}

async function discoverWithSession(
  model: ModelInfo,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the decoded ModelProto
  proto: any,
  modelBytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  batch: number,
  need: string[],
): Promise<ShapeDiscovery> {
  const o = loadOrt();
  const bytes = withExtraOutputs(modelBytes, proto, need);
  return withStagedModel(model, [bytes], async (file) => {
    let session: ort.InferenceSession;
    // One small run: one thread (no thread pool to start), no arena, no weight prepacking, so
    // that this session costs as little as possible next to the profiling session.
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'disabled',
      enableCpuMemArena: false,
      enableMemPattern: false,
      extra: { session: { disable_prepacking: '1' } },
      logSeverityLevel: 4,
    };
    try {
      // Session creation holds the thread in native code: announced, so that Ctrl-C still works (blocking.ts).
      session = await blockingCall(() =>
        typeof file === 'string' ? o.InferenceSession.create(file, options) : o.InferenceSession.create(file, options),
      );
      sessionsCreated++;
    } catch (err) {
      throw new ExitLensError(
        'model-unreadable',
        `ONNX Runtime cannot load ${model.path}: ${(err as Error).message.split('\n')[0]}`,
        'Check that the export finished and that ONNX Runtime supports its opset (re-export with a recent torch.onnx.export).',
      );
    }
    try {
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = await session.run(feeds);
      } catch (err) {
        throw new ExitLensError(
          'inference-failed',
          `The model failed on the first sample (a batch of ${batch}, run to read the shapes for the cost): ${(err as Error).message.split('\n')[0]}`,
          "Check that the sample set matches the model input (shape, dtype, value range). A model exported for one fixed batch size needs that size as its input's first dimension; re-export it with a dynamic batch axis.",
        );
      }
      const shapes = new Map<string, number[]>();
      const outputShapes = new Map<string, number[]>();
      const declared = new Set(model.outputs.map((x) => x.name));
      for (const [name, value] of Object.entries(result)) {
        const dims = (value as ort.Tensor).dims.map(Number);
        shapes.set(name, dims);
        if (declared.has(name)) outputShapes.set(name, dims);
      }
      for (const i of model.inputs) {
        const t = feeds[i.name];
        if (t) shapes.set(i.name, t.dims.map(Number));
      }
      return { shapes, outputShapes, batch };
    } finally {
      await session.release();
    }
  });
}
