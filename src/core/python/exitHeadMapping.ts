/**
 * Ties each exit-head site to exits of the profiled model (mapExitHeads), for the CodeLens
 * annotations: `# exit-lens:` comments and the host's mapping first, then names, list
 * positions, numbered suffixes, the one final head and lists of many heads, one owner class at
 * a time.
 */
import { isDigits, nameNumber, nameStem, normaliseExitName } from './headNames';
import type { ExitHeadSite } from './headSites';

/**
 * How a site was tied to its exit(s):
 * - `explicit`: an `# exit-lens:` comment on the site, or the host's explicit mapping.
 * - `name`: its name equals an exit's name once normalised (`early_exit` ~ output `early_exit`).
 * - `list-index`: element k of a list of heads is exit k.
 * - `suffix`: the number in its name, counted from 0 or from 1 (see `mapExitHeads`).
 * - `final`: the one unnumbered head beside the numbered ones is the final exit.
 * - `many`: a list built in a loop or comprehension stands for the exits no other site holds.
 * - `type`: an exit-head class; its instances carry the exits.
 * - `unmapped`: no rule applies; `note` says why.
 */
export type ExitMappingRule = 'explicit' | 'name' | 'list-index' | 'suffix' | 'final' | 'many' | 'type' | 'unmapped';

export interface MappedExitHead {
  site: ExitHeadSite;
  rule: ExitMappingRule;
  /** Indices into the model's exits (shallowest first): one for a head, several for `many`, none when unmapped. */
  exitIndices: number[];
  /** The exit, when the site is exactly one. */
  exitIndex?: number;
  exitName?: string;
  /** One phrase on how the exit was found or why it was not, for the lens's tooltip. */
  note: string;
}

/** Host-given mapping: site key (`exit1`, `exits[2]`, `classifier`, optionally `Owner.` first) → exit name or index. */
export type ExplicitExitMap = Readonly<Record<string, string | number>>;

export type Resolved = { index: number } | { error: string };

/**
 * An exit given by name (exact, then normalised) or index, checked against the model; `exit_k`
 * (`exit-k`, `exitk`) that names no exit is exit index k, so that a marker works for every
 * layout (a stacked output's exits are named `logits[k]`).
 */
export function resolveExit(value: string | number, exitNames: readonly string[]): Resolved {
  const count = exitNames.length;
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value < count
      ? { index: value }
      : { error: `exit ${value} is out of range: the model has ${count} exits (0-${count - 1})` };
  }
  const text = value.trim();
  const exact = exitNames.indexOf(text);
  if (exact >= 0) return { index: exact };
  if (isDigits(text)) return resolveExit(Number(text), exitNames);
  const wanted = normaliseExitName(text);
  const matches = exitNames.flatMap((n, i) => (normaliseExitName(n) === wanted ? [i] : []));
  if (matches.length === 1) return { index: matches[0] };
  const byIndex = /^exit[-_]?(\d+)$/i.exec(text);
  if (byIndex && Number(byIndex[1]) < count) return { index: Number(byIndex[1]) };
  return { error: `"${text}" is not an exit of this model (its exits: ${exitNames.join(', ')})` };
}

/** The keys a host mapping may use for a site. */
function siteKeys(site: ExitHeadSite): string[] {
  const own =
    site.kind === 'list-element'
      ? [
          ...(site.index !== undefined ? [`${site.name}[${site.index}]`] : []),
          ...(site.key !== undefined ? [site.key, `${site.name}[${site.key}]`] : []),
        ]
      : [site.name];
  return site.owner ? [...own, ...own.map((k) => `${site.owner}.${k}`)] : own;
}

const isInstance = (s: ExitHeadSite): boolean => s.kind !== 'class';
const rangeSet = (from: number, count: number): Set<number> =>
  new Set(Array.from({ length: count }, (_, i) => from + i));
const sameSet = (a: ReadonlySet<number>, b: ReadonlySet<number>): boolean =>
  a.size === b.size && [...a].every((x) => b.has(x));

/**
 * Ties each site to exits of the profiled model (`exitNames`, shallowest first, as the engine
 * orders them). Sites are taken one owner class at a time, rules in this order:
 *
 * 1. Explicit: the site's `# exit-lens:` comment, else `explicit[key]` (keys as `siteKeys`);
 *    an exit name (exact or normalised) or an index. An exit named explicitly is taken from
 *    every heuristic below.
 * 2. Name: an unnumbered head, or a ModuleDict entry, whose normalised name equals exactly one
 *    exit's (`early_exit` ~ `early_exit`, `exit2` ~ `exit_2`).
 * 3. List index: element k of a list of heads is exit k (Python positions count from 0).
 * 4. Numbered heads sharing a stem (`exit1`, `exit2`; suffix set S, E exits), first match wins:
 *    S = {1..E} → exit k-1; S = {0..E-1} → exit k; when one unnumbered head holds the final exit
 *    and the numbered heads number E-1: S = {1..E-1} → k-1, S = {0..E-2} → k; else the names,
 *    if every head of the stem equals a distinct exit's name; else S = {0..n-1} → k and
 *    S = {1..n} → k-1 (n < E); else unmapped. Why the exact sets come before the names:
 *    BranchyNet's `exit1, exit2, classifier` with outputs `exit_0..exit_2` would map `exit2` to
 *    `exit_2`, the final exit, by name.
 * 5. Final: exactly one unnumbered single head (`self.classifier`, `self.head`, `self.fc_final`)
 *    is the final exit when the numbered heads number E-1, or when one list of many heads
 *    stands for the others; otherwise it stays unmapped.
 * 6. Many: the one list built in a loop or comprehension stands for every exit no other site
 *    of its class holds; two such lists are ambiguous and stay unmapped.
 *
 * Class sites are not mapped (rule `type`) unless a comment names them. Returns one entry per
 * site, in the order given.
 */
