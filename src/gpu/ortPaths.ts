import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Where the bundled onnxruntime-node keeps its native binaries: it loads execution-provider
 * libraries (libonnxruntime_providers_cuda.so and its bridge) from beside libonnxruntime.so.1.
 * Read without loading ONNX Runtime.
 */
export function ortPackageDir(): string | null {
  try {
    return path.dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return null;
  }
}

/** The folder of the native binaries for this platform (bin/napi-v6/<platform>/<arch>). */
export function ortBinaryDir(platform: string = os.platform(), arch: string = os.arch()): string | null {
  const pkg = ortPackageDir();
  return pkg ? path.join(pkg, 'bin', 'napi-v6', platform, arch) : null;
}

/** The bundled onnxruntime-node's version (its package.json). */
export function ortVersion(): string | null {
  const pkg = ortPackageDir();
  if (!pkg) return null;
  try {
    return String(JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).version);
  } catch {
    return null;
  }
}

/**
 * The CUDA provider's library names on this platform: linux-x64 only. onnxruntime-node's Windows
 * binding has no CUDA provider (it has DirectML and WebGPU), and macOS has no CUDA.
 */
export function cudaProviderFiles(
  platform: string = os.platform(),
  arch: string = os.arch(),
): { provider: string; bridge: string } | null {
  if (platform === 'linux' && arch === 'x64') {
    return { provider: 'libonnxruntime_providers_cuda.so', bridge: 'libonnxruntime_providers_shared.so' };
  }
  return null;
}
