/**
 * Writes runs in a loop with the run store's own code (RunFiles.save, writeFileAtomic), for the
 * atomic-writes test to kill at random points. Each run's report carries `timings.seq`, and
 * per-sample records and a long warning whose contents follow from it, so a reader can tell a whole file from a torn
 * one. After each run it prints "saved <seq> <runId>", and after each rewrite of the pointer file
 * (one file overwritten in place) "pointer <seq>"; printing is synchronous, so a line printed
 * means the write before it returned.
 * Usage: node runWriter.js <root> <base report.json> <first seq> <pointer file>
 */
import * as fs from 'node:fs';
import type { Report } from '../../../src/core/analysis/analyze';
import { RunFiles, writeFileAtomic } from '../../../src/extension/runFiles';

export const RECORDS = 2_000;
/** A long warning makes each run file about 1.5 MB, so that writing it takes a while to interrupt. */
export const FILLER = 1_500_000;

/** The records of run `seq`: pred[i] = (7 seq + i) mod 5, conf[i] = pred[i] / 4. */
export function recordsFor(seq: number): { labels: null; pred: number[]; conf: number[] } {
  const pred = Array.from({ length: RECORDS }, (_, i) => (7 * seq + i) % 5);
  return { labels: null, pred, conf: pred.map((p) => p / 4) };
}

/** The filler of run `seq`: one letter, chosen by seq, repeated. */
export function fillerFor(seq: number): string {
  // A flat string (repeat() builds a rope that JSON.stringify would flatten every time).
  return Buffer.alloc(FILLER, 97 + (seq % 26)).toString('latin1');
}

function main(): void {
  const [root, baseFile, first, pointer] = process.argv.slice(2);
  const base = JSON.parse(fs.readFileSync(baseFile, 'utf8')) as Report;
  const files = new RunFiles(
    () => ({ root, keep: 4 }),
    (file, why) => fs.writeSync(2, `skipped ${file}: ${why}\n`),
  );
  const request = { modelPath: null, logitsPath: base.samples.path, samplesPath: base.samples.path, calibPath: null };
  fs.writeSync(1, 'ready\n');
  for (let seq = Number(first); ; seq++) {
    const records = recordsFor(seq);
    const filler = { code: 'filler', message: fillerFor(seq) };
    const summary = files.save(request, { ...base, records, warnings: [filler], timings: { ...base.timings, seq } });
    fs.writeSync(1, `saved ${seq} ${summary.runId}\n`);
    writeFileAtomic(pointer, JSON.stringify({ seq, records, filler }));
    fs.writeSync(1, `pointer ${seq}\n`);
  }
}

if (require.main === module) main();
