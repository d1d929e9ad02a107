/**
 * What the CUDA installer's tests build: NuGet packages (.nupkg zips with a .nuspec and provider
 * libraries that are small but real x86-64 shared objects), a NuGet-like feed on 127.0.0.1
 * (registration leaf, catalog entry, a redirect to the package, optional faults), target folders
 * and the checks the tests share.
 */
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Zip, ZipDeflate, Zippable, zipSync } from 'fflate';
import { CudaInstallResult, installCudaProvider, InstallCudaOptions } from '../../../src/gpu/cudaInstall';
import { CUDA_MANIFEST } from '../../../src/gpu/cudaManifest';
import { CudaSetupError } from '../../../src/gpu/cudaPackage';
import { tmpDir } from '../helpers';
import { providerLibraryBytes } from './elfBuilder';

export const ORT_PACKAGE_JSON = path.join(
  __dirname,
  '..',
  '..',
  '..',
  'node_modules',
  'onnxruntime-node',
  'package.json',
);
export const ORT: string = JSON.parse(fs.readFileSync(ORT_PACKAGE_JSON, 'utf8')).version;
export const ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
export const LID = ID.toLowerCase();
export const NATIVE = 'runtimes/linux-x64/native/';
export const CUDA = 'libonnxruntime_providers_cuda.so';
export const SHARED = 'libonnxruntime_providers_shared.so';
export const TRT = 'libonnxruntime_providers_tensorrt.so';

/** Installs as on Linux x64 (the one platform with a CUDA package), whatever runs the tests. */
export const install = (opts: InstallCudaOptions) =>
  installCudaProvider({ platform: { platform: 'linux', arch: 'x64' }, ...opts });

export const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
export const sha512b64 = (b: Uint8Array) => crypto.createHash('sha512').update(b).digest('base64');

export function nuspec(id: string, version: string): Uint8Array {
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
/**
 * The package's libraries: x86-64 shared objects, the providers naming the bundled ONNX Runtime's
 * version in their read-only data, each followed by random (incompressible) bytes so that the
 * package is a few MiB.
 */
export function libraries(cudaBytes = 3 * 1024 * 1024, version = ORT): Record<string, Buffer> {
  return {
    [CUDA]: providerLibraryBytes({ version, padding: cudaBytes }),
    [SHARED]: providerLibraryBytes({ padding: 20_000, soname: SHARED }),
    [TRT]: providerLibraryBytes({ version, padding: 30_000, soname: TRT }),
  };
}

export interface PackageSpec {
  id?: string;
  version?: string;
  libs?: Record<string, Buffer>;
  /** More zip entries, by raw name. */
  extra?: Record<string, Uint8Array>;
  /** Library names written as symbolic-link entries (Unix mode 0120777) holding this link text. */
  links?: Record<string, string>;
  noNuspec?: boolean;
}

export function buildPackage(spec: PackageSpec = {}): Buffer {
  const id = spec.id ?? ID;
  const files: Record<string, Uint8Array> = {};
  if (!spec.noNuspec) files[`${id}.nuspec`] = nuspec(id, spec.version ?? ORT);
  files['[Content_Types].xml'] = Buffer.from('<Types/>');
  for (const [name, bytes] of Object.entries(spec.libs ?? {})) files[NATIVE + name] = bytes;
  const link = { os: 3, attrs: (0o120777 << 16) >>> 0 };
  const entries: Zippable = files;
  for (const [name, text] of Object.entries(spec.links ?? {})) entries[NATIVE + name] = [Buffer.from(text), link];
  Object.assign(entries, spec.extra ?? {});
  return Buffer.from(zipSync(entries, { level: 1 }));
}

/** A zip written entry by entry, so that the same name can appear twice. */
export function zipWithEntries(entries: [string, Uint8Array][]): Promise<Buffer> {
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
export function patchDeclaredSize(zip: Buffer, name: string, size: number): Buffer {
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

export interface FeedSpec {
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

export interface Feed {
  base: string;
  requests: string[];
  close(): Promise<void>;
}

export function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startFeed(spec: FeedSpec): Promise<Feed> {
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

export async function withFeed<T>(spec: FeedSpec, fn: (feed: Feed) => Promise<T>): Promise<T> {
  const feed = await startFeed(spec);
  try {
    return await fn(feed);
  } finally {
    await feed.close();
  }
}

/** A provider folder with onnxruntime's own library in it. */
export function targetDir(): string {
  const dir = path.join(tmpDir('exit-lens-cuda-'), 'x64');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'libonnxruntime.so.1'), 'the ONNX Runtime core');
  return dir;
}

/** Every name in a folder with what it is: content hash, or a link's target. */
export function snapshot(dir: string): Record<string, string> {
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

export async function refusal(promise: Promise<unknown>): Promise<CudaSetupError> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CudaSetupError, `expected a CudaSetupError, got ${String(err)}`);
  assert.equal(err.code, 'gpu-setup');
  return err;
}

export function download(feed: Feed, dir: string, more: Partial<InstallCudaOptions> = {}): Promise<CudaInstallResult> {
  return install({ source: { kind: 'download', feedBase: feed.base }, targetDir: dir, ...more });
}

export function packageUrl(base: string): string {
  const v = ORT.toLowerCase();
  return `${base}/v3-flatcontainer/${LID}/${v}/${LID}.${v}.nupkg`;
}

export function assertInstalled(dir: string, libs: Record<string, Buffer>, nupkg: Buffer): void {
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

export function packageUrlFor(base: string, v: string): string {
  return `${base}/v3-flatcontainer/${LID}/${v}/${LID}.${v}.nupkg`;
}
