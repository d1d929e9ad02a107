/**
 * A CUDA provider package is checked before anything is installed, from a file as from the feed:
 * every library must be an x86-64 ELF shared object (magic, class, byte order, e_machine, e_type,
 * loadable segments and a dynamic section), the CUDA provider must name the bundled ONNX
 * Runtime's version, and no library may be a link entry. A setup that finds the same package
 * installed and intact stops; a different package, or --force, replaces it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CUDA_MANIFEST, installedCudaProvider } from '../../src/gpu/cudaManifest';
import { CUDA_PROVIDER_LIBRARIES } from '../../src/gpu/cudaPackage';
import { readElfHeader } from '../../src/gpu/elf';
import { providerLibraryProblem } from '../../src/gpu/providerLibraryCheck';
import { tmpDir } from './helpers';
import { buildElf, libraryElf, NEEDED3, providerLibraryBytes, providerSpec } from './support/elfBuilder';
import { bareElf64 } from './support/elfSections';
import {
  assertInstalled,
  buildPackage,
  CUDA,
  download,
  install,
  libraries,
  ORT,
  refusal,
  sha256,
  SHARED,
  snapshot,
  targetDir,
  TRT,
  withFeed,
} from './support/nugetFeed';

const LIB = Object.fromEntries(CUDA_PROVIDER_LIBRARIES.map((l) => [l.name, l]));

/** A copy of `elf` with its e_type (offset 0x10) and e_machine (0x12) set, little-endian. */
function withHeader(elf: Buffer, fields: { type?: number; machine?: number }): Buffer {
  const out = Buffer.from(elf);
  if (fields.type !== undefined) out.writeUInt16LE(fields.type, 0x10);
  if (fields.machine !== undefined) out.writeUInt16LE(fields.machine, 0x12);
  return out;
}

function packageFile(libs: Record<string, Buffer>, more: Parameters<typeof buildPackage>[0] = {}): string {
  const file = path.join(tmpDir('exit-lens-cuda-pkg-'), 'gpu.nupkg');
  fs.writeFileSync(file, buildPackage({ libs, ...more }));
  return file;
}

