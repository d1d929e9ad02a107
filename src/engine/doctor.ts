import * as os from 'node:os';
import * as path from 'node:path';
import { cudaPrecision, cudaStatus, manifestVersion } from '../gpu/cuda';
import { DoctorEntry, DoctorReport } from '../gpu/doctorText';
import { ortVersion } from '../gpu/ortPaths';
import { checkWebGpu } from '../gpu/webgpu';
import { DEFAULT_GPU_PRECISION, GpuPrecision, ProviderName } from '../shared/defaults';
import { TOOL_VERSION } from '../shared/defaults';
import { applyGpuPrecision, explainFailure, loadOrt, precheckProvider, providerPrecision } from './providers';
import { PROBE_INPUT, probeExpected, probeModelBytes } from './probeModel';

/** How far a provider's probe output may be from the float64 value (TF32 keeps about 3 digits). */
const PROBE_TOLERANCE = 2e-3;

/**
 * The GPU check: for each provider (cuda, webgpu, cpu), whether it can run here, the exact reason
 * when not and the one next step. What can be known from files is checked first; a provider that
 * passes is then asked to run a tiny model (probeModel.ts) and its output compared with the
 * exact one, so "usable" means it started and computed correctly.
 */
export async function runDoctor(
  opts: { gpuPrecision?: GpuPrecision; providers?: ProviderName[] } = {},
): Promise<DoctorReport> {
  const precision = opts.gpuPrecision ?? DEFAULT_GPU_PRECISION;
  const providers = opts.providers ?? ['cuda', 'webgpu', 'cpu'];
  // As a profile would (createSessionWithFallback): CUDA's precision is set before CUDA starts.
  applyGpuPrecision(precision);
  const entries: DoctorEntry[] = [];
  const o = loadOrt();
  const bytes = probeModelBytes();
  const expected = probeExpected();
  for (const provider of providers) {
    const pre = precheckProvider(provider);
    if (pre) {
      entries.push({
        provider,
        usable: false,
        reason: pre.reason,
        nextStep: pre.nextStep ?? null,
        precision: null,
        probeError: null,
      });
      continue;
    }
    if (provider === 'cuda' || provider === 'tensorrt') applyGpuPrecision(precision);
    try {
      const session = await o.InferenceSession.create(bytes, { executionProviders: [provider], logSeverityLevel: 4 });
      try {
        const out = await session.run({ x: new o.Tensor('float32', PROBE_INPUT, [1, 4]) });
        const y = Array.from(out.y.data as Float32Array);
        const err = Math.max(...y.map((v, i) => Math.abs(v - expected[i])));
        if (!(err <= PROBE_TOLERANCE)) {
          entries.push({
            provider,
            usable: false,
            reason: `it ran but computed a wrong result (largest error ${err.toExponential(2)} on a 4x3 product and softmax).`,
            nextStep: 'Update the GPU driver; report this with the output of "exit-lens doctor".',
            precision: null,
            probeError: err,
          });
        } else {
          const p = providerPrecision(provider);
          entries.push({ provider, usable: true, reason: null, nextStep: null, precision: p, probeError: err });
        }
      } finally {
        await session.release();
      }
    } catch (err) {
      const why = explainFailure(provider, (err as Error).message);
      entries.push({
        provider,
        usable: false,
        reason: why.reason,
        nextStep: why.nextStep ?? null,
        precision: null,
        probeError: null,
      });
    }
  }
  const cuda = cudaStatus();
  const webgpu = checkWebGpu();
  return {
    tool: TOOL_VERSION,
    onnxRuntime: ortVersion(),
    platform: `${os.platform()}-${os.arch()}`,
    node: process.versions.node,
    gpuPrecision: { asked: precision, cuda: cudaPrecision(process.env) },
    entries,
    cuda: {
      providerLibrary: cuda.providerLib,
      installed: cuda.installed,
      // The ONNX Runtime version Exit Lens's setup recorded (null: installed otherwise, unchecked).
      setupVersion: cuda.providerLib ? manifestVersion(path.dirname(cuda.providerLib)) : null,
      found: cuda.found,
      missing: cuda.missing,
      addToPath: cuda.addToPath,
      libraryPath: process.env.LD_LIBRARY_PATH ?? '',
    },
    webgpu: { drivers: webgpu.drivers },
  };
}
