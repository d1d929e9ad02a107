import * as path from 'node:path';
import { describeError } from '../core/errors';
import { handleRequest } from './handleRequest';
import { EngineEvent, isEngineRequest } from '../shared/engineProtocol';

/**
 * The engine as a child process: the extension forks this script (Node, or the editor's own
 * runtime with ELECTRON_RUN_AS_NODE=1) so that a native crash, an out-of-memory or a hang in
 * ONNX Runtime ends this process only. Requests and events are the typed messages of protocol.ts.
 *
 * One request runs at a time: a request that arrives while another runs is refused with an
 * `engine-busy` error naming the run in progress, so the events and results of two runs never mix.
 */
let active: { id: string; subject: string; controller: AbortController } | null = null;

function send(event: EngineEvent): void {
  process.send?.(event);
}

process.on('message', (message: unknown) => {
  if (!isEngineRequest(message)) {
    send({
      type: 'log',
      id: '',
      level: 'error',
      message: `Engine ignored a malformed request: ${JSON.stringify(message)?.slice(0, 200)}`,
    });
    return;
  }
  if (message.type === 'cancel') {
    if (active?.id === message.id) active.controller.abort();
    return;
  }
  const subject = path.basename(
    message.type === 'profile'
      ? message.modelPath
      : message.type === 'merge'
        ? (message.recordsPaths[0] ?? 'records')
        : message.logitsPath,
  );
  if (active) {
    send({
      type: 'error',
      id: message.id,
      code: 'engine-busy',
      message: `The engine is already running ${active.subject} and runs one request at a time, so ${subject} was not started.`,
      hint: 'Wait for that run to finish or cancel it, then start this one again.',
      userError: true,
    });
    return;
  }
  const run = { id: message.id, subject, controller: new AbortController() };
  active = run;
  handleRequest(message, send, run.controller.signal)
    .catch((err) =>
      send({ type: 'error', id: message.id, code: 'internal', message: describeError(err), userError: false }),
    )
    .finally(() => {
      if (active === run) active = null;
    });
});

process.on('disconnect', () => process.exit(0));