describe('CUDA provider package: every library is checked before it is installed', () => {
  it("the test's own libraries read as x86-64 shared objects (e_type 3, e_machine 62, PT_DYNAMIC, PT_LOAD)", () => {
    const file = path.join(tmpDir(), 'lib.so');
    fs.writeFileSync(file, providerLibraryBytes({ version: ORT, padding: 100 }));
    assert.deepEqual(readElfHeader(file), {
      is64: true,
      littleEndian: true,
      type: 3,
      machine: 62,
      hasDynamic: true,
      hasLoad: true,
    });
    assert.equal(providerLibraryProblem(file, LIB[CUDA], ORT), null);
  });

  it('1 KB files starting "\\x7fELF", text, or empty files are refused; the folder is left as it was', async () => {
    // What the probe installed with exit 0: the right .nuspec and two 1 KB "ELF" files.
    const fake = (tag: string) =>
      Buffer.concat([Buffer.from(`\x7fELF ${tag} `), Buffer.alloc(1024 - 6 - tag.length, 7)]);
    const dir = targetDir();
    const before = snapshot(dir);
    for (const [libs, words] of [
      [{ [CUDA]: fake('cuda'), [SHARED]: fake('shared') }, /libonnxruntime_providers_cuda\.so is not an ELF/],
      [{ [CUDA]: libraries(1000)[CUDA], [SHARED]: Buffer.from('#!/bin/sh\n') }, /_shared\.so is not an ELF/],
      [{ [CUDA]: libraries(1000)[CUDA], [SHARED]: Buffer.alloc(0) }, /_shared\.so is not an ELF.*too short/],
    ] as const) {
      const file = packageFile(libs);
      const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
      assert.equal(err.problem, 'not-a-library', err.message);
      assert.match(err.message, words);
      assert.match(err.message, /Nothing was installed/);
      assert.deepEqual(snapshot(dir), before);
    }
    // The same from the feed: the download's hashes are right, its content is not a library.
    const nupkg = buildPackage({ libs: { [CUDA]: fake('cuda'), [SHARED]: fake('shared') } });
    await withFeed({ nupkg }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'not-a-library');
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('another architecture, 32-bit, big-endian, an executable, an object file or no segments are refused', async () => {
    const good = libraries(1000);
    const be = buildElf(providerSpec(true, false)).bytes;
    const cases: [Buffer, RegExp][] = [
      [withHeader(good[CUDA], { machine: 183 }), /built for AArch64 \(ARM 64-bit\) \(64-bit little-endian\)/],
      [withHeader(good[CUDA], { machine: 40 }), /built for ARM \(32-bit\)/],
      [buildElf(providerSpec(false, true)).bytes, /built for PowerPC \(32-bit little-endian\)/],
      [be, /\(64-bit big-endian\), not for x86-64 Linux/],
      [withHeader(good[CUDA], { type: 2 }), /is an ELF executable, not a shared library/],
      [withHeader(good[CUDA], { type: 1 }), /is an ELF relocatable object \(\.o\), not a shared library/],
      [withHeader(bareElf64(), { type: 3, machine: 62 }), /has no loadable segment/],
    ];
    const dir = targetDir();
    const before = snapshot(dir);
    for (const [bytes, words] of cases) {
      const file = packageFile({ ...good, [CUDA]: bytes });
      const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
      assert.equal(err.problem, 'not-a-library', err.message);
      assert.match(err.message, words);
      assert.ok(err.message.includes(CUDA), err.message);
    }
    assert.deepEqual(snapshot(dir), before);
  });

  it('a library without PT_DYNAMIC, or whose dynamic section does not read, is refused', () => {
    const dir = tmpDir();
    const elf = libraryElf(NEEDED3);
    // The PT_DYNAMIC program header (the third, at 64 + 2 x 56) turned into PT_NOTE.
    const noDynamic = Buffer.from(elf);
    noDynamic.writeUInt32LE(4, 64 + 2 * 56);
    const a = path.join(dir, 'a.so');
    fs.writeFileSync(a, noDynamic);
    assert.match(providerLibraryProblem(a, LIB[SHARED], ORT)?.why ?? '', /has no dynamic section/);
    // The dynamic section's file offset pointed past the end of the file.
    const broken = Buffer.from(elf);
    broken.writeBigUInt64LE(BigInt(elf.length + 4096), 64 + 2 * 56 + 8);
    const b = path.join(dir, 'b.so');
    fs.writeFileSync(b, broken);
    assert.match(providerLibraryProblem(b, LIB[SHARED], ORT)?.why ?? '', /dynamic section cannot be read/);
  });

  it('the CUDA provider must name the bundled version; the TensorRT provider only must not name another', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const nameless = packageFile({ ...libraries(1000), [CUDA]: providerLibraryBytes({ padding: 1000 }) });
    const err = await refusal(install({ source: { kind: 'file', path: nameless }, targetDir: dir }));
    assert.equal(err.problem, 'not-a-library');
    assert.match(err.message, /_cuda\.so does not say which ONNX Runtime it was built for/);
    const otherTrt = packageFile({ ...libraries(1000), [TRT]: providerLibraryBytes({ version: '1.29.0' }) });
    assert.notEqual(ORT, '1.29.0');
    const trt = await refusal(install({ source: { kind: 'file', path: otherTrt }, targetDir: dir }));
    assert.equal(trt.problem, 'wrong-version');
    assert.ok(trt.message.includes(`${TRT} was built for ONNX Runtime 1.29.0`), trt.message);
    assert.deepEqual(snapshot(dir), before);
    // A TensorRT provider that names no version is installed with the rest.
    const libs = { ...libraries(1000), [TRT]: providerLibraryBytes({ padding: 500, soname: TRT }) };
    const file = packageFile(libs);
    const ok = await install({ source: { kind: 'file', path: file }, targetDir: dir });
    assert.equal(ok.status, 'installed');
    assertInstalled(dir, libs, fs.readFileSync(file));
  });

  it('a library stored as a symbolic-link entry is refused, whatever its text', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    for (const target of ['/etc/passwd', '../../../../bin/sh', 'libonnxruntime_providers_cuda.so']) {
      const libs = libraries(1000);
      const file = packageFile({ [CUDA]: libs[CUDA] }, { links: { [SHARED]: target } });
      const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
      assert.equal(err.problem, 'not-a-library', err.message);
      assert.ok(err.message.includes(`${SHARED} as a symbolic link`), err.message);
    }
    assert.deepEqual(snapshot(dir), before);
    assert.ok(!fs.readdirSync(dir).some((n) => n.includes('shared')));
  });
});

