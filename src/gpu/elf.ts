import * as fs from 'node:fs';

/**
 * Reads the dynamic section of an ELF shared library: the libraries it needs (DT_NEEDED), its
 * soname and its run paths. Only the headers and the dynamic section and string table are read
 * (a provider library is hundreds of MB), each bounded by the file's size. 32- and 64-bit, either
 * byte order. Nothing is loaded or run.
 */
export interface ElfDynamic {
  needed: string[];
  soname: string | null;
  /** DT_RUNPATH, else DT_RPATH, split at ':' ($ORIGIN left as written). */
  runpath: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
/** A dynamic section or string table larger than this is not a real library's. */
const MAX_SECTION = 64 * 1024 * 1024;

export class ElfError extends Error {}

interface Reader {
  size: number;
  read(offset: number, length: number): Buffer;
}

function fileReader(fd: number, size: number): Reader {
  return {
    size,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > size)
        throw new ElfError('a header points past the end of the file');
      const b = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, b, got, length - got, offset + got);
        if (n === 0) throw new ElfError('the file ended early');
        got += n;
      }
      return b;
    },
  };
}

/** Parses the dynamic section of the ELF file at `file`. Throws ElfError when it is not one. */
export function readElfDynamic(file: string): ElfDynamic {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ElfError('not a regular file');
    return parseElfDynamic(fileReader(fd, st.size));
  } finally {
    fs.closeSync(fd);
  }
}

/** The same, from bytes in memory (tests, small files). */
export function parseElfDynamicBytes(bytes: Uint8Array): ElfDynamic {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return parseElfDynamic({
    size: buf.length,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > buf.length)
        throw new ElfError('a header points past the end of the file');
      return buf.subarray(offset, offset + length);
    },
  });
}

function parseElfDynamic(r: Reader): ElfDynamic {
  if (r.size < 52) throw new ElfError('too short for an ELF header');
  const ident = r.read(0, 64 > r.size ? 52 : 64);
  if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46)
    throw new ElfError('no ELF magic');
  const is64 = ident[4] === 2;
  if (!is64 && ident[4] !== 1) throw new ElfError('unknown ELF class');
  if (is64 && r.size < 64) throw new ElfError('too short for an ELF header');
  const le = ident[5] === 1;
  if (!le && ident[5] !== 2) throw new ElfError('unknown byte order');
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): number => {
    if (!is64) return u32(b, o);
    const v = le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
    return Number(v);
  };
  const phoff = word(ident, is64 ? 0x20 : 0x1c);
  const phentsize = u16(ident, is64 ? 0x36 : 0x2a);
  const phnum = u16(ident, is64 ? 0x38 : 0x2c);
  if (phentsize < (is64 ? 56 : 32) || phnum === 0) throw new ElfError('no program headers');
  const ph = r.read(phoff, phentsize * phnum);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dyn: { offset: number; size: number } | null = null;
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    const type = u32(ph, o);
    const offset = is64 ? word(ph, o + 8) : u32(ph, o + 4);
    const vaddr = is64 ? word(ph, o + 16) : u32(ph, o + 8);
    const filesz = is64 ? word(ph, o + 32) : u32(ph, o + 16);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (type === PT_DYNAMIC) dyn = { offset, size: filesz };
  }
  if (!dyn) return { needed: [], soname: null, runpath: [] };
  if (dyn.size > MAX_SECTION) throw new ElfError('the dynamic section is implausibly large');
  const d = r.read(dyn.offset, dyn.size);
  const entSize = is64 ? 16 : 8;
  const neededOffsets: number[] = [];
  let strtabAddr = -1;
  let strsz = -1;
  let soname = -1;
  let runpath = -1;
  let rpath = -1;
  for (let o = 0; o + entSize <= d.length; o += entSize) {
    const tag = is64 ? word(d, o) : u32(d, o);
    const val = is64 ? word(d, o + 8) : u32(d, o + 4);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(val);
    else if (tag === DT_STRTAB) strtabAddr = val;
    else if (tag === DT_STRSZ) strsz = val;
    else if (tag === DT_SONAME) soname = val;
    else if (tag === DT_RUNPATH) runpath = val;
    else if (tag === DT_RPATH) rpath = val;
  }
  if (strtabAddr < 0 || strsz <= 0) {
    if (neededOffsets.length) throw new ElfError('the dynamic section has no string table');
    return { needed: [], soname: null, runpath: [] };
  }
  if (strsz > MAX_SECTION) throw new ElfError('the string table is implausibly large');
  // DT_STRTAB is an address: find the loaded segment that holds it to get its file offset.
  const seg = loads.find((l) => strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz);
  const strOffset = seg ? strtabAddr - seg.vaddr + seg.offset : strtabAddr;
  const strtab = r.read(strOffset, Math.min(strsz, r.size - strOffset));
  const str = (off: number): string => {
    if (off < 0 || off >= strtab.length) throw new ElfError('a name points outside the string table');
    const end = strtab.indexOf(0, off);
    return strtab.toString('latin1', off, end < 0 ? strtab.length : end);
  };
  const paths = runpath >= 0 ? str(runpath) : rpath >= 0 ? str(rpath) : '';
  return {
    needed: neededOffsets.map(str),
    soname: soname >= 0 ? str(soname) : null,
    runpath: paths ? paths.split(':').filter(Boolean) : [],
  };
}

/** A read-only data section of at most this size is scanned for a version string. */
const MAX_RODATA = 1024 * 1024 * 1024;
const SCAN_CHUNK = 8 * 1024 * 1024;

