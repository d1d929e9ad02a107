import { DRILLDOWN_LIMIT, destructiveSamples, drilldownSample } from '../report/drilldown';
import { ExitLensError, throwIfCancelled } from '../errors';
import { ExitRecords, allocateRecords } from './records';
import { RecordsFileInfo, readRecordsHeader, readRecordsInto, recordCount } from './recordsFile';
import { TOKEN_VIEW_SEQUENCES } from '../tokens/tokenView';
import { displayName } from '../io/text';
import type { CommonOptions } from '../../shared/engineProtocol';
import type {
  DrilldownSample,
  ExecutionProviderInfo,
  InputPreview,
  Report,
  ReportWarning,
  TokenSamples,
  TokenView,
} from '../../shared/reportTypes';

/**
 * Merging shards (exit-lens merge, "Exit Lens: Analyze Records"; the run is src/engine/merge.ts):
 * the records files of a profile's shards checked to belong together and to cover the sample set
 * exactly once, put back in sample order, and the report's parts that come from the shards (the
 * provider, the drill-down, the warnings, a decoder's tokens) merged as a single run has them.
 */

const MERGE_HINT = 'Merge only the shards of one profile: the same model file, exit mapping, costs and sample set.';

const name = (f: RecordsFileInfo) => displayName(f.file);

/**
 * Refuses shards that are not of one model, one exit layout, one cost and (with `sameSet`) one
 * sample set. The calibration shards are of the main shards' model, but of a set of their own.
 */
function checkTogether(files: RecordsFileInfo[], what: string, sameSet = true): void {
  const first = files[0];
  const a = first.header;
  for (const f of files.slice(1)) {
    const b = f.header;
    const differ = (why: string, hint = MERGE_HINT) =>
      new ExitLensError('samples-mismatch', `${what}: ${name(f)} and ${name(first)} ${why}.`, hint);
    if (a.model.sha256 !== b.model.sha256 || a.model.bytes !== b.model.bytes)
      throw differ(
        `are records of different models (sha256 ${b.model.sha256.slice(0, 12)}… of ${displayName(b.model.path)} vs ${a.model.sha256.slice(0, 12)}… of ${displayName(a.model.path)})`,
      );
    if (JSON.stringify(a.model.externalData) !== JSON.stringify(b.model.externalData))
      throw differ('are records of models whose external data files differ (names or sizes)');
    if (
      JSON.stringify(a.exitNames) !== JSON.stringify(b.exitNames) ||
      JSON.stringify(a.reportModel.exitLayout) !== JSON.stringify(b.reportModel.exitLayout) ||
      a.classCount !== b.classCount
    )
      throw differ(
        `have different exits (${b.exitNames.map(displayName).join(', ')} with ${b.classCount} classes vs ${a.exitNames.map(displayName).join(', ')} with ${a.classCount})`,
        'Profile every shard with the same --exits mapping.',
      );
    if (
      JSON.stringify(a.exitMacs) !== JSON.stringify(b.exitMacs) ||
      a.baselineMacs !== b.baselineMacs ||
      JSON.stringify(a.cost) !== JSON.stringify(b.cost)
    )
      throw differ(
        `have different costs (${b.cost.source}: ${b.exitMacs.join(', ')} vs ${a.cost.source}: ${a.exitMacs.join(', ')})`,
        'Profile every shard with the same --exit-costs (or none).',
      );
    if (
      sameSet &&
      (a.set.sampleCount !== b.set.sampleCount ||
        a.set.labelled !== b.set.labelled ||
        a.set.labelArray !== b.set.labelArray ||
        JSON.stringify(a.set.inputs) !== JSON.stringify(b.set.inputs))
    )
      throw differ(
        `are shards of different sample sets (${displayName(b.set.path)}, ${b.set.sampleCount.toLocaleString('en-US')} samples vs ${displayName(a.set.path)}, ${a.set.sampleCount.toLocaleString('en-US')})`,
      );
    const pa = a.executionProvider?.precision ?? null;
    const pb = b.executionProvider?.precision ?? null;
    if (pa !== pb)
      throw differ(
        `ran at different precisions (${pb} vs ${pa}), so their figures are not those of one run`,
        'Profile every shard at one precision (--gpu-precision fp32, the default).',
      );
  }
}

