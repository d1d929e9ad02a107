import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempNameFor } from '../core/io/atomicWrite';
import { CUDA_MANIFEST, CudaManifest, InstalledFile, installedCudaProvider } from './cudaManifest';
import {
  CUDA_PACKAGE_ID,
  CUDA_PROVIDER_LIBRARIES,
  CudaSetupError,
  MAX_EXTRACTED_BYTES,
  MAX_PACKAGE_BYTES,
  NUGET_FEED,
  OfficialPackage,
  PlatformArch,
  cancelled,
  cudaPackageSupport,
  describeSize,
  here,
  officialPackage,
  ortVersion,
  throwIfAborted,
  trimBase,
} from './cudaPackage';
import {
  Staged,
  acquireLock,
  checkTargetFolder,
  checkTargetName,
  commit,
  removeLeftovers,
  writeError,
} from './installFolder';
import { ExtractedLibrary, extractLibraries, openPackage } from './nupkg';
import { DEFAULT_TIMEOUT_MS, NetOptions, downloadPackage, resolveFeedPackage } from './nugetFeed';
import { Hashes, hashFile, verifyPackage } from './packageHash';
import { providerLibraryProblem } from './providerLibraryCheck';

/**
 * Installs ONNX Runtime's CUDA execution provider beside the bundled onnxruntime-node, from
 * NuGet (the package onnxruntime-node's own install script would fetch) or from a .nupkg file
 * the user downloaded elsewhere. The flow: lock the folder; obtain the package (downloaded and
 * checked against the size and SHA-512 the feed's catalog publishes, or read from the file) and
 * check any size / hash the caller passes; open it (.nuspec id and version, which must be the
 * bundled ONNX Runtime's; the provider libraries inside); extract only those libraries, each
 * under a fixed name, within a bound on their size, to temporary names in the target folder;
 * check the libraries; write the manifest (cudaManifest.ts); rename everything into place
 * together (installFolder.ts). A name in the target folder that is not a regular file (a
 * symlink, a folder) is refused, never written through.
 */

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

const PROGRESS_STEP_BYTES = 1024 * 1024;
type Report = (phase: CudaProgress['phase'], received: number, total: number | null) => void;

