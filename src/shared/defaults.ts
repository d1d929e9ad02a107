// Defaults shared by the engine, the CLI and the extension, so each has one value to agree on.
// The version is read from package.json when the bundle is built: a release bump changes one file.
import { version } from '../../package.json';

/** The tool version written into every report and printed by `exit-lens --version`. */
export const TOOL_VERSION: string = version;

/** Samples per inference batch when neither the user nor a fixed-batch model sets one. */
export const DEFAULT_BATCH = 64;

/** Accuracy drop (a fraction of 1) the suggested thresholds may allow. */
export const DEFAULT_MAX_ACCURACY_DROP = 0.01;

/** Risk-controlled thresholds (docs/metrics.md "Thresholds with a guarantee"): the risk ε allowed, and δ. */
export const DEFAULT_RISK_EPSILON = 0.05;
export const DEFAULT_RISK_DELTA = 0.1;

/**
 * Execution providers Exit Lens knows, and the order tried when the user names none: CUDA (only
 * tried when its provider library is installed), WebGPU (in ONNX Runtime's own binary; Vulkan,
 * Direct3D 12 or Metal), then the CPU. TensorRT is accepted when asked for by name.
 */
export const KNOWN_PROVIDERS = ['cuda', 'webgpu', 'tensorrt', 'cpu'] as const;
export type ProviderName = (typeof KNOWN_PROVIDERS)[number];
export const DEFAULT_PROVIDERS: readonly ProviderName[] = ['cuda', 'webgpu', 'cpu'];

/**
 * The numeric mode asked of the CUDA provider: exact fp32 (NVIDIA_TF32_OVERRIDE=0) by default, so
 * that every figure equals the CPU's and WebGPU's; tf32 (tensor cores, about 3 decimal digits in
 * a product's inputs) when asked. docs/metrics.md, "Precision", says why.
 */
export const GPU_PRECISIONS = ['fp32', 'tf32'] as const;
export type GpuPrecision = (typeof GPU_PRECISIONS)[number];
export const DEFAULT_GPU_PRECISION: GpuPrecision = 'fp32';
