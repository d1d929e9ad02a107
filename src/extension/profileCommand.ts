import * as path from 'node:path';
import * as vscode from 'vscode';
import { markdownSummary } from '../core/summary';
import { EngineClient } from './engineClient';

async function pickFile(glob: string, title: string, preferred?: vscode.Uri): Promise<vscode.Uri | undefined> {
  if (preferred) return preferred;
  const files = await vscode.workspace.findFiles(glob, '**/node_modules/**', 200);
  if (files.length === 0) {
    const chosen = await vscode.window.showOpenDialog({ title, canSelectMany: false });
    return chosen?.[0];
  }
  const item = await vscode.window.showQuickPick(
    files.map((f) => ({ label: path.basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })),
    { title, matchOnDescription: true },
  );
  return item?.uri;
}

/** Profile Model Exits: model, sample set, a progress notification with Cancel, the Markdown report. */
export function registerProfileCommand(context: vscode.ExtensionContext, engine: EngineClient, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('exitLens.profile', async (resource?: vscode.Uri) => {
      if (!vscode.workspace.isTrusted) {
        void vscode.window.showWarningMessage('Exit Lens does not profile models in Restricted Mode: loading a model runs native code. Trust the workspace to profile.');
        return;
      }
      const active = vscode.window.activeTextEditor?.document.uri;
      const modelHint = resource?.fsPath.endsWith('.onnx') ? resource : active?.fsPath.endsWith('.onnx') ? active : undefined;
      const model = await pickFile('**/*.onnx', 'Exit Lens: model to profile', modelHint);
      if (!model) return;
      const samples = await pickFile('**/*.{npz,npy}', 'Exit Lens: sample set');
      if (!samples) return;
      const config = vscode.workspace.getConfiguration('exitLens');
      try {
        const report = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Exit Lens: profiling ${path.basename(model.fsPath)}`, cancellable: true },
          (progress, token) => {
            let last = 0;
            return engine.run(
              {
                type: 'profile',
                modelPath: model.fsPath,
                samplesPath: samples.fsPath,
                executionProviders: config.get<string[]>('executionProviders'),
                batchSize: config.get<number>('batchSize'),
                maxAccuracyDrop: config.get<number>('maxAccuracyDrop'),
              },
              (e) => {
                if (e.type === 'progress' && e.total > 0) {
                  const pct = (100 * e.done) / e.total;
                  const rate = e.samplesPerSecond ? `, ${e.samplesPerSecond.toFixed(0)} samples/s` : '';
                  const eta = e.etaSeconds !== null && e.phase === 'inference' ? `, ETA ${Math.ceil(e.etaSeconds)} s` : '';
                  progress.report({ message: `${e.phase} ${e.done}/${e.total}${rate}${eta}`, increment: e.phase === 'inference' ? pct - last : undefined });
                  if (e.phase === 'inference') last = pct;
                } else if (e.type === 'provider') {
                  log.info(`Execution provider: ${e.info.used}`);
                }
              },
              token,
            );
          },
        );
        const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: markdownSummary(report) });
        await vscode.window.showTextDocument(doc, { preview: true });
      } catch (err) {
        const message = (err as Error).message;
        log.error(message);
        void vscode.window.showErrorMessage(`Exit Lens: ${message}`, 'Show Log').then((a) => a && log.show());
      }
    }),
  );
}
