/**
 * The engine as a child process (how the extension runs it): typed requests in, typed
 * events out, malformed requests refused, cancellation honoured. Uses the built dist/engine.js.
 */
import * as assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EngineEvent, isEngineEvent } from '../../src/engine/protocol';
import { fixture } from './helpers';

const ENGINE = path.join(__dirname, '..', '..', 'dist', 'engine.js');

function withEngine<T>(body: (send: (m: unknown) => void, next: (pred: (e: EngineEvent) => boolean) => Promise<EngineEvent>) => Promise<T>): Promise<T> {
  const child = fork(ENGINE, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'advanced' });
  const events: EngineEvent[] = [];
  const waiters: { pred: (e: EngineEvent) => boolean; resolve: (e: EngineEvent) => void }[] = [];
  child.on('message', (m) => {
    assert.ok(isEngineEvent(m), `malformed event ${JSON.stringify(m)}`);
    events.push(m);
    for (const w of [...waiters]) if (w.pred(m)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const next = (pred: (e: EngineEvent) => boolean) =>
    new Promise<EngineEvent>((resolve) => {
      const seen = events.find(pred);
      if (seen) resolve(seen);
      else waiters.push({ pred, resolve });
    });
  return body((m) => child.send(m as never), next).finally(() => child.kill());
}

describe('engine child process', () => {
  it('profiles on request and answers with a result event', async () => {
    await withEngine(async (send, next) => {
      send({ type: 'profile', id: 'a', modelPath: fixture('tiny_cnn.onnx'), samplesPath: fixture('cnn_samples.npz'), executionProviders: ['cuda', 'cpu'] });
      const provider = await next((e) => e.type === 'provider' && e.id === 'a');
      assert.ok(provider.type === 'provider' && provider.info.used === 'cpu');
      const result = await next((e) => (e.type === 'result' || e.type === 'error') && e.id === 'a');
      assert.equal(result.type, 'result');
      assert.ok(result.type === 'result' && result.report.exits.length === 3);
    });
  });

  it('answers a bad input with an error event, and a malformed request with a log entry', async () => {
    await withEngine(async (send, next) => {
      send({ type: 'profile', id: 'b', modelPath: fixture('not_onnx.onnx'), samplesPath: fixture('cnn_samples.npz') });
      const err = await next((e) => e.type === 'error' && e.id === 'b');
      assert.ok(err.type === 'error' && err.code === 'model-unreadable' && err.userError);
      send({ type: 'profile', id: 42 });
      const log = await next((e) => e.type === 'log' && e.level === 'error');
      assert.ok(log.type === 'log' && /malformed request/.test(log.message));
    });
  });

  it('a cancel request stops the run with a cancelled error', async () => {
    await withEngine(async (send, next) => {
      send({ type: 'profile', id: 'c', modelPath: fixture('tiny_cnn.onnx'), samplesPath: fixture('cnn_samples.npz'), executionProviders: ['cpu'], batchSize: 1 });
      await next((e) => e.type === 'progress' && e.id === 'c' && e.phase === 'inference');
      send({ type: 'cancel', id: 'c' });
      const end = await next((e) => (e.type === 'result' || e.type === 'error') && e.id === 'c');
      assert.ok(end.type === 'error' && end.code === 'cancelled', `expected cancellation, got ${end.type}`);
    });
  });
});
