import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import type { Report } from '../core/analysis/analyze';
import { AnalyzeRequest, EngineEvent, MergeRequest, ProfileRequest, isEngineEvent } from '../shared/engineProtocol';

/**
 * Runs the engine in a child process: the editor's own runtime run as Node
 * (process.execPath with ELECTRON_RUN_AS_NODE=1), so a native crash, an out-of-memory or a
 * hang in ONNX Runtime ends that process only.
 *
 * What is run is fixed by the extension, never by a setting or the workspace: the engine script
 * of the extension's own dist/ folder, with the extension's folder as working directory, so
 * ONNX Runtime and its provider libraries resolve from the extension's node_modules.
 *
 * No `vscode` import: the extension passes its log channel and cancellation tokens in, and the
 * tests drive a real engine process with the same class.
 */
export interface EngineLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A vscode.CancellationToken, or anything with the same event. */
export interface CancelSignal {
  onCancellationRequested(listener: () => void): unknown;
}

export interface EngineClientOptions {
  /** Runtime flags for the engine process (e.g. a heap limit); default: those of this process. */
  execArgv?: string[];
  /** How long a cancelled run may take to stop before its engine process is killed; default 10 s. */
  cancelGraceMs?: number;
}

/** Variables the engine process gets on top of (or removed from) the editor's environment. */
export interface EngineEnvironmentChange {
  set: Record<string, string>;
  unset: string[];
}

interface PendingRun {
  child: ChildProcess;
  onEvent: (e: EngineEvent) => void;
  resolve: (r: Report) => void;
  reject: (e: Error) => void;
}

/** Signs in the engine's stderr that it died of memory exhaustion (V8's heap limit, or a failed native allocation). */
const OUT_OF_MEMORY =
  /JavaScript heap out of memory|Reached heap limit|Allocation failed|std::bad_alloc|out of memory/i;
const STDERR_TAIL = 8192;

function environmentKey(c: EngineEnvironmentChange): string {
  return JSON.stringify([Object.entries(c.set).sort(), [...c.unset].sort()]);
}

function engineError(message: string, code: string): Error {
  const err = new Error(message);
  (err as Error & { code?: string }).code = code;
  return err;
}

export class EngineClient {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<string, PendingRun>();
  private nextId = 1;
  private environment: EngineEnvironmentChange = { set: {}, unset: [] };
  private childEnvironmentKey = '';

  /** `script` is the extension's dist/engine.js. */
  constructor(
    private readonly script: string,
    private readonly log: EngineLog,
    private readonly options: EngineClientOptions = {},
  ) {}

  /** The engine process's id while one runs (for the log and the tests). */
  get enginePid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * The environment of the engine process: the CUDA libraries' folders on LD_LIBRARY_PATH and
   * NVIDIA_TF32_OVERRIDE for the GPU precision (src/gpu/cuda.ts). The loader and CUDA read them
   * when the process starts, so an engine started with another environment is ended (between
   * runs) and the next run starts one with this. Returns true when that happened.
   */
  setEnvironment(change: EngineEnvironmentChange): boolean {
    this.environment = { set: { ...change.set }, unset: [...change.unset] };
    const key = environmentKey(this.environment);
    if (this.child && key !== this.childEnvironmentKey && this.pending.size === 0) {
      this.log.info(
        'The engine environment changed (GPU libraries or precision): the engine process restarts for the next run.',
      );
      this.child.kill();
      this.child = null;
      return true;
    }
    return false;
  }