function progressReporter(onProgress: InstallCudaOptions['onProgress']): Report {
  let lastPhase = '';
  let lastReceived = 0;
  return (phase, received, total) => {
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

/** One setup's settings, worked out once. */
interface Setup {
  opts: InstallCudaOptions;
  bundled: string;
  dir: string;
  feedBase: string;
  official: OfficialPackage;
  packageCap: number;
  extractCap: number;
  report: Report;
  signal?: AbortSignal;
  /** Temporary files to remove at the end, whatever happens. */
  temps: string[];
}

/** The package, on disk and checked, ready to open. */
interface ObtainedPackage {
  file: string;
  /** The package's URL or path, for messages. */
  where: string;
  hashes: Hashes;
  verifiedAgainst: string[];
  source: CudaManifest['package']['source'];
}

const packageFileName = (s: Setup) => `${s.official.id.toLowerCase()}.${s.bundled.toLowerCase()}.nupkg`;

/**
 * The installed provider, when a setup may stop there: not forced, the manifest intact for the
 * bundled version, its package the one being installed (`isSame`) and any the caller expects,
 * and its libraries still passing the checks a new install gets. Anything else is replaced.
 */
async function alreadyInstalled(s: Setup, isSame: (p: CudaManifest['package']) => boolean) {
  if (s.opts.force) return null;
  const state = await installedCudaProvider(s.dir, { ortVersion: s.bundled });
  const m = state.manifest;
  if (!state.installed || !m || !isSame(m.package) || !matchesExpected(m.package, s.opts.expected)) return null;
  for (const f of m.files) {
    const lib = CUDA_PROVIDER_LIBRARIES.find((l) => l.name === f.name);
    if (!lib || providerLibraryProblem(path.join(s.dir, f.name), lib, s.bundled)) return null;
  }
  return resultFromManifest('already-installed', s.dir, s.bundled, m);
}

function matchesExpected(p: CudaManifest['package'], want: ExpectedPackage | undefined): boolean {
  if (!want) return true;
  if (want.size !== undefined && want.size !== p.size) return false;
  if (want.sha256 !== undefined && want.sha256.toLowerCase() !== p.sha256) return false;
  return want.sha512Base64 === undefined || sameSha512(want.sha512Base64, p.sha512Base64);
}

const sameSha512 = (a: string, b: string) => Buffer.from(a, 'base64').equals(Buffer.from(b, 'base64'));

/**
 * Resolves the package on the feed, downloads it next to its target and checks it; the
 * installed provider stays when it came from a package with the hash the feed publishes.
 */
async function obtainFromFeed(s: Setup): Promise<ObtainedPackage | CudaInstallResult> {
  const { official } = s;
  const net: NetOptions = {
    signal: s.signal,
    timeoutMs: s.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    feedOrigin: new URL(s.feedBase).origin,
    packageUrl: official.url,
  };
  s.report('resolve', 0, null);
  const feed = await resolveFeedPackage(official, net);
  if (feed.size > s.packageCap) {
    throw new CudaSetupError(
      'too-large',
      `The feed says the package has ${describeSize(feed.size)}, more than the ${describeSize(s.packageCap)} ` +
        'Exit Lens accepts.',
      'Nothing was downloaded.',
      official.url,
    );
  }
  const same = await alreadyInstalled(s, (p) => sameSha512(p.sha512Base64, feed.sha512Base64));
  if (same) return same;
  const file = tempNameFor(path.join(s.dir, packageFileName(s)));
  s.temps.push(file);
  let hashes: Hashes;
  try {
    hashes = await downloadPackage(official.url, file, feed.size, feed.size, net, (n) =>
      s.report('download', n, feed.size),
    );
  } catch (err) {
    throw writeError(err, s.dir) ?? err;
  }
  s.report('verify', 0, hashes.size);
  const verifiedAgainst = verifyPackage(hashes, [
    { what: "the feed's catalog", size: feed.size, sha512Base64: feed.sha512Base64 },
    { what: 'the expected package', ...s.opts.expected },
  ]);
  s.report('verify', hashes.size, hashes.size);
  return { file, where: official.url, hashes, verifiedAgainst, source: { kind: 'download', url: official.url } };
}

/** A package file given by the user: its size bounded, its hashes taken, any expected ones checked. */
async function obtainFromFile(s: Setup, given: string): Promise<ObtainedPackage | CudaInstallResult> {
  const file = path.resolve(given);
  const st = await fs.promises.stat(file).catch(() => null);
  if (!st?.isFile()) {
    throw new CudaSetupError('bad-package', `${file} is not a file.`, `Download it from ${s.official.url}`);
  }
  if (st.size > s.packageCap) {
    throw new CudaSetupError(
      'too-large',
      `${file} has ${describeSize(st.size)}, more than the ${describeSize(s.packageCap)} Exit Lens accepts.`,
    );
  }
  // The .nuspec first: a package for another version is refused before it is read whole.
  (await openPackage(file, file, s.bundled, s.official.url)).zip.close();
  const hashes = await hashFile(file, s.signal, (n) => s.report('verify', n, st.size));
  s.report('verify', hashes.size, hashes.size);
  const verifiedAgainst = verifyPackage(hashes, [{ what: 'the expected package', ...s.opts.expected }]);
  // The same package (by its SHA-256) installed and intact stays; a different one replaces it.
  const same = await alreadyInstalled(s, (p) => p.sha256 === hashes.sha256);
  if (same) return same;
  return { file, where: file, hashes, verifiedAgainst, source: { kind: 'file', path: file } };
}

/**
 * Every extracted library must be a shared library for Linux x64 and, for a provider, built for
 * the bundled ONNX Runtime (providerLibraryCheck.ts): checked before anything is put in place.
 */
function checkLibraries(s: Setup, libs: ExtractedLibrary[], where: string): void {
  const use = `Use ${CUDA_PACKAGE_ID} ${s.bundled} as NuGet serves it: ${officialPackage(s.bundled).url}`;
  for (const l of libs) {
    const found = providerLibraryProblem(l.temp, l.lib, s.bundled);
    if (!found) continue;
    if (found.problem === 'wrong-version') {
      throw new CudaSetupError(
        'wrong-version',
        `In ${where}, ${found.why}; the bundled ONNX Runtime is ${s.bundled}. Nothing was installed.`,
        `The provider must match the bundled ONNX Runtime exactly. ${use}`,
      );
    }
    throw new CudaSetupError(
      'not-a-library',
      `${where} is not ONNX Runtime's CUDA provider for Linux x64: ${found.why}. Nothing was installed.`,
      use,
    );
  }
}

/** Writes the manifest to a temporary name; it is renamed into place with the libraries. */
async function stageManifest(s: Setup, manifest: CudaManifest): Promise<Staged> {
  const final = path.join(s.dir, CUDA_MANIFEST);
  const temp = tempNameFor(final);
  s.temps.push(temp);
  await fs.promises.writeFile(temp, JSON.stringify(manifest, null, 2) + '\n', { flag: 'wx', mode: 0o644 });
  return { temp, final };
}

/** Opens the obtained package, extracts and checks its libraries, and puts them in place with the manifest. */
async function installPackage(s: Setup, got: ObtainedPackage, replaceable: string[]): Promise<CudaInstallResult> {
  const pkg = await openPackage(got.file, got.where, s.bundled, s.official.url);
  let libs: ExtractedLibrary[];
  try {
    libs = await extractLibraries(pkg, s.dir, got.where, {
      cap: s.extractCap,
      temps: s.temps,
      signal: s.signal,
      onBytes: (n, total) => s.report('extract', n, total),
    });
  } finally {
    pkg.zip.close();
  }
  throwIfAborted(s.signal);
  checkLibraries(s, libs, got.where);
  const { hashes } = got;
  const manifest: CudaManifest = {
    schema: 1,
    installedBy: 'Exit Lens',
    packageId: pkg.id,
    version: pkg.version,
    platform: 'linux-x64',
    package: {
      size: hashes.size,
      sha256: hashes.sha256,
      sha512Base64: hashes.sha512Base64,
      source: got.source,
      verifiedAgainst: got.verifiedAgainst,
    },
    installedAt: new Date().toISOString(),
    files: libs.map((l) => ({ name: l.lib.name, entry: l.lib.entry, size: l.size, sha256: l.sha256 })),
  };
  const staged: Staged[] = [...libs.map((l) => ({ temp: l.temp, final: l.final })), await stageManifest(s, manifest)];
  // Past this point the setup is not cancelled: the renames are quick and put everything in place at once.
  await commit(s.dir, staged, replaceable);
  return resultFromManifest('installed', s.dir, s.bundled, manifest);
}

function setupOf(opts: InstallCudaOptions): Setup {
  const bundled = opts.ortVersion ?? ortVersion();
  const feedBase = trimBase(opts.source.kind === 'download' ? (opts.source.feedBase ?? NUGET_FEED) : NUGET_FEED);
  return {
    opts,
    bundled,
    dir: path.resolve(opts.targetDir),
    feedBase,
    official: officialPackage(bundled, feedBase),
    packageCap: Math.min(opts.maxPackageBytes ?? MAX_PACKAGE_BYTES, MAX_PACKAGE_BYTES),
    extractCap: Math.min(opts.maxExtractedBytes ?? MAX_EXTRACTED_BYTES, MAX_EXTRACTED_BYTES),
    report: progressReporter(opts.onProgress),
    signal: opts.signal,
    temps: [],
  };
}

/**
 * Installs the CUDA provider libraries of the bundled ONNX Runtime's version into `targetDir`.
 * All or nothing: on any failure or cancellation the folder is left as it was.
 */
export async function installCudaProvider(opts: InstallCudaOptions): Promise<CudaInstallResult> {
  const s = setupOf(opts);
  throwIfAborted(s.signal);
  const support = cudaPackageSupport(opts.platform ?? here());
  if (!support.supported) throw new CudaSetupError('unsupported-platform', support.reason);
  await checkTargetFolder(s.dir);
  const replaceable = [...CUDA_PROVIDER_LIBRARIES.map((l) => l.name), CUDA_MANIFEST];
  for (const name of replaceable) await checkTargetName(s.dir, name);

  let release: (() => Promise<void>) | null = null;
  try {
    release = await acquireLock(s.dir);
    await removeLeftovers(s.dir, [...replaceable, packageFileName(s)]);
    let got: ObtainedPackage | CudaInstallResult;
    if (opts.source.kind === 'download') {
      // A package NuGet served for this version is the same bytes forever: no need to ask the feed again.
      const fromFeed = (p: CudaManifest['package']) => p.source.kind === 'download' && p.source.url === s.official.url;
      got = (await alreadyInstalled(s, fromFeed)) ?? (await obtainFromFeed(s));
    } else {
      got = await obtainFromFile(s, opts.source.path);
    }
    if ('status' in got) return got;
    throwIfAborted(s.signal);
    return await installPackage(s, got, replaceable);
  } catch (err) {
    if (s.signal?.aborted && !(err instanceof CudaSetupError && err.problem === 'busy')) throw cancelled();
    throw writeError(err, s.dir) ?? err;
  } finally {
    for (const t of s.temps) await fs.promises.rm(t, { force: true }).catch(() => undefined);
    await release?.().catch(() => undefined);
  }
}
