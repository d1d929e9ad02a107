import * as vscode from 'vscode';
import * as exampleCommands from './exampleCommands';
import { registerGpuCommands } from './gpuCommands';
import { EngineClient } from './engineClient';
import { ExitHeadLens } from './exitHeadLens';
import { MessageRouter } from './messageRouter';
import { ONNX_EDITOR_VIEW_TYPE, OnnxEditorProvider } from './onnxEditor';
import * as profileCommands from './profileCommands';
import { Profiler } from './profiler';
import * as recordsCommands from './recordsCommands';
import * as reportCommands from './reportCommands';
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

  // What the webviews ask for: the views hand it every validated message, the command modules
  // below register what answers each type.
  const router = new MessageRouter();
  const panel = new ReportPanel(context.extensionUri, store, router, log);
  const lens = new ExitHeadLens(context.extensionUri, store, log);
  const sidebar = new SidebarView(
    context.extensionUri,
    store,
    (doc) => lens.countExitHeads(doc),
    router,
    log,
    (doc, line) => lens.modelAt(doc, line),
  );
  const onnxEditor = new OnnxEditorProvider(context.extensionUri, store, router, log);
  context.subscriptions.push(panel, sidebar, lens);
  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider(ONNX_EDITOR_VIEW_TYPE, onnxEditor, {
      supportsMultipleEditorsPerDocument: true,
    }),
    vscode.languages.registerCodeLensProvider({ language: 'python' }, lens),
  );
  const deps = { context, store, profiler, panel, sidebar, router, log };
  profileCommands.register(deps);
  reportCommands.register(deps);
  recordsCommands.register({ ...deps, engine });
  registerGpuCommands(deps);
  exampleCommands.register(deps);
  context.subscriptions.push(vscode.commands.registerCommand('exitLens.showLog', () => log.show()));

  profiler.onDidFinish(() => lens.refresh());
  profiler.onDidChangeBusy((b) => {
    sidebar.setRunning(b.running);
    panel.send({ type: 'busy', running: b.running, message: b.message });
  });
  context.subscriptions.push(
    // Trusting the workspace brings the Profile buttons back.
    vscode.workspace.onDidGrantWorkspaceTrust(() => sidebar.refresh()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('exitLens.runsFolder') || e.affectsConfiguration('exitLens.runsToKeep'))
        store.notifyChanged();
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
