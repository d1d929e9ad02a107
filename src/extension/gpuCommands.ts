import { fork } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { cudaStatus, engineEnvironment } from '../gpu/cuda';
import { installCudaProvider } from '../gpu/cudaInstall';
import { CudaSetupError, cudaPackageSupport, officialPackage, providerTargetDir } from '../gpu/cudaPackage';
import { DoctorReport, doctorMarkdown, firstUsable, providerLabel } from '../gpu/doctorText';
import { checkWebGpu } from '../gpu/webgpu';
import { DEFAULT_PROVIDERS } from '../shared/defaults';
import { profileSettings } from './settings';

/**
 * The GPU commands: Choose Execution Provider, Check GPU Setup (the doctor, run in a child
 * process with the engine's environment, so it sees what a profile would) and Set Up GPU (CUDA)
 * (ONNX Runtime's CUDA provider for the bundled version, downloaded or from a package file).
 */
export interface GpuDeps {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
}

const DOCTOR_TIMEOUT_MS = 120_000;
/** The GPU check's result, as a read-only Markdown document. */
const CHECK_URI = vscode.Uri.from({ scheme: 'exit-lens-gpu-check', path: '/GPU setup.md' });

/** Runs `cli.js doctor --json -` in a child process with the engine's environment. */
function runDoctorProcess(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<DoctorReport> {
  const settings = profileSettings();
  const change = engineEnvironment([...DEFAULT_PROVIDERS], settings.gpuPrecision);
  const env: NodeJS.ProcessEnv = { ...process.env, ...change.set, ELECTRON_RUN_AS_NODE: '1' };
  for (const k of change.unset) delete env[k];
  const cli = path.join(context.extensionPath, 'dist', 'cli.js');
  return new Promise((resolve, reject) => {
    const child = fork(cli, ['doctor', '--json', '-', '--gpu-precision', settings.gpuPrecision], {
      execPath: process.execPath,
      execArgv: [],
      cwd: context.extensionPath,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (out.length < 4 << 20) out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8192);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), DOCTOR_TIMEOUT_MS);
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (err.trim()) log.info(`GPU check (stderr): ${err.trim()}`);
      try {
        resolve(JSON.parse(out) as DoctorReport);
      } catch {
        reject(
          new Error(
            `The GPU check ${signal ? `was ended by ${signal}` : `exited with code ${code}`} without a result (a crash in a GPU driver or ONNX Runtime). ${err.trim().split('\n').slice(-3).join(' ')}`,
          ),
        );
      }
    });
  });
}

