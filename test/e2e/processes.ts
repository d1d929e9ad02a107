// What runs on the machine during an end-to-end test, read from /proc: the engine processes of
// one installed extension, which processes have a file mapped (a loaded native library), each
// process's command line and working directory. And a workspace that tries to make Exit Lens run
// or load its own files (settings and .vscode/exit-lens.json naming a workspace engine, Node and
// ONNX Runtime library; a node_modules/onnxruntime-node of its own); each of those files leaves a
// marker in <workspace>/.markers when it is run or loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';

function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** The process's arguments, or null once it has gone. */
export function processArgs(pid: number): string[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

export function processCwd(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/** Whether a process with this id exists and is not a zombie. */
export function processRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Engine processes of the extension installed under `extensionsDir` (running dist/engine.js from there). */
export function engineProcesses(extensionsDir: string): number[] {
  return pids().filter((pid) => {
    const args = processArgs(pid);
    return (
      !!args &&
      processRunning(pid) &&
      args.some((a) => a.startsWith(extensionsDir) && a.endsWith(path.join('dist', 'engine.js')))
    );
  });
}

/** Processes that have a file under `dir` whose path contains `name` mapped (a native library loaded), with the files. */
export function processesMapping(dir: string, name: string): { pid: number; files: string[] }[] {
  const roots = [dir, fs.realpathSync(dir)];
  const out: { pid: number; files: string[] }[] = [];
  for (const pid of pids()) {
    let maps: string;
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue;
    }
    const files = new Set<string>();
    for (const line of maps.split('\n')) {
      const file = line.slice(line.indexOf('/')).trim();
      if (line.includes('/') && roots.some((r) => file.startsWith(`${r}/`)) && file.includes(name)) files.add(file);
    }
    if (files.size) out.push({ pid, files: [...files] });
  }
  return out;
}

/** The native libraries (.so, .node) a process has loaded whose path contains `name`. */
export function mappedLibraries(pid: number, name: string): string[] {
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  const files = maps
    .split('\n')
    .filter((l) => l.includes('/'))
    .map((l) => l.slice(l.indexOf('/')).trim());
  return [...new Set(files.filter((f) => f.includes(name) && /\.(node|so(\.\d+)*)$/.test(f)))];
}

const MARKERS = '.markers';

/**
 * Adds to `workspace` settings and files that try to make Exit Lens run or load workspace code,
 * and writes `.vscode/exit-lens.json` with `models` (each entry also given engine and library
 * fields). Nothing Exit Lens reads should ever use them.
 */
export function hostileWorkspace(workspace: string, exitLens: { models: Record<string, unknown>[] }): void {
  const evil = path.join(workspace, 'evil');
  fs.mkdirSync(evil, { recursive: true });
  const marker = (name: string) => path.join(workspace, MARKERS, name);
  const leaveMarker = (name: string) =>
    `require('fs').mkdirSync(${JSON.stringify(path.dirname(marker(name)))}, { recursive: true }); require('fs').writeFileSync(${JSON.stringify(marker(name))}, String(process.pid));`;
  fs.writeFileSync(path.join(evil, 'engine.js'), `${leaveMarker('engine.js')}\n`);
  fs.writeFileSync(
    path.join(evil, 'node'),
    `#!/bin/sh\nmkdir -p '${path.dirname(marker('node'))}' && echo $$ > '${marker('node')}'\n`,
    { mode: 0o755 },
  );
  // Not a library at all: loading it would fail, and so would the run.
  fs.writeFileSync(path.join(evil, 'libonnxruntime.so.1'), 'not a shared library\n');
  fs.writeFileSync(path.join(evil, 'libonnxruntime_providers_cuda.so'), 'not a shared library\n');
  const fakeOrt = path.join(workspace, 'node_modules', 'onnxruntime-node');
  fs.mkdirSync(fakeOrt, { recursive: true });
  fs.writeFileSync(
    path.join(fakeOrt, 'package.json'),
    JSON.stringify({ name: 'onnxruntime-node', version: '99.0.0', main: 'index.js' }),
  );
  fs.writeFileSync(
    path.join(fakeOrt, 'index.js'),
    `${leaveMarker('onnxruntime-node')}\nthrow new Error('the workspace onnxruntime-node was loaded');\n`,
  );
  const vscodeDir = path.join(workspace, '.vscode');
  fs.mkdirSync(vscodeDir, { recursive: true });
  fs.writeFileSync(
    path.join(vscodeDir, 'settings.json'),
    JSON.stringify(
      {
        'exitLens.enginePath': '${workspaceFolder}/evil/engine.js',
        'exitLens.nodePath': '${workspaceFolder}/evil/node',
        'exitLens.onnxruntimePath': '${workspaceFolder}/evil/libonnxruntime.so.1',
        'exitLens.ortLibraryPath': './evil/libonnxruntime.so.1',
        'exitLens.providerLibraryPath': './evil/libonnxruntime_providers_cuda.so',
        'exitLens.command': './evil/node',
      },
      null,
      2,
    ),
  );
  const models = exitLens.models.map((m) => ({
    ...m,
    engine: 'evil/engine.js',
    node: 'evil/node',
    onnxruntime: 'evil/libonnxruntime.so.1',
    command: 'evil/node',
  }));
  fs.writeFileSync(
    path.join(vscodeDir, 'exit-lens.json'),
    JSON.stringify({ engine: 'evil/engine.js', onnxruntime: 'evil/libonnxruntime.so.1', models }, null, 2),
  );
}

/** Markers left by workspace files that were run or loaded (none, if nothing was). */
export function hostileMarkers(workspace: string): string[] {
  const dir = path.join(workspace, MARKERS);
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}
