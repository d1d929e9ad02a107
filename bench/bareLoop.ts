/**
 * The benchmark's reference for profiling overhead: a bare onnxruntime-node loop that runs a
 * model over a sample set, batch by batch, with its inputs already in memory, and does nothing
 * else. Bundled by bench/profileOverhead.ts and run in a fresh `node` process:
 *
 *   node bareLoop.js <model.onnx> <samples.npz> <provider> <batch> <threads> [repeats]
 *
 * The session gets exactly the options of a profiling session (`sessionOptions`, the code the
 * engine itself uses) and fetches every output. Prints one JSON line: `prepareSeconds` (reading
 * the sample set into memory, which the caller subtracts from the process's wall time; its CPU
 * time is `prepareCpuSeconds`),
 * `loopSeconds` (ONNX Runtime loaded, session created, every batch run, session released) and
 * `runSeconds` (the batches alone). With `repeats` (default 1), the session is created, run
 * over every batch and released that many times in the one process, and `repeatSeconds` lists
 * each time (ONNX Runtime loaded once, in the first): a process that stays up, as the engine
 * does in VS Code.
 */
import type * as ort from 'onnxruntime-node';
import { openArrayFile, readWholeArray } from '../src/core/npy/arrayFile';
import { bytesToTyped } from '../src/core/npy/npy';
import { ProviderName, loadOrt, sessionOptions } from '../src/engine/providers';

async function main(): Promise<void> {
  const [modelPath, samplesPath, provider, batchText, threadsText] = process.argv.slice(2);
  const batch = Number(batchText);
  const threads = Number(threadsText);

  const tPrepare = performance.now();
  const cpuPrepare = process.cpuUsage();
  const file = await openArrayFile(samplesPath);
  const arrays = new Map<string, { data: ort.Tensor.DataType; dtype: string; rowShape: number[]; rows: number }>();
  for (const a of file.arrays) {
    const bytes = await readWholeArray(a);
    arrays.set(a.name, {
      data: bytesToTyped(bytes, a.header.dtype) as ort.Tensor.DataType,
      dtype: a.header.dtype,
      rowShape: a.header.shape.slice(1),
      rows: a.rows,
    });
  }
  await file.close();
  const prepareSeconds = (performance.now() - tPrepare) / 1000;
  const prepareCpu = process.cpuUsage(cpuPrepare);
  const prepareCpuSeconds = (prepareCpu.user + prepareCpu.system) / 1e6;

  const repeats = Math.max(1, Number(process.argv[7] ?? 1));
  const repeatSeconds: number[] = [];
  let first: { loopSeconds: number; runSeconds: number; samples: number; check: number } | null = null;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const o = loadOrt();
    const session = await o.InferenceSession.create(modelPath, sessionOptions(provider as ProviderName, threads));
    const inputs = session.inputNames.map((name) => {
      const a = arrays.get(name);
      if (!a) throw new Error(`${samplesPath} has no array "${name}"`);
      return { name, ...a, perRow: a.rowShape.reduce((x, y) => x * y, 1) };
    });
    const fetches = [...session.outputNames];
    const N = inputs[0].rows;
    const tRun = performance.now();
    let check = 0;
    for (let n = 0; n < N; n += batch) {
      const rows = Math.min(batch, N - n);
      const feeds: Record<string, ort.Tensor> = {};
      for (const x of inputs) {
        const view = (x.data as Float32Array).subarray(n * x.perRow, (n + rows) * x.perRow);
        feeds[x.name] = new o.Tensor(x.dtype as ort.Tensor.Type, view as ort.Tensor.DataType, [rows, ...x.rowShape]);
      }
      const out = await session.run(feeds, fetches);
      check += (out[fetches[0]].data as Float32Array)[0];
    }
    const runSeconds = (performance.now() - tRun) / 1000;
    await session.release();
    const loopSeconds = (performance.now() - t0) / 1000;
    repeatSeconds.push(loopSeconds);
    first ??= { loopSeconds, runSeconds, samples: N, check };
  }
  process.stdout.write(`${JSON.stringify({ prepareSeconds, prepareCpuSeconds, ...first, repeatSeconds })}\n`);
}

main().catch((err) => {
  process.stderr.write(`bare loop: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
