/**
 * Calls that hold the JavaScript thread inside native code for as long as they take, such as
 * ONNX Runtime's session creation: no event, no timer and no signal handler runs meanwhile, so a
 * host that handles Ctrl-C itself (the CLI) would not see it until the call returns. Such calls
 * are wrapped here; a host that listens can step aside while one runs (the CLI lets Ctrl-C end
 * the process at once then, as it would without a handler).
 */
type Listener = (blocking: boolean) => void;

const listeners = new Set<Listener>();
let depth = 0;

/** Hears when blocking calls start (true) and when the last one ended (false); returns the unsubscribe. */
export function onBlockingCall(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Runs `call`, announcing it as blocking for its whole duration. */
export async function blockingCall<T>(call: () => Promise<T>): Promise<T> {
  if (depth++ === 0) for (const l of listeners) l(true);
  try {
    return await call();
  } finally {
    if (--depth === 0) for (const l of listeners) l(false);
  }
}