/** Refuses shards that leave samples out or hold some twice, saying which and where. */
function checkCoverage(files: RecordsFileInfo[], what: string): number {
  const N = files[0].header.set.sampleCount;
  const sorted = [...files].sort((x, y) => x.header.shard.start - y.header.shard.start);
  const problems: string[] = [];
  const range = (s: number, e: number) => (e - s === 1 ? `sample ${s}` : `samples ${s}..${e - 1}`);
  let covered = 0;
  let last: RecordsFileInfo | null = null;
  for (const f of sorted) {
    const { start, end } = f.header.shard;
    if (start > covered) problems.push(`${range(covered, start)} ${start - covered === 1 ? 'is' : 'are'} in no file`);
    else if (start < covered && last)
      problems.push(`${range(start, Math.min(end, covered))} are in both ${name(last)} and ${name(f)}`);
    if (end > covered) {
      covered = end;
      last = f;
    }
  }
  if (covered < N) problems.push(`${range(covered, N)} ${N - covered === 1 ? 'is' : 'are'} in no file`);
  if (!problems.length) return N;
  // Shards cut by one --shard i/n: name the missing shards as the user launched them.
  const counts = new Set(files.map((f) => f.header.shard.count));
  let missing = '';
  if (counts.size === 1) {
    const n = [...counts][0];
    const have = new Set(files.map((f) => f.header.shard.index));
    const lost = Array.from({ length: n }, (_, i) => i).filter((i) => !have.has(i));
    if (lost.length) missing = ` Missing: --shard ${lost.map((i) => `${i}/${n}`).join(', ')}.`;
  }
  throw new ExitLensError(
    'samples-mismatch',
    `${what} do not cover the sample set ${displayName(files[0].header.set.path)} (${N.toLocaleString('en-US')} samples) exactly once: ${problems.join('; ')}.${missing}`,
    'Profile the missing shards (exit-lens profile … --shard i/n --records-out …) or leave out the duplicate files, then merge again.',
  );
}

type AnalysisKey = 'maxAccuracyDrop' | 'riskEpsilon' | 'riskDelta' | 'riskLoss';

/** The analysis options: the merge's own where given, else the shards' (which must agree). */
export function analysisOptions(req: CommonOptions, files: RecordsFileInfo[]): Pick<CommonOptions, AnalysisKey> {
  const flags: Record<AnalysisKey, string> = {
    maxAccuracyDrop: '--max-drop',
    riskEpsilon: '--risk',
    riskDelta: '--delta',
    riskLoss: '--risk-loss',
  };
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(flags) as AnalysisKey[]) {
    if (req[key] !== undefined) {
      out[key] = req[key];
      continue;
    }
    const values = new Map<string, RecordsFileInfo>();
    for (const f of files) {
      const v = JSON.stringify(f.header.analysis[key] ?? null);
      if (!values.has(v)) values.set(v, f);
    }
    if (values.size > 1) {
      const seen = [...values].map(([v, f]) => `${v === 'null' ? 'the default' : v} in ${name(f)}`);
      throw new ExitLensError(
        'samples-mismatch',
        `The shards were profiled with different ${flags[key]} (${seen.join(', ')}).`,
        `Give the value to the merge: exit-lens merge … ${flags[key]} <value>.`,
      );
    }
    const v = files[0].header.analysis[key];
    if (v !== undefined && v !== null) out[key] = v;
  }
  return out as Pick<CommonOptions, AnalysisKey>;
}

