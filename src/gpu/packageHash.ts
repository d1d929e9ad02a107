import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { CudaSetupError, cancelled, describeSize, throwIfAborted } from './cudaPackage';

/**
 * Hashing a package and its files as they stream past (SHA-256 and SHA-512 in one pass), and
 * comparing a package with every size and hash it must have.
 */

export interface Hashes {
  size: number;
  sha256: string;
  sha512Base64: string;
}

export class Hasher {
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
export async function drain(
  stream: Readable,
  signal: AbortSignal | undefined,
  onChunk: (c: Buffer) => Promise<void> | void,
): Promise<void> {
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

export async function hashFile(file: string, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<Hashes> {
  const hasher = new Hasher();
  await drain(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), signal, (chunk) => {
    hasher.update(chunk);
    onBytes?.(hasher.size);
  });
  return hasher.digest();
}

export async function sha256OfFile(file: string): Promise<string> {
  return (await hashFile(file)).sha256;
}

export interface ExpectedHashes {
  /** Who says so, in the message ("the feed's catalog"). */
  what: string;
  size?: number;
  /** Hex. */
  sha256?: string;
  sha512Base64?: string;
}

/** Compares a package with every size and hash it must have; refuses on the first difference. */
export function verifyPackage(got: Hashes, want: ExpectedHashes[]): string[] {
  const checked: string[] = [];
  const retry = 'Try again; if it happens again, something between this machine and the feed alters the download.';
  for (const w of want) {
    if (w.size !== undefined) {
      if (got.size !== w.size) {
        throw new CudaSetupError(
          'size-mismatch',
          `The package has the wrong size: ${w.what} says ${describeSize(w.size)}, got ${describeSize(got.size)}. ` +
            'It was deleted.',
          retry,
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
          retry,
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
