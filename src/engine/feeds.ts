import type * as ort from 'onnxruntime-node';
import { ExitLensError } from '../core/errors';
import { NumericArray, halfToFloat } from '../core/npy/npy';
import { BatchReader, SampleBinding } from '../core/samples/samples';

/**
 * What goes into a session and what comes out: a batch of sample rows as ONNX Runtime tensors
 * (padded to a fixed batch), the first rows of a set, an exit output's logits as floats, and
 * ONNX Runtime's run error in a line.
 */

function makeTensor(o: typeof ort, dtype: string, data: NumericArray, dims: number[]): ort.Tensor {
  // ORT names float16 data as a Uint16Array of bit patterns, and bool as Uint8Array.
  return new o.Tensor(dtype as ort.Tensor.Type, data as ort.Tensor.DataType, dims);
}

/** The session's feeds for `rows` rows of the binding's arrays. */
export function feedsFor(
  o: typeof ort,
  binding: SampleBinding,
  data: NumericArray[],
  rows: number,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  binding.inputs.forEach((b, i) => {
    feeds[b.input.name] = makeTensor(o, b.input.dtype, data[i], [rows, ...b.rowShape]);
  });
  return feeds;
}

/** The feeds of a batch of `rows` rows, padded to the model's fixed batch when it has one. */
export function batchFeeds(o: typeof ort, binding: SampleBinding) {
  return (data: NumericArray[], rows: number): Record<string, ort.Tensor> => {
    const fed = binding.fixedBatch ?? rows;
    return feedsFor(o, binding, fed > rows ? padRows(data, rows, fed) : data, fed);
  };
}

/** Pads a batch to the model's fixed batch size by repeating the last row. */
export function padRows(data: NumericArray[], rows: number, target: number): NumericArray[] {
  if (rows === target) return data;
  return data.map((arr) => {
    const per = arr.length / rows;
    const Ctor = arr.constructor as new (n: number) => NumericArray;
    const out = new Ctor(per * target);
    (out as Float32Array).set(arr as Float32Array);
    for (let r = rows; r < target; r++) (out as Float32Array).copyWithin(r * per, (rows - 1) * per, rows * per);
    return out;
  });
}

/** The set's first `batch` rows (the probe's, the latency's), the last one repeated when the set has fewer. */
export async function firstRows(binding: SampleBinding, batch: number): Promise<NumericArray[]> {
  const reader = await BatchReader.open(binding);
  let data: NumericArray[];
  try {
    data = await reader.next(Math.min(batch, binding.sampleCount));
  } finally {
    await reader.close();
  }
  return binding.sampleCount < batch ? padRows(data, binding.sampleCount, batch) : data;
}

/**
 * ONNX Runtime's run error in a line: the failing node and its status, without the source file,
 * function and assertion it quotes ("Non-zero status code returned while running Add node.
 * Name:'/Add' Status Message: /onnxruntime_src/...h:583 void ...() axis == 1 was false. <why>").
 */
export function ortRunMessage(err: unknown): string {
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
  const node = /running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/.exec(first);
  if (!node) return first;
  const status = node[3].replace(/^\S*onnxruntime\S*:\d+ .*? was false\.\s*/, '').trim();
  return `${node[1]} node "${node[2]}": ${status || node[3]}`;
}

/** An exit output's logits as float32/float64 (float16 converted). */
export function logitsOf(t: ort.Tensor): ArrayLike<number> {
  const d = t.data;
  if (t.type === 'float16' && d instanceof Uint16Array) {
    const out = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = halfToFloat(d[i]);
    return out;
  }
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  throw new ExitLensError(
    'samples-mismatch',
    `An exit output has type ${t.type}; exits must output float logits.`,
    'Map the exits to the logits outputs with --exits.',
  );
}
