import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CLI_OPTIONS } from './options';
import { ExitLensError } from '../core/errors';
import { planOutputs, writeOutputs } from '../core/io/outputFiles';
import { runDoctor } from '../engine/doctor';
import { parseGpuPrecision } from '../engine/providers';
import { cudaStatus, engineEnvironment, withEnvironment } from '../gpu/cuda';
import { installCudaProvider } from '../gpu/cudaInstall';
import { cudaPackageSupport, officialPackage, providerTargetDir } from '../gpu/cudaPackage';
import { doctorText } from '../gpu/doctorText';
import { DEFAULT_PROVIDERS, GpuPrecision } from '../shared/defaults';

/**
 * The CLI's GPU plumbing. The dynamic loader reads LD_LIBRARY_PATH once, when a process starts,
 * so CUDA libraries found outside its search (PyTorch's pip wheels, /usr/local/cuda-*) can only be
 * reached by a process started with them on the path: the CLI re-executes itself once with that
 * environment (EXIT_LENS_GPU_ENV marks the second start, so it never loops).
 */
const REEXEC_MARK = 'EXIT_LENS_GPU_ENV';

/** The environment change a command line needs for CUDA (none for commands that run no model). */
export function cliEnvironmentChange(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  // The CLI's own parser, so that options before the command and --x=v forms read as they do there.
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: CLI_OPTIONS, allowPositionals: true, strict: false });
  } catch {
    return null;
  }
  const command = parsed.positionals[0];
  if (command !== 'profile' && command !== 'doctor') return null;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const ep = str(parsed.values.ep);
  const providers = ep ? ep.split(',').map((s) => s.trim().toLowerCase()) : [...DEFAULT_PROVIDERS];
  if (command === 'doctor') providers.push('cuda');
  const precision = (
    str(parsed.values['gpu-precision'])?.trim().toLowerCase() === 'tf32' ? 'tf32' : 'fp32'
  ) as GpuPrecision;
  return engineEnvironment(providers, precision, { env });
}

/**
 * Re-executes the CLI with LD_LIBRARY_PATH extended when CUDA's libraries need it; resolves to
 * the child's exit code, or null when this process should go on itself.
 */
export function reexecForGpu(argv: string[]): Promise<number> | null {
  if (process.env[REEXEC_MARK] || process.platform !== 'linux') return null;
  let change;
  try {
    change = cliEnvironmentChange(argv);
  } catch {
    return null;
  }
  if (!change?.set.LD_LIBRARY_PATH) return null;
  const env = withEnvironment(process.env, change);
  env[REEXEC_MARK] = '1';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], { stdio: 'inherit', env });
    // A terminal's Ctrl-C reaches both processes; the child handles it (exit 130), this one waits.
    const forward = (sig: NodeJS.Signals) => () => {
      if (!child.killed) child.kill(sig);
    };
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('error', () => resolve(-1));
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 3));
    });
  });
}

interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** `exit-lens doctor`: each provider, usable or not, the exact reason and the next step. */
export async function doctorCommand(
  v: { json?: string; 'gpu-precision'?: string },
  io: CliIo,
  target?: string,
): Promise<number> {
  if (target)
    throw new ExitLensError(
      'bad-argument',
      `doctor takes no path (got "${target}").`,
      'Run exit-lens doctor, or exit-lens doctor --json -.',
    );
  const report = await runDoctor({ gpuPrecision: parseGpuPrecision(v['gpu-precision']) });
  if (v.json === '-') io.out(`${JSON.stringify(report, null, 1)}\n`);
  else {
    io.out(doctorText(report));
    if (v.json !== undefined) {
      // The same checks and all-or-nothing write as a report's (an empty path, a folder, a device).
      const [target] = planOutputs([{ label: '--json', file: v.json }], []);
      await writeOutputs([{ target, content: () => `${JSON.stringify(report, null, 1)}\n` }]);
      io.err(`Wrote ${v.json}\n`);
    }
  }
  return 0;
}

/**
 * `exit-lens setup-cuda [--from <package.nupkg>]`: installs ONNX Runtime's CUDA provider matching
 * the bundled onnxruntime-node, from its official feed or from a package file downloaded elsewhere.
 */
export async function setupCudaCommand(
  v: { from?: string; force?: boolean },
  io: CliIo & { isTTY?: boolean },
  target: string | undefined,
  signal?: AbortSignal,
): Promise<number> {
  if (target)
    throw new ExitLensError(
      'bad-argument',
      `setup-cuda takes no path (got "${target}").`,
      'To install from a file: exit-lens setup-cuda --from <package.nupkg>.',
    );
  const support = cudaPackageSupport();
  if (!support.supported)
    throw new ExitLensError('gpu-setup', support.reason, 'Use WebGPU (--ep webgpu,cpu) or the CPU.');
  const dir = providerTargetDir();
  if (!dir)
    throw new ExitLensError(
      'gpu-setup',
      "onnxruntime-node's binary folder was not found.",
      'Reinstall Exit Lens (npm ci, or the extension).',
    );
  const source =
    v.from !== undefined
      ? { kind: 'file' as const, path: path.resolve(v.from) }
      : { kind: 'download' as const, feedBase: process.env.EXIT_LENS_NUGET_FEED || undefined };
  if (source.kind === 'download') io.err(`Downloading ${officialPackage().url}\n`);
  let lastShown = 0;
  const result = await installCudaProvider({
    source,
    targetDir: dir,
    signal,
    force: v.force === true,
    onProgress: (p) => {
      const now = Date.now();
      if (p.phase !== 'download' || now - lastShown < 500) return;
      lastShown = now;
      const mb = (n: number) => (n / 2 ** 20).toFixed(0);
      io.err(`  ${mb(p.received)}${p.total ? ` / ${mb(p.total)}` : ''} MB\n`);
    },
  });
  io.out(
    result.status === 'already-installed'
      ? `The CUDA provider for ONNX Runtime ${result.version} is already installed in ${result.targetDir}, from the ` +
          'same package, intact (--force installs it again).\n'
      : `Installed the CUDA provider for ONNX Runtime ${result.version} in ${result.targetDir}: ${result.files.map((f) => f.name).join(', ')}.\n`,
  );
  const status = cudaStatus();
  io.out(
    status.usable === false
      ? `It cannot run yet: ${status.reason}\n${status.nextStep ?? ''}\n`
      : 'Its CUDA libraries were found. Run "exit-lens doctor" to check that it runs on the GPU.\n',
  );
  return 0;
}