/** One set's records, its shards read into place. */
export async function readShardRecords(
  files: RecordsFileInfo[],
  onRead: (done: number, total: number) => void,
  signal: AbortSignal | undefined,
): Promise<ExitRecords> {
  const h = files[0].header;
  const N = totalRecords(files);
  const labels = h.set.labelled ? new Int32Array(N) : null;
  const rec = allocateRecords(N, h.exitCount, h.classCount, labels);
  let done = 0;
  for (const f of files) {
    throwIfCancelled(signal);
    // Files are in sample order: a decoder's positions follow those of the shards before.
    readRecordsInto(f, rec, h.tokens ? done : undefined);
    done += recordCount(f.header);
    onRead(done, N);
    // Let a cancel in between.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return rec;
}

/** The records of a set's shards: its samples, or a decoder's token positions. */
export function totalRecords(files: RecordsFileInfo[]): number {
  return files.reduce((n, f) => n + recordCount(f.header), 0);
}

/** Each file's first record in the merged records (files in sample order). */
function recordOffsets(files: RecordsFileInfo[]): number[] {
  let at = 0;
  return files.map((f) => {
    const first = at;
    at += recordCount(f.header);
    return first;
  });
}

/** A decoder's token samples and view of the whole set, from its shards (in sample order). */
export function mergedTokens(
  files: RecordsFileInfo[],
  calib: RecordsFileInfo[] | null,
): { tokens: TokenSamples; view: TokenView | undefined } | null {
  const t = files[0].header.tokens;
  if (!t) return null;
  const offsets = recordOffsets(files);
  const sequences: TokenView['sequences'] = [];
  const vocab: Record<string, string> = {};
  let withVocab = false;
  files.forEach((f, i) => {
    const view = f.header.tokens?.view;
    if (!view) return;
    if (view.vocab) {
      withVocab = true;
      Object.assign(vocab, view.vocab);
    }
    for (const q of view.sequences)
      if (sequences.length < TOKEN_VIEW_SEQUENCES)
        sequences.push({ ...q, positions: q.positions.map((p) => ({ ...p, sample: p.sample + offsets[i] })) });
  });
  const firstView = files[0].header.tokens?.view ?? null;
  // Keep the vocabulary of the ids the kept sequences show.
  const shown = new Set<number>();
  for (const q of sequences) {
    q.ids.forEach((id) => shown.add(id));
    for (const p of q.positions) p.preds.forEach((id) => shown.add(id));
  }
  const kept = withVocab ? Object.fromEntries(Object.entries(vocab).filter(([id]) => shown.has(Number(id)))) : null;
  return {
    tokens: {
      sequences: files.reduce((n, f) => n + (f.header.tokens?.sequences ?? 0), 0),
      length: t.length,
      positions: totalRecords(files),
      labels: t.labels,
      mask: t.mask,
      calibration: calib
        ? {
            sequences: calib.reduce((n, f) => n + (f.header.tokens?.sequences ?? 0), 0),
            positions: totalRecords(calib),
          }
        : null,
    },
    view: firstView ? { sequences, vocab: kept, vocabPath: firstView.vocabPath } : undefined,
  };
}

/**
 * The drill-down of the whole set, as the single run's: its first DRILLDOWN_LIMIT destructive
 * samples in sample order (each shard kept its own first ones with their input previews, so these
 * are among them) and how many there are in all.
 */
export function mergedDrilldown(rec: ExitRecords, files: RecordsFileInfo[]): Report['drilldown'] {
  if (!rec.labels) return null;
  const previews = new Map<number, InputPreview | undefined>();
  // A decoder's shards give their own positions: placed after the earlier shards' positions.
  const offsets = files[0].header.tokens ? recordOffsets(files) : files.map(() => 0);
  files.forEach((f, i) => {
    for (const s of f.header.drilldown?.samples ?? []) previews.set(s.index + offsets[i], s.input);
  });
  const { indices, total } = destructiveSamples(rec, DRILLDOWN_LIMIT);
  const samples: DrilldownSample[] = indices.map((n) => drilldownSample(rec, n, previews.get(n)));
  return { destructiveCount: total, samples };
}

/** The provider info of the merged report: the first shard's, with a device only if all shards had the same. */
export function mergedProvider(files: RecordsFileInfo[]): ExecutionProviderInfo | null {
  const first = files[0].header.executionProvider;
  if (!first) return null;
  const devices = new Set(files.map((f) => f.header.executionProvider?.deviceId ?? null));
  const info = { ...first };
  if (devices.size !== 1) delete info.deviceId;
  return info;
}

/** The run's warnings: the first shard's, then any other shard's that it did not have (a provider fallback). */
export function mergedWarnings(files: RecordsFileInfo[]): ReportWarning[] {
  const seen = new Set<string>();
  const out: ReportWarning[] = [];
  for (const f of files)
    for (const w of f.header.warnings) {
      const key = JSON.stringify(w);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(w);
    }
  return out;
}

function sortedByStart(files: RecordsFileInfo[]): RecordsFileInfo[] {
  return [...files].sort((x, y) => x.header.shard.start - y.header.shard.start);
}

/** The shards' and calibration shards' headers, in sample order, checked to belong together and to cover their sets once. */
export function readShardHeaders(
  recordsPaths: string[],
  calibRecordsPaths: string[] | undefined,
): { main: RecordsFileInfo[]; calib: RecordsFileInfo[] | null } {
  const main = sortedByStart(recordsPaths.map(readRecordsHeader));
  const calib = calibRecordsPaths?.length ? sortedByStart(calibRecordsPaths.map(readRecordsHeader)) : null;
  checkTogether(main, 'The shards');
  checkCoverage(main, 'The shards');
  if (calib) {
    checkTogether([main[0], ...calib], 'The calibration shards', false);
    checkTogether(calib, 'The calibration shards');
    checkCoverage(calib, 'The calibration shards');
  }
  return { main, calib };
}
