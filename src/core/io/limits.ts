import * as os from 'node:os';
import { ExitLensError } from '../errors';

/**
 * What a run may take of the machine: memory, checked against an estimate made from the array
 * headers before anything large is allocated, and ONNX Runtime threads, bounded by the cores.
 */

export const MIB = 2 ** 20;
export const GIB = 2 ** 30;

const UNITS: Record<string, number> = { b: 1, k: 2 ** 10, m: MIB, g: GIB, t: 2 ** 40 };

/** "8G", "512M", "1.5GiB", "2048MB", "64k": binary units (1G = 1024^3 bytes); a bare number is refused. */
export function parseMemorySize(text: string, what = '--max-memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|(b))\s*$/i.exec(String(text));
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[(m[2] ?? m[3]).toLowerCase()]) : NaN;
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) {
    throw new ExitLensError(
      'bad-argument',
      `${what} "${text}" is not a memory size.`,
      `Give a number with a unit, K, M, G or T (powers of 1024): e.g. ${what} 8G or ${what} 512M.`,
    );
  }
  return bytes;
}

/** The exitLens.maxMemory setting ("8G", "512M") in bytes; undefined when empty or not a size (the settings editor flags that). */
export function memorySetting(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  try {
    return parseMemorySize(value, 'exitLens.maxMemory');
  } catch {
    return undefined;
  }
}

/** Bytes for a person: "512 MiB", "31.9 GiB". */
export function formatBytes(n: number): string {
  if (n >= 2 ** 40) return `${(n / 2 ** 40).toFixed(1)} TiB`;
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(0)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} bytes`;
}

export interface MachineMemory {
  /** Physical memory. */
  total: number;
  /** A container's (cgroup's) limit when it is below the physical memory, else null. */
  constrained: number | null;
  /** Memory the system can give now without swapping (Linux MemAvailable, within a cgroup's limit). */
  available: number;
}

export function machineMemory(): MachineMemory {
  const total = os.totalmem();
  const c = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const constrained = c > 0 && c < total ? c : null;
  const available = typeof process.availableMemory === 'function' ? process.availableMemory() : os.freemem();
  return { total, constrained, available };
}

/** The default limit: the memory available when the run starts, at most this share of the machine's (or container's). */
export const DEFAULT_MEMORY_SHARE = 0.8;

export interface MemoryLimit {
  bytes: number;
  /** Where it comes from, for messages. */
  source: string;
}

/** The limit: `setting` (--max-memory, exitLens.maxMemory) when given, else the default above. */
export function memoryLimit(setting?: number, machine: MachineMemory = machineMemory()): MemoryLimit {
  if (setting !== undefined)
    return { bytes: setting, source: 'set with --max-memory, or the exitLens.maxMemory setting' };
  const whole = machine.constrained ?? machine.total;
  const of = `${formatBytes(whole)} ${machine.constrained ? 'allowed to this container' : 'in this machine'}`;
  const cap = Math.floor(DEFAULT_MEMORY_SHARE * whole);
  if (machine.available < cap) return { bytes: machine.available, source: `the memory available now, of ${of}` };
  return { bytes: cap, source: `${Math.round(DEFAULT_MEMORY_SHARE * 100)}% of the ${of}` };
}

/**
 * Peak memory of a run, per sample and exit: the exit records (37 bytes) and what the analysis
 * sorts and splits. With the constants below, the estimate is at or above the measured peak of
 * every run tried (the whole process: analyses of 10^6 and 2·10^6 samples at 4 and 8 exits,
 * profiles of 10^5 to 2·10^6 samples, with and without a calibration set and --records), by
 * 15% to 70%.
 */
export const RECORD_BYTES = 56;
/** Per sample: labels (as read and as kept), the calibration split, sort keys. */
export const SAMPLE_BYTES = 112;
/** Per sample and exit in the report, with --records: the arrays and their JSON text. */
export const REPORTED_RECORD_BYTES = 128;
/**
 * The process itself, ONNX Runtime's libraries and threads, the worker thread and the
 * analysis' fixed buffers (a profile of 10^5 samples peaks at about 120 MB).
 */
export const BASE_BYTES = 128 * MIB;

export interface MemoryPart {
  what: string;
  bytes: number;
}

/** The records and analysis of `samples` samples × `exits` exits. */
export function recordsMemory(what: string, samples: number, exits: number, inReport: boolean): MemoryPart[] {
  const parts: MemoryPart[] = [
    {
      what: `exit records, labels and analysis of ${what} (${samples.toLocaleString('en-US')} samples × ${exits} exits)`,
      bytes: samples * (exits * RECORD_BYTES + SAMPLE_BYTES),
    },
  ];
  if (inReport)
    parts.push({
      what: 'per-sample records in the report (--records)',
      bytes: samples * exits * REPORTED_RECORD_BYTES,
    });
  return parts;
}

/**
 * Refuses a run whose estimate is above the limit, before it allocates: the message gives the
 * estimate, its parts, the limit and where the limit comes from; `hint` says what to do.
 */
export function checkMemory(parts: MemoryPart[], limit: MemoryLimit, hint: string): void {
  const all = [{ what: 'the process and its libraries', bytes: BASE_BYTES }, ...parts.filter((p) => p.bytes > 0)];
  const total = all.reduce((s, p) => s + p.bytes, 0);
  if (total <= limit.bytes) return;
  const enough = `${Math.max(1, Math.ceil((total * 1.25) / GIB))}G`;
  throw new ExitLensError(
    'memory-limit',
    `This run would need about ${formatBytes(total)} of memory, more than its limit of ${formatBytes(limit.bytes)} (${limit.source}). The estimate, from the arrays' headers: ${all.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join('; ')}.`,
    `${hint} If the machine does have the memory (swap included), raise the limit, e.g. --max-memory ${enough}.`,
  );
}

/** Threads that run at once on this machine (or what this process is allowed). */
export function machineThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : Math.max(1, os.cpus().length);
}

/**
 * ONNX Runtime's thread count, bounded by the machine: more threads than cores only slow a run
 * down (and ten thousands of them take minutes to start). `note` says so when it was bounded.
 */
export function boundThreads(
  requested: number | undefined,
  machine = machineThreads(),
): { threads: number; note: string | null } {
  if (requested === undefined) return { threads: machine, note: null };
  if (requested <= machine) return { threads: requested, note: null };
  return {
    threads: machine,
    note: `${requested.toLocaleString('en-US')} threads were asked for, but this machine runs ${machine} at once; ONNX Runtime uses ${machine} (more threads than cores only slow a run down).`,
  };
}

/** The largest Python source `exit-lens heads` and the CodeLens read (model code is far smaller). */
export const MAX_PYTHON_SOURCE_BYTES = 16 * MIB;
