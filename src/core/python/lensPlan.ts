/**
 * The CodeLens plan for a Python file from `headsFromGraph` (issue #15): which lens goes on
 * which line, with whose figures and what a click does. Each class tied to a model gets that
 * model's own figures on the lines that define its heads (one lens per exit; a ModuleList line
 * that holds several exits gets several), or, when the model has no stored run, one lens on the
 * class line that profiles that model; exits the class could not place are said on the class
 * line. Classes tied to no model get nothing. The host (src/extension/exitHeadLens.ts) turns
 * the entries into CodeLenses and gives the texts of one exit (`lensText`).
 *
 * Pure: no `vscode`, no DOM. Lines here are 0-based (editor lines).
 */
import * as path from 'node:path';
import type { Report } from '../analysis/analyze';
import type { HeadsClass, HeadsExit, HeadsResult, HeadsUnmapped } from './headsFromGraph';
import type { ExitHeadSite } from './headSites';

/** A model's latest stored run, as the plan reads it. */
export interface LensRun {
  runId: string;
  report: Report;
}

export type LensCommand = 'exitLens.openReport' | 'exitLens.profile' | '';

export interface LensPlanEntry {
  /** 0-based editor line. */
  line: number;
  title: string;
  tooltip: string;
  /** '' for a lens that only informs (no click). */
  command: LensCommand;
  /** openReport: [runId, exit index]; profile: [model path] (the host makes it a Uri). */
  args: (string | number)[];
  /** The model the lens speaks for. */
  model: string;
  /** The class it belongs to. */
  className: string;
}

export interface LensTexts {
  /** The title of exit `exit` of `report` (the host's lensText for one exit). */
  exitTitle(report: Report, exit: number): string;
  /** Sentences added to a run's tooltips (e.g. suggested vs certified thresholds), with a leading space. */
  runNote?(report: Report): string;
  /** How a run's date is written; ISO when absent. */
  date?(iso: string): string;
}

/** Notes of entries the name heuristics placed start so (headsFromGraph.ts). */
export const GUESSED = 'guessed from names';

const isGuessed = (note: string) => note.includes(GUESSED);
const short = (s: string, n = 90) => (s.length > n ? `${s.slice(0, n - 1).trimEnd()}…` : s);

function unmappedLens(cls: HeadsClass, model: string): LensPlanEntry | null {
  if (cls.unmapped.length === 0) return null;
  const label = (u: HeadsUnmapped) =>
    u.exit !== null
      ? `exit ${u.exit}${u.exitName ? ` (${u.exitName})` : ''}`
      : (u.module ?? (u.line !== undefined ? `line ${u.line}` : 'a marker'));
  const exits = cls.unmapped.filter((u) => u.exit !== null);
  const first = cls.unmapped[0];
  const title =
    cls.unmapped.length === 1
      ? `${label(first)} ${first.exit !== null ? 'not found in the code' : 'not placed'}: ${short(first.reason, 70)}`
      : exits.length === cls.unmapped.length
        ? `${exits.length} exits not found in the code (${exits.map((u) => u.exit).join(', ')}): ${short(first.reason, 50)}`
        : `${cls.unmapped.length} entries not placed (${cls.unmapped.map(label).join(', ')})`;
  return {
    line: cls.line - 1,
    title: `⚠ ${title}`,
    tooltip: `${cls.name} · ${path.basename(model)}:\n${cls.unmapped
      .map((u) => `- ${label(u)}${u.line !== undefined ? ` (line ${u.line})` : ''}: ${u.reason}`)
      .join('\n')}\nMark a head with # exit-lens: exit_k, or drop a line with # exit-lens: ignore.`,
    command: '',
    args: [],
    model,
    className: cls.name,
  };
}

/**
 * The 0-based line of an exit's lens: the line of its element when the ModuleList spells its
 * elements on lines of their own (`sites`, src/core/python/exitHeads.ts), else the entry's line.
 */
