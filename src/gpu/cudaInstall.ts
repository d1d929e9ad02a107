import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as yauzl from 'yauzl';
import { isLeftoverTemp, tempNameFor } from '../core/atomicWrite';
import { ExitLensError } from '../core/errors';
import { ortBinaryDir, ortVersion as bundledOrtVersion } from './ortPaths';
import { processAlive } from '../core/atomicWrite';
import { readOrtVersionOfProvider } from './elf';

/**
 * Installs ONNX Runtime's CUDA execution provider beside the bundled onnxruntime-node, from
 * NuGet (the package onnxruntime-node's own install script would fetch) or from a .nupkg file
 * the user downloaded elsewhere.
 *
 * What is checked: the download against the size and SHA-512 the feed's catalog publishes
 * (and any size / hash the caller passes); the package's .nuspec (id and version, which must
 * be the bundled ONNX Runtime's); that the provider libraries are inside. Only those libraries
 * are extracted, each under a fixed name (a zip entry name never becomes a path), within a
 * bound on their size; they are written to temporary names in the target folder and renamed
 * into place together at the end, with a manifest (`exit-lens-cuda.json`) recording the
 * package and the SHA-256 and size of every file. A name in the target folder that is not a
 * regular file (a symlink, a folder) is refused, never written through.
 */

/** The NuGet package with ONNX Runtime's CUDA (and TensorRT) provider for Linux x64. */
export const CUDA_PACKAGE_ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
/** Older releases shipped the Linux libraries in this package; it is accepted when they are inside. */
const ACCEPTED_PACKAGE_IDS = [CUDA_PACKAGE_ID, 'Microsoft.ML.OnnxRuntime.Gpu'].map((id) => id.toLowerCase());
export const NUGET_FEED = 'https://api.nuget.org';
/** The manifest written beside the installed libraries. */
export const CUDA_MANIFEST = 'exit-lens-cuda.json';
const LOCK_NAME = 'exit-lens-cuda.lock';
/** No package larger than this is downloaded or read. */
export const MAX_PACKAGE_BYTES = 2 * 1024 ** 3;
/** Bound on the libraries' total uncompressed size. */
export const MAX_EXTRACTED_BYTES = 4 * 1024 ** 3;
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const MAX_NUSPEC_BYTES = 1024 * 1024;
const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
/** Connect, first answer and stall limit for every request. */
export const DEFAULT_TIMEOUT_MS = 30_000;
const PROGRESS_STEP_BYTES = 1024 * 1024;
const USER_AGENT = 'exit-lens (CUDA provider setup)';

export interface ProviderLibrary {
  /** File name beside libonnxruntime.so.1. */
  name: string;
  /** Entry in the .nupkg. */
  entry: string;
  /** Whether a package without it is refused (the TensorRT provider is installed when present). */
  required: boolean;
}

export const CUDA_PROVIDER_LIBRARIES: readonly ProviderLibrary[] = [
  {
    name: 'libonnxruntime_providers_cuda.so',
    entry: 'runtimes/linux-x64/native/libonnxruntime_providers_cuda.so',
    required: true,
  },
  {
    name: 'libonnxruntime_providers_shared.so',
    entry: 'runtimes/linux-x64/native/libonnxruntime_providers_shared.so',
    required: true,
  },
  {
    name: 'libonnxruntime_providers_tensorrt.so',
    entry: 'runtimes/linux-x64/native/libonnxruntime_providers_tensorrt.so',
    required: false,
  },
];

/** Why a setup failed, for hosts that offer a next step (e.g. "install from a file" when offline). */
export type CudaSetupProblem =
  | 'unsupported-platform'
  | 'offline'
  | 'not-found'
  | 'feed'
  | 'too-large'
  | 'size-mismatch'
  | 'hash-mismatch'
  | 'wrong-version'
  | 'not-gpu-package'
  | 'bad-package'
  | 'unsafe-target'
  | 'busy'
  | 'write-failed';

export class CudaSetupError extends ExitLensError {
  readonly problem: CudaSetupProblem;
  /** The package to fetch on another machine, when a download failed. */
  readonly packageUrl: string | undefined;
  constructor(problem: CudaSetupProblem, message: string, hint?: string, packageUrl?: string) {
    super('gpu-setup', message, hint);
    this.problem = problem;
    this.packageUrl = packageUrl;
  }
}

function cancelled(): ExitLensError {
  return new ExitLensError(
    'cancelled',
    'GPU setup was cancelled.',
    'Nothing was installed; the provider folder is as it was.',
  );
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancelled();
}

// ---------------------------------------------------------------------------------------------
// Versions, platforms, places

/** The bundled onnxruntime-node's version. */
export function ortVersion(): string {
  const version = bundledOrtVersion();
  if (!version)
    throw new ExitLensError('internal', "onnxruntime-node's package.json names no version.", 'Reinstall Exit Lens.');
  return version;
}

export interface PlatformArch {
  platform: string;
  arch: string;
}

const here = (): PlatformArch => ({ platform: process.platform, arch: process.arch });

export type CudaPackageSupport = { supported: true; runtime: 'linux-x64' } | { supported: false; reason: string };

/** Whether ONNX Runtime publishes a CUDA provider the bundled onnxruntime-node can load on this platform. */
export function cudaPackageSupport(target: PlatformArch = here()): CudaPackageSupport {
  const { platform, arch } = target;
  if (platform === 'linux' && arch === 'x64') return { supported: true, runtime: 'linux-x64' };
  if (platform === 'win32') {
    return {
      supported: false,
      reason:
        'CUDA setup is not supported on Windows yet: the bundled onnxruntime-node for Windows is built without ' +
        'the CUDA provider (it offers DirectML and WebGPU).',
    };
  }
  if (platform === 'darwin') return { supported: false, reason: 'CUDA is not available on macOS.' };
  return {
    supported: false,
    reason: `ONNX Runtime publishes no CUDA provider for ${platform}-${arch}; only for Linux x64.`,
  };
}

