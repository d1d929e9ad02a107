import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitLensError } from '../core/errors';
import { concatChunks } from '../core/onnx/graphWriter';
import { ModelInfo, checkExternalData } from '../core/onnx/model';

/** Models up to this size are handed to ONNX Runtime as bytes; larger ones are written to a file, piece by piece. */
const IN_MEMORY_BYTES = 64 * 2 ** 20;

/**
 * Hands an edited copy of a model (its bytes, as chunks) to `use` as something ONNX Runtime can
 * load. ONNX Runtime refuses external data outside the model's folder (and resolves symlinks), so
 * a model with external data goes into a temporary folder with hard links to the data files, or,
 * where links cannot be made (another filesystem), into the model's own folder under a hidden
 * name; a large model without external data goes into a temporary file, written chunk by chunk,
 * so that it is never held twice in memory. Nothing is made from a location that does not stay
 * inside the model's folder: such a model is refused first (checkExternalData). Every file made
 * is removed once `use` is done.
 */
export async function withStagedModel<T>(
  model: ModelInfo,
  chunks: readonly Uint8Array[],
  use: (file: string | Uint8Array) => Promise<T>,
): Promise<T> {
  const size = chunks.reduce((s, c) => s + c.length, 0);
  if (!model.usesExternalData && size <= IN_MEMORY_BYTES)
    return use(chunks.length === 1 ? chunks[0] : concatChunks(chunks));
  const modelDir = path.dirname(model.path);
  const dataFiles = checkExternalData(model);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-model-'));
  try {
    let file: string;
    try {
      model.externalDataFiles.forEach((rel, i) => {
        const link = path.join(dir, path.relative(modelDir, dataFiles[i]));
        fs.mkdirSync(path.dirname(link), { recursive: true });
        fs.linkSync(dataFiles[i], link);
      });
      file = path.join(dir, 'model.onnx');
    } catch {
      file = path.join(modelDir, `.exit-lens-${process.pid}-${Date.now()}.onnx`);
    }
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        for (const c of chunks) fs.writeSync(fd, c);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      throw new ExitLensError(
        'model-unreadable',
        `Cannot stage a copy of ${model.path} for ONNX Runtime: ${(err as Error).message}`,
        'Make the temporary folder (or, for a model with external data on another filesystem, the model folder) writable.',
      );
    }
    try {
      return await use(file);
    } finally {
      if (!file.startsWith(dir)) fs.rmSync(file, { force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
