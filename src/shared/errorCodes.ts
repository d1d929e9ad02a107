/**
 * The codes of the errors Exit Lens reports (src/core/errors.ts raises them; the engine's
 * messages carry them to the extension and the CLI). A user error's message is shown as is
 * (CLI exit code 2); 'internal' is a bug or an environment failure (exit code 3).
 */
export type ExitLensErrorCode =
  | 'model-unreadable'
  | 'model-no-exits'
  | 'exit-mapping'
  | 'samples-unreadable'
  | 'samples-mismatch'
  | 'labels-invalid'
  | 'samples-empty'
  | 'unsafe-data'
  | 'provider-unavailable'
  | 'inference-failed'
  | 'cancelled'
  | 'engine-busy'
  | 'bad-argument'
  | 'output-unwritable'
  | 'memory-limit'
  | 'gpu-setup'
  | 'internal';
