/**
 * Exit Lens in Restricted Mode (an untrusted workspace, as a repository just cloned opens):
 * nothing is profiled or analysed, no engine process starts and ONNX Runtime is loaded by no
 * process, whatever the command, the sidebar or the model viewer asks; the model viewer still
 * shows the model (decoded without native code). The workspace also carries settings and files
 * that try to point Exit Lens at a workspace engine, Node or ONNX Runtime library; none is used.
 * Needs `npm run e2e:install` once and `npm run package` before each run.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, THEMES, VSIX, Workbench, retry } from './harness';
import { engineProcesses, hostileWorkspace, hostileMarkers, processesMapping } from './processes';

const EXAMPLE = path.join(ROOT, 'examples', 'sdn-digits');

describe('Exit Lens in Restricted Mode', () => {
  let workspace = '';
  let runsDir = '';
  let wb: Workbench;

  before(async () => {
    if (!fs.existsSync(VSIX)) throw new Error(`${path.relative(ROOT, VSIX)} is missing: run npm run package first`);
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-e2e-untrusted-'));
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exit-lens-e2e-untrusted-runs-'));
    for (const f of ['model.onnx', 'model.py', 'test.npz', 'calib.npz', 'test_logits.npz'])
      fs.copyFileSync(path.join(EXAMPLE, f), path.join(workspace, f));
    hostileWorkspace(workspace, {
      models: [{ model: 'model.onnx', samples: 'test.npz', calib: 'calib.npz', sources: ['model.py'] }],
    });
    wb = await Workbench.launch({
      name: 'untrusted',
      workspace,
      vsix: VSIX,
      theme: THEMES.dark,
      // Trust checks on, and no start-up question: the folder opens in Restricted Mode.
      workspaceTrust: true,
      settings: {
        'security.workspace.trust.startupPrompt': 'never',
        'exitLens.runsFolder': runsDir,
        'exitLens.executionProviders': ['cpu'],
      },
    });
  });

  after(async () => {
    await wb?.stop();
    if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
    if (runsDir) fs.rmSync(runsDir, { recursive: true, force: true });
  });

  test('the window is in Restricted Mode', async () => {
    await wb.page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 60_000 });
  });

  test('the model viewer shows the model without a Profile button', async () => {
    await wb.openFile('model.onnx');
    const viewer = await wb.webviewFrame({ title: 'model.onnx' }, 90_000);
    await viewer.locator('h1').waitFor({ timeout: 60_000 });
    // The example's four exits are listed (decoded with the extension's own protobuf reader).
    await retry('see the exits in the viewer', 30_000, async () => {
      const text = await viewer.locator('body').innerText();
      for (const name of ['exit_0', 'exit_1', 'exit_2', 'exit_3'])
        if (!text.includes(name)) throw new Error(`no ${name} in ${text.slice(0, 300)}`);
    });
    assert.equal(
      await viewer.locator('vscode-button, button', { hasText: /Profile/ }).count(),
      0,
      'no Profile button in Restricted Mode',
    );
    // Nor in the editor title (where a trusted workspace shows one for .onnx files).
    assert.equal(
      await wb.page.locator('.editor-actions .action-label[aria-label*="Profile Model Exits"]').count(),
      0,
      'no Profile action in the editor title',
    );
  });

  test('Profile, Profile with Another Sample Set and Analyze Exit Logits are refused with the reason', async () => {
    for (const command of [
      'Exit Lens: Profile Model Exits',
      'Exit Lens: Profile Model Exits with Another Sample Set…',
      'Exit Lens: Analyze Exit Logits File',
    ]) {
      await wb.runCommand('Notifications: Clear All Notifications');
      await wb.openFile('model.onnx');
      await wb.runCommand(command);
      const text = await wb.waitForNotification(/does not profile in Restricted Mode/, 30_000);
      assert.match(text, /loading a model runs native code\. Trust the workspace to profile/);
      // No picker was opened before the refusal.
      assert.equal(await wb.page.locator('.quick-input-widget').isVisible(), false, `${command} opened a picker`);
    }
  });

  test('the sidebar says why instead of offering to profile', async () => {
    await wb.openFile('model.onnx');
    await wb.openActivity('Exit Lens');
    await retry('see the Restricted Mode note in the sidebar', 60_000, async () => {
      for (let index = 0; index < 3; index++) {
        const frame = await wb.webviewFrame({ title: 'Exit Lens', index }, 5_000).catch(() => null);
        if (!frame) continue;
        const text = await frame
          .locator('body')
          .innerText()
          .catch(() => '');
        if (/Restricted Mode: profiling is off in an untrusted workspace/.test(text)) {
          assert.equal(await frame.locator('vscode-button, button', { hasText: /Profile/ }).count(), 0);
          await wb.screenshot('sidebar-restricted-dark');
          return;
        }
      }
      throw new Error('no sidebar webview with the note yet');
    });
  });

  test('the Restricted Mode sidebar in a light and a high-contrast theme', async () => {
    for (const [theme, shot] of [
      [THEMES.light, 'sidebar-restricted-light'],
      [THEMES.highContrast, 'sidebar-restricted-hc'],
    ] as const) {
      await wb.setTheme(theme);
      await retry(`see the Restricted Mode note in the ${theme} sidebar`, 60_000, async () => {
        for (let index = 0; index < 3; index++) {
          const frame = await wb.webviewFrame({ title: 'Exit Lens', index }, 5_000).catch(() => null);
          if (!frame) continue;
          if (
            /Restricted Mode: profiling is off/.test(
              await frame
                .locator('body')
                .innerText()
                .catch(() => ''),
            )
          ) {
            await wb.screenshot(shot);
            return;
          }
        }
        throw new Error('no sidebar webview with the note');
      });
    }
  });

  test('no engine process started, no process loaded ONNX Runtime, nothing was stored, no workspace file ran', () => {
    assert.deepEqual(engineProcesses(wb.extensionsDir), [], 'no engine process');
    assert.deepEqual(
      processesMapping(wb.extensionsDir, 'onnxruntime'),
      [],
      "no process has the extension's ONNX Runtime loaded",
    );
    assert.deepEqual(processesMapping(workspace, ''), [], 'no process has a workspace file mapped');
    assert.deepEqual(fs.readdirSync(runsDir), [], 'nothing stored');
    assert.deepEqual(hostileMarkers(workspace), [], 'no workspace file was run');
  });
});