/** Where onnxruntime-node looks for provider libraries (beside libonnxruntime.so.1), or null without a CUDA package. */
export function providerTargetDir(target: PlatformArch = here()): string | null {
  if (!cudaPackageSupport(target).supported) return null;
  return ortBinaryDir(target.platform, target.arch);
}

export interface OfficialPackage {
  id: string;
  version: string;
  /** The .nupkg (NuGet's flat container): what to download on another machine. */
  url: string;
  /** Registration leaf: points to the catalog entry that holds the package's size and hash. */
  registrationUrl: string;
}

function trimBase(feedBase: string): string {
  return feedBase.replace(/\/+$/, '');
}

export function officialPackage(version: string = ortVersion(), feedBase: string = NUGET_FEED): OfficialPackage {
  const id = CUDA_PACKAGE_ID.toLowerCase();
  const v = version.toLowerCase();
  const base = trimBase(feedBase);
  return {
    id: CUDA_PACKAGE_ID,
    version,
    url: `${base}/v3-flatcontainer/${id}/${v}/${id}.${v}.nupkg`,
    registrationUrl: `${base}/v3/registration5-semver1/${id}/${v}.json`,
  };
}

/** NuGet compares versions without case and without build metadata. */
function sameVersion(a: string, b: string): boolean {
  const norm = (v: string) => v.trim().toLowerCase().replace(/\+.*$/, '');
  return norm(a) === norm(b);
}

// ---------------------------------------------------------------------------------------------
// Network

interface NetOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  /** The feed's origin: plain http is followed only there (https anywhere). */
  feedOrigin: string;
  /** What to download on another machine, named in every network error. */
  packageUrl: string;
}

class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer for ${ms / 1000} s`);
  }
}

function offlineHint(packageUrl: string): string {
  return (
    `Download ${packageUrl} on a machine with internet access, copy the file here and install the CUDA provider ` +
    'from that package file.'
  );
}

function causeText(err: unknown): string {
  if (err instanceof TimeoutError) return err.message;
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name could not be resolved: is this machine offline?';
    case 'ECONNRESET':
      return 'the connection was reset';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'the network is unreachable';
    default:
      return code ? `${(err as Error).message} (${code})` : String((err as Error)?.message ?? err);
  }
}

function networkError(err: unknown, url: string, o: NetOptions, during: string): ExitLensError {
  if (o.signal?.aborted) return cancelled();
  if (err instanceof ExitLensError) return err;
  return new CudaSetupError(
    'offline',
    `Could not reach the package feed (${new URL(url).origin}) ${during}: ${causeText(err)}.`,
    offlineHint(o.packageUrl),
    o.packageUrl,
  );
}

function requestOnce(url: URL, o: NetOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { headers: { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' } });
    const timer = setTimeout(() => req.destroy(new TimeoutError(o.timeoutMs)), o.timeoutMs);
    const onAbort = () => req.destroy(cancelled());
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    };
    // The listener stays: an error after the answer (a destroyed body) must not go unhandled.
    req.on('error', (err) => {
      settle();
      reject(err);
    });
    req.on('response', (res) => {
      settle();
      resolve(res);
    });
  });
}

/** GET with redirects followed (at most MAX_REDIRECTS; plain http only on the feed's own origin). */
async function openUrl(start: string, o: NetOptions): Promise<{ res: http.IncomingMessage; url: string }> {
  let url = new URL(start);
  for (let hop = 0; ; hop++) {
    throwIfAborted(o.signal);
    if (url.protocol !== 'https:' && url.origin !== o.feedOrigin) {
      throw new CudaSetupError(
        'feed',
        `The package feed sent Exit Lens to ${url.href}, which is neither https nor the feed itself; ` +
          'it was not followed.',
        offlineHint(o.packageUrl),
        o.packageUrl,
      );
    }
    let res: http.IncomingMessage;
    try {
      res = await requestOnce(url, o);
    } catch (err) {
      throw networkError(err, url.href, o, `for ${url.pathname}`);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      res.destroy();
      if (hop >= MAX_REDIRECTS) {
        throw new CudaSetupError(
          'feed',
          `The package feed redirected more than ${MAX_REDIRECTS} times from ${start}.`,
          offlineHint(o.packageUrl),
          o.packageUrl,
        );
      }
      url = new URL(location, url);
      continue;
    }
    return { res, url: url.href };
  }
}

/**
 * Reads a response body chunk by chunk: `onChunk` sees every chunk; a stall longer than the
 * timeout, an abort, or `onChunk` throwing ends the transfer.
 */
async function readBody(
  res: http.IncomingMessage,
  o: NetOptions,
  onChunk: (chunk: Buffer) => void | Promise<void>,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => res.destroy(new TimeoutError(o.timeoutMs)), o.timeoutMs);
  };
  const onAbort = () => res.destroy(cancelled());
  o.signal?.addEventListener('abort', onAbort, { once: true });
  arm();
  try {
    throwIfAborted(o.signal);
    for await (const chunk of res as AsyncIterable<Buffer>) {
      arm();
      await onChunk(chunk);
    }
    // An answer cut short ends the loop without an error on some Node versions.
    if (!res.complete) throw new Error('the connection closed before the answer was complete');
  } catch (err) {
    res.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** A JSON document, or null when the feed answers 404 / 410. */
async function getJson(url: string, o: NetOptions, what: string): Promise<Record<string, unknown> | null> {
  const { res, url: finalUrl } = await openUrl(url, o);
  const status = res.statusCode ?? 0;
  if (status === 404 || status === 410) {
    res.destroy();
    return null;
  }
  if (status !== 200) {
    res.destroy();
    throw new CudaSetupError(
      'feed',
      `The package feed answered HTTP ${status} for ${what} (${finalUrl}).`,
      offlineHint(o.packageUrl),
      o.packageUrl,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    await readBody(res, o, (chunk) => {
      size += chunk.length;
      if (size > MAX_JSON_BYTES) throw new Error(`more than ${MAX_JSON_BYTES} bytes`);
      chunks.push(chunk);
    });
  } catch (err) {
    throw networkError(err, finalUrl, o, `while reading ${what}`);
  }
  let body = Buffer.concat(chunks);
  try {
    if (/gzip/i.test(String(res.headers['content-encoding'] ?? ''))) {
      body = zlib.gunzipSync(body, { maxOutputLength: MAX_JSON_BYTES });
    }
    const doc: unknown = JSON.parse(body.toString('utf8'));
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as Record<string, unknown>;
  } catch (err) {
    throw new CudaSetupError(
      'feed',
      `The package feed's ${what} (${finalUrl}) is not readable JSON: ${(err as Error).message}.`,
      offlineHint(o.packageUrl),
      o.packageUrl,
    );
  }
}