  private ensureChild(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.environment.set, ELECTRON_RUN_AS_NODE: '1' };
    for (const k of this.environment.unset) delete env[k];
    this.childEnvironmentKey = environmentKey(this.environment);
    const child = fork(this.script, [], {
      execPath: process.execPath,
      execArgv: this.options.execArgv ?? process.execArgv,
      // The extension's folder, not the workspace or the editor's: nothing resolves from a folder the workspace controls.
      cwd: path.dirname(path.dirname(this.script)),
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    let stderrTail = '';
    child.stdout?.on('data', (d: Buffer) => this.log.info(d.toString().trimEnd()));
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString();
      stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
      this.log.warn(text.trimEnd());
    });
    // A send to an engine that has just died: its runs are settled by 'close' below.
    child.on('error', (err) => this.log.error(`Engine process: ${err.message}`));
    child.on('message', (m: unknown) => {
      if (!isEngineEvent(m)) {
        this.log.error(`Ignored a malformed message from the engine: ${JSON.stringify(m)?.slice(0, 200)}`);
        return;
      }
      if (m.type === 'log') this.log[m.level === 'warn' ? 'warn' : m.level === 'error' ? 'error' : 'info'](m.message);
      const run = this.pending.get(m.id);
      if (!run || run.child !== child) return;
      run.onEvent(m);
      if (m.type === 'result') {
        this.pending.delete(m.id);
        run.resolve(m.report);
      } else if (m.type === 'error') {
        this.pending.delete(m.id);
        run.reject(engineError(m.hint ? `${m.message}\n${m.hint}` : m.message, m.code));
      }
    });
    child.on('exit', () => {
      if (this.child === child) this.child = null;
    });
    // 'close' comes after the exit and the last of stderr, so the reason can be read from it.
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = null;
      const runs = [...this.pending].filter(([, run]) => run.child === child);
      if (!runs.length) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const oom = OUT_OF_MEMORY.test(stderrTail);
      this.log.error(
        `The engine process (pid ${child.pid}) ${oom ? `ran out of memory and ${how}` : how} during ${runs.map(([id]) => id).join(', ')}.`,
      );
      const message = oom
        ? `The profiling engine ran out of memory and ${how}. Try a smaller batch size or sample set. See "Exit Lens: Show Log"; earlier reports are untouched.`
        : `The profiling engine ${how} (a crash or out-of-memory in ONNX Runtime). See "Exit Lens: Show Log"; earlier reports are untouched.`;
      for (const [id, run] of runs) {
        this.pending.delete(id);
        run.reject(engineError(message, oom ? 'engine-out-of-memory' : 'engine-exited'));
      }
    });
    this.child = child;
    return child;
  }

  run(
    request: Omit<ProfileRequest, 'id'> | Omit<AnalyzeRequest, 'id'> | Omit<MergeRequest, 'id'>,
    onEvent: (e: EngineEvent) => void,
    token?: CancelSignal,
  ): Promise<Report> {
    const id = `run-${this.nextId++}`;
    const child = this.ensureChild();
    return new Promise<Report>((resolve, reject) => {
      this.pending.set(id, { child, onEvent, resolve, reject });
      token?.onCancellationRequested(() => this.cancel(id, child));
      child.send({ ...request, id });
    });
  }

  /**
   * Asks the engine to stop the run (it stops between batches); an engine that has not stopped
   * within the grace period (stuck in a native call) is killed, so a cancelled run never keeps running.
   */
  private cancel(id: string, child: ChildProcess): void {
    if (!this.pending.has(id)) return;
    if (child.connected) child.send({ type: 'cancel', id });
    const grace = this.options.cancelGraceMs ?? 10_000;
    const timer = setTimeout(() => {
      const run = this.pending.get(id);
      if (!run) return;
      this.pending.delete(id);
      this.log.warn(
        `The engine did not stop ${id} within ${grace / 1000} s of the cancel; its process (pid ${child.pid}) is killed.`,
      );
      if (this.child === child) this.child = null;
      child.kill('SIGKILL');
      run.reject(
        engineError(
          `The run was cancelled; the engine did not stop within ${grace / 1000} s and was ended. Nothing was written.`,
          'cancelled',
        ),
      );
    }, grace);
    timer.unref();
  }

  dispose(): void {
    this.child?.kill();
    this.child = null;
  }
}
