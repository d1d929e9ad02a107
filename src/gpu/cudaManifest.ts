import * as fs from 'node:fs';
import * as path from 'node:path';
import { CUDA_PROVIDER_LIBRARIES, ortVersion, sameVersion } from './cudaPackage';
import { sha256OfFile } from './packageHash';

/**
 * The manifest a setup writes beside the libraries it installed (exit-lens-cuda.json): the
 * package (its size, hashes, source and what it was checked against) and the size and SHA-256
 * of every file; and what is installed, read back from it and checked against the files there.
 */

/** The manifest written beside the installed libraries. */
export const CUDA_MANIFEST = 'exit-lens-cuda.json';
const MAX_MANIFEST_BYTES = 1024 * 1024;

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

export async function readManifest(dir: string): Promise<{ manifest: CudaManifest | null; problem: string | null }> {
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