describe('CUDA provider package: installing again', () => {
  it('the same package stays; a different one replaces it; force reinstalls', async () => {
    const dir = targetDir();
    const libsA = libraries(5000);
    const fileA = packageFile(libsA);
    assert.equal((await install({ source: { kind: 'file', path: fileA }, targetDir: dir })).status, 'installed');
    const installedA = snapshot(dir);
    const again = await install({ source: { kind: 'file', path: fileA }, targetDir: dir });
    assert.equal(again.status, 'already-installed');
    assert.deepEqual(snapshot(dir), installedA);

    // Another package of the same version (other bytes) is not "already installed": it replaces.
    const libsB = libraries(7000);
    const fileB = packageFile(libsB);
    const b = await install({ source: { kind: 'file', path: fileB }, targetDir: dir });
    assert.equal(b.status, 'installed');
    assertInstalled(dir, libsB, fs.readFileSync(fileB));
    assert.equal(b.package.sha256, sha256(fs.readFileSync(fileB)));

    // force: the same package is written again (a fresh manifest), byte for byte the same libraries.
    const mtime = fs.statSync(path.join(dir, CUDA_MANIFEST)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const forced = await install({ source: { kind: 'file', path: fileB }, targetDir: dir, force: true });
    assert.equal(forced.status, 'installed');
    assertInstalled(dir, libsB, fs.readFileSync(fileB));
    assert.ok(fs.statSync(path.join(dir, CUDA_MANIFEST)).mtimeMs > mtime);

    // An expected hash the installed package does not have: not "already installed" either.
    const expectA = { sha256: sha256(fs.readFileSync(fileA)) };
    const back = await install({ source: { kind: 'file', path: fileA }, targetDir: dir, expected: expectA });
    assert.equal(back.status, 'installed');
    assertInstalled(dir, libsA, fs.readFileSync(fileA));
  });

  it('from the feed: the same package stays without a download; one installed from another file is replaced', async () => {
    const dir = targetDir();
    const libsA = libraries(5000);
    const nupkgA = buildPackage({ libs: libsA });
    const fileB = packageFile(libraries(6000));
    await install({ source: { kind: 'file', path: fileB }, targetDir: dir });
    await withFeed({ nupkg: nupkgA }, async (feed) => {
      const first = await download(feed, dir);
      assert.equal(first.status, 'installed', 'the feed has another package than the file installed');
      assertInstalled(dir, libsA, nupkgA);
      const asked = feed.requests.length;
      const again = await download(feed, dir);
      assert.equal(again.status, 'already-installed');
      assert.equal(feed.requests.length, asked, 'the feed was not asked again');
    });
    // The feed's package installed from a file, then asked from the feed: its SHA-512 is the
    // catalog's, so the package is not downloaded again.
    const dir2 = targetDir();
    const fileA = packageFile(libsA);
    fs.writeFileSync(fileA, nupkgA);
    await install({ source: { kind: 'file', path: fileA }, targetDir: dir2 });
    await withFeed({ nupkg: nupkgA }, async (feed) => {
      const r = await download(feed, dir2);
      assert.equal(r.status, 'already-installed');
      assert.ok(!feed.requests.some((u) => u.endsWith('.nupkg') || u.startsWith('/cdn/')), feed.requests.join(' '));
    });
  });

  it('an intact install of libraries that are not libraries (an older setup) is never "already installed"', async () => {
    // What a setup without these checks left: fake libraries and a manifest that matches them.
    const dir = targetDir();
    const fakes = { [CUDA]: Buffer.from('\x7fELF not really'), [SHARED]: Buffer.from('\x7fELF nor this') };
    const file = packageFile(fakes);
    const pkg = fs.readFileSync(file);
    for (const [name, bytes] of Object.entries(fakes)) fs.writeFileSync(path.join(dir, name), bytes);
    const manifest = {
      schema: 1,
      installedBy: 'Exit Lens',
      packageId: 'Microsoft.ML.OnnxRuntime.Gpu.Linux',
      version: ORT,
      platform: 'linux-x64',
      package: {
        size: pkg.length,
        sha256: sha256(pkg),
        sha512Base64: '',
        source: { kind: 'file', path: file },
        verifiedAgainst: [],
      },
      installedAt: new Date(0).toISOString(),
      files: Object.entries(fakes).map(([name, b]) => ({ name, entry: name, size: b.length, sha256: sha256(b) })),
    };
    fs.writeFileSync(path.join(dir, CUDA_MANIFEST), JSON.stringify(manifest));
    assert.equal((await installedCudaProvider(dir)).installed, true, 'the manifest and the files agree');
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(err.problem, 'not-a-library');
    // A real package replaces them.
    const libs = libraries(2000);
    const real = packageFile(libs);
    assert.equal((await install({ source: { kind: 'file', path: real }, targetDir: dir })).status, 'installed');
    assertInstalled(dir, libs, fs.readFileSync(real));
  });
});
