import { openArrayFile } from '../npy/arrayFile';
import { LABEL_NAMES } from './samples';

/**
 * Which sample sets fit a model, from the files' array names alone: the picker lists those
 * first. Only headers are read (openArrayFile reads no data), only regular files are opened
 * (anything else, and any file that cannot be read, simply does not match), and at most
 * `maxChecked` files are opened.
 */

/** The most files whose headers the picker reads. */
export const MAX_SAMPLE_FILES_CHECKED = 200;

/**
 * True when the arrays feed every input by name, as bindSamples binds them: an array per input
 * name, or, for a single-input model, exactly one array besides the labels.
 */
export function arraysMatchInputs(arrayNames: string[], inputNames: string[], labelName?: string): boolean {
  if (inputNames.length === 0) return false;
  const labels = labelName ? [labelName] : LABEL_NAMES;
  const label = labels.find((n) => arrayNames.includes(n));
  const candidates = arrayNames.filter((n) => n !== label);
  if (inputNames.every((name) => candidates.includes(name))) return true;
  return inputNames.length === 1 && candidates.length === 1;
}

export interface RankedSampleFile {
  path: string;
  matches: boolean;
}

export interface RankOptions {
  /** The configured label array, if any (otherwise "label", "labels" or "y"). */
  labelName?: string;
  /** Files past this many (in the given order) are not opened and count as not matching. */
  maxChecked?: number;
}

/** The array names of one file, or null when it is not a readable .npz/.npy regular file. */
async function arrayNames(file: string): Promise<string[] | null> {
  try {
    const opened = await openArrayFile(file);
    try {
      return opened.arrays.map((a) => a.name);
    } finally {
      await opened.close();
    }
  } catch {
    return null;
  }
}

/**
 * The files in two groups, those whose arrays match the model's inputs first, then the others;
 * each group keeps the given order.
 */
export async function rankSampleFiles(
  files: string[],
  inputNames: string[],
  options: RankOptions = {},
): Promise<RankedSampleFile[]> {
  const limit = Math.max(0, options.maxChecked ?? MAX_SAMPLE_FILES_CHECKED);
  const matches: boolean[] = new Array<boolean>(files.length).fill(false);
  const checked = Math.min(files.length, limit);
  let next = 0;
  // A few headers at a time: each open is one descriptor and a few small reads.
  const worker = async () => {
    while (next < checked) {
      const i = next++;
      const names = await arrayNames(files[i]);
      matches[i] = names !== null && arraysMatchInputs(names, inputNames, options.labelName);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, checked) }, worker));
  const ranked = files.map((path, i) => ({ path, matches: matches[i] }));
  return [...ranked.filter((r) => r.matches), ...ranked.filter((r) => !r.matches)];
}
