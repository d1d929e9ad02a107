/**
 * What a workspace can set: no setting names a program, a library or a command, the team file's
 * model entries keep only the fields Exit Lens knows, and an execution provider is a name from a
 * fixed list, never a path. (The end-to-end tests check the whole chain: with such settings and
 * files in the workspace, the engine still runs the extension's own script and ONNX Runtime.)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { KNOWN_PROVIDERS, parseProviders } from '../../src/engine/providers';
import { modelEntries } from '../../src/extension/modelConfig';
import { DEFAULT_GPU_PRECISION, DEFAULT_PROVIDERS, GPU_PRECISIONS } from '../../src/shared/defaults';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const settings = pkg.contributes.configuration.properties as Record<
  string,
  { type: string; scope?: string; description?: string; markdownDescription?: string; items?: { enum?: string[] } }
>;

describe('settings and the team file', () => {
  it('every setting is audited, and none names a program, a library or a command', () => {
    // What a workspace value of each setting can do (checked when the setting was added):
    const audited: Record<string, string> = {
      'exitLens.executionProviders': 'picks providers by name from a fixed list; the engine refuses any other value',
      'exitLens.gpuPrecision': 'fp32 or tf32: sets NVIDIA_TF32_OVERRIDE in the engine, nothing else',
      'exitLens.batchSize': 'a number',
      'exitLens.maxAccuracyDrop': 'a number',
      'exitLens.maxMemory':
        'a size (8G): a run whose estimate is larger is refused; a workspace can only lower or raise that bound',
      'exitLens.runsFolder': 'where run files (JSON) are written and read; nothing there is run',
      'exitLens.runsToKeep': 'a number',
      'exitLens.cost': 'static or measured: whether each exit graph is timed on the run provider',
      'exitLens.risk.epsilon': 'a number in (0, 1)',
      'exitLens.risk.delta': 'a number in (0, 1)',
      'exitLens.risk.loss': 'auto, gap or consistency',
      'exitLens.models': 'model and sample files, run only in a trusted workspace',
    };
    assert.deepEqual(
      Object.keys(settings).sort(),
      Object.keys(audited).sort(),
      'A new setting must be audited here. One that names a program, a library or a command must have "scope": "machine" or "application", so that no workspace can set it.',
    );
    for (const [name, s] of Object.entries(settings)) {
      const text = `${name} ${s.description ?? ''} ${s.markdownDescription ?? ''}`;
      if (
        /executable|program|binary|librar|\.so\b|\.dll|\.dylib|command|interpreter|engine|node ?path|python path/i.test(
          text,
        )
      ) {
        assert.ok(
          s.scope === 'machine' || s.scope === 'application',
          `${name} names code to run, so it must be machine- or application-scoped`,
        );
      }
    }
    assert.deepEqual(settings['exitLens.executionProviders'].items?.enum, [...KNOWN_PROVIDERS]);
  });

  it('the defaults the settings show are the ones the engine uses (one source: src/shared/defaults.ts)', () => {
    assert.deepEqual(pkg.contributes.configuration.properties['exitLens.executionProviders'].default, [
      'cuda',
      'webgpu',
      'cpu',
    ]);
    assert.deepEqual(pkg.contributes.configuration.properties['exitLens.executionProviders'].default, [
      ...DEFAULT_PROVIDERS,
    ]);
    assert.equal(pkg.contributes.configuration.properties['exitLens.gpuPrecision'].default, 'fp32');
    assert.equal(pkg.contributes.configuration.properties['exitLens.gpuPrecision'].default, DEFAULT_GPU_PRECISION);
    assert.deepEqual(pkg.contributes.configuration.properties['exitLens.gpuPrecision'].enum, [...GPU_PRECISIONS]);
    // The commands the GPU work added are declared.
    const commands = pkg.contributes.commands.map((c: { command: string }) => c.command);
    for (const c of ['exitLens.checkGpu', 'exitLens.setupCuda', 'exitLens.chooseExecutionProvider'])
      assert.ok(commands.includes(c), c);
  });

  it('a setting that says where files are written takes no workspace value in Restricted Mode', () => {
    const restricted: string[] = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations ?? [];
    const writesFiles = Object.entries(settings).filter(
      ([, s]) => /folder|directory|path/i.test(s.description ?? '') && s.type === 'string',
    );
    assert.ok(writesFiles.some(([name]) => name === 'exitLens.runsFolder'));
    for (const [name, s] of writesFiles) {
      assert.ok(
        restricted.includes(name) || s.scope === 'machine' || s.scope === 'application',
        `${name} names a place to write, so an untrusted workspace must not set it`,
      );
    }
  });

  it('an execution provider given as a library path, or any name off the list, is refused', () => {
    for (const bad of [
      './evil/libonnxruntime_providers_cuda.so',
      '/tmp/libcustom.so',
      '${workspaceFolder}/evil',
      'cuda;touch x',
      'dnnl',
    ]) {
      assert.throws(() => parseProviders(['cpu', bad]), /Unknown execution provider/, bad);
    }
    assert.deepEqual(parseProviders(['CUDA', ' cpu ']), ['cuda', 'cpu']);
  });

  it('team-file entries keep only the model, its sets, mapping, labels and sources; other fields are dropped', () => {
    const folder = path.resolve('/work/project');
    const raw = [
      {
        model: 'm.onnx',
        samples: 'data/t.npz',
        calib: 'c.npz',
        exits: 'a,b',
        labels: 'y',
        sources: ['m.py'],
        engine: 'evil/engine.js',
        onnxruntime: 'evil/libonnxruntime.so.1',
        command: 'evil/node',
        env: { LD_PRELOAD: 'evil.so' },
      },
      { samples: 'no-model.npz' },
    ];
    const warnings: string[] = [];
    const entries = modelEntries(raw, folder, 'exit-lens.json', { warn: (m) => warnings.push(m) });
    assert.deepEqual(entries, [
      {
        model: path.join(folder, 'm.onnx'),
        samples: path.join(folder, 'data', 't.npz'),
        calib: path.join(folder, 'c.npz'),
        exits: 'a,b',
        labels: 'y',
        sources: [path.join(folder, 'm.py')],
        origin: 'exit-lens.json',
      },
    ]);
    assert.deepEqual(warnings, ['exit-lens.json: an entry without "model" was skipped.']);
  });

  it('the extension declares limited support for untrusted workspaces', () => {
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.match(pkg.capabilities.untrustedWorkspaces.description, /Profiling .* off in Restricted Mode/);
  });
});
