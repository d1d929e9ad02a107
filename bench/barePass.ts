/**
 * The benchmark's reference for the analysis at scale: one bare pass over a logits file that
 * reads every exit's logits in chunks and computes each sample-exit softmax once (max, exp,
 * sum), nothing else. Bundled by bench/run.ts and run in a fresh `node` process, like the CLI
 * it is compared with:
 *
 *   node barePass.js <logits.npz>
 *
 * Prints one JSON line with `check` (a sum of the results, so that nothing is optimised away).
 */
import { openArrayFile } from '../src/core/npy/arrayFile';
import { halfToFloat } from '../src/core/npy/npy';

async function main(): Promise<void> {
  const f = await openArrayFile(process.argv[2]);
  let check = 0;
  for (const a of f.arrays.filter((x) => x.name.startsWith('exit_'))) {
    const C = a.header.shape[1];
    const reader = await a.open();
    for (let n = 0; n < a.rows; n += 8192) {
      const rows = Math.min(8192, a.rows - n);
      const bytes = await reader.readRows(rows);
      let z: Float32Array;
      if (a.header.dtype === 'float16') {
        const half = new Uint16Array(bytes.buffer, bytes.byteOffset, rows * C);
        z = new Float32Array(rows * C);
        for (let i = 0; i < z.length; i++) z[i] = halfToFloat(half[i]);
      } else z = new Float32Array(bytes.buffer, bytes.byteOffset, rows * C);
      for (let i = 0; i < rows; i++) {
        let max = -Infinity;
        for (let c = 0; c < C; c++) if (z[i * C + c] > max) max = z[i * C + c];
        let s = 0;
        for (let c = 0; c < C; c++) s += Math.exp(z[i * C + c] - max);
        check += 1 / s;
      }
    }
    await reader.close();
  }
  await f.close();
  process.stdout.write(`${JSON.stringify({ check })}\n`);
}

main().catch((err) => {
  process.stderr.write(`bare pass: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
