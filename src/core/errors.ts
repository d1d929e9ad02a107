/**
 * The one error type Exit Lens raises for problems a user can cause or fix.
 * `kind` tells hosts how to react: a user error gets its message shown as is
 * (CLI exit code 2), an internal error is a bug or an environment failure
 * (CLI exit code 3).
 */
export type { ExitLensErrorCode } from '../shared/errorCodes';
import type { ExitLensErrorCode } from '../shared/errorCodes';

export class ExitLensError extends Error {
  readonly code: ExitLensErrorCode;
  /** What the user can do about it, one sentence. */
  readonly hint: string | undefined;

  constructor(code: ExitLensErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'ExitLensError';
    this.code = code;
    this.hint = hint;
  }

  get isUserError(): boolean {
    return this.code !== 'internal';
  }

  /** Message plus hint, as shown to a person. */
  describe(): string {
    return this.hint ? `${this.message}\n${this.hint}` : this.message;
  }
}

/** Stops a run between batches once its caller has cancelled it; nothing is written after this. */
export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted)
    throw new ExitLensError(
      'cancelled',
      'The run was cancelled.',
      'Nothing was written; earlier reports are untouched.',
    );
}

export function isCancelled(err: unknown): boolean {
  return err instanceof ExitLensError && err.code === 'cancelled';
}

export function describeError(err: unknown): string {
  if (err instanceof ExitLensError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