/** The file offset and size of the section named `name` (from the section headers), or null. */
function findSection(r: Reader, name: string): { offset: number; size: number } | null {
  const ident = r.read(0, Math.min(64, r.size));
  if (ident.length < 52 || ident.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('no ELF magic');
  const is64 = ident[4] === 2;
  const le = ident[5] === 1;
  if (is64 && r.size < 64) throw new ElfError('too short for an ELF header');
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const word = (b: Buffer, o: number): number => {
    if (!is64) return u32(b, o);
    const v = le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  const shoff = word(ident, is64 ? 0x28 : 0x20);
  const shentsize = u16(ident, is64 ? 0x3a : 0x2e);
  const shnum = u16(ident, is64 ? 0x3c : 0x30);
  const shstrndx = u16(ident, is64 ? 0x3e : 0x32);
  if (!shoff || !shnum || shentsize < (is64 ? 64 : 40) || shstrndx >= shnum) return null;
  const sh = r.read(shoff, shentsize * shnum);
  const entry = (i: number) => {
    const o = i * shentsize;
    return {
      name: u32(sh, o),
      offset: is64 ? word(sh, o + 0x18) : u32(sh, o + 0x10),
      size: is64 ? word(sh, o + 0x20) : u32(sh, o + 0x14),
    };
  };
  const names = entry(shstrndx);
  if (names.size > MAX_SECTION) throw new ElfError('the section name table is implausibly large');
  const table = r.read(names.offset, names.size);
  for (let i = 0; i < shnum; i++) {
    const e = entry(i);
    if (e.name >= table.length) continue;
    const end = table.indexOf(0, e.name);
    if (table.toString('latin1', e.name, end < 0 ? table.length : end) === name)
      return { offset: e.offset, size: e.size };
  }
  return null;
}

/**
 * The ONNX Runtime version an execution-provider library was built for. ONNX Runtime's provider
 * libraries keep it as a string of its own in their read-only data ("1.29.0", beside the build's
 * ORT_VERSION metadata): the one string there of the form 1.<minor ≥ 10>.<patch>. Null when
 * there is no such string, or more than one (a version that cannot be told is not guessed).
 */
export function readOrtVersionOfProvider(file: string): string | null {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ElfError('not a regular file');
    const r = fileReader(fd, st.size);
    const rodata = findSection(r, '.rodata');
    if (!rodata || rodata.size > MAX_RODATA || rodata.offset + rodata.size > st.size) return null;
    const found = new Set<string>();
    // eslint-disable-next-line no-control-regex -- NUL-delimited strings are what this finds
    const pattern = /\x00(1\.[1-9]\d\.\d{1,3})(?=\x00)/g;
    // Chunks overlap by a version string's length, so that none is cut at a boundary.
    const overlap = 16;
    for (let at = 0; at < rodata.size; at += SCAN_CHUNK) {
      const start = Math.max(0, at - overlap);
      const text = r.read(rodata.offset + start, Math.min(rodata.size, at + SCAN_CHUNK) - start).toString('latin1');
      for (const m of text.matchAll(pattern)) found.add(m[1]);
      if (found.size > 1) return null;
    }
    return found.size === 1 ? [...found][0] : null;
  } finally {
    fs.closeSync(fd);
  }
}

/** What an ELF file's header says it is, and whether it has the segments a shared library needs. */
export interface ElfHeader {
  is64: boolean;
  littleEndian: boolean;
  /** e_type: 1 relocatable, 2 executable, 3 shared object (ET_DYN), 4 core. */
  type: number;
  /** e_machine: 62 x86-64 (EM_X86_64), 183 AArch64, 3 i386... */
  machine: number;
  /** A PT_DYNAMIC segment: what the dynamic loader reads (a shared library always has one). */
  hasDynamic: boolean;
  /** At least one PT_LOAD segment: something to map. */
  hasLoad: boolean;
}

export const ET_DYN = 3;
export const EM_X86_64 = 62;

/** The ELF header and program headers of `file` (a regular file, opened without blocking); ElfError when not ELF. */
export function readElfHeader(file: string): ElfHeader {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ElfError('not a regular file');
    const r = fileReader(fd, st.size);
    if (r.size < 52) throw new ElfError('too short for an ELF header');
    const ident = r.read(0, Math.min(64, r.size));
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('no ELF magic');
    const is64 = ident[4] === 2;
    if (!is64 && ident[4] !== 1) throw new ElfError('unknown ELF class');
    if (is64 && r.size < 64) throw new ElfError('too short for an ELF header');
    const le = ident[5] === 1;
    if (!le && ident[5] !== 2) throw new ElfError('unknown byte order');
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoffBig = is64 ? (le ? ident.readBigUInt64LE(0x20) : ident.readBigUInt64BE(0x20)) : BigInt(u32(ident, 0x1c));
    const phentsize = u16(ident, is64 ? 0x36 : 0x2a);
    const phnum = u16(ident, is64 ? 0x38 : 0x2c);
    let hasDynamic = false;
    let hasLoad = false;
    // Program headers are read only when they lie inside the file and take at most 1 MiB (a real
    // library has about ten); otherwise it counts as having none.
    const phBytes = phentsize * phnum;
    if (
      phnum > 0 &&
      phentsize >= (is64 ? 56 : 32) &&
      phBytes <= 1 << 20 &&
      phoffBig + BigInt(phBytes) <= BigInt(r.size)
    ) {
      const ph = r.read(Number(phoffBig), phBytes);
      for (let i = 0; i < phnum; i++) {
        const type = u32(ph, i * phentsize);
        if (type === PT_DYNAMIC) hasDynamic = true;
        else if (type === PT_LOAD) hasLoad = true;
      }
    }
    return { is64, littleEndian: le, type: u16(ident, 0x10), machine: u16(ident, 0x12), hasDynamic, hasLoad };
  } finally {
    fs.closeSync(fd);
  }
}