interface FeedPackage {
  size: number;
  sha512Base64: string;
  catalogUrl: string;
}

/** The size and SHA-512 the feed's catalog publishes for the package. */
async function resolveFeedPackage(pkg: OfficialPackage, o: NetOptions): Promise<FeedPackage> {
  const notFound = (where: string) =>
    new CudaSetupError(
      'not-found',
      `The package feed has no ${pkg.id} ${pkg.version} (${where}).`,
      `ONNX Runtime publishes its CUDA provider for each release; a development build of onnxruntime-node has ` +
        'none. Install a released onnxruntime-node, or install a matching package from a file.',
      pkg.url,
    );
  const badFeed = (why: string) =>
    new CudaSetupError(
      'feed',
      `The package feed's record of ${pkg.id} ${pkg.version} cannot be used: ${why}.`,
      offlineHint(o.packageUrl),
      pkg.url,
    );
  const leaf = await getJson(pkg.registrationUrl, o, 'package registration');
  if (!leaf) throw notFound(`nothing at ${pkg.registrationUrl}`);
  const entry = leaf.catalogEntry;
  const catalogUrl =
    typeof entry === 'string'
      ? entry
      : entry && typeof entry === 'object' && typeof (entry as Record<string, unknown>)['@id'] === 'string'
        ? ((entry as Record<string, unknown>)['@id'] as string)
        : null;
  if (!catalogUrl) throw badFeed('its registration names no catalog entry');
  let catalogHref: string;
  try {
    catalogHref = new URL(catalogUrl, pkg.registrationUrl).href;
  } catch {
    throw badFeed(`its catalog entry "${catalogUrl}" is not a URL`);
  }
  const catalog = await getJson(catalogHref, o, 'catalog entry');
  if (!catalog) throw notFound(`nothing at ${catalogHref}`);
  const types = ([] as unknown[]).concat(catalog['@type'] ?? []);
  if (types.some((t) => typeof t === 'string' && /PackageDelete/i.test(t))) {
    throw notFound('it was deleted from the feed');
  }
  if (typeof catalog.id === 'string' && catalog.id.toLowerCase() !== pkg.id.toLowerCase()) {
    throw badFeed(`its catalog entry describes ${catalog.id}`);
  }
  if (typeof catalog.version === 'string' && !sameVersion(catalog.version, pkg.version)) {
    throw badFeed(`its catalog entry describes version ${catalog.version}`);
  }
  const size = catalog.packageSize;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) {
    throw badFeed('its catalog entry gives no package size');
  }
  const algorithm = String(catalog.packageHashAlgorithm ?? '')
    .toUpperCase()
    .replace('-', '');
  const hash = catalog.packageHash;
  if (typeof hash !== 'string' || !hash) throw badFeed('its catalog entry gives no package hash');
  if (algorithm !== 'SHA512') throw badFeed(`its catalog entry gives a ${algorithm || 'unnamed'} hash, not SHA-512`);
  const bytes = Buffer.from(hash, 'base64');
  if (bytes.length !== 64) throw badFeed(`its SHA-512 "${hash}" is not 64 bytes of base64`);
  return { size, sha512Base64: bytes.toString('base64'), catalogUrl: catalogHref };
}

// ---------------------------------------------------------------------------------------------
// Files

/** A folder's names that are not regular files are refused: nothing is written through a symlink. */
async function checkTargetName(dir: string, name: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(path.join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isFile()) {
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a folder' : 'not a regular file';
    throw new CudaSetupError(
      'unsafe-target',
      `${path.join(dir, name)} is ${what}; Exit Lens does not write through it.`,
      'Remove it (or replace it with the library file itself) and set up the CUDA provider again.',
    );
  }
}

function writeError(err: unknown, dir: string): ExitLensError | null {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new CudaSetupError(
      'write-failed',
      `Exit Lens cannot write to ${dir} (${code}).`,
      'The CUDA provider goes beside the bundled ONNX Runtime; make that folder writable, or install the ' +
        'extension where your user can write.',
    );
  }
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CudaSetupError(
      'write-failed',
      `There is not enough disk space in ${dir} for the CUDA provider.`,
      'The package and its libraries need roughly three times the package size while installing; free some space.',
    );
  }
  return null;
}

/** The version a staged library holds, or null when it cannot be told (elf.ts). */
function providerVersionOf(file: string): string | null {
  try {
    return readOrtVersionOfProvider(file);
  } catch {
    return null;
  }
}

