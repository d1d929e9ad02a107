/**
 * The engine as a child process (how the extension runs it): typed requests in, typed
 * events out, malformed requests refused, cancellation honoured. Uses the built dist/engine.js.
 */
import * as assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EngineEvent, isEngineEvent } from '../../src/shared/engineProtocol';
import { fixture, tmpDir, writeLongRunSamples } from './helpers';

const ENGINE = path.join(__dirname, '..', '..', 'dist', 'engine.js');

function withEngine<T>(
  body: (
    send: (m: unknown) => void,
    next: (pred: (e: EngineEvent) => boolean) => Promise<EngineEvent>,
    events: EngineEvent[],
  ) => Promise<T>,
): Promise<T> {
  const child = fork(ENGINE, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'advanced' });
  const events: EngineEvent[] = [];
  const waiters: { pred: (e: EngineEvent) => boolean; resolve: (e: EngineEvent) => void }[] = [];
  child.on('message', (m) => {
    assert.ok(isEngineEvent(m), `malformed event ${JSON.stringify(m)}`);
    events.push(m);
    for (const w of [...waiters])
      if (w.pred(m)) {
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
  return body((m) => child.send(m as never), next, events).finally(() => child.kill());
}

describe('engine child process', () => {
  it('profiles on request and answers with a result event', async () => {
    await withEngine(async (send, next) => {
      send({
        type: 'profile',
        id: 'a',
        modelPath: fixture('tiny_cnn.onnx'),
        samplesPath: fixture('cnn_samples.npz'),
        executionProviders: ['cuda', 'cpu'],
      });
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
      send({
        type: 'profile',
        id: 'c',
        modelPath: fixture('tiny_cnn.onnx'),
        samplesPath: fixture('cnn_samples.npz'),
        executionProviders: ['cpu'],
        batchSize: 1,
      });
      await next((e) => e.type === 'progress' && e.id === 'c' && e.phase === 'inference');
      send({ type: 'cancel', id: 'c' });
      const end = await next((e) => (e.type === 'result' || e.type === 'error') && e.id === 'c');
      assert.ok(end.type === 'error' && end.code === 'cancelled', `expected cancellation, got ${end.type}`);
    });
  });

  it('a model that ONNX Runtime fails on at its second batch: an error naming the samples and the node, then the same engine profiles again', async () => {
    await withEngine(async (send, next, events) => {
      // batch_bound.onnx adds a [8, 16] table traced at batch 8: 12 samples at batch size 8 are
      // batch 1 = samples 0..7 (runs) and batch 2 = samples 8..11, four rows, which the Add refuses.
      send({
        type: 'profile',
        id: 'bb',
        modelPath: fixture('batch_bound.onnx'),
        samplesPath: fixture('batch_bound_samples.npz'),
        executionProviders: ['cpu'],
        batchSize: 8,
      });
      const err = await next((e) => (e.type === 'error' || e.type === 'result') && e.id === 'bb');
      assert.ok(err.type === 'error', `expected an error, got ${err.type}`);
      assert.equal(err.code, 'inference-failed');
      assert.ok(err.userError);
      assert.match(err.message, /samples 8\.\.11 \(batch 2, 4 samples; the batches before it had 8 and ran\)/);
      assert.match(err.message, /Add node "\/Add": .*broadcast/);
      assert.match(err.hint ?? '', /batch size to 1/);
      // The first batch did run: inference progress had reached sample 8 before the failure.
      assert.ok(events.some((e) => e.type === 'progress' && e.id === 'bb' && e.phase === 'inference' && e.done === 8));
      // The same process, at batch size 1, profiles the model: every batch has one row.
      send({
        type: 'profile',
        id: 'bb1',
        modelPath: fixture('batch_bound.onnx'),
        samplesPath: fixture('batch_bound_samples.npz'),
        executionProviders: ['cpu'],
        batchSize: 1,
      });
      const ok = await next((e) => (e.type === 'error' || e.type === 'result') && e.id === 'bb1');
      assert.ok(ok.type === 'result', `expected a result, got ${JSON.stringify(ok).slice(0, 300)}`);
      assert.equal(ok.report.samples.sampleCount, 12);
      assert.deepEqual(
        ok.report.exits.map((e) => e.name),
        ['exit_0', 'exit_1'],
      );
    });
  });

  it('a request that arrives while another runs is refused, for the same model or another; the running one finishes with its own result', async () => {
    const dir = tmpDir();
    const long = path.join(dir, 'long.npz');
    await writeLongRunSamples(long, 5000);
    await withEngine(async (send, next, events) => {
      send({
        type: 'profile',
        id: 'first',
        modelPath: fixture('nan_net.onnx'),
        samplesPath: long,
        executionProviders: ['cpu'],
        batchSize: 1,
      });
      await next((e) => e.type === 'progress' && e.id === 'first' && e.phase === 'inference');
      send({
        type: 'profile',
        id: 'same',
        modelPath: fixture('nan_net.onnx'),
        samplesPath: fixture('nan_samples.npz'),
        executionProviders: ['cpu'],
      });
      send({
        type: 'profile',
        id: 'other',
        modelPath: fixture('tiny_cnn.onnx'),
        samplesPath: fixture('cnn_samples.npz'),
        executionProviders: ['cpu'],
      });
      send({ type: 'analyze', id: 'logits', logitsPath: fixture('logits_random.npz') });
      for (const id of ['same', 'other', 'logits']) {
        const refused = await next((e) => (e.type === 'error' || e.type === 'result') && e.id === id);
        assert.ok(
          refused.type === 'error' && refused.code === 'engine-busy',
          `${id}: ${JSON.stringify(refused).slice(0, 200)}`,
        );
        assert.match(refused.message, /already running nan_net\.onnx/);
      }
      const first = await next((e) => (e.type === 'error' || e.type === 'result') && e.id === 'first');
      assert.ok(first.type === 'result', `first: ${JSON.stringify(first).slice(0, 200)}`);
      assert.equal(first.report.samples.path, long);
      assert.equal(first.report.samples.sampleCount, 5000);
      // A refused request got its refusal and nothing else: no progress, provider or result of its own.
      for (const id of ['same', 'other', 'logits'])
        assert.deepEqual(
          events.filter((e) => e.id === id).map((e) => e.type),
          ['error'],
        );
      // Once the engine is free the same request runs.
      send({
        type: 'profile',
        id: 'other2',
        modelPath: fixture('tiny_cnn.onnx'),
        samplesPath: fixture('cnn_samples.npz'),
        executionProviders: ['cpu'],
      });
      const other = await next((e) => (e.type === 'error' || e.type === 'result') && e.id === 'other2');
      assert.ok(other.type === 'result' && other.report.samples.sampleCount === 50 && other.report.exitCount === 3);
    });
  });
});
