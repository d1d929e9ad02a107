import { ChildProcess, fork } from 'node:child_process';
import * as vscode from 'vscode';
import type { Report } from '../core/report';
import { AnalyzeRequest, EngineEvent, ProfileRequest, isEngineEvent } from '../engine/protocol';

/**
 * Runs the engine in a child process: the editor's own runtime run as Node
 * (process.execPath with ELECTRON_RUN_AS_NODE=1), so a native crash, an out-of-memory or a
 * hang in ONNX Runtime ends that process only.
 */
export class EngineClient implements vscode.Disposable {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<string, { onEvent: (e: EngineEvent) => void; resolve: (r: Report) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  constructor(private readonly extensionUri: vscode.Uri, private readonly log: vscode.LogOutputChannel) {}

  private ensureChild(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const script = vscode.Uri.joinPath(this.extensionUri, 'dist', 'engine.js').fsPath;
    const child = fork(script, [], {
      execPath: process.execPath,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    child.stdout?.on('data', (d: Buffer) => this.log.info(d.toString().trimEnd()));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(d.toString().trimEnd()));
    child.on('message', (m: unknown) => {
      if (!isEngineEvent(m)) {
        this.log.error(`Ignored a malformed message from the engine: ${JSON.stringify(m)?.slice(0, 200)}`);
        return;
      }
      const run = this.pending.get(m.id);
      if (m.type === 'log') this.log[m.level === 'warn' ? 'warn' : m.level === 'error' ? 'error' : 'info'](m.message);
      if (!run) return;
      run.onEvent(m);
      if (m.type === 'result') {
        this.pending.delete(m.id);
        run.resolve(m.report);
      } else if (m.type === 'error') {
        this.pending.delete(m.id);
        const err = new Error(m.hint ? `${m.message}\n${m.hint}` : m.message);
        (err as Error & { code?: string }).code = m.code;
        run.reject(err);
      }
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (this.pending.size) this.log.error(`The engine process ${why}.`);
      for (const [, run] of this.pending) {
        const err = new Error(`The profiling engine ${why} (a crash or out-of-memory in ONNX Runtime). See "Exit Lens: Show Log"; earlier reports are untouched.`);
        (err as Error & { code?: string }).code = 'engine-exited';
        run.reject(err);
      }
      this.pending.clear();
    });
    this.child = child;
    return child;
  }

  run(request: Omit<ProfileRequest, 'id'> | Omit<AnalyzeRequest, 'id'>, onEvent: (e: EngineEvent) => void, token?: vscode.CancellationToken): Promise<Report> {
    const id = `run-${this.nextId++}`;
    const child = this.ensureChild();
    return new Promise<Report>((resolve, reject) => {
      this.pending.set(id, { onEvent, resolve, reject });
      token?.onCancellationRequested(() => child.send({ type: 'cancel', id }));
      child.send({ ...request, id });
    });
  }

  dispose(): void {
    this.child?.kill();
    this.child = null;
  }
}