/** One setup per folder at a time; a lock left by a process that is gone is taken over. */
async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, LOCK_NAME);
  await checkTargetName(dir, LOCK_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.promises.writeFile(file, String(process.pid), { flag: 'wx' });
      return () => fs.promises.rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await fs.promises.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new CudaSetupError(
          'busy',
          `Another CUDA provider setup is running in ${dir} (process ${owner}).`,
          'Wait for it to finish, then try again.',
        );
      }
      await fs.promises.rm(file, { force: true });
    }
  }
  throw new CudaSetupError('busy', `Could not take the setup lock ${file}.`, 'Try again.');
}

/** Temporary files that an interrupted setup left (their writer is gone). */
async function removeLeftovers(dir: string, targets: string[]): Promise<void> {
  for (const name of await fs.promises.readdir(dir)) {
    if (targets.some((t) => isLeftoverTemp(dir, name, t))) await fs.promises.rm(path.join(dir, name), { force: true });
  }
}

interface Hashes {
  size: number;
  sha256: string;
  sha512Base64: string;
}

class Hasher {
  private readonly h256 = crypto.createHash('sha256');
  private readonly h512 = crypto.createHash('sha512');
  size = 0;
  update(chunk: Buffer): void {
    this.h256.update(chunk);
    this.h512.update(chunk);
    this.size += chunk.length;
  }
  digest(): Hashes {
    return { size: this.size, sha256: this.h256.digest('hex'), sha512Base64: this.h512.digest('base64') };
  }
}

/** Reads a stream to its end, feeding each chunk to `onChunk`; an abort destroys it. */
async function drain(stream: Readable, signal: AbortSignal | undefined, onChunk: (c: Buffer) => Promise<void> | void) {
  const onAbort = () => stream.destroy(cancelled());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    throwIfAborted(signal);
    for await (const chunk of stream as AsyncIterable<Buffer>) await onChunk(chunk);
  } catch (err) {
    stream.destroy();
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function hashFile(file: string, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<Hashes> {
  const hasher = new Hasher();
  await drain(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), signal, (chunk) => {
    hasher.update(chunk);
    onBytes?.(hasher.size);
  });
  return hasher.digest();
}

async function sha256OfFile(file: string): Promise<string> {
  return (await hashFile(file)).sha256;
}

// ---------------------------------------------------------------------------------------------
// The package

interface OpenedPackage {
  zip: yauzl.ZipFile;
  id: string;
  version: string;
  libraries: { lib: ProviderLibrary; entry: yauzl.Entry }[];
}

function badPackage(where: string, why: string): CudaSetupError {
  return new CudaSetupError(
    'bad-package',
    `${where} is not a readable NuGet package: ${why}.`,
    `Use ONNX Runtime's ${CUDA_PACKAGE_ID} package (.nupkg) as NuGet serves it.`,
  );
}

function parseNuspec(xml: string): { id: string | null; version: string | null } {
  const text = xml.replace(/^\uFEFF/, '');
  const metadata = /<metadata\b[^>]*>([\s\S]*?)<\/metadata>/i.exec(text)?.[1] ?? text;
  const field = (name: string) => {
    const m = new RegExp(`<${name}\\s*>\\s*([^<]*?)\\s*</${name}\\s*>`, 'i').exec(metadata);
    return m ? m[1] : null;
  };
  return { id: field('id'), version: field('version') };
}

async function readEntryText(zip: yauzl.ZipFile, entry: yauzl.Entry, max: number, where: string): Promise<string> {
  if (entry.uncompressedSize > max) throw badPackage(where, `its .nuspec claims ${entry.uncompressedSize} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  await drain(await zip.openReadStreamPromise(entry), undefined, (chunk) => {
    size += chunk.length;
    if (size > max) throw badPackage(where, 'its .nuspec is too large');
    chunks.push(chunk);
  });
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Opens a .nupkg and checks it is ONNX Runtime's CUDA package for `version`. Entry names are
 * compared as raw bytes with the known names; nothing else in the package is looked at.
 */
async function openPackage(file: string, where: string, version: string, pkgUrl: string): Promise<OpenedPackage> {
  let zip: yauzl.ZipFile;
  try {
    // decodeStrings: false keeps names as bytes: a name such as ../x is compared, never interpreted.
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, decodeStrings: false });
  } catch (err) {
    throw badPackage(where, `it is not a zip archive (${(err as Error).message})`);
  }
  try {
    let nuspec: yauzl.Entry | null = null;
    const found = new Map<string, { lib: ProviderLibrary; entry: yauzl.Entry }>();
    try {
      for await (const entry of zip.eachEntry()) {
        const name = entry.fileNameRaw.toString('latin1');
        if (/^[^/\\]+\.nuspec$/i.test(name)) {
          if (nuspec) throw badPackage(where, 'it holds more than one .nuspec');
          nuspec = entry;
          continue;
        }
        const lib = CUDA_PROVIDER_LIBRARIES.find((l) => l.entry === name);
        if (!lib) continue;
        if (found.has(lib.name)) throw badPackage(where, `it holds ${lib.entry} twice`);
        found.set(lib.name, { lib, entry });
      }
    } catch (err) {
      if (err instanceof ExitLensError) throw err;
      throw badPackage(where, (err as Error).message);
    }
    if (!nuspec) throw badPackage(where, 'it has no .nuspec');
    let meta: { id: string | null; version: string | null };
    try {
      meta = parseNuspec(await readEntryText(zip, nuspec, MAX_NUSPEC_BYTES, where));
    } catch (err) {
      if (err instanceof ExitLensError) throw err;
      throw badPackage(where, `its .nuspec cannot be read (${(err as Error).message})`);
    }
    if (!meta.id || !meta.version) throw badPackage(where, 'its .nuspec names no package id or version');
    if (!ACCEPTED_PACKAGE_IDS.includes(meta.id.toLowerCase())) {
      throw new CudaSetupError(
        'not-gpu-package',
        `${where} is ${meta.id} ${meta.version}, not ONNX Runtime's CUDA provider package (${CUDA_PACKAGE_ID}).`,
        `Use ${CUDA_PACKAGE_ID} ${version}: ${pkgUrl}`,
        pkgUrl,
      );
    }
    if (!sameVersion(meta.version, version)) {
      throw new CudaSetupError(
        'wrong-version',
        `This package is ONNX Runtime ${meta.version}'s CUDA provider; the bundled ONNX Runtime is ${version}.`,
        `The provider must match the bundled ONNX Runtime exactly. Use ${CUDA_PACKAGE_ID} ${version}: ${pkgUrl}`,
        pkgUrl,
      );
    }
    const missing = CUDA_PROVIDER_LIBRARIES.filter((l) => l.required && !found.has(l.name));
    if (missing.length) {
      throw new CudaSetupError(
        'not-gpu-package',
        `${where} (${meta.id} ${meta.version}) holds no ${missing.map((l) => l.entry).join(' or ')}: ` +
          "it is not ONNX Runtime's CUDA provider for Linux x64.",
        `Use ${CUDA_PACKAGE_ID} ${version}: ${pkgUrl}`,
        pkgUrl,
      );
    }
    const libraries = CUDA_PROVIDER_LIBRARIES.flatMap((l) => (found.has(l.name) ? [found.get(l.name)!] : []));
    return { zip, id: meta.id, version: meta.version, libraries };
  } catch (err) {
    zip.close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Manifest and status

export interface InstalledFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

export interface CudaManifest {
  schema: 1;
  installedBy: 'Exit Lens';
  packageId: string;
  version: string;
  platform: 'linux-x64';
  package: {
    size: number;
    sha256: string;
    sha512Base64: string;
    source: { kind: 'download'; url: string } | { kind: 'file'; path: string };
    /** What the package was checked against before anything was installed. */
    verifiedAgainst: string[];
  };
  installedAt: string;
  files: { name: string; entry: string; size: number; sha256: string }[];
}

function parseManifest(text: string): CudaManifest | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  const m = doc as Partial<CudaManifest> | null;
  if (!m || typeof m !== 'object' || m.schema !== 1) return null;
  if (typeof m.version !== 'string' || typeof m.packageId !== 'string') return null;
  if (!Array.isArray(m.files) || !m.package || typeof m.package !== 'object') return null;
  const known = new Set(CUDA_PROVIDER_LIBRARIES.map((l) => l.name));
  for (const f of m.files) {
    if (!f || typeof f.name !== 'string' || !known.has(f.name)) return null;
    if (typeof f.size !== 'number' || typeof f.sha256 !== 'string') return null;
  }
  return m as CudaManifest;
}

