import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { detectExits, exitNames, parseExitMapping } from '../core/onnx/exits';
import { loadModelInfo } from '../core/onnx/model';
import type { ModelView } from '../shared/protocol';
import { MessageRouter } from './messageRouter';
import { RunStore } from './runStore';
import { configFor } from './settings';
import { WebviewHost } from './webviewHost';

/**
 * A read-only editor for .onnx files: the model summary (inputs, outputs, detected exits and
 * their costs from the latest run) with a Profile button, instead of binary noise. The model
 * is only decoded here (protobuf, no native code), so it also works in Restricted Mode.
 */
export const ONNX_EDITOR_VIEW_TYPE = 'exitLens.onnxModel';

export function modelView(uri: vscode.Uri, store: RunStore): ModelView {
  const base: ModelView = {
    path: uri.fsPath,
    producer: '',
    opset: 0,
    irVersion: 0,
    nodeCount: 0,
    parameterCount: 0,
    usesExternalData: false,
    inputs: [],
    outputs: [],
    exits: [],
    exitLayout: '',
    exitError: null,
    baselineMacs: null,
    costNote: '',
    latest: null,
    trusted: vscode.workspace.isTrusted,
    error: null,
  };
  let model;
  try {
    model = loadModelInfo(uri.fsPath);
  } catch (err) {
    return { ...base, error: describeError(err) };
  }
  const latest = store.latest(uri.fsPath);
  const run = latest ? store.load(latest.runId) : null;
  const view: ModelView = {
    ...base,
    producer: model.producer,
    opset: model.opset,
    irVersion: model.irVersion,
    nodeCount: model.nodeCount,
    parameterCount: model.parameterCount,
    usesExternalData: model.usesExternalData,
    inputs: model.inputs,
    outputs: model.outputs,
    latest,
  };
  try {
    const cfg = configFor(uri.fsPath);
    const layout = detectExits(model, cfg?.exits ? parseExitMapping(cfg.exits) : undefined);
    const count =
      layout.kind === 'per-output' ? layout.outputs.length : (layout.exitCount ?? run?.report.exitCount ?? 0);
    const names = exitNames(layout, count);
    view.exitLayout =
      layout.kind === 'per-output'
        ? `one output per exit, ordered by ${layout.orderedBy}`
        : `stacked ${layout.layout} output "${layout.output}"`;
    view.exits = names.map((name, index) => ({ index, name, macs: run?.report.exits[index]?.macs ?? null }));
    view.baselineMacs = run?.report.baselineMacs ?? null;
    view.costNote = run
      ? `MACs per sample from the latest run (${new Date(run.createdAt).toLocaleString()}): cost(k) includes the heads of earlier exits; % of the model without early exits.`
      : 'Costs (MACs per exit) are measured from the graph when the model is first profiled.';
  } catch (err) {
    view.exitError = describeError(err);
  }
  return view;
}

export class OnnxEditorProvider implements vscode.CustomReadonlyEditorProvider {
  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunStore,
    private readonly router: MessageRouter,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    const host = new WebviewHost(panel.webview, {
      extensionUri: this.extensionUri,
      router: this.router,
      log: this.log,
      onReady: () => post(),
    });
    const post = () => host.post({ type: 'model', model: modelView(document.uri, this.store) });
    host.load({ view: 'model' }, 'ONNX model');
    // Before the page is ready, its 'ready' reads the model anyway: no need to decode it twice.
    const postIfReady = () => host.ready && post();
    const subs = [host, this.store.onDidChange(postIfReady), vscode.workspace.onDidGrantWorkspaceTrust(postIfReady)];
    panel.onDidDispose(() => subs.forEach((d) => d.dispose()));
  }
}
