import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ExitLensError } from '../core/errors';
import { CudaSetupError, OfficialPackage, cancelled, describeSize, sameVersion, throwIfAborted } from './cudaPackage';
import { writeError } from './installFolder';
import { Hasher, Hashes } from './packageHash';

/**
 * The NuGet feed over the network: the package's registration leaf and catalog entry (its size
 * and SHA-512), and the package itself, streamed to a file. Every request has a connect, answer
 * and stall limit; redirects are followed a few times and to plain http only on the feed itself;
 * every failure names the package to download on another machine.
 */

const MAX_JSON_BYTES = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;
/** Connect, first answer and stall limit for every request. */
export const DEFAULT_TIMEOUT_MS = 30_000;
const USER_AGENT = 'exit-lens (CUDA provider setup)';

export interface NetOptions {
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

export function networkError(err: unknown, url: string, o: NetOptions, during: string): ExitLensError {
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

export interface FeedPackage {
  size: number;
  sha512Base64: string;
  catalogUrl: string;
}

/** The size and SHA-512 the feed's catalog publishes for the package. */
export async function resolveFeedPackage(pkg: OfficialPackage, o: NetOptions): Promise<FeedPackage> {
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

/** Downloads `url` to `file` (created new), refusing more than `limit` bytes. */
export async function downloadPackage(
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
