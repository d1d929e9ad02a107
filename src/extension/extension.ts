import * as vscode from 'vscode';
import { EngineClient } from './engineClient';
import { registerProfileCommand } from './profileCommand';

/**
 * The VS Code glue only: commands and their wiring. No analysis happens here; ONNX Runtime
 * is loaded by the engine child process when the first profile starts, never on activation.
 */
export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Exit Lens', { log: true });
  const engine = new EngineClient(context.extensionUri, output);
  context.subscriptions.push(output, engine);
  registerProfileCommand(context, engine, output);
  context.subscriptions.push(vscode.commands.registerCommand('exitLens.showLog', () => output.show()));
}

export function deactivate(): void {
  // Disposables registered on the context stop the engine process.
}
