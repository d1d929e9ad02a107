// Smoke test in a real VS Code (code-server + Chromium): the packaged VSIX installs, the
// extension activates on its command, and the workbench renders in a dark and a light theme.
// Needs `npm run e2e:install` once and `npm run package` before each run.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, THEMES, VSIX, Workbench } from './harness';

describe('smoke: the packaged extension in code-server', () => {
  let workspace = '';
  let workbench: Workbench | undefined;

  before(async () => {
    if (!fs.existsSync(VSIX)) {
      throw new Error(`${path.relative(ROOT, VSIX)} is missing: run npm run package first`);
    }
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-e2e-ws-'));
    fs.cpSync(path.join(ROOT, 'examples', 'sdn-digits'), workspace, { recursive: true });
    // A Markdown file, to check the harness against a built-in webview (the Markdown preview).
    fs.writeFileSync(path.join(workspace, 'NOTES.md'), '# Notes on the example\n\nA digits SDN with four exits.\n');
    workbench = await Workbench.launch({ name: 'smoke', workspace, vsix: VSIX, theme: THEMES.dark });
  });

  after(async () => {
    await workbench?.stop();
    if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
  });

  test('the VSIX is installed into the extensions folder', () => {
    const installed = fs.readdirSync(workbench!.extensionsDir).filter((d) => d.startsWith('exit-lens.exit-lens-'));
    assert.equal(
      installed.length,
      1,
      `extensions folder holds: ${fs.readdirSync(workbench!.extensionsDir).join(', ')}`,
    );
    const dir = path.join(workbench!.extensionsDir, installed[0]);
    for (const file of [
      'dist/extension.js',
      'dist/engine.js',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    ]) {
      assert.ok(fs.existsSync(path.join(dir, file)), `${file} is missing from the installed extension`);
    }
  });

  test('"Exit Lens: Show Log" activates the extension and shows its output channel', async () => {
    await workbench!.runCommand('Exit Lens: Show Log');
    // The Output view opens on the channel the extension created in activate().
    const deadline = Date.now() + 30_000;
    let channel: string | null = null;
    while (Date.now() < deadline && channel !== 'Exit Lens') {
      channel = await workbench!.activeOutputChannel();
      if (channel !== 'Exit Lens') await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(channel, 'Exit Lens', 'the Output view should show the "Exit Lens" channel');
    assert.deepEqual(
      (await workbench!.notifications()).filter((t) => /error|failed/i.test(t)),
      [],
      'no error notifications after activation',
    );
  });

  test('the workbench renders in a dark theme', async () => {
    await workbench!.waitForTheme(THEMES.dark);
    await workbench!.page
      .locator('.explorer-folders-view .monaco-list-row', { hasText: 'model.onnx' })
      .waitFor({ timeout: 30_000 });
    const file = await workbench!.screenshot('smoke-dark');
    assert.ok(fs.statSync(file).size > 10_000, `${file} looks empty`);
  });

  test('the harness reaches a webview by its tab title (built-in Markdown preview)', async () => {
    await workbench!.openFile('NOTES.md');
    await workbench!.runCommand('Markdown: Open Preview to the Side');
    const preview = await workbench!.webviewFrame('Preview NOTES.md');
    assert.equal(await preview.locator('h1').innerText({ timeout: 30_000 }), 'Notes on the example');
    assert.equal(await (await workbench!.webviewFrame(0)).locator('h1').innerText(), 'Notes on the example');
  });

  test('the workbench renders in a light theme', async () => {
    await workbench!.setTheme(THEMES.light);
    const file = await workbench!.screenshot('smoke-light');
    assert.ok(fs.statSync(file).size > 10_000, `${file} looks empty`);
  });
});