async function readManifest(dir: string): Promise<{ manifest: CudaManifest | null; problem: string | null }> {
  const file = path.join(dir, CUDA_MANIFEST);
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(file);
  } catch {
    return { manifest: null, problem: null };
  }
  if (!st.isFile() || st.size > MAX_MANIFEST_BYTES) {
    return { manifest: null, problem: `${file} is not a manifest file.` };
  }
  const manifest = parseManifest(await fs.promises.readFile(file, 'utf8'));
  return manifest ? { manifest, problem: null } : { manifest: null, problem: `${file} is not a readable manifest.` };
}

export interface InstalledCudaProvider {
  /** The manifest's files are all there, unchanged, and for the bundled ONNX Runtime. */
  installed: boolean;
  /** The ONNX Runtime version the manifest names. */
  version?: string;
  manifest?: CudaManifest;
  /** One sentence each. */
  problems: string[];
  /** Provider library names present in the folder as regular files, with or without a manifest. */
  presentLibraries: string[];
}

export interface InstalledCheckOptions {
  /** The ONNX Runtime version the provider must match; default: the bundled onnxruntime-node's. */
  ortVersion?: string;
  /** Hash every file (default); false compares sizes only. */
  checkHashes?: boolean;
}

/** What the manifest in `targetDir` says is installed, checked against the files there. */
export async function installedCudaProvider(
  targetDir: string,
  opts: InstalledCheckOptions = {},
): Promise<InstalledCudaProvider> {
  const bundled = opts.ortVersion ?? ortVersion();
  const presentLibraries: string[] = [];
  for (const lib of CUDA_PROVIDER_LIBRARIES) {
    const st = await fs.promises.lstat(path.join(targetDir, lib.name)).catch(() => null);
    if (st?.isFile()) presentLibraries.push(lib.name);
  }
  const { manifest, problem } = await readManifest(targetDir);
  if (!manifest) {
    const cuda = CUDA_PROVIDER_LIBRARIES[0].name;
    const problems = problem
      ? [problem]
      : presentLibraries.includes(cuda)
        ? [
            `${cuda} is in ${targetDir} but was not installed by Exit Lens (no ${CUDA_MANIFEST}), ` +
              'so its ONNX Runtime version is unknown.',
          ]
        : [`The CUDA provider is not installed in ${targetDir}.`];
    return { installed: false, problems, presentLibraries };
  }
  const problems: string[] = [];
  if (!sameVersion(manifest.version, bundled)) {
    problems.push(
      `The installed CUDA provider is ONNX Runtime ${manifest.version}'s; the bundled ONNX Runtime is ${bundled}.`,
    );
  }
  for (const lib of CUDA_PROVIDER_LIBRARIES) {
    if (lib.required && !manifest.files.some((f) => f.name === lib.name)) {
      problems.push(`${lib.name} is not among the installed files.`);
    }
  }
  for (const f of manifest.files) {
    const file = path.join(targetDir, f.name);
    const st = await fs.promises.lstat(file).catch(() => null);
    if (!st) problems.push(`${f.name} is missing from ${targetDir}.`);
    else if (!st.isFile()) problems.push(`${file} is not a regular file.`);
    else if (st.size !== f.size) problems.push(`${f.name} has ${st.size} bytes; ${f.size} were installed.`);
    else if (opts.checkHashes !== false && (await sha256OfFile(file)) !== f.sha256) {
      problems.push(`${f.name} has changed since it was installed (its SHA-256 differs).`);
    }
  }
  return { installed: problems.length === 0, version: manifest.version, manifest, problems, presentLibraries };
}

