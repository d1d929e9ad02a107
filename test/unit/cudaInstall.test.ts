/**
 * The CUDA provider installer against a NuGet-like feed served on 127.0.0.1 (registration leaf,
 * catalog entry, a redirect to the package) with packages built here: the libraries land with
 * their bytes and the manifest's hashes are theirs; progress climbs to the total; a cancelled,
 * corrupt, oversized, wrong-version, wrong-kind or unsafe install leaves the folder as it was;
 * an unreachable feed names the package to fetch elsewhere; a downloaded file installs the same.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { Zip, ZipDeflate, zipSync } from 'fflate';
import { CudaInstallResult, CudaProgress, installCudaProvider, InstallCudaOptions } from '../../src/gpu/cudaInstall';
import { CUDA_MANIFEST, installedCudaProvider } from '../../src/gpu/cudaManifest';
import {
  CudaSetupError,
  cudaPackageSupport,
  officialPackage,
  ortVersion,
  providerTargetDir,
} from '../../src/gpu/cudaPackage';
import { ExitLensError } from '../../src/core/errors';
import { tmpDir } from './helpers';
import { bareElf64, withRodata } from './support/elfSections';

const ORT_PACKAGE_JSON = path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node', 'package.json');
const ORT: string = JSON.parse(fs.readFileSync(ORT_PACKAGE_JSON, 'utf8')).version;
const ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
const LID = ID.toLowerCase();
const NATIVE = 'runtimes/linux-x64/native/';
const CUDA = 'libonnxruntime_providers_cuda.so';
const SHARED = 'libonnxruntime_providers_shared.so';
const TRT = 'libonnxruntime_providers_tensorrt.so';

/** Installs as on Linux x64 (the one platform with a CUDA package), whatever runs the tests. */
const install = (opts: InstallCudaOptions) =>
  installCudaProvider({ platform: { platform: 'linux', arch: 'x64' }, ...opts });

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const sha512b64 = (b: Uint8Array) => crypto.createHash('sha512').update(b).digest('base64');

function nuspec(id: string, version: string): Uint8Array {
  return Buffer.from(
    '\uFEFF<?xml version="1.0" encoding="utf-8"?>\n' +
      '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">\n' +
      `  <metadata>\n    <id>${id}</id>\n    <version>${version}</version>\n` +
      '    <authors>Microsoft</authors>\n    <dependencies><group targetFramework="native">' +
      '<dependency id="Microsoft.ML.OnnxRuntime.Managed" version="0.0.1" /></group></dependencies>\n' +
      '  </metadata>\n</package>\n',
  );
}

/** Library bytes: a random (incompressible) body so the package is a few MiB. */
function libraries(cudaBytes = 3 * 1024 * 1024): Record<string, Buffer> {
  return {
    [CUDA]: Buffer.concat([Buffer.from('\x7fELF cuda provider '), crypto.randomBytes(cudaBytes)]),
    [SHARED]: Buffer.concat([Buffer.from('\x7fELF shared '), crypto.randomBytes(20_000)]),
    [TRT]: Buffer.concat([Buffer.from('\x7fELF tensorrt '), crypto.randomBytes(30_000)]),
  };
}

interface PackageSpec {
  id?: string;
  version?: string;
  libs?: Record<string, Buffer>;
  /** More zip entries, by raw name. */
  extra?: Record<string, Uint8Array>;
  noNuspec?: boolean;
}

function buildPackage(spec: PackageSpec = {}): Buffer {
  const id = spec.id ?? ID;
  const files: Record<string, Uint8Array> = {};
  if (!spec.noNuspec) files[`${id}.nuspec`] = nuspec(id, spec.version ?? ORT);
  files['[Content_Types].xml'] = Buffer.from('<Types/>');
  for (const [name, bytes] of Object.entries(spec.libs ?? {})) files[NATIVE + name] = bytes;
  Object.assign(files, spec.extra ?? {});
  return Buffer.from(zipSync(files, { level: 1 }));
}

/** A zip written entry by entry, so that the same name can appear twice. */
function zipWithEntries(entries: [string, Uint8Array][]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const zip = new Zip((err, data, final) => {
      if (err) return reject(err);
      chunks.push(data);
      if (final) resolve(Buffer.concat(chunks));
    });
    for (const [name, bytes] of entries) {
      const f = new ZipDeflate(name, { level: 1 });
      zip.add(f);
      f.push(bytes, true);
    }
    zip.end();
  });
}

