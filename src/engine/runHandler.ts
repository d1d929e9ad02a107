import type { ShardCapture } from '../core/records/recordsFile';
import type { AnalyzeRequest, Emit, MergeRequest, ProfileRequest } from '../shared/engineProtocol';
import type { Report } from '../shared/reportTypes';

/** The requests that are runs: each ends in a report. */
export type RunRequest = ProfileRequest | AnalyzeRequest | MergeRequest;

/** What an in-process caller (the CLI) hears of a run as it goes. */
export interface RunHooks {
  /**
   * Every file the run reads, once it knows them (the model's external data only comes with the
   * model), before the samples are read: the CLI refuses an output that is one of them by throwing.
   */
  inputFiles?: (files: { label: string; file: string }[]) => void;
  /** A shard's records and what its report is made of, before the report is (exit-lens profile --records-out). */
  shardRecords?: (capture: ShardCapture) => void | Promise<void>;
}

/**
 * One kind of run: its request in, its progress and logs out through `emit`, its report returned;
 * a problem is thrown (an ExitLensError when the user can act on it). handleRequest.ts turns the
 * end into a result or error event.
 */
export type RunHandler<R extends RunRequest> = (
  req: R,
  emit: Emit,
  signal: AbortSignal | undefined,
  hooks: RunHooks,
) => Promise<Report>;