// ---------------------------------------------------------------------------------------------
// Installing

export type CudaSource = { kind: 'download'; feedBase?: string } | { kind: 'file'; path: string };

export interface CudaProgress {
  phase: 'resolve' | 'download' | 'verify' | 'extract';
  received: number;
  total: number | null;
}

export interface ExpectedPackage {
  size?: number;
  /** Hex. */
  sha256?: string;
  sha512Base64?: string;
}

export interface InstallCudaOptions {
  source: CudaSource;
  /** The folder onnxruntime-node loads providers from (see providerTargetDir()); it must exist. */
  targetDir: string;
  signal?: AbortSignal;
  onProgress?: (p: CudaProgress) => void;
  /** Checked in addition to what the feed publishes. */
  expected?: ExpectedPackage;
  /** The ONNX Runtime version the package must be for; default: the bundled onnxruntime-node's. */
  ortVersion?: string;
  /** Connect, first answer and stall limit for each request (default 30 s). */
  timeoutMs?: number;
  /** Largest package accepted (default and upper limit MAX_PACKAGE_BYTES). */
  maxPackageBytes?: number;
  /** Bound on the libraries' total uncompressed size (default and upper limit MAX_EXTRACTED_BYTES). */
  maxExtractedBytes?: number;
  /** Install even when the manifest says this version is installed and intact. */
  force?: boolean;
  /** The platform the provider is for; default: this one. Only Linux x64 has a CUDA package. */
  platform?: PlatformArch;
}

export interface CudaInstallResult {
  status: 'installed' | 'already-installed';
  packageId: string;
  version: string;
  ortVersion: string;
  targetDir: string;
  manifestPath: string;
  package: CudaManifest['package'];
  files: InstalledFile[];
}

function resultFromManifest(
  status: CudaInstallResult['status'],
  dir: string,
  bundled: string,
  m: CudaManifest,
): CudaInstallResult {
  return {
    status,
    packageId: m.packageId,
    version: m.version,
    ortVersion: bundled,
    targetDir: dir,
    manifestPath: path.join(dir, CUDA_MANIFEST),
    package: m.package,
    files: m.files.map((f) => ({ name: f.name, path: path.join(dir, f.name), size: f.size, sha256: f.sha256 })),
  };
}

function progressReporter(onProgress: InstallCudaOptions['onProgress']) {
  let lastPhase = '';
  let lastReceived = 0;
  return (phase: CudaProgress['phase'], received: number, total: number | null): void => {
    if (!onProgress) return;
    const boundary = phase !== lastPhase || received === total || received === 0;
    if (!boundary && received - lastReceived < PROGRESS_STEP_BYTES) return;
    lastPhase = phase;
    lastReceived = received;
    try {
      onProgress({ phase, received, total });
    } catch {
      // A failing progress display does not stop the setup.
    }
  };
}

function describeSize(n: number): string {
  return n >= 1024 * 1024 ? `${n} bytes (${(n / 1024 / 1024).toFixed(1)} MiB)` : `${n} bytes`;
}

/** Compares a package with every size and hash it must have; refuses on the first difference. */
function verifyPackage(got: Hashes, want: { what: string; size?: number; sha256?: string; sha512Base64?: string }[]) {
  const checked: string[] = [];
  for (const w of want) {
    if (w.size !== undefined) {
      if (got.size !== w.size) {
        throw new CudaSetupError(
          'size-mismatch',
          `The package has the wrong size: ${w.what} says ${describeSize(w.size)}, got ${describeSize(got.size)}. ` +
            'It was deleted.',
          'Try again; if it happens again, something between this machine and the feed alters the download.',
        );
      }
      checked.push(`${w.what}: size`);
    }
    if (w.sha512Base64 !== undefined) {
      const wantBytes = Buffer.from(w.sha512Base64, 'base64');
      if (!wantBytes.equals(Buffer.from(got.sha512Base64, 'base64'))) {
        throw new CudaSetupError(
          'hash-mismatch',
          `The package's SHA-512 does not match what ${w.what} says: expected ${w.sha512Base64}, got ` +
            `${got.sha512Base64}. It was deleted.`,
          'Try again; if it happens again, something between this machine and the feed alters the download.',
        );
      }
      checked.push(`${w.what}: SHA-512`);
    }
    if (w.sha256 !== undefined) {
      if (w.sha256.toLowerCase() !== got.sha256) {
        throw new CudaSetupError(
          'hash-mismatch',
          `The package's SHA-256 does not match what ${w.what} says: expected ${w.sha256.toLowerCase()}, got ` +
            `${got.sha256}. It was deleted.`,
          'Check that the file is the package you meant; download it again if it is.',
        );
      }
      checked.push(`${w.what}: SHA-256`);
    }
  }
  return checked;
}

