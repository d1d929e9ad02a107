/**
 * The CUDA provider installer with packages built here (support/nugetFeed.ts): from a package
 * file (sizes and hashes checked when given, zip entries never become paths, bounds on what is
 * extracted), the target folder (nothing written through a symlink, one setup at a time, a
 * provider for another version reported and replaced), and the platforms with a CUDA package.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CudaProgress } from '../../src/gpu/cudaInstall';
import { CUDA_MANIFEST, installedCudaProvider } from '../../src/gpu/cudaManifest';
import { cudaPackageSupport, officialPackage, ortVersion, providerTargetDir } from '../../src/gpu/cudaPackage';
import { tmpDir } from './helpers';
import {
  assertInstalled,
  buildPackage,
  CUDA,
  ID,
  install,
  libraries,
  NATIVE,
  nuspec,
  ORT,
  ORT_PACKAGE_JSON,
  packageUrlFor,
  patchDeclaredSize,
  refusal,
  sha256,
  sha512b64,
  SHARED,
  snapshot,
  targetDir,
  TRT,
  zipWithEntries,
} from './support/nugetFeed';

describe('CUDA provider: platform and versions', () => {
  it('reads the bundled ONNX Runtime version and the folder it loads providers from', () => {
    assert.equal(ortVersion(), ORT);
    const dir = providerTargetDir({ platform: 'linux', arch: 'x64' });
    assert.equal(dir, path.join(path.dirname(ORT_PACKAGE_JSON), 'bin', 'napi-v6', 'linux', 'x64'));
    assert.ok(fs.existsSync(path.join(dir!, 'libonnxruntime.so.1')));
    for (const target of [
      { platform: 'win32', arch: 'x64' },
      { platform: 'darwin', arch: 'arm64' },
      { platform: 'linux', arch: 'arm64' },
    ]) {
      assert.equal(providerTargetDir(target), null);
      const support = cudaPackageSupport(target);
      assert.equal(support.supported, false);
      assert.ok(!support.supported && support.reason.length > 0);
    }
    const win = cudaPackageSupport({ platform: 'win32', arch: 'x64' });
    assert.ok(!win.supported && /not supported on Windows/.test(win.reason));
  });

  it('names the NuGet flat-container package of a version', () => {
    const p = officialPackage('1.30.0');
    assert.equal(p.id, ID);
    assert.equal(
      p.url,
      'https://api.nuget.org/v3-flatcontainer/microsoft.ml.onnxruntime.gpu.linux/1.30.0/' +
        'microsoft.ml.onnxruntime.gpu.linux.1.30.0.nupkg',
    );
    assert.equal(
      p.registrationUrl,
      'https://api.nuget.org/v3/registration5-semver1/microsoft.ml.onnxruntime.gpu.linux/1.30.0.json',
    );
    assert.equal(officialPackage('1.2.3', 'http://127.0.0.1:9/').url, packageUrlFor('http://127.0.0.1:9', '1.2.3'));
  });
});

describe('CUDA provider: from a package file', () => {
  it('installs from a downloaded .nupkg, checking a size and hash when given', async () => {
    const libs = libraries(200_000);
    const nupkg = buildPackage({ libs });
    const file = path.join(tmpDir(), 'gpu.nupkg');
    fs.writeFileSync(file, nupkg);
    const dir = targetDir();
    const before = snapshot(dir);
    const fromFile = { kind: 'file', path: file } as const;
    const wrong = await refusal(install({ source: fromFile, targetDir: dir, expected: { sha256: '0'.repeat(64) } }));
    assert.equal(wrong.problem, 'hash-mismatch');
    assert.ok(wrong.message.includes(sha256(nupkg)), wrong.message);
    const short = await refusal(install({ source: fromFile, targetDir: dir, expected: { size: nupkg.length - 1 } }));
    assert.equal(short.problem, 'size-mismatch');
    assert.deepEqual(snapshot(dir), before);

    const events: CudaProgress[] = [];
    const result = await install({
      source: { kind: 'file', path: file },
      targetDir: dir,
      expected: { size: nupkg.length, sha256: sha256(nupkg), sha512Base64: sha512b64(nupkg) },
      onProgress: (p) => events.push(p),
    });
    assert.equal(result.status, 'installed');
    assert.deepEqual(result.package.source, { kind: 'file', path: file });
    assert.ok(!events.some((e) => e.phase === 'resolve' || e.phase === 'download'));
    assert.deepEqual(result.package.verifiedAgainst.map((v) => v.replace(/^.*: /, '')).sort(), [
      'SHA-256',
      'SHA-512',
      'size',
    ]);
    assertInstalled(dir, libs, nupkg);
    assert.equal(fs.readFileSync(file).equals(nupkg), true, 'the source file is untouched');

    const again = await install({ source: { kind: 'file', path: file }, targetDir: dir });
    assert.equal(again.status, 'already-installed');
  });

  it('zip entries named ../x or /x are never written; only the known entries are extracted', async () => {
    const root = tmpDir('exit-lens-cuda-zip-');
    const dir = path.join(root, 'a', 'b', 'x64');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'libonnxruntime.so.1'), 'the ONNX Runtime core');
    const outside = path.join(root, 'abs-target');
    const libs = libraries(10_000);
    const evil = Buffer.from('must never be written');
    const nupkg = buildPackage({
      libs,
      extra: {
        ['../' + CUDA]: evil,
        '../../escape.so': evil,
        [outside + '/abs.so']: evil,
        [NATIVE + '../../../escape2.so']: evil,
        ['runtimes\\linux-x64\\native\\' + CUDA]: evil,
        ['./' + NATIVE + CUDA]: evil,
      },
    });
    const file = path.join(root, 'pkg.nupkg');
    fs.writeFileSync(file, nupkg);
    const result = await install({ source: { kind: 'file', path: file }, targetDir: dir });
    assert.equal(result.status, 'installed');
    assertInstalled(dir, libs, nupkg);
    const all: string[] = [];
    const walk = (d: string) => {
      for (const n of fs.readdirSync(d)) {
        const p = path.join(d, n);
        if (fs.lstatSync(p).isDirectory()) walk(p);
        else all.push(path.relative(root, p));
      }
    };
    walk(root);
    assert.deepEqual(
      all.sort(),
      [
        'pkg.nupkg',
        ...[CUDA_MANIFEST, 'libonnxruntime.so.1', CUDA, SHARED, TRT].map((n) => path.join('a', 'b', 'x64', n)),
      ].sort(),
    );
    assert.equal(fs.existsSync(outside), false);

    // The same library twice is ambiguous: refused.
    const twice = await zipWithEntries([
      [`${ID}.nuspec`, nuspec(ID, ORT)],
      [NATIVE + CUDA, libs[CUDA]],
      [NATIVE + SHARED, libs[SHARED]],
      [NATIVE + CUDA, evil],
    ]);
    const dir2 = targetDir();
    const before = snapshot(dir2);
    fs.writeFileSync(file, twice);
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir2 }));
    assert.equal(err.problem, 'bad-package');
    assert.match(err.message, /twice/);
    assert.deepEqual(snapshot(dir2), before);
  });

  it('an entry that inflates past its declared size, or libraries over the bound, are refused', async () => {
    const libs = libraries(100_000);
    const nupkg = buildPackage({ libs });
    const src = tmpDir();
    const dir = targetDir();
    const before = snapshot(dir);
    const lying = path.join(src, 'lying.nupkg');
    fs.writeFileSync(lying, patchDeclaredSize(nupkg, NATIVE + CUDA, 1000));
    const err = await refusal(install({ source: { kind: 'file', path: lying }, targetDir: dir }));
    assert.equal(err.problem, 'bad-package');
    assert.ok(err.message.includes(NATIVE + CUDA), err.message);
    const honest = path.join(src, 'honest.nupkg');
    fs.writeFileSync(honest, nupkg);
    const total = Object.values(libs).reduce((s, b) => s + b.length, 0);
    const big = await refusal(
      install({ source: { kind: 'file', path: honest }, targetDir: dir, maxExtractedBytes: total - 1 }),
    );
    assert.equal(big.problem, 'too-large');
    assert.ok(big.message.includes(String(total)), big.message);
    assert.deepEqual(snapshot(dir), before);
  });
});

describe('CUDA provider: the target folder', () => {
  it('a target name that is a symlink or a folder is refused and nothing is written through it', async () => {
    const nupkg = buildPackage({ libs: libraries(10_000) });
    const src = tmpDir();
    const file = path.join(src, 'gpu.nupkg');
    fs.writeFileSync(file, nupkg);
    const victim = path.join(src, 'victim.so');
    fs.writeFileSync(victim, 'someone else’s file');
    const dir = targetDir();
    fs.symlinkSync(victim, path.join(dir, CUDA));
    const before = snapshot(dir);
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(err.problem, 'unsafe-target');
    assert.ok(err.message.includes(path.join(dir, CUDA)) && /symbolic link/.test(err.message), err.message);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'someone else’s file');
    assert.deepEqual(snapshot(dir), before);

    const dir2 = targetDir();
    fs.mkdirSync(path.join(dir2, CUDA_MANIFEST));
    const before2 = snapshot(dir2);
    const err2 = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir2 }));
    assert.equal(err2.problem, 'unsafe-target');
    assert.match(err2.message, /a folder/);
    assert.deepEqual(snapshot(dir2), before2);
  });

  it('a setup already running in the folder is refused; a lock left by a gone process is taken over', async () => {
    const libs = libraries(10_000);
    const nupkg = buildPackage({ libs });
    const file = path.join(tmpDir(), 'gpu.nupkg');
    fs.writeFileSync(file, nupkg);
    const dir = targetDir();
    const lock = path.join(dir, 'exit-lens-cuda.lock');
    fs.writeFileSync(lock, String(process.pid));
    const busy = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(busy.problem, 'busy');
    assert.equal(fs.existsSync(path.join(dir, CUDA)), false);

    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    assert.ok(gone > 0);
    fs.writeFileSync(lock, String(gone));
    const result = await install({ source: { kind: 'file', path: file }, targetDir: dir });
    assert.equal(result.status, 'installed');
    assertInstalled(dir, libs, nupkg);
  });

  it('reports a provider for another version, and libraries that no manifest describes', async () => {
    const dir = targetDir();
    const none = await installedCudaProvider(dir);
    assert.equal(none.installed, false);
    assert.match(none.problems.join(' '), /not installed/);

    fs.writeFileSync(path.join(dir, CUDA), 'a provider from elsewhere');
    const foreign = await installedCudaProvider(dir);
    assert.equal(foreign.installed, false);
    assert.deepEqual(foreign.presentLibraries, [CUDA]);
    assert.match(foreign.problems.join(' '), /not installed by Exit Lens/);
    fs.rmSync(path.join(dir, CUDA));

    // A provider installed for 1.29.0 (as if the bundled runtime were 1.29.0), then checked against the real one.
    const libs = libraries(10_000, '1.29.0');
    const old = path.join(tmpDir(), 'old.nupkg');
    fs.writeFileSync(old, buildPackage({ version: '1.29.0', libs }));
    const r = await install({ source: { kind: 'file', path: old }, targetDir: dir, ortVersion: '1.29.0' });
    assert.equal(r.version, '1.29.0');
    const state = await installedCudaProvider(dir);
    assert.equal(state.installed, false);
    assert.equal(state.version, '1.29.0');
    assert.ok(
      state.problems.some((p) => p.includes('1.29.0') && p.includes(ORT)),
      state.problems.join(' '),
    );

    // Installing the right version replaces it (not "already installed").
    const fresh = libraries(10_000);
    const nupkg = buildPackage({ libs: { [CUDA]: fresh[CUDA], [SHARED]: fresh[SHARED] } });
    const file = path.join(tmpDir(), 'new.nupkg');
    fs.writeFileSync(file, nupkg);
    const replaced = await install({ source: { kind: 'file', path: file }, targetDir: dir });
    assert.equal(replaced.status, 'installed');
    // The old TensorRT provider (1.29.0's) is not left beside the new ones.
    assertInstalled(dir, { [CUDA]: fresh[CUDA], [SHARED]: fresh[SHARED] }, nupkg);
    assert.equal((await installedCudaProvider(dir)).installed, true);
  });
});