export function registerGpuCommands(deps: GpuDeps): void {
  const { context, log } = deps;
  let latestCheck = '';
  const changed = new vscode.EventEmitter<vscode.Uri>();
  context.subscriptions.push(
    changed,
    vscode.workspace.registerTextDocumentContentProvider(CHECK_URI.scheme, {
      onDidChange: changed.event,
      provideTextDocumentContent: () => latestCheck,
    }),
  );

  async function checkGpu(): Promise<DoctorReport | undefined> {
    let report: DoctorReport;
    try {
      report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Exit Lens: checking each execution provider…' },
        () => runDoctorProcess(context, log),
      );
    } catch (err) {
      log.error(`GPU check failed: ${(err as Error).message}`);
      void vscode.window
        .showErrorMessage(`Exit Lens: ${(err as Error).message}`, 'Show Log')
        .then((a) => a && log.show());
      return undefined;
    }
    for (const e of report.entries)
      log.info(`GPU check: ${e.provider} ${e.usable ? 'usable' : `not usable: ${e.reason} ${e.nextStep ?? ''}`}`);
    // A read-only document (no unsaved Untitled tab left behind), shown rendered.
    latestCheck = doctorMarkdown(report);
    changed.fire(CHECK_URI);
    try {
      await vscode.commands.executeCommand('markdown.showPreview', CHECK_URI);
    } catch {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(CHECK_URI), { preview: true });
    }
    const use = firstUsable(report);
    const cuda = report.entries.find((e) => e.provider === 'cuda');
    const actions =
      cuda && !cuda.usable && !report.cuda.installed && cudaPackageSupport().supported ? ['Set Up GPU (CUDA)'] : [];
    void vscode.window
      .showInformationMessage(`Exit Lens: profiles run on ${use ? providerLabel(use) : 'no provider'}.`, ...actions)
      .then((a) => a && vscode.commands.executeCommand('exitLens.setupCuda'));
    return report;
  }

  async function setupCuda(): Promise<void> {
    const support = cudaPackageSupport();
    const dir = providerTargetDir();
    if (!support.supported || !dir) {
      void vscode.window.showWarningMessage(
        `Exit Lens: ${support.supported ? "onnxruntime-node's binary folder was not found." : support.reason} WebGPU or the CPU still work.`,
      );
      return;
    }
    const pkg = officialPackage();
    const choice = await vscode.window.showQuickPick(
      [
        {
          label: '$(cloud-download) Download from NuGet',
          description: `${pkg.id} ${pkg.version}, checked against the feed's size and hash`,
          value: 'download' as const,
        },
        {
          label: '$(file-zip) Install from a Package File…',
          description: 'a .nupkg downloaded on another machine',
          value: 'file' as const,
        },
      ],
      { title: `Exit Lens: install ONNX Runtime ${pkg.version}'s CUDA provider into the extension` },
    );
    if (!choice) return;
    let source: { kind: 'download' } | { kind: 'file'; path: string } = { kind: 'download' };
    if (choice.value === 'file') {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        filters: { 'NuGet package': ['nupkg'] },
        title: `Choose ${pkg.id}.${pkg.version}.nupkg`,
      });
      if (!picked?.[0]) return;
      source = { kind: 'file', path: picked[0].fsPath };
    }
    try {
      const result = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: 'Exit Lens: installing the CUDA provider',
          cancellable: true,
        },
        (progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          let shown = 0;
          return installCudaProvider({
            source,
            targetDir: dir,
            signal: controller.signal,
            onProgress: (p) => {
              const mb = (n: number) => (n / 2 ** 20).toFixed(0);
              const pct = p.total ? (100 * p.received) / p.total : 0;
              progress.report({
                message: `${p.phase} ${mb(p.received)}${p.total ? ` / ${mb(p.total)} MB` : ' MB'}`,
                increment: p.phase === 'download' ? Math.max(0, pct - shown) : undefined,
              });
              if (p.phase === 'download') shown = Math.max(shown, pct);
            },
          });
        },
      );
      log.info(
        `CUDA provider ${result.status}: ${result.files.map((f) => `${f.name} ${f.sha256}`).join(', ')} in ${result.targetDir}.`,
      );
      const status = cudaStatus();
      const next =
        status.usable === false
          ? ` It cannot run yet: ${status.reason} ${status.nextStep ?? ''}`
          : ' Its CUDA libraries were found.';
      const choiceAfter = await vscode.window.showInformationMessage(
        `Exit Lens: the CUDA provider for ONNX Runtime ${result.version} is ${result.status === 'already-installed' ? 'already installed' : 'installed'}.${next}`,
        'Check GPU Setup',
      );
      if (choiceAfter) await checkGpu();
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'cancelled') {
        void vscode.window.showInformationMessage('Exit Lens: GPU setup cancelled; nothing was installed.');
        return;
      }
      log.error(`CUDA setup failed: ${e.message}`);
      const hint = (err as { hint?: string }).hint;
      const offline = err instanceof CudaSetupError && (err.problem === 'offline' || err.problem === 'feed');
      const actions = offline ? ['Install from a Package File…', 'Copy Download URL'] : ['Show Log'];
      const a = await vscode.window.showErrorMessage(`Exit Lens: ${e.message}${hint ? ` ${hint}` : ''}`, ...actions);
      if (a === 'Copy Download URL') await vscode.env.clipboard.writeText(pkg.url);
      else if (a === 'Install from a Package File…') await setupCuda();
      else if (a === 'Show Log') log.show();
    }
  }

  async function chooseExecutionProvider(): Promise<void> {
    const config = vscode.workspace.getConfiguration('exitLens');
    const current = profileSettings().executionProviders;
    const cuda = cudaStatus();
    const webgpu = checkWebGpu();
    const say = (s: { usable: false | null; reason: string | null }) =>
      s.usable === false ? `not usable here: ${s.reason}` : 'may run here';
    const items = [
      {
        label: 'Default: CUDA, then WebGPU, then CPU',
        description: 'the first that runs; a CPU run is no warning',
        value: undefined,
      },
      { label: 'CUDA, then CPU', description: 'NVIDIA GPUs', detail: say(cuda), value: ['cuda', 'cpu'] },
      {
        label: 'WebGPU, then CPU',
        description: 'any GPU (Vulkan, Direct3D 12, Metal)',
        detail: say(webgpu),
        value: ['webgpu', 'cpu'],
      },
      { label: 'CPU only', description: 'all cores', value: ['cpu'] },
      { label: 'CUDA only', description: 'fail instead of falling back', value: ['cuda'] },
      { label: 'WebGPU only', description: 'fail instead of falling back', value: ['webgpu'] },
      {
        label: '$(pulse) Check GPU Setup…',
        description: 'what each provider lacks on this machine',
        value: 'check' as const,
      },
      {
        label: '$(cloud-download) Set Up GPU (CUDA)…',
        description: "install ONNX Runtime's CUDA provider",
        value: 'setup' as const,
      },
    ].map((i) => ({ ...i, picked: JSON.stringify(i.value) === JSON.stringify(current) }));
    const chosen = await vscode.window.showQuickPick(items, {
      title: `Exit Lens: execution providers (now ${current ? current.join(', ') : 'the default order'})`,
    });
    if (!chosen) return;
    if (chosen.value === 'check') return void (await checkGpu());
    if (chosen.value === 'setup') return setupCuda();
    await config.update('executionProviders', chosen.value, vscode.ConfigurationTarget.Global);
  }

  const reg = (id: string, fn: () => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg('exitLens.checkGpu', () => checkGpu());
  reg('exitLens.setupCuda', () => setupCuda());
  reg('exitLens.chooseExecutionProvider', () => chooseExecutionProvider());
}