/** Downloads `url` to `file` (created new), refusing more than `limit` bytes. */
async function download(
  url: string,
  file: string,
  expectedSize: number,
  limit: number,
  o: NetOptions,
  report: (received: number) => void,
): Promise<Hashes> {
  const { res, url: finalUrl } = await openUrl(url, o);
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    res.destroy();
    throw new CudaSetupError(
      status === 404 || status === 410 ? 'not-found' : 'feed',
      `The package feed answered HTTP ${status} for the package (${finalUrl}).`,
      offlineHint(o.packageUrl),
      o.packageUrl,
    );
  }
  const encoding = String(res.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    res.destroy();
    throw new CudaSetupError('feed', `The package feed sent the package with content-encoding ${encoding}.`);
  }
  const announced = res.headers['content-length'] === undefined ? null : Number(res.headers['content-length']);
  if (announced !== null && announced !== expectedSize) {
    res.destroy();
    throw new CudaSetupError(
      'size-mismatch',
      `The package has the wrong size: the feed's catalog says ${describeSize(expectedSize)}, the server sends ` +
        `${describeSize(announced)}. Nothing was downloaded.`,
      'Try again later; if it persists, something between this machine and the feed alters the download.',
      o.packageUrl,
    );
  }
  const hasher = new Hasher();
  const handle = await fs.promises.open(file, 'wx', 0o644);
  try {
    report(0);
    await readBody(res, o, async (chunk) => {
      if (hasher.size + chunk.length > limit) {
        throw new CudaSetupError(
          'size-mismatch',
          `The server sent more than the ${describeSize(limit)} the package should have; the download was stopped ` +
            'and deleted.',
          'Try again later; if it persists, something between this machine and the feed alters the download.',
          o.packageUrl,
        );
      }
      hasher.update(chunk);
      await handle.write(chunk);
      report(hasher.size);
    });
  } catch (err) {
    const local = writeError(err, path.dirname(file));
    if (local) throw local;
    throw networkError(err, finalUrl, o, 'while downloading the package; the download was interrupted');
  } finally {
    await handle.close();
  }
  return hasher.digest();
}

interface Staged {
  temp: string;
  final: string;
}

/** Renames every staged file into place; on any failure the folder is put back as it was. */
async function commit(dir: string, staged: Staged[], replaceable: string[]): Promise<void> {
  const backups: Staged[] = [];
  const placed: string[] = [];
  try {
    for (const name of replaceable) {
      const final = path.join(dir, name);
      await checkTargetName(dir, name);
      if (!fs.existsSync(final)) continue;
      const backup = tempNameFor(final);
      await fs.promises.rename(final, backup);
      backups.push({ temp: backup, final });
    }
    for (const s of staged) {
      await fs.promises.rename(s.temp, s.final);
      placed.push(s.final);
    }
  } catch (err) {
    for (const file of placed) await fs.promises.rm(file, { force: true }).catch(() => undefined);
    for (const b of backups) await fs.promises.rename(b.temp, b.final).catch(() => undefined);
    throw err;
  }
  for (const b of backups) await fs.promises.rm(b.temp, { force: true }).catch(() => undefined);
}

/**
 * Installs the CUDA provider libraries of the bundled ONNX Runtime's version into `targetDir`.
 * All or nothing: on any failure or cancellation the folder is left as it was.
 */
