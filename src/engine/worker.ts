import { describeError } from '../core/errors';
import { handleRequest } from './profile';
import { EngineEvent, isEngineRequest } from './protocol';

/**
 * The engine as a child process: the extension forks this script (Node, or the editor's own
 * runtime with ELECTRON_RUN_AS_NODE=1) so that a native crash, an out-of-memory or a hang in
 * ONNX Runtime ends this process only. Requests and events are the typed messages of protocol.ts.
 */
const runs = new Map<string, AbortController>();

function send(event: EngineEvent): void {
  process.send?.(event);
}

process.on('message', (message: unknown) => {
  if (!isEngineRequest(message)) {
    send({ type: 'log', id: '', level: 'error', message: `Engine ignored a malformed request: ${JSON.stringify(message)?.slice(0, 200)}` });
    return;
  }
  if (message.type === 'cancel') {
    runs.get(message.id)?.abort();
    return;
  }
  const controller = new AbortController();
  runs.set(message.id, controller);
  handleRequest(message, send, controller.signal)
    .catch((err) => send({ type: 'error', id: message.id, code: 'internal', message: describeError(err), userError: false }))
    .finally(() => runs.delete(message.id));
});

process.on('disconnect', () => process.exit(0));
