import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yauzl from 'yauzl';
import { tempNameFor } from '../core/io/atomicWrite';
import { ExitLensError } from '../core/errors';
import {
  ACCEPTED_PACKAGE_IDS,
  CUDA_PACKAGE_ID,
  CUDA_PROVIDER_LIBRARIES,
  CudaSetupError,
  ProviderLibrary,
  describeSize,
  sameVersion,
} from './cudaPackage';
import { writeError } from './installFolder';
import { Hasher, drain } from './packageHash';

/**
 * Reading a NuGet package (.nupkg, a zip): its .nuspec (id and version) and the provider
 * libraries' entries, found by comparing raw entry names with the known ones, so that no entry
 * name ever becomes a path; then those entries extracted, each under its fixed name, to a new
 * temporary file, within its declared size.
 */

const MAX_NUSPEC_BYTES = 1024 * 1024;

export interface OpenedPackage {
  zip: yauzl.ZipFile;
  id: string;
  version: string;
  libraries: { lib: ProviderLibrary; entry: yauzl.Entry }[];
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
/** Zip "version made by" hosts whose external attributes hold a Unix mode: Unix and macOS. */
const UNIX_HOSTS = [3, 19];

/**
 * What a zip entry is when it is not a plain file: a symbolic link (a Unix mode S_IFLNK in its
 * external attributes; unzip would create a link, and its data is the link's text), a folder or
 * another special file. Null for a file. A link is refused whatever host made the zip.
 */
function entryKind(entry: yauzl.Entry): string | null {
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (type === S_IFLNK) return 'a symbolic link';
  if (!UNIX_HOSTS.includes(entry.versionMadeBy >> 8) || type === 0 || type === S_IFREG) return null;
  return type === S_IFDIR ? 'a folder' : `a special file (mode ${type.toString(8)})`;
}

export function badPackage(where: string, why: string): CudaSetupError {
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
export async function openPackage(
  file: string,
  where: string,
  version: string,
  pkgUrl: string,
): Promise<OpenedPackage> {
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
        const kind = entryKind(entry);
        if (kind) {
          throw new CudaSetupError(
            'not-a-library',
            `${where} holds ${lib.entry} as ${kind}, not as a library file.`,
            `Use ONNX Runtime's ${CUDA_PACKAGE_ID} package as NuGet serves it.`,
          );
        }
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

export interface ExtractedLibrary {
  lib: ProviderLibrary;
  /** The temporary file it was written to, in the target folder. */
  temp: string;
  /** Where it goes. */
  final: string;
  size: number;
  sha256: string;
}

/**
 * Writes the package's provider libraries to new temporary files in `dir` (each added to `temps`
 * before it is created, so that the caller removes it whatever happens), refusing more than
 * `cap` bytes in all and any entry that inflates to more or less than it declares.
 */
export async function extractLibraries(
  pkg: OpenedPackage,
  dir: string,
  where: string,
  opts: { cap: number; temps: string[]; signal?: AbortSignal; onBytes?: (extracted: number, total: number) => void },
): Promise<ExtractedLibrary[]> {
  const declared = pkg.libraries.reduce((sum, l) => sum + l.entry.uncompressedSize, 0);
  if (declared > opts.cap) {
    throw new CudaSetupError(
      'too-large',
      `${where}'s provider libraries claim ${describeSize(declared)} uncompressed, more than the ` +
        `${describeSize(opts.cap)} Exit Lens accepts.`,
      'Nothing was installed.',
    );
  }
  const out: ExtractedLibrary[] = [];
  let extracted = 0;
  opts.onBytes?.(0, declared);
  for (const { lib, entry } of pkg.libraries) {
    const final = path.join(dir, lib.name);
    const temp = tempNameFor(final);
    opts.temps.push(temp);
    const hasher = new Hasher();
    const handle = await fs.promises.open(temp, 'wx', 0o644);
    try {
      // yauzl refuses a stream that inflates to more (or less) than the entry's declared size.
      const stream = await pkg.zip.openReadStreamPromise(entry);
      await drain(stream, opts.signal, async (chunk) => {
        if (hasher.size + chunk.length > entry.uncompressedSize) {
          throw new Error(`${lib.entry} is larger than it says`);
        }
        hasher.update(chunk);
        await handle.write(chunk);
        extracted += chunk.length;
        opts.onBytes?.(extracted, declared);
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
    out.push({ lib, temp, final, size: h.size, sha256: h.sha256 });
  }
  return out;
}
