import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

/**
 * Open the Example (the getting-started walkthrough's first step): copies the bundled example
 * (a small early-exit CNN on the 8x8 digits: model.onnx, its PyTorch code model.py and two
 * sample sets) into the workspace, or into a new folder that then opens, and opens model.py.
 */
export interface ExampleDeps {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
}

/** The files of examples/sdn-digits that ship in the extension. */
export const EXAMPLE_FILES = ['model.onnx', 'model.py', 'test.npz', 'calib.npz'];

/** The example's own `.vscode/exit-lens.json`: the model, its sample sets and its code. */
const EXAMPLE_CONFIG = {
  models: [{ model: 'model.onnx', samples: 'test.npz', calib: 'calib.npz', sources: ['model.py'] }],
};

/** A file to open once the window has reopened on the folder the example was copied into. */
const PENDING_OPEN = 'exitLens.openAfterExample';

/** A folder name in `parent` not taken yet: sdn-digits-example, sdn-digits-example-2 … */
function freeFolder(parent: string): string {
  for (let n = 1; ; n++) {
    const candidate = path.join(parent, n === 1 ? 'sdn-digits-example' : `sdn-digits-example-${n}`);
    if (!fs.existsSync(candidate)) return candidate;
  }
}

function copyExample(from: string, parent: string, withConfig: boolean): string {
  const dest = freeFolder(parent);
  fs.mkdirSync(dest, { recursive: true });
  for (const file of EXAMPLE_FILES) fs.copyFileSync(path.join(from, file), path.join(dest, file));
  if (withConfig) {
    fs.mkdirSync(path.join(dest, '.vscode'));
    fs.writeFileSync(path.join(dest, '.vscode', 'exit-lens.json'), `${JSON.stringify(EXAMPLE_CONFIG, null, 2)}\n`);
  }
  return dest;
}

export function register(deps: ExampleDeps): void {
  const { context, log } = deps;
  const source = vscode.Uri.joinPath(context.extensionUri, 'examples', 'sdn-digits').fsPath;

  async function openExample(): Promise<void> {
    if (!EXAMPLE_FILES.every((f) => fs.existsSync(path.join(source, f)))) {
      void vscode.window.showErrorMessage(`Exit Lens: the bundled example is missing from ${source}.`);
      return;
    }
    const workspace = vscode.workspace.workspaceFolders?.[0];
    type Item = vscode.QuickPickItem & { into: 'workspace' | 'folder' };
    const items: Item[] = [
      ...(workspace
        ? [
            {
              label: 'Into this workspace',
              description: `a new folder in ${workspace.name}`,
              into: 'workspace' as const,
            },
          ]
        : []),
      { label: 'Into a new folder…', description: 'then open that folder', into: 'folder' },
    ];
    const choice =
      items.length === 1
        ? items[0]
        : await vscode.window.showQuickPick(items, { title: 'Exit Lens: copy the example', ignoreFocusOut: true });
    if (!choice) return;
    let parent: string;
    if (choice.into === 'workspace' && workspace) parent = workspace.uri.fsPath;
    else {
      const picked = await vscode.window.showOpenDialog({
        title: 'Exit Lens: folder to copy the example into',
        canSelectFiles: false,
        canSelectFolders: true,
        canSelectMany: false,
        openLabel: 'Copy the Example Here',
      });
      if (!picked?.[0]) return;
      parent = picked[0].fsPath;
    }
    let dest: string;
    try {
      // In a new folder the example is its own workspace, and its .vscode/exit-lens.json ties the
      // model to its sample sets and code; in this workspace the sample-set picker lists them first.
      dest = copyExample(source, parent, choice.into === 'folder');
    } catch (err) {
      void vscode.window.showErrorMessage(`Exit Lens: could not copy the example: ${(err as Error).message}`);
      return;
    }
    log.info(`Example copied into ${dest}.`);
    const modelCode = vscode.Uri.file(path.join(dest, 'model.py'));
    if (choice.into === 'workspace') {
      await vscode.window.showTextDocument(modelCode);
      return;
    }
    await context.globalState.update(PENDING_OPEN, modelCode.fsPath);
    await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(dest), {
      forceNewWindow: !!workspace,
    });
  }

  context.subscriptions.push(vscode.commands.registerCommand('exitLens.openExample', () => openExample()));

  // The window opened on a folder the example was just copied into: show its model code.
  const pending = context.globalState.get<string>(PENDING_OPEN);
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (pending && folders.some((f) => path.dirname(pending) === f.uri.fsPath)) {
    void context.globalState.update(PENDING_OPEN, undefined);
    if (fs.existsSync(pending)) void vscode.window.showTextDocument(vscode.Uri.file(pending));
  }
}