/** Rewrites the uncompressed size a zip's central directory gives for `name`. */
function patchDeclaredSize(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let p = out.indexOf('PK\x01\x02'); p >= 0; p = out.indexOf('PK\x01\x02', p + 1)) {
    const len = out.readUInt16LE(p + 28);
    if (out.subarray(p + 46, p + 46 + len).toString('latin1') === name) {
      out.writeUInt32LE(size, p + 24);
      return out;
    }
  }
  throw new Error(`no entry ${name}`);
}

interface FeedSpec {
  nupkg: Buffer;
  /** Catalog fields that replace the true ones. */
  catalog?: Record<string, unknown>;
  contentLength?: boolean;
  /** Stream the package slowly: this many bytes every `delayMs`. */
  slow?: { chunkBytes: number; delayMs: number };
  /** Send this many bytes of the package, then nothing more. */
  stallAfter?: number;
  /** Send these bytes after the package (without a content-length). */
  trailing?: Buffer;
  redirect?: 'cdn' | 'loop' | 'insecure';
  /** Send the JSON documents gzipped (as NuGet's compressed registration hives do). */
  gzipJson?: boolean;
}

interface Feed {
  base: string;
  requests: string[];
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function startFeed(spec: FeedSpec): Promise<Feed> {
  const requests: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer();
  const port = await listen(server);
  const base = `http://127.0.0.1:${port}`;
  const v = ORT.toLowerCase();
  const flat = `/v3-flatcontainer/${LID}/${v}/${LID}.${v}.nupkg`;
  const cdn = `/cdn/${LID}.${v}.nupkg`;
  const catalogPath = `/v3/catalog0/data/2026.01.02.03.04.05/${LID}.${v}.json`;
  const json = (res: http.ServerResponse, doc: unknown) => {
    const body = Buffer.from(JSON.stringify(doc));
    if (!spec.gzipJson) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(body);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(zlib.gzipSync(body));
  };
  server.on('request', (req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    if (url === `/v3/registration5-semver1/${LID}/${v}.json`) {
      return json(res, {
        '@id': base + url,
        '@type': ['Package', 'http://schema.nuget.org/catalog#Permalink'],
        catalogEntry: base + catalogPath,
        listed: true,
        packageContent: base + flat,
        registration: `${base}/v3/registration5-semver1/${LID}/index.json`,
      });
    }
    if (url === catalogPath) {
      return json(res, {
        '@id': base + url,
        '@type': ['PackageDetails', 'catalog:Permalink'],
        id: ID,
        version: ORT,
        packageHash: sha512b64(spec.nupkg),
        packageHashAlgorithm: 'SHA512',
        packageSize: spec.nupkg.length,
        ...spec.catalog,
      });
    }
    if (url === flat && (spec.redirect ?? 'cdn') !== 'cdn') {
      const to = spec.redirect === 'loop' ? flat : `http://localhost:${port}${cdn}`;
      res.writeHead(302, { location: to });
      return res.end();
    }
    if (url === flat) {
      res.writeHead(302, { location: cdn });
      return res.end();
    }
    if (url === cdn) {
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
      if (spec.contentLength !== false && !spec.trailing) headers['content-length'] = spec.nupkg.length;
      res.writeHead(200, headers);
      if (spec.stallAfter !== undefined) {
        res.write(spec.nupkg.subarray(0, spec.stallAfter));
        return;
      }
      if (spec.slow) {
        const { chunkBytes, delayMs } = spec.slow;
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed || sent >= spec.nupkg.length) {
            clearInterval(timer);
            timers.delete(timer);
            if (!res.destroyed) res.end();
            return;
          }
          res.write(spec.nupkg.subarray(sent, sent + chunkBytes));
          sent += chunkBytes;
        }, delayMs);
        timers.add(timer);
        res.on('close', () => {
          clearInterval(timer);
          timers.delete(timer);
        });
        return;
      }
      res.write(spec.nupkg);
      if (spec.trailing) res.write(spec.trailing);
      return res.end();
    }
    res.writeHead(404);
    res.end();
  });
  return {
    base,
    requests,
    close: async () => {
      for (const t of timers) clearInterval(t);
      await closeServer(server);
    },
  };
}