export async function installCudaProvider(opts: InstallCudaOptions): Promise<CudaInstallResult> {
  const bundled = opts.ortVersion ?? ortVersion();
  const dir = path.resolve(opts.targetDir);
  const signal = opts.signal;
  const feedBase = trimBase(opts.source.kind === 'download' ? (opts.source.feedBase ?? NUGET_FEED) : NUGET_FEED);
  const official = officialPackage(bundled, feedBase);
  const packageCap = Math.min(opts.maxPackageBytes ?? MAX_PACKAGE_BYTES, MAX_PACKAGE_BYTES);
  const extractCap = Math.min(opts.maxExtractedBytes ?? MAX_EXTRACTED_BYTES, MAX_EXTRACTED_BYTES);
  const report = progressReporter(opts.onProgress);
  throwIfAborted(signal);
  const support = cudaPackageSupport(opts.platform ?? here());
  if (!support.supported) throw new CudaSetupError('unsupported-platform', support.reason);

  const dirStat = await fs.promises.stat(dir).catch(() => null);
  if (!dirStat?.isDirectory()) {
    throw new CudaSetupError(
      'write-failed',
      `${dir} is not a folder.`,
      'The CUDA provider goes beside the bundled ONNX Runtime (libonnxruntime.so.1).',
    );
  }
  const libNames = CUDA_PROVIDER_LIBRARIES.map((l) => l.name);
  const replaceable = [...libNames, CUDA_MANIFEST];
  for (const name of replaceable) await checkTargetName(dir, name);

  const temps: string[] = [];
  let zip: yauzl.ZipFile | null = null;
  let release: (() => Promise<void>) | null = null;
  try {
    release = await acquireLock(dir);
    const packageFileName = `${official.id.toLowerCase()}.${bundled.toLowerCase()}.nupkg`;
    await removeLeftovers(dir, [...replaceable, packageFileName]);

    const alreadyInstalled = async (): Promise<CudaInstallResult | null> => {
      if (opts.force) return null;
      const state = await installedCudaProvider(dir, { ortVersion: bundled });
      if (!state.installed || !state.manifest) return null;
      return resultFromManifest('already-installed', dir, bundled, state.manifest);
    };

    let packageFile: string;
    let where: string;
    let hashes: Hashes;
    let verifiedAgainst: string[];
    let source: CudaManifest['package']['source'];
    const callerExpected = { what: 'the expected package', ...opts.expected };

    if (opts.source.kind === 'download') {
      const done = await alreadyInstalled();
      if (done) return done;
      const net: NetOptions = {
        signal,
        timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        feedOrigin: new URL(feedBase).origin,
        packageUrl: official.url,
      };
      report('resolve', 0, null);
      const feed = await resolveFeedPackage(official, net);
      if (feed.size > packageCap) {
        throw new CudaSetupError(
          'too-large',
          `The feed says the package has ${describeSize(feed.size)}, more than the ${describeSize(packageCap)} ` +
            'Exit Lens accepts.',
          'Nothing was downloaded.',
          official.url,
        );
      }
      packageFile = tempNameFor(path.join(dir, packageFileName));
      temps.push(packageFile);
      where = official.url;
      try {
        hashes = await download(official.url, packageFile, feed.size, feed.size, net, (n) =>
          report('download', n, feed.size),
        );
      } catch (err) {
        throw writeError(err, dir) ?? err;
      }
      report('verify', 0, hashes.size);
      verifiedAgainst = verifyPackage(hashes, [
        { what: "the feed's catalog", size: feed.size, sha512Base64: feed.sha512Base64 },
        callerExpected,
      ]);
      report('verify', hashes.size, hashes.size);
      source = { kind: 'download', url: official.url };
    } else {
      packageFile = path.resolve(opts.source.path);
      where = packageFile;
      const st = await fs.promises.stat(packageFile).catch(() => null);
      if (!st?.isFile()) {
        throw new CudaSetupError('bad-package', `${packageFile} is not a file.`, `Download it from ${official.url}`);
      }
      if (st.size > packageCap) {
        throw new CudaSetupError(
          'too-large',
          `${packageFile} has ${describeSize(st.size)}, more than the ${describeSize(packageCap)} Exit Lens accepts.`,
        );
      }
      // The .nuspec first: a package for another version is refused before it is read whole.
      (await openPackage(packageFile, where, bundled, official.url)).zip.close();
      const done = await alreadyInstalled();
      if (done) return done;
      hashes = await hashFile(packageFile, signal, (n) => report('verify', n, st.size));
      report('verify', hashes.size, hashes.size);
      verifiedAgainst = verifyPackage(hashes, [callerExpected]);
      source = { kind: 'file', path: packageFile };
    }
    throwIfAborted(signal);

    const pkg = await openPackage(packageFile, where, bundled, official.url);
    zip = pkg.zip;
    const declared = pkg.libraries.reduce((sum, l) => sum + l.entry.uncompressedSize, 0);
    if (declared > extractCap) {
      throw new CudaSetupError(
        'too-large',
        `${where}'s provider libraries claim ${describeSize(declared)} uncompressed, more than the ` +
          `${describeSize(extractCap)} Exit Lens accepts.`,
        'Nothing was installed.',
      );
    }

    const staged: Staged[] = [];
    const files: CudaManifest['files'] = [];
    let extracted = 0;
    report('extract', 0, declared);
    for (const { lib, entry } of pkg.libraries) {
      const final = path.join(dir, lib.name);
      const temp = tempNameFor(final);
      temps.push(temp);
      const hasher = new Hasher();
      const handle = await fs.promises.open(temp, 'wx', 0o644);
      try {
        // yauzl refuses a stream that inflates to more (or less) than the entry's declared size.
        const stream = await zip.openReadStreamPromise(entry);
        await drain(stream, signal, async (chunk) => {
          if (hasher.size + chunk.length > entry.uncompressedSize) {
            throw new Error(`${lib.entry} is larger than it says`);
          }
          hasher.update(chunk);
          await handle.write(chunk);
          extracted += chunk.length;
          report('extract', extracted, declared);
        });
      } catch (err) {
        if (err instanceof ExitLensError) throw err;
        throw writeError(err, dir) ?? badPackage(where, `${lib.entry} cannot be extracted (${(err as Error).message})`);
      } finally {
        await handle.close();
      }
      const h = hasher.digest();
      if (h.size !== entry.uncompressedSize) {
        throw badPackage(where, `${lib.entry} holds ${h.size} bytes, not the ${entry.uncompressedSize} it declares`);
      }
      staged.push({ temp, final });
      files.push({ name: lib.name, entry: lib.entry, size: h.size, sha256: h.sha256 });
    }
    zip.close();
    zip = null;
    throwIfAborted(signal);
    // The library holds the version it was built for too (elf.ts): a package whose .nuspec and
    // library disagree is refused as well.
    const cudaLib = staged.find((st) => path.basename(st.final) === 'libonnxruntime_providers_cuda.so');
    const builtFor = cudaLib ? providerVersionOf(cudaLib.temp) : null;
    if (builtFor && !sameVersion(builtFor, bundled)) {
      throw new CudaSetupError(
        'wrong-version',
        `The CUDA provider library in ${where} was built for ONNX Runtime ${builtFor}; the bundled ONNX Runtime is ${bundled}.`,
        `The provider must match the bundled ONNX Runtime exactly. Use ${CUDA_PACKAGE_ID} ${bundled}: ${officialPackage(bundled).url}`,
      );
    }

    const manifest: CudaManifest = {
      schema: 1,
      installedBy: 'Exit Lens',
      packageId: pkg.id,
      version: pkg.version,
      platform: 'linux-x64',
      package: { size: hashes.size, sha256: hashes.sha256, sha512Base64: hashes.sha512Base64, source, verifiedAgainst },
      installedAt: new Date().toISOString(),
      files,
    };
    const manifestFinal = path.join(dir, CUDA_MANIFEST);
    const manifestTemp = tempNameFor(manifestFinal);
    temps.push(manifestTemp);
    await fs.promises.writeFile(manifestTemp, JSON.stringify(manifest, null, 2) + '\n', { flag: 'wx', mode: 0o644 });
    staged.push({ temp: manifestTemp, final: manifestFinal });

    // Past this point the setup is not cancelled: the renames are quick and put everything in place at once.
    await commit(dir, staged, replaceable);
    return resultFromManifest('installed', dir, bundled, manifest);
  } catch (err) {
    if (signal?.aborted && !(err instanceof CudaSetupError && err.problem === 'busy')) throw cancelled();
    throw writeError(err, dir) ?? err;
  } finally {
    zip?.close();
    for (const t of temps) await fs.promises.rm(t, { force: true }).catch(() => undefined);
    await release?.().catch(() => undefined);
  }
}
