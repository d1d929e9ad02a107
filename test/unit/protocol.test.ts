/** Messages between the host and the webviews, and the engine's IPC, are checked on arrival. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEngineEvent, isEngineRequest } from '../../src/shared/engineProtocol';
import { isFromWebview, isToWebview } from '../../src/shared/protocol';
import { SCHEMA_VERSION } from '../../src/shared/reportTypes';

describe('webview protocol', () => {
  it("accepts the page's well-formed requests", () => {
    for (const m of [
      { type: 'ready' },
      { type: 'copy', what: 'python', text: 'EXIT_THRESHOLD = 0.9' },
      { type: 'rerun', runId: null },
      { type: 'openReport', runId: 'model.onnx-abc/2026', focusExit: 2 },
      { type: 'export', runId: 'm/1', format: 'html' },
      { type: 'profile', modelPath: null },
    ])
      assert.equal(isFromWebview(m), true, JSON.stringify(m));
  });
  it('rejects malformed or unknown messages from the page', () => {
    for (const m of [
      null,
      'ready',
      42,
      [],
      {},
      { type: 'eval', code: 'x' },
      { type: 'copy', what: 'shell', text: 'rm' },
      { type: 'copy', what: 'json', text: 'x'.repeat(200_000) },
      { type: 'openReport', runId: '', focusExit: null },
      { type: 'openReport', runId: 'a/b', focusExit: -1 },
      { type: 'openReport', runId: 'a/b', focusExit: 1.5 },
      { type: 'export', runId: 'a/b', format: 'exe' },
      { type: 'rerun', runId: 7 },
      { type: 'openFile', path: 3 },
    ])
      assert.equal(isFromWebview(m), false, JSON.stringify(m));
  });
  it('the page accepts only known host messages with a supported report schema', () => {
    assert.equal(isToWebview({ type: 'focusExit', exit: 1 }), true);
    assert.equal(
      isToWebview({ type: 'report', runId: 'a/b', report: { schemaVersion: SCHEMA_VERSION }, focusExit: null }),
      true,
    );
    assert.equal(
      isToWebview({ type: 'report', runId: 'a/b', report: { schemaVersion: SCHEMA_VERSION + 1 }, focusExit: null }),
      false,
    );
    assert.equal(isToWebview({ type: 'focusExit', exit: '1' }), false);
    assert.equal(isToWebview({ type: 'script', src: 'x' }), false);
  });
});

describe('engine IPC protocol', () => {
  it('checks requests and events', () => {
    assert.equal(isEngineRequest({ type: 'profile', id: 'a', modelPath: 'm.onnx', samplesPath: 's.npz' }), true);
    assert.equal(isEngineRequest({ type: 'profile', id: 'a', modelPath: 'm.onnx' }), false);
    assert.equal(isEngineRequest({ type: 'analyze', id: 1, logitsPath: 'l.npz' }), false);
    assert.equal(isEngineRequest({ type: 'shutdown', id: 'a' }), false);
    assert.equal(isEngineEvent({ type: 'progress', id: 'a', phase: 'inference', done: 1, total: 2 }), true);
    assert.equal(isEngineEvent({ type: 'exec', id: 'a' }), false);
  });
  it('takes a memory limit in bytes (maxMemory), and refuses any other value', () => {
    const base = { type: 'analyze', id: 'a', logitsPath: 'l.npz' };
    assert.equal(isEngineRequest({ ...base, maxMemory: 8 * 2 ** 30 }), true);
    for (const bad of [0, -1, 1.5, '8G', Infinity, NaN, null])
      assert.equal(isEngineRequest({ ...base, maxMemory: bad }), false, String(bad));
  });
});