function lensLine(e: HeadsExit, cls: string, sites: readonly ExitHeadSite[]): number {
  const m = /^(\w+)\[['"]?([^\]'"]+)['"]?\]$/.exec(e.module);
  if (m) {
    const site = sites.find(
      (s) =>
        s.kind === 'list-element' &&
        s.owner === cls &&
        s.name === m[1] &&
        (s.index !== undefined ? String(s.index) === m[2] : s.key === m[2]),
    );
    if (site && site.line >= e.line - 1) return site.line;
  }
  return e.line - 1;
}

/**
 * The lenses for `result`, by line (then as the classes list them). `runs` holds each tied
 * model's latest run, or null when it has none; a tied model missing from it counts as none.
 * `sites` (findExitHeads of the same text) put a list's exits on their elements' own lines.
 */
export function planLenses(
  result: HeadsResult,
  runs: ReadonlyMap<string, LensRun | null>,
  texts: LensTexts,
  sites: readonly ExitHeadSite[] = [],
): LensPlanEntry[] {
  const out: LensPlanEntry[] = [];
  for (const cls of result.classes) {
    const model = cls.model;
    if (!model) continue;
    const name = path.basename(model);
    const run = runs.get(model) ?? null;
    const classGuessed = isGuessed(cls.note);
    if (!run) {
      out.push({
        line: cls.line - 1,
        title: `Profile exits of ${name}`,
        tooltip: `Exit Lens: profile ${model}, the model of class ${cls.name} (${cls.note}).${
          classGuessed ? ` Its exits were ${GUESSED}.` : ''
        }`,
        command: 'exitLens.profile',
        args: [model],
        model,
        className: cls.name,
      });
    } else {
      const report = run.report;
      const when = texts.date ? texts.date(report.createdAt) : report.createdAt;
      const note = texts.runNote?.(report) ?? '';
      for (const e of cls.exits) {
        const guessed = isGuessed(e.note);
        const line = lensLine(e, cls.name, sites);
        if (e.exit >= report.exitCount) {
          out.push({
            line,
            title: `${e.exitName} · not in the latest run of ${name} (${report.exitCount} exits): profile again`,
            tooltip: `The model now has exit ${e.exit} (${e.module}), its run of ${when} has ${report.exitCount} exits.`,
            command: 'exitLens.profile',
            args: [model],
            model,
            className: cls.name,
          });
          continue;
        }
        out.push({
          line,
          title: `${texts.exitTitle(report, e.exit)}${guessed ? ` · ${GUESSED}` : ''}`,
          tooltip: `${name}, run of ${when}: ${e.module} is ${e.exitName} (${e.note}).${note} Click to open the report on this exit.`,
          command: 'exitLens.openReport',
          args: [run.runId, e.exit],
          model,
          className: cls.name,
        });
      }
    }
    const u = unmappedLens(cls, model);
    if (u) out.push(u);
  }
  // Several exits on one line (a ModuleList on one line): each lens keeps its name and first
  // figure (`exit_0 · acc 91.3%`) so that they fit side by side; the full text opens its tooltip.
  const perLine = new Map<number, number>();
  for (const e of out) if (e.command === 'exitLens.openReport') perLine.set(e.line, (perLine.get(e.line) ?? 0) + 1);
  for (const e of out) {
    if (e.command !== 'exitLens.openReport' || (perLine.get(e.line) ?? 0) < 2) continue;
    const parts = e.title.split(' · ');
    if (parts.length <= 2) continue;
    const guessed = parts[parts.length - 1] === GUESSED;
    e.tooltip = `${e.title}\n${e.tooltip}`;
    e.title = [...parts.slice(0, 2), ...(guessed ? [GUESSED] : [])].join(' · ');
  }
  // Stable: lenses of one line keep the order above (exits shallowest first).
  return out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.line - b.e.line || a.i - b.i)
    .map(({ e }) => e);
}

/**
 * The tied model of the class at or above `line` (0-based), else of the first tied class; null
 * when no class is tied. For the sidebar, which follows the model code.
 */
export function modelAtLine(result: HeadsResult, line: number): string | null {
  const tied = result.classes.filter((c) => c.model);
  if (tied.length === 0) return null;
  let at: HeadsClass | undefined;
  for (const c of result.classes) if (c.line - 1 <= line) at = c;
  return at?.model ?? tied[0].model;
}