export function mapExitHeads(
  sites: readonly ExitHeadSite[],
  exitNames: readonly string[],
  explicit?: ExplicitExitMap,
): MappedExitHead[] {
  const E = exitNames.length;
  const results: MappedExitHead[] = sites.map((site) => ({ site, rule: 'unmapped', exitIndices: [], note: '' }));
  const hostKeys = new Map(Object.entries(explicit ?? {}).map(([k, v]) => [normaliseExitName(k), v] as const));

  const owners = new Map<string, number[]>();
  sites.forEach((s, i) => owners.set(s.owner ?? '', [...(owners.get(s.owner ?? '') ?? []), i]));

  for (const members of owners.values()) {
    /** Exits named explicitly in this class → the site that names it. */
    const explicitClaims = new Map<number, number>();
    /** Exits any rule gave in this class (for the `many` rule). */
    const held = new Set<number>();
    const open = new Set<number>();

    const setOne = (i: number, index: number, rule: ExitMappingRule, note: string) => {
      const claimedAt = explicitClaims.get(index);
      if (rule !== 'explicit' && claimedAt !== undefined) {
        results[i] = {
          ...results[i],
          rule: 'unmapped',
          exitIndices: [],
          note: `${exitNames[index]} is named explicitly for line ${sites[claimedAt].line + 1}`,
        };
      } else {
        results[i] = { ...results[i], rule, exitIndices: [index], exitIndex: index, exitName: exitNames[index], note };
        held.add(index);
      }
      open.delete(i);
    };
    const leave = (i: number, note: string) => {
      results[i] = { ...results[i], rule: 'unmapped', exitIndices: [], note };
      open.delete(i);
    };

    // 1. Explicit (and class sites).
    for (const i of members) {
      const site = sites[i];
      const hostValue = siteKeys(site)
        .map((k) => hostKeys.get(normaliseExitName(k)))
        .find((v) => v !== undefined);
      const value = site.explicitExit ?? hostValue;
      if (value === undefined) {
        if (isInstance(site)) open.add(i);
        else results[i] = { ...results[i], rule: 'type', note: 'an exit-head class: its instances carry the exits' };
        continue;
      }
      const how =
        site.explicitExit !== undefined
          ? `named by # exit-lens: ${site.explicitExit}`
          : `named by the exit mapping (${value})`;
      const r = resolveExit(value, exitNames);
      if ('error' in r) {
        leave(i, r.error);
      } else {
        setOne(i, r.index, 'explicit', how);
        if (!explicitClaims.has(r.index)) explicitClaims.set(r.index, i);
      }
    }

    const isPlain = (i: number) => sites[i].kind === 'attribute' && nameNumber(sites[i].name) === undefined;
    const isNumbered = (i: number) => sites[i].kind === 'attribute' && nameNumber(sites[i].name) !== undefined;
    const isIndexed = (i: number) => sites[i].kind === 'list-element' && sites[i].index !== undefined;

    // 2. Name: unnumbered heads and ModuleDict entries.
    for (const i of [...open]) {
      const site = sites[i];
      const name = site.kind === 'list-element' ? site.key : isPlain(i) ? site.name : undefined;
      if (name === undefined) continue;
      const matches = exitNames.flatMap((n, k) => (normaliseExitName(n) === normaliseExitName(name) ? [k] : []));
      if (matches.length === 1) setOne(i, matches[0], 'name', `its name matches the exit ${exitNames[matches[0]]}`);
    }

    // The picture the numbering rules read: numbered heads, the unnumbered ones, the lists.
    const numberedKeys = new Set(
      members
        .filter((i) => isIndexed(i) || isNumbered(i))
        .map((i) => (isIndexed(i) ? `${sites[i].name}[${sites[i].index}]` : normaliseExitName(sites[i].name))),
    );
    const numberedCount = numberedKeys.size;
    const plainOpen = [...open].filter(isPlain);
    const plainNames = [...new Set(plainOpen.map((i) => sites[i].name))];
    const manyOpen = [...open].filter((i) => sites[i].kind === 'list-many');
    const manyNames = [...new Set(manyOpen.map((i) => sites[i].name))];
    // Why: a final exit already held by an unnumbered head (named, or by comment) is the same
    // picture as one unnumbered head left for it.
    const finalHeld = members.some((i) => results[i].exitIndex === E - 1 && !isNumbered(i) && !isIndexed(i));
    const oneFinalHead = plainNames.length === 1 || finalHeld;

    // 3. List index.
    for (const i of [...open].filter(isIndexed)) {
      const k = sites[i].index!;
      if (k < E) setOne(i, k, 'list-index', `element ${k} of ${sites[i].name}`);
      else leave(i, `element ${k} of ${sites[i].name}, but the model has ${E} exits`);
    }

    // 4. Numbered heads, one stem at a time.
    const stems = new Map<string, number[]>();
    for (const i of members.filter(isNumbered))
      stems.set(nameStem(sites[i].name), [...(stems.get(nameStem(sites[i].name)) ?? []), i]);
    for (const group of stems.values()) {
      const todo = group.filter((i) => open.has(i));
      if (todo.length === 0) continue;
      const S = new Set(group.map((i) => nameNumber(sites[i].name)!));
      const n = S.size;
      const list = [...S].sort((a, b) => a - b).join(', ');
      let base: 0 | 1 | undefined;
      let why = '';
      if (sameSet(S, rangeSet(1, E))) [base, why] = [1, `suffixes ${list} count the ${E} exits from 1`];
      else if (sameSet(S, rangeSet(0, E))) [base, why] = [0, `suffixes ${list} count the ${E} exits from 0`];
      else if (oneFinalHead && numberedCount === E - 1 && sameSet(S, rangeSet(1, E - 1)))
        [base, why] = [1, `suffixes ${list} count the ${E - 1} early exits from 1`];
      else if (oneFinalHead && numberedCount === E - 1 && sameSet(S, rangeSet(0, E - 1)))
        [base, why] = [0, `suffixes ${list} count the ${E - 1} early exits from 0`];
      if (base === undefined) {
        const byName = todo.map((i) =>
          exitNames.flatMap((x, k) =>
            normaliseExitName(x) === normaliseExitName(sites[i].name) && !explicitClaims.has(k) ? [k] : [],
          ),
        );
        if (byName.every((m) => m.length === 1) && new Set(byName.map((m) => m[0])).size === todo.length) {
          todo.forEach((i, j) =>
            setOne(i, byName[j][0], 'name', `its name matches the exit ${exitNames[byName[j][0]]}`),
          );
          continue;
        }
        if (n < E && sameSet(S, rangeSet(0, n))) [base, why] = [0, `suffixes ${list} count from 0`];
        else if (n < E && sameSet(S, rangeSet(1, n))) [base, why] = [1, `suffixes ${list} count from 1`];
      }
      if (base === undefined) {
        for (const i of todo) leave(i, `the suffixes ${list} do not tell which of the ${E} exits each head is`);
        continue;
      }
      for (const i of todo) {
        const k = nameNumber(sites[i].name)! - base;
        if (k >= 0 && k < E) setOne(i, k, 'suffix', why);
        else leave(i, `suffix ${k + base} is past the model's ${E} exits`);
      }
    }

    // 5. The final head.
    if (plainNames.length === 1) {
      const fits = manyNames.length === 1 ? numberedCount < E - 1 : manyNames.length === 0 && numberedCount === E - 1;
      for (const i of plainOpen) {
        if (!open.has(i)) continue;
        if (fits)
          setOne(
            i,
            E - 1,
            'final',
            numberedCount
              ? `the one unnumbered head beside ${numberedCount} numbered ones: the final exit`
              : 'the one single head beside a list of heads: the final exit',
          );
        else
          leave(
            i,
            manyNames.length > 1
              ? 'an unnumbered head beside several lists of heads'
              : `an unnumbered head beside ${numberedCount} numbered ones, for a model with ${E} exits`,
          );
      }
    } else {
      for (const i of plainOpen)
        if (open.has(i))
          leave(i, `${plainNames.length} unnumbered heads (${plainNames.join(', ')}): which is which is ambiguous`);
    }

    // Single heads whose position in their list is unknown.
    for (const i of [...open].filter((j) => sites[j].kind === 'list-element'))
      leave(i, `a head appended to ${sites[i].name} at an unknown position`);

    // 6. Lists of many heads.
    if (manyNames.length === 1) {
      const rest = Array.from({ length: E }, (_, k) => k).filter((k) => !held.has(k) && !explicitClaims.has(k));
      for (const i of manyOpen) {
        if (rest.length === 0) leave(i, 'every exit is already held by another head');
        else
          results[i] = {
            ...results[i],
            rule: 'many',
            exitIndices: rest,
            note: `a list of heads built in a loop or comprehension: exits ${rest[0]}-${rest[rest.length - 1]}`,
            ...(rest.length === 1 ? { exitIndex: rest[0], exitName: exitNames[rest[0]] } : {}),
          };
        open.delete(i);
      }
    } else {
      for (const i of manyOpen)
        leave(i, `${manyNames.length} lists of heads (${manyNames.join(', ')}): which exits each holds is ambiguous`);
    }

    for (const i of open) leave(i, 'no rule ties this head to an exit');
  }
  return results;
}
