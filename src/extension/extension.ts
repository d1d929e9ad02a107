import * as vscode from 'vscode';
import type { FromWebview } from '../shared/protocol';
import { registerCommands } from './commands';
import { registerGpuCommands } from './gpuCommands';
import { EngineClient } from './engineClient';
import { ExitHeadLens } from './exitHeadLens';
import { ONNX_EDITOR_VIEW_TYPE, OnnxEditorProvider } from './onnxEditor';
import { Profiler } from './profiler';
import { ReportPanel } from './reportPanel';
import { RunStore } from './runStore';
import { runsFolder, runsToKeep } from './settings';
import { SidebarView } from './sidebarView';
import { StatusBar } from './statusBar';

/**
 * The VS Code glue: each contribution lives in its own file and every view reads stored
 * reports. ONNX Runtime is never loaded here: the engine child process loads it when the
 * first profile starts.
 */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Exit Lens', { log: true });
  const store = new RunStore(() => ({ root: runsFolder(context), keep: runsToKeep() }), log);
  const engine = new EngineClient(vscode.Uri.joinPath(context.extensionUri, 'dist', 'engine.js').fsPath, log);
  const status = new StatusBar();
  const profiler = new Profiler(engine, store, status, log);
  context.subscriptions.push(log, store, engine, status, profiler);
  status.lastRun(store.list()[0]?.provider ?? null);

  let handle: (m: FromWebview) => Promise<void> = async () => undefined;
  const onMessage = (m: FromWebview) => handle(m);
  const panel = new ReportPanel(context.extensionUri, store, onMessage, log);
  const lens = new ExitHeadLens(context.extensionUri, store, log);
  const sidebar = new SidebarView(context.extensionUri, store, (doc) => lens.countExitHeads(doc), onMessage, log);
  context.subscriptions.push(panel, sidebar, lens);
  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider(ONNX_EDITOR_VIEW_TYPE, new OnnxEditorProvider(context.extensionUri, store, onMessage, log), {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.languages.registerCodeLensProvider({ language: 'python' }, lens),
  );
  handle = registerCommands({ context, store, profiler, panel: () => panel, sidebar: () => sidebar, log });
  registerGpuCommands({ context, log });

  profiler.onDidFinish(() => lens.refresh());
  profiler.onDidChangeBusy((b) => {
    sidebar.setRunning(b.running);
    panel.send({ type: 'busy', running: b.running, message: b.message });
  });
  context.subscriptions.push(
    // Trusting the workspace brings the Profile buttons back.
    vscode.workspace.onDidGrantWorkspaceTrust(() => sidebar.refresh()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('exitLens.runsFolder') || e.affectsConfiguration('exitLens.runsToKeep')) store.notifyChanged();
      if (e.affectsConfiguration('exitLens')) {
        lens.refresh();
        sidebar.refresh();
      }
    }),
  );
  log.info(`Exit Lens activated; runs are stored in ${store.folder}.`);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions; the engine process is killed.
}