async function withFeed<T>(spec: FeedSpec, fn: (feed: Feed) => Promise<T>): Promise<T> {
  const feed = await startFeed(spec);
  try {
    return await fn(feed);
  } finally {
    await feed.close();
  }
}

/** A provider folder with onnxruntime's own library in it. */
function targetDir(): string {
  const dir = path.join(tmpDir('exit-lens-cuda-'), 'x64');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'libonnxruntime.so.1'), 'the ONNX Runtime core');
  return dir;
}

/** Every name in a folder with what it is: content hash, or a link's target. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const st = fs.lstatSync(file);
    if (st.isSymbolicLink()) out[name] = `link ${fs.readlinkSync(file)}`;
    else if (st.isDirectory()) out[name] = 'folder';
    else out[name] = sha256(fs.readFileSync(file));
  }
  return out;
}

async function refusal(promise: Promise<unknown>): Promise<CudaSetupError> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CudaSetupError, `expected a CudaSetupError, got ${String(err)}`);
  assert.equal(err.code, 'gpu-setup');
  return err;
}

function download(feed: Feed, dir: string, more: Partial<InstallCudaOptions> = {}): Promise<CudaInstallResult> {
  return install({ source: { kind: 'download', feedBase: feed.base }, targetDir: dir, ...more });
}

function packageUrl(base: string): string {
  const v = ORT.toLowerCase();
  return `${base}/v3-flatcontainer/${LID}/${v}/${LID}.${v}.nupkg`;
}

function assertInstalled(dir: string, libs: Record<string, Buffer>, nupkg: Buffer): void {
  for (const [name, bytes] of Object.entries(libs)) {
    assert.ok(fs.readFileSync(path.join(dir, name)).equals(bytes), `${name} has the package's bytes`);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, CUDA_MANIFEST), 'utf8'));
  assert.equal(manifest.version, ORT);
  assert.equal(manifest.packageId.toLowerCase(), LID);
  assert.equal(manifest.package.sha256, sha256(nupkg));
  assert.equal(manifest.package.size, nupkg.length);
  const recorded = Object.fromEntries(
    (manifest.files as { name: string; size: number; sha256: string }[]).map((f) => [f.name, [f.size, f.sha256]]),
  );
  const want = Object.fromEntries(Object.entries(libs).map(([n, b]) => [n, [b.length, sha256(b)]]));
  assert.deepEqual(recorded, want);
  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    [CUDA_MANIFEST, 'libonnxruntime.so.1', ...Object.keys(libs)].sort(),
    'nothing else (no temporary file, no lock) is left',
  );
}

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

function packageUrlFor(base: string, v: string): string {
  return `${base}/v3-flatcontainer/${LID}/${v}/${LID}.${v}.nupkg`;
}

describe('CUDA provider: download from the feed', () => {
  it('downloads (through a redirect), verifies and installs; the manifest holds the files’ hashes', async () => {
    const libs = libraries();
    const nupkg = buildPackage({ libs });
    const dir = targetDir();
    const events: CudaProgress[] = [];
    await withFeed({ nupkg }, async (feed) => {
      const result = await download(feed, dir, { onProgress: (p) => events.push(p) });
      assert.equal(result.status, 'installed');
      assert.equal(result.version, ORT);
      assert.ok(
        feed.requests.some((r) => r.startsWith('/cdn/')),
        'the redirect was followed',
      );
      assert.equal(result.package.source.kind, 'download');
      assert.equal(result.package.source.kind === 'download' && result.package.source.url, packageUrl(feed.base));
      assert.equal(result.package.sha512Base64, sha512b64(nupkg));
      assert.deepEqual(
        Object.fromEntries(result.files.map((f) => [f.name, f.sha256])),
        Object.fromEntries(Object.entries(libs).map(([n, b]) => [n, sha256(b)])),
      );
    });
    assertInstalled(dir, libs, nupkg);
    const state = await installedCudaProvider(dir);
    assert.deepEqual([state.installed, state.version, state.problems], [true, ORT, []]);

    // Progress: phases in order; download bytes climb to the package size; extraction to the libraries' size.
    const order = ['resolve', 'download', 'verify', 'extract'];
    const phases = events.map((e) => order.indexOf(e.phase));
    assert.deepEqual(
      phases,
      [...phases].sort((a, b) => a - b),
      'phases come in order',
    );
    assert.deepEqual([...new Set(events.map((e) => e.phase))], order);
    for (const [phase, total] of [
      ['download', nupkg.length],
      ['extract', Object.values(libs).reduce((s, b) => s + b.length, 0)],
    ] as const) {
      const seen = events.filter((e) => e.phase === phase);
      assert.ok(seen.length >= 3, `${phase}: several progress events (${seen.length})`);
      for (let i = 1; i < seen.length; i++) {
        assert.ok(seen[i].received >= seen[i - 1].received, `${phase} is monotonic`);
      }
      assert.ok(
        seen.every((e) => e.total === total),
        `${phase}: total ${total}`,
      );
      assert.equal(seen[0].received, 0);
      assert.equal(seen[seen.length - 1].received, total);
    }
  });

  it('a second install of the same version is reported as already installed, without a download', async () => {
    const libs = libraries(100_000);
    const nupkg = buildPackage({ libs });
    const dir = targetDir();
    await withFeed({ nupkg, gzipJson: true }, async (feed) => {
      await download(feed, dir);
      const before = snapshot(dir);
      const mtime = fs.statSync(path.join(dir, CUDA)).mtimeMs;
      const asked = feed.requests.length;
      const again = await download(feed, dir);
      assert.equal(again.status, 'already-installed');
      assert.equal(again.version, ORT);
      assert.equal(feed.requests.length, asked, 'the feed was not asked again');
      assert.deepEqual(snapshot(dir), before);
      assert.equal(fs.statSync(path.join(dir, CUDA)).mtimeMs, mtime);

      // A changed library is seen, and the next setup puts the package's bytes back.
      fs.writeFileSync(path.join(dir, SHARED), Buffer.concat([libs[SHARED].subarray(1), Buffer.from('x')]));
      const state = await installedCudaProvider(dir);
      assert.equal(state.installed, false);
      assert.ok(
        state.problems.some((p) => p.includes(SHARED)),
        state.problems.join(' '),
      );
      const repaired = await download(feed, dir);
      assert.equal(repaired.status, 'installed');
      assertInstalled(dir, libs, nupkg);
    });
  });

  it('cancelling during the download removes the partial file and leaves the folder as it was', async () => {
    const nupkg = buildPackage({ libs: libraries(3 * 1024 * 1024) });
    const dir = targetDir();
    fs.writeFileSync(path.join(dir, SHARED), 'an older shared provider');
    const before = snapshot(dir);
    const controller = new AbortController();
    let partialSeen = false;
    await withFeed({ nupkg, slow: { chunkBytes: 32 * 1024, delayMs: 10 } }, async (feed) => {
      const err = await download(feed, dir, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase !== 'download' || p.received === 0 || p.received === p.total) return;
          // Part of the package is in its temporary file now.
          partialSeen = fs.readdirSync(dir).some((n) => n.includes('.nupkg.'));
          controller.abort();
        },
      }).then(
        () => assert.fail('expected cancellation'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ExitLensError && err.code === 'cancelled', String(err));
    });
    assert.ok(partialSeen, 'a partial download existed before the cancel');
    assert.deepEqual(snapshot(dir), before);
  });

  it('cancelling while the libraries are extracted leaves the folder as it was', async () => {
    const nupkg = buildPackage({ libs: libraries(4 * 1024 * 1024) });
    const file = path.join(tmpDir(), 'gpu.nupkg');
    fs.writeFileSync(file, nupkg);
    const dir = targetDir();
    const before = snapshot(dir);
    const controller = new AbortController();
    let extracting = false;
    const err = await install({
      source: { kind: 'file', path: file },
      targetDir: dir,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'extract' && p.received > 0 && !extracting) {
          extracting = true;
          controller.abort();
        }
      },
    }).catch((e: unknown) => e);
    assert.ok(extracting, 'the extraction had begun');
    assert.ok(err instanceof ExitLensError && err.code === 'cancelled', String(err));
    assert.deepEqual(snapshot(dir), before);
  });

  it('refuses platforms without a CUDA package', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await refusal(
      installCudaProvider({
        source: { kind: 'download', feedBase: 'http://127.0.0.1:9' },
        targetDir: dir,
        platform: { platform: 'win32', arch: 'x64' },
      }),
    );
    assert.equal(err.problem, 'unsupported-platform');
    assert.match(err.message, /Windows/);
    assert.deepEqual(snapshot(dir), before);
  });

  it('an install already cancelled does nothing', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await install({
      source: { kind: 'download', feedBase: 'http://127.0.0.1:9' },
      targetDir: dir,
      signal: AbortSignal.abort(),
    }).catch((e: unknown) => e);
    assert.ok(err instanceof ExitLensError && err.code === 'cancelled');
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package whose hash differs from the catalog’s (or the caller’s) is refused and deleted', async () => {
    const nupkg = buildPackage({ libs: libraries(50_000) });
    const other = Buffer.from(nupkg);
    other[100] ^= 0xff;
    const dir = targetDir();
    const before = snapshot(dir);
    await withFeed({ nupkg, catalog: { packageHash: sha512b64(other) } }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'hash-mismatch');
      assert.ok(err.message.includes(sha512b64(other)), err.message);
      assert.ok(err.message.includes(sha512b64(nupkg)), err.message);
    });
    assert.deepEqual(snapshot(dir), before);
    await withFeed({ nupkg }, async (feed) => {
      const wrong = sha256(other);
      const err = await refusal(download(feed, dir, { expected: { sha256: wrong } }));
      assert.equal(err.problem, 'hash-mismatch');
      assert.ok(err.message.includes(wrong) && err.message.includes(sha256(nupkg)), err.message);
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package larger or smaller than the catalog says, or over the cap, is refused', async () => {
    const nupkg = buildPackage({ libs: libraries(50_000) });
    const dir = targetDir();
    const before = snapshot(dir);
    const n = nupkg.length;
    // The server announces more than the catalog: refused before reading.
    await withFeed({ nupkg, catalog: { packageSize: n - 10 } }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'size-mismatch');
      assert.ok(err.message.includes(String(n - 10)) && err.message.includes(String(n)), err.message);
    });
    // No length announced, more bytes sent than the catalog says: the transfer is stopped.
    await withFeed({ nupkg, catalog: { packageSize: n }, trailing: crypto.randomBytes(200_000) }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'size-mismatch');
      assert.ok(err.message.includes(String(n)), err.message);
    });
    // Fewer bytes than the catalog says.
    await withFeed({ nupkg, catalog: { packageSize: n + 10 }, contentLength: false }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'size-mismatch');
      assert.ok(err.message.includes(String(n + 10)) && err.message.includes(String(n)), err.message);
    });
    // Over the cap: not even requested.
    await withFeed({ nupkg }, async (feed) => {
      const err = await refusal(download(feed, dir, { maxPackageBytes: n - 1 }));
      assert.equal(err.problem, 'too-large');
      assert.ok(!feed.requests.some((r) => r.includes('.nupkg')), feed.requests.join(' '));
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package for another ONNX Runtime version is refused, naming both versions', async () => {
    const nupkg = buildPackage({ version: '1.29.0', libs: libraries(20_000) });
    assert.notEqual(ORT, '1.29.0');
    const dir = targetDir();
    const before = snapshot(dir);
    await withFeed({ nupkg }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'wrong-version');
      assert.ok(err.message.includes("ONNX Runtime 1.29.0's CUDA provider"), err.message);
      assert.ok(err.message.includes(`the bundled ONNX Runtime is ${ORT}`), err.message);
    });
    const file = path.join(tmpDir(), 'old.nupkg');
    fs.writeFileSync(file, nupkg);
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(err.problem, 'wrong-version');
    assert.ok(err.message.includes('1.29.0') && err.message.includes(ORT), err.message);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package whose library was built for another ONNX Runtime than its .nuspec says is refused', async () => {
    // An ELF64 file with section headers and a .rodata holding ONNX Runtime 1.29.0's version
    // string, as the real 1.29.0 CUDA provider keeps it ("Replay", "1.29.0", "Failed to get ...").
    const rodata = Buffer.from('\0Replay\x001.29.0\0Failed to get device id.\0', 'latin1');
    const libs = libraries(20_000);
    libs[CUDA] = withRodata(bareElf64(), rodata);
    assert.notEqual(ORT, '1.29.0');
    const file = path.join(tmpDir(), 'mislabelled.nupkg');
    fs.writeFileSync(file, buildPackage({ libs }));
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
    assert.equal(err.problem, 'wrong-version');
    assert.ok(err.message.includes('built for ONNX Runtime 1.29.0'), err.message);
    assert.ok(err.message.includes(`the bundled ONNX Runtime is ${ORT}`), err.message);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a package that is not the GPU runtime is refused', async () => {
    const dir = targetDir();
    const before = snapshot(dir);
    const cpu = buildPackage({
      id: 'Microsoft.ML.OnnxRuntime',
      extra: { [NATIVE + 'libonnxruntime.so']: Buffer.from('x') },
    });
    await withFeed({ nupkg: cpu }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'not-gpu-package');
      assert.ok(err.message.includes('Microsoft.ML.OnnxRuntime ' + ORT), err.message);
    });
    const empty = buildPackage({ libs: {} });
    await withFeed({ nupkg: empty }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'not-gpu-package');
      assert.ok(err.message.includes(NATIVE + CUDA), err.message);
    });
    const cudaOnly = buildPackage({ libs: { [CUDA]: Buffer.from('cuda') } });
    const noNuspec = buildPackage({ libs: libraries(1000), noNuspec: true });
    const notZip = Buffer.from('<html>not a package</html>');
    const src = tmpDir();
    for (const [name, bytes, problem, words] of [
      ['cuda-only.nupkg', cudaOnly, 'not-gpu-package', SHARED],
      ['no-nuspec.nupkg', noNuspec, 'bad-package', 'no .nuspec'],
      ['page.nupkg', notZip, 'bad-package', 'not a zip'],
    ] as const) {
      const file = path.join(src, name);
      fs.writeFileSync(file, bytes);
      const err = await refusal(install({ source: { kind: 'file', path: file }, targetDir: dir }));
      assert.equal(err.problem, problem, name);
      assert.ok(err.message.includes(words), err.message);
    }
    assert.deepEqual(snapshot(dir), before);
  });
});

describe('CUDA provider: network failures', () => {
  it('an unreachable feed says so and names the package to download on another machine', async () => {
    const probe = http.createServer();
    const port = await listen(probe);
    await closeServer(probe);
    const base = `http://127.0.0.1:${port}`;
    const dir = targetDir();
    const before = snapshot(dir);
    const err = await refusal(
      install({ source: { kind: 'download', feedBase: base }, targetDir: dir, timeoutMs: 5000 }),
    );
    assert.equal(err.problem, 'offline');
    assert.match(err.message, /Could not reach the package feed/);
    assert.match(err.message, /connection refused/);
    assert.equal(err.packageUrl, packageUrl(base));
    assert.ok(err.hint?.includes(packageUrl(base)), err.hint);
    assert.match(err.hint ?? '', /install .* from that package file/);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a feed that does not answer, or stalls mid-download, times out and leaves nothing', async () => {
    const silent = http.createServer(() => undefined);
    const port = await listen(silent);
    const dir = targetDir();
    const before = snapshot(dir);
    try {
      const started = Date.now();
      const err = await refusal(
        install({
          source: { kind: 'download', feedBase: `http://127.0.0.1:${port}` },
          targetDir: dir,
          timeoutMs: 300,
        }),
      );
      assert.equal(err.problem, 'offline');
      assert.match(err.message, /no answer for 0.3 s/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await closeServer(silent);
    }
    const nupkg = buildPackage({ libs: libraries(200_000) });
    await withFeed({ nupkg, stallAfter: 50_000 }, async (feed) => {
      const err = await refusal(download(feed, dir, { timeoutMs: 300 }));
      assert.equal(err.problem, 'offline');
      assert.match(err.message, /interrupted/);
    });
    assert.deepEqual(snapshot(dir), before);
  });

  it('a redirect to plain http elsewhere is not followed, and redirect loops end', async () => {
    const nupkg = buildPackage({ libs: libraries(1000) });
    const dir = targetDir();
    const before = snapshot(dir);
    await withFeed({ nupkg, redirect: 'insecure' }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'feed');
      assert.match(err.message, /http:\/\/localhost:\d+\/cdn\/.* was not followed/);
      assert.ok(!feed.requests.some((r) => r.startsWith('/cdn/')));
    });
    await withFeed({ nupkg, redirect: 'loop' }, async (feed) => {
      const err = await refusal(download(feed, dir));
      assert.equal(err.problem, 'feed');
      assert.match(err.message, /redirected more than \d+ times/);
      const hops = feed.requests.filter((r) => r.endsWith('.nupkg')).length;
      assert.ok(hops > 1 && hops < 10, `${hops} requests`);
    });
    assert.deepEqual(snapshot(dir), before);
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
    const libs = libraries(10_000);
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
