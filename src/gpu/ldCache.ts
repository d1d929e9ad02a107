import * as fs from 'node:fs';
import * as os from 'node:os';

/**
 * The dynamic linker's cache (/etc/ld.so.cache, what `ldconfig -p` prints), read directly so
 * that no program is started: library name → paths, for this machine's architecture. The
 * "glibc-ld.so.cache1.1" format (glibc 2.32 and later), alone or after the old "ld.so-1.7.0"
 * block; an unreadable or unknown cache gives an empty map (the search then goes on without it).
 */
export type LdCache = Map<string, string[]>;

const NEW_MAGIC = 'glibc-ld.so.cache1.1';
const OLD_MAGIC = 'ld.so-1.7.0';
const MAX_CACHE = 64 * 1024 * 1024;
/** The architecture bits of an entry's flags (FLAG_X8664_LIB64, FLAG_AARCH64_LIB64). */
const ARCH_FLAGS: Record<string, number> = { x64: 0x0300, arm64: 0x0a00 };

export function parseLdCache(buf: Buffer, arch: string = os.arch()): LdCache {
  const out: LdCache = new Map();
  let start = 0;
  if (buf.toString('latin1', 0, OLD_MAGIC.length) === OLD_MAGIC) {
    if (buf.length < 16) return out;
    const nOld = buf.readUInt32LE(12);
    // The new header follows the old entries (12 bytes each) and its strings, 8-byte aligned:
    // search for its magic after the old entries rather than trusting the old string table.
    const from = 16 + nOld * 12;
    if (from > buf.length) return out;
    const at = buf.indexOf(NEW_MAGIC, from, 'latin1');
    if (at < 0) return out;
    start = at;
  }
  if (buf.toString('latin1', start, start + NEW_MAGIC.length) !== NEW_MAGIC) return out;
  if (buf.length < start + 48) return out;
  const nlibs = buf.readUInt32LE(start + 20);
  const wantArch = ARCH_FLAGS[arch];
  const cstr = (off: number): string | null => {
    const abs = start + off;
    if (off <= 0 || abs >= buf.length) return null;
    const end = buf.indexOf(0, abs);
    return buf.toString('utf8', abs, end < 0 ? buf.length : end);
  };
  for (let i = 0; i < nlibs; i++) {
    const e = start + 48 + i * 24;
    if (e + 24 > buf.length) break;
    const flags = buf.readInt32LE(e);
    if (wantArch !== undefined && (flags & 0xff00) !== wantArch) continue;
    const name = cstr(buf.readUInt32LE(e + 4));
    const file = cstr(buf.readUInt32LE(e + 8));
    if (!name || !file) continue;
    const list = out.get(name);
    if (list) {
      if (!list.includes(file)) list.push(file);
    } else out.set(name, [file]);
  }
  return out;
}

/** This machine's linker cache (empty off Linux or when unreadable). */
export function readLdCache(file = '/etc/ld.so.cache'): LdCache {
  if (os.platform() !== 'linux') return new Map();
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size > MAX_CACHE) return new Map();
      const buf = Buffer.alloc(st.size);
      let got = 0;
      while (got < st.size) {
        const n = fs.readSync(fd, buf, got, st.size - got, got);
        if (n === 0) break;
        got += n;
      }
      return parseLdCache(buf.subarray(0, got));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return new Map();
  }
}
