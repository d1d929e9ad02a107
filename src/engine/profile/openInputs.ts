import * as path from 'node:path';
import { throwIfCancelled } from '../../core/errors';
import {
  ModelInfo,
  checkExternalData,
  decodeModelProto,
  modelInfoFromProto,
  readModelFile,
} from '../../core/onnx/model';
import { shardBinding } from '../../core/records/shards';
import { SampleSet, checkProfileMemory, openSampleSet } from '../sampleSets';
import { ProfileContext } from './context';
import { ProfileSettings } from './validate';

/** The model and the sample sets of a profile, open. */
export interface ProfileInputs {
  modelPath: string;
  modelBytes: Buffer;
  proto: ReturnType<typeof decodeModelProto>;
  model: ModelInfo;
  /** The model's external data files. */
  dataFiles: string[];
  main: SampleSet;
  calib: SampleSet | null;
  /** Samples in the whole set (a shard profiles some of them). */
  setSampleCount: number;
  /** Rows per batch: the model's fixed batch, else the asked one. */
  step: number;
}

/**
 * Stage 2, open inputs: the model read and decoded, the sample sets opened and bound to its
 * inputs (a shard's samples only with --shard), and the memory they will take checked for the
 * least a run needs. On an error, what was opened is closed.
 */
export async function openInputs(run: ProfileContext, settings: ProfileSettings): Promise<ProfileInputs> {
  const { req } = run;
  const modelPath = path.resolve(req.modelPath);
  const modelBytes = readModelFile(modelPath);
  const proto = decodeModelProto(modelBytes, modelPath);
  const model = modelInfoFromProto(proto, modelPath);
  const dataFiles = checkExternalData(model);
  run.log(`Model ${modelPath}: ${model.nodeCount} nodes, ${model.parameterCount} parameters, opset ${model.opset}.`);
  run.hooks.inputFiles?.([
    { label: 'the model', file: modelPath },
    ...dataFiles.map((file) => ({ label: "the model's external data", file })),
    { label: 'the sample set', file: path.resolve(req.samplesPath) },
    ...(req.calibPath ? [{ label: 'the calibration set', file: path.resolve(req.calibPath) }] : []),
  ]);
  const main = await openSampleSet(path.resolve(req.samplesPath), model, req.labelName);
  let calib: SampleSet | null = null;
  const setSampleCount = main.binding.sampleCount;
  try {
    // --shard i/n: this shard's samples only (src/core/records/shards.ts).
    if (req.shard) main.binding = shardBinding(main.binding, req.shard, main.file.path, req.calibPath);
    if (req.calibPath) calib = await openSampleSet(path.resolve(req.calibPath), model, req.labelName);
    const step = main.binding.fixedBatch ?? settings.batchSize;
    // Before the first batch is read: at least two exits' records.
    checkProfileMemory(req, settings.limit, modelBytes.length, main, calib, step, 2);
    for (const b of main.binding.inputs.filter((x) => x.cast)) {
      run.warnings.push({
        code: 'input-cast',
        message: `Array "${b.array.name}" (${b.array.header.dtype}) is cast to ${b.input.dtype} for input "${b.input.name}"${b.array.header.dtype === 'uint8' && b.input.dtype.startsWith('float') ? ' without rescaling (values stay 0..255)' : ''}.`,
      });
    }
    if (main.binding.unusedArrays.length) run.log(`Arrays not used: ${main.binding.unusedArrays.join(', ')}.`);
    throwIfCancelled(run.signal);
    return { modelPath, modelBytes, proto, model, dataFiles, main, calib, setSampleCount, step };
  } catch (err) {
    await main.file.close();
    await calib?.file.close();
    throw err;
  }
}

export async function closeInputs(inputs: ProfileInputs): Promise<void> {
  await inputs.main.file.close();
  await inputs.calib?.file.close();
}
