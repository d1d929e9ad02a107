/**
 * The GPU diagnosis: the ELF dynamic-section reader against readelf and against ELF files built
 * here byte by byte (64-bit little-endian, 32-bit big-endian, and garbage); the linker-cache
 * reader against ldconfig -p and hand-built caches; the CUDA library search, the CUDA provider's
 * status and the engine's environment on fake trees; the WebGPU (Vulkan) checks on fake trees;
 * how a run's provider is told; the CLI's environment change; and the doctor on this machine,
 * whose probe model is checked against softmax(x · W) worked out here.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { cliEnvironmentChange } from '../../src/cli/gpu';
import { runDoctor } from '../../src/engine/doctor';
import { PROBE_INPUT, probeExpected, probeModelBytes } from '../../src/engine/probeModel';
import {
  applyGpuPrecision,
  explainRunFailure,
  loadOrt,
  parseGpuPrecision,
  providerPrecision,
} from '../../src/engine/providers';
import { cudaPrecision, cudaStatus, engineEnvironment, withEnvironment } from '../../src/gpu/cuda';
import {
  CUDNN_LIBRARY,
  cudaProviderNeeds,
  describeMissing,
  findLibraries,
  listWords,
  pythonSitePackages,
  searchFolders,
  whatProvides,
} from '../../src/gpu/cudaLibs';
import { DoctorReport, doctorMarkdown, doctorText } from '../../src/gpu/doctorText';
import { ElfError, parseElfDynamicBytes, readElfDynamic, readOrtVersionOfProvider } from '../../src/gpu/elf';
import { LdCache, parseLdCache, readLdCache } from '../../src/gpu/ldCache';
import { checkWebGpu, explainWebGpuFailure, WebGpuCheck } from '../../src/gpu/webgpu';
import { summarizeProvider } from '../../src/shared/providerText';
import type { ExecutionProviderInfo } from '../../src/shared/reportTypes';
import { tmpDir } from './helpers';
import { buildElf, DT, ElfLayout, libraryElf, NEEDED3, PT_NOTE, providerSpec, SONAME } from './support/elfBuilder';
import { withRodata } from './support/elfSections';

const REPO = path.join(__dirname, '..', '..');
const ORT_BIN = path.join(REPO, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
const ORT_PACKAGE = path.join(REPO, 'node_modules', 'onnxruntime-node', 'package.json');
const ORT_VERSION: string = JSON.parse(fs.readFileSync(ORT_PACKAGE, 'utf8')).version;

const BASE = tmpDir('exit-lens-gpu-test-');
after(() => fs.rmSync(BASE, { recursive: true, force: true }));
let dirCount = 0;
/** A fresh folder under this file's temporary folder. */
function freshDir(name = 'd'): string {
  const d = path.join(BASE, `${name}-${dirCount++}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
/** Creates a file (and its folders). */
function touch(file: string, content: string | Uint8Array = 'x'): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

/** Runs a program; null when it is not installed. */
function runTool(candidates: string[], args: string[]): string | null {
  for (const c of candidates) {
    const r = spawnSync(c, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) continue;
    if (r.status === 0) return r.stdout;
  }
  return null;
}
const hasReadelf = runTool(['readelf'], ['--version']) !== null;
const LDCONFIG = ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig'];

/** readelf -d's NEEDED, SONAME and RUNPATH/RPATH, parsed. */
function readelfDynamic(file: string): { needed: string[]; soname: string | null; runpath: string[] } {
  const out = runTool(['readelf'], ['-d', '-W', file]);
  assert.ok(out !== null, `readelf -d ${file} failed`);
  const needed: string[] = [];
  let soname: string | null = null;
  let runpath: string | null = null;
  let rpath: string | null = null;
  for (const line of out.split('\n')) {
    const m = /\((NEEDED|SONAME|RUNPATH|RPATH)\)\s+[^[]*\[(.*)\]\s*$/.exec(line);
    if (!m) continue;
    if (m[1] === 'NEEDED') needed.push(m[2]);
    else if (m[1] === 'SONAME') soname = m[2];
    else if (m[1] === 'RUNPATH') runpath = m[2];
    else rpath = m[2];
  }
  const p = runpath ?? rpath ?? '';
  return { needed, soname, runpath: p.split(':').filter(Boolean) };
}

/** Records the sizes Buffer.alloc is asked for while `fn` runs. */
function largestAlloc(fn: () => void): number {
  const original = Buffer.alloc;
  let largest = 0;
  Buffer.alloc = ((size: number, ...rest: unknown[]) => {
    largest = Math.max(largest, size);
    return (original as (...a: unknown[]) => Buffer)(size, ...rest);
  }) as typeof Buffer.alloc;
  try {
    fn();
  } finally {
    Buffer.alloc = original;
  }
  return largest;
}

describe('ELF dynamic section: the real onnxruntime-node binaries against readelf -d', () => {
  for (const name of ['libonnxruntime.so.1', 'onnxruntime_binding.node']) {
    const file = path.join(ORT_BIN, name);
    const skip = !hasReadelf ? 'readelf is not installed' : !fs.existsSync(file) ? `${file} is not installed` : false;
    it(`${name}: NEEDED, SONAME and RUNPATH as readelf prints them`, { skip }, () => {
      const want = readelfDynamic(file);
      assert.ok(want.needed.length > 0, 'readelf found NEEDED entries');
      assert.deepEqual(readElfDynamic(file), want);
    });
  }
  const ortLib = path.join(ORT_BIN, 'libonnxruntime.so.1');
  const noOrtLib = !fs.existsSync(ortLib) && `${ortLib} is not installed`;
  it('libonnxruntime.so.1 is read without reading the whole file (tens of MB)', { skip: noOrtLib }, () => {
    const file = ortLib;
    const size = fs.statSync(file).size;
    const largest = largestAlloc(() => readElfDynamic(file));
    assert.ok(largest < size / 100, `largest read ${largest} bytes of a ${size}-byte file`);
  });
});

describe('ELF dynamic section: files built byte by byte', () => {
  const want = { needed: NEEDED3, soname: SONAME, runpath: ['$ORIGIN', '/opt/cuda/lib64'] };
  const cases: [string, boolean, boolean][] = [
    ['ELF64 little-endian', true, true],
    ['ELF32 big-endian', false, false],
    ['ELF64 big-endian', true, false],
    ['ELF32 little-endian', false, true],
  ];
  for (const [label, is64, le] of cases) {
    it(`${label}: NEEDED x3 in order, SONAME, RUNPATH split at ':', DT_STRTAB translated through its PT_LOAD`, () => {
      const elf = buildElf(providerSpec(is64, le));
      // The table's address is not its file offset, and the address taken as an offset is past the end.
      assert.notEqual(elf.strtabAddr, elf.strOff);
      assert.ok(elf.strtabAddr > elf.bytes.length);
      assert.deepEqual(parseElfDynamicBytes(elf.bytes), want);
      const file = touch(path.join(freshDir('elf'), `${label.replace(/\W+/g, '_')}.so`), elf.bytes);
      assert.deepEqual(readElfDynamic(file), want);
    });
  }

  const noReadelf = !hasReadelf && 'readelf is not installed';
  it("readelf reads the builder's files the same (the expected lists are readelf's too)", { skip: noReadelf }, () => {
    for (const [label, is64, le] of cases) {
      const bytes = buildElf(providerSpec(is64, le)).bytes;
      const file = touch(path.join(freshDir('elf'), `${label.replace(/\W+/g, '_')}.so`), bytes);
      assert.deepEqual(readelfDynamic(file), want, label);
    }
  });

  it('PT_DYNAMIC before the PT_LOADs reads the same', () => {
    for (const [, is64, le] of cases) {
      assert.deepEqual(parseElfDynamicBytes(buildElf(providerSpec(is64, le, { dynamicFirst: true })).bytes), want);
    }
  });

  it('DT_RPATH is used when there is no DT_RUNPATH; DT_RUNPATH wins when both are there', () => {
    const rpathOnly = buildElf({
      is64: true,
      le: true,
      strings: ['liba.so.1', '/old/rpath:/other'],
      dynamic: (at, addr, sz) => [
        [DT.NEEDED, at('liba.so.1')],
        [DT.RPATH, at('/old/rpath:/other')],
        [DT.STRTAB, addr],
        [DT.STRSZ, sz],
        [DT.NULL, 0],
      ],
    });
    assert.deepEqual(parseElfDynamicBytes(rpathOnly.bytes), {
      needed: ['liba.so.1'],
      soname: null,
      runpath: ['/old/rpath', '/other'],
    });
    const both = buildElf({
      is64: false,
      le: false,
      strings: ['/old/rpath', '$ORIGIN/../lib'],
      dynamic: (at, addr, sz) => [
        [DT.RPATH, at('/old/rpath')],
        [DT.STRTAB, addr],
        [DT.RUNPATH, at('$ORIGIN/../lib')],
        [DT.STRSZ, sz],
        [DT.NULL, 0],
      ],
    });
    assert.deepEqual(parseElfDynamicBytes(both.bytes), { needed: [], soname: null, runpath: ['$ORIGIN/../lib'] });
  });

  it('a library without a dynamic section (static) or with no names has empty lists', () => {
    const elf = buildElf(providerSpec(true, true));
    const noDynamic = Buffer.from(elf.bytes);
    noDynamic.writeUInt32LE(PT_NOTE, elf.dynPh);
    assert.deepEqual(parseElfDynamicBytes(noDynamic), { needed: [], soname: null, runpath: [] });
    const noNames = buildElf({
      is64: true,
      le: true,
      strings: [],
      dynamic: () => [
        [DT.GNU_HASH, 8],
        [DT.NULL, 0],
      ],
    });
    assert.deepEqual(parseElfDynamicBytes(noNames.bytes), { needed: [], soname: null, runpath: [] });
  });
});

describe('ELF dynamic section: garbage is an ElfError, never a hang or a huge allocation', { timeout: 20_000 }, () => {
  const valid64 = buildElf(providerSpec(true, true));
  const valid32 = buildElf(providerSpec(false, false));
  const isElfError = (what: string, message?: RegExp) => (err: unknown) => {
    const e = err as Error;
    assert.ok(err instanceof ElfError, `${what}: expected an ElfError, got ${e?.constructor?.name}: ${e?.message}`);
    if (message) assert.match(err.message, message, what);
    return true;
  };
  /** Parses from memory and from a file; both must throw an ElfError and the file read allocate little. */
  const rejects = (what: string, bytes: Buffer, message?: RegExp) => {
    assert.throws(() => parseElfDynamicBytes(bytes), isElfError(`${what} (bytes)`, message));
    const file = touch(path.join(freshDir('bad'), 'lib.so'), bytes);
    const largest = largestAlloc(() => {
      assert.throws(() => readElfDynamic(file), isElfError(`${what} (file)`, message));
    });
    assert.ok(largest <= Math.max(4096, bytes.length), `${what}: allocated ${largest} bytes for ${bytes.length}`);
  };
  const patched = (elf: ElfLayout, edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(elf.bytes);
    edit(b);
    return b;
  };

  it('not ELF: text, an empty file, a wrong class or byte order', () => {
    const text = Buffer.from('This is not a shared library, only text long enough to pass the size check.\n');
    rejects('text', text, /magic/);
    rejects('empty', Buffer.alloc(0));
    rejects('ten bytes', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
    rejects(
      'class 3',
      patched(valid64, (b) => (b[4] = 3)),
      /class/,
    );
    rejects(
      'byte order 7',
      patched(valid64, (b) => (b[5] = 7)),
      /byte order/,
    );
  });

  it('every truncation of a valid file, 64- and 32-bit, is an ElfError (the dynamic section is the last bytes)', () => {
    for (const elf of [valid64, valid32]) {
      for (let n = 0; n < elf.bytes.length; n++) {
        const cut = elf.bytes.subarray(0, n);
        const what = `${elf.is64 ? 64 : 32}-bit cut at ${n} of ${elf.bytes.length}`;
        assert.throws(() => parseElfDynamicBytes(cut), isElfError(what));
      }
    }
  });

  it('a 64-bit header cut between 52 and 64 bytes (long enough for a 32-bit one) is an ElfError', () => {
    for (const n of [52, 56, 60, 63]) rejects(`64-bit header of ${n} bytes`, valid64.bytes.subarray(0, n));
  });

  it('program headers at 2^40, at 2^64-1, or 65535 of 65535 bytes each: an ElfError without reading them', () => {
    rejects(
      'e_phoff 2^40',
      patched(valid64, (b) => b.writeBigUInt64LE(2n ** 40n, 0x20)),
      /past the end/,
    );
    rejects(
      'e_phoff 2^64-1',
      patched(valid64, (b) => b.writeBigUInt64LE(2n ** 64n - 1n, 0x20)),
      /past the end/,
    );
    rejects(
      'e_phoff 2^32-1 (32-bit)',
      patched(valid32, (b) => b.writeUInt32BE(0xffffffff, 0x1c)),
      /past the end/,
    );
    rejects(
      '65535 x 65535',
      patched(valid64, (b) => {
        b.writeUInt16LE(0xffff, 0x36);
        b.writeUInt16LE(0xffff, 0x38);
      }),
      /past the end/,
    );
    rejects(
      'no program headers',
      patched(valid64, (b) => b.writeUInt16LE(0, 0x38)),
      /program headers/,
    );
    rejects(
      'program header entries too small',
      patched(valid64, (b) => b.writeUInt16LE(16, 0x36)),
      /program headers/,
    );
  });

  it('a dynamic section past the end of the file, or claiming 2^40 or 60 MB, is an ElfError', () => {
    const len = valid64.bytes.length;
    const dyn64 = (field: number, v: bigint) => patched(valid64, (b) => b.writeBigUInt64LE(v, valid64.dynPh + field));
    rejects('p_offset past EOF', dyn64(8, BigInt(len + 100)), /past the end/);
    rejects('p_offset 2^40', dyn64(8, 2n ** 40n), /past the end/);
    rejects('p_filesz 2^40', dyn64(32, 2n ** 40n), /implausibly large/);
    rejects('p_filesz 60 MB', dyn64(32, 60n * 2n ** 20n), /past the end/);
    const dyn32offset = patched(valid32, (b) => b.writeUInt32BE(0xffffffff, valid32.dynPh + 4));
    rejects('32-bit p_offset 2^32-1', dyn32offset, /past the end/);
  });

  it('a name outside the string table, a string table past the end or of 2^40 bytes, NEEDED without a table', () => {
    const outside = buildElf({
      is64: true,
      le: true,
      strings: ['liba.so.1'],
      dynamic: (at, addr, sz) => [
        [DT.NEEDED, at('liba.so.1')],
        [DT.NEEDED, sz + 10],
        [DT.STRTAB, addr],
        [DT.STRSZ, sz],
        [DT.NULL, 0],
      ],
    });
    rejects('NEEDED offset past DT_STRSZ', outside.bytes, /outside the string table/);
    const sonameOutside = buildElf({
      is64: false,
      le: false,
      strings: ['liba.so.1'],
      dynamic: (_at, addr, sz) => [
        [DT.SONAME, sz],
        [DT.STRTAB, addr],
        [DT.STRSZ, sz],
        [DT.NULL, 0],
      ],
    });
    rejects('SONAME offset = DT_STRSZ', sonameOutside.bytes, /outside the string table/);
    const tableFarAway = buildElf({
      is64: true,
      le: true,
      strings: ['liba.so.1'],
      dynamic: (at, _addr, sz) => [
        [DT.NEEDED, at('liba.so.1')],
        [DT.STRTAB, 0x7fff0000],
        [DT.STRSZ, sz],
        [DT.NULL, 0],
      ],
    });
    rejects('DT_STRTAB in no segment and past EOF', tableFarAway.bytes);
    const hugeTable = buildElf({
      is64: true,
      le: true,
      strings: ['liba.so.1'],
      dynamic: (at, addr) => [
        [DT.NEEDED, at('liba.so.1')],
        [DT.STRTAB, addr],
        [DT.STRSZ, 2n ** 40n],
        [DT.NULL, 0],
      ],
    });
    rejects('DT_STRSZ 2^40', hugeTable.bytes, /implausibly large/);
    const noTable = buildElf({
      is64: true,
      le: true,
      strings: ['liba.so.1'],
      dynamic: (at) => [
        [DT.NEEDED, at('liba.so.1')],
        [DT.NULL, 0],
      ],
    });
    rejects('NEEDED without DT_STRTAB', noTable.bytes, /no string table/);
  });

  it('a folder is an ElfError; a missing file an ordinary file-system error', () => {
    assert.throws(() => readElfDynamic(freshDir('folder')), isElfError('a folder', /regular file/));
    const missing = path.join(BASE, 'no-such-lib.so');
    assert.throws(
      () => readElfDynamic(missing),
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
  });

  const noMkfifo = runTool(['mkfifo'], ['--version']) === null && 'mkfifo is not installed';
  it('a FIFO is refused without blocking on it', { skip: noMkfifo }, () => {
    const fifo = path.join(freshDir('fifo'), 'lib.so');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    assert.throws(() => readElfDynamic(fifo), isElfError('a FIFO', /regular file/));
  });

  it('random corruptions of a valid file give a result or an ElfError, nothing else', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    for (const elf of [valid64, valid32]) {
      for (let trial = 0; trial < 2000; trial++) {
        const b = Buffer.from(elf.bytes);
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
        try {
          const r = parseElfDynamicBytes(b);
          assert.ok(Array.isArray(r.needed) && Array.isArray(r.runpath));
        } catch (err) {
          const e = err as Error;
          assert.ok(err instanceof ElfError, `trial ${trial}: ${e.constructor.name}: ${e.message}`);
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The linker cache
// ---------------------------------------------------------------------------------------------

/** ldconfig -p's entries for one architecture: name → paths. */
function ldconfigEntries(archLabel: string): Map<string, Set<string>> | null {
  const out = runTool(LDCONFIG, ['-p']);
  if (out === null) return null;
  const map = new Map<string, Set<string>>();
  for (const line of out.split('\n')) {
    const m = /^\s+(\S+) \(([^)]*)\) => (.+)$/.exec(line);
    if (
      !m ||
      !m[2]
        .split(',')
        .map((s) => s.trim())
        .includes(archLabel)
    )
      continue;
    if (!map.has(m[1])) map.set(m[1], new Set());
    map.get(m[1])!.add(m[3]);
  }
  return map;
}

interface CacheEntry {
  flags: number;
  key: string;
  value: string;
}
const FLAG_X8664 = 0x0303; // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
const FLAG_AARCH64 = 0x0a03; // FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64
const FLAG_I386 = 0x0003; // FLAG_ELF_LIBC6 (no architecture bits)
const FLAG_X32 = 0x0803; // FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32

/** A "glibc-ld.so.cache1.1" cache: 48-byte header, 24-byte entries, then the strings (offsets from the header). */
function newFormatCache(entries: CacheEntry[]): Buffer {
  const strBase = 48 + entries.length * 24;
  const strings: Buffer[] = [];
  let strLen = 0;
  const put = (s: string): number => {
    const off = strBase + strLen;
    const b = Buffer.from(`${s}\0`, 'utf8');
    strings.push(b);
    strLen += b.length;
    return off;
  };
  const head = Buffer.alloc(strBase);
  head.write('glibc-ld.so.cache1.1', 0, 'latin1');
  head.writeUInt32LE(entries.length, 20); // nlibs
  entries.forEach((e, i) => {
    const o = 48 + i * 24;
    head.writeInt32LE(e.flags, o);
    head.writeUInt32LE(put(e.key), o + 4);
    head.writeUInt32LE(put(e.value), o + 8);
    head.writeUInt32LE(0, o + 12); // osversion
    head.writeBigUInt64LE(0n, o + 16); // hwcap
  });
  head.writeUInt32LE(strLen, 24); // len_strings
  return Buffer.concat([head, ...strings]);
}

/** The old "ld.so-1.7.0" block (16-byte header, 12-byte entries, its strings), padded to 8 bytes, before `newPart`. */
function withOldPrefix(oldNames: string[], newPart: Buffer): Buffer {
  const head = Buffer.alloc(16 + oldNames.length * 12);
  head.write('ld.so-1.7.0', 0, 'latin1');
  head.writeUInt32LE(oldNames.length, 12);
  const strs: Buffer[] = [];
  let off = 0;
  oldNames.forEach((n, i) => {
    head.writeInt32LE(1, 16 + i * 12);
    head.writeUInt32LE(off, 16 + i * 12 + 4);
    head.writeUInt32LE(off, 16 + i * 12 + 8);
    const b = Buffer.from(`${n}\0`, 'latin1');
    strs.push(b);
    off += b.length;
  });
  const old = Buffer.concat([head, ...strs]);
  const pad = Buffer.alloc((8 - (old.length % 8)) % 8);
  return Buffer.concat([old, pad, newPart]);
}

const CACHE_ENTRIES: CacheEntry[] = [
  { flags: FLAG_X8664, key: 'libfoo.so.1', value: '/usr/lib/x86_64-linux-gnu/libfoo.so.1' },
  { flags: FLAG_AARCH64, key: 'libfoo.so.1', value: '/usr/lib/aarch64-linux-gnu/libfoo.so.1' },
  { flags: FLAG_X8664, key: 'libbar.so.2', value: '/lib/x86_64-linux-gnu/libbar.so.2' },
  { flags: FLAG_X8664, key: 'libbar.so.2', value: '/usr/local/lib/libbar.so.2' },
  { flags: FLAG_X8664, key: 'libbar.so.2', value: '/lib/x86_64-linux-gnu/libbar.so.2' },
  { flags: FLAG_AARCH64, key: 'libarmonly.so.3', value: '/usr/lib/aarch64-linux-gnu/libarmonly.so.3' },
  { flags: FLAG_I386, key: 'libfoo.so.1', value: '/usr/lib/i386-linux-gnu/libfoo.so.1' },
  { flags: FLAG_X32, key: 'libx32only.so.1', value: '/usr/libx32/libx32only.so.1' },
  { flags: FLAG_X8664, key: 'libünï.so.1', value: '/opt/ünï/libünï.so.1' },
];
const CACHE_X64 = new Map([
  ['libfoo.so.1', ['/usr/lib/x86_64-linux-gnu/libfoo.so.1']],
  ['libbar.so.2', ['/lib/x86_64-linux-gnu/libbar.so.2', '/usr/local/lib/libbar.so.2']],
  ['libünï.so.1', ['/opt/ünï/libünï.so.1']],
]);
const CACHE_ARM64 = new Map([
  ['libfoo.so.1', ['/usr/lib/aarch64-linux-gnu/libfoo.so.1']],
  ['libarmonly.so.3', ['/usr/lib/aarch64-linux-gnu/libarmonly.so.3']],
]);

describe('linker cache', () => {
  const label = ({ x64: 'x86-64', arm64: 'AArch64' } as Record<string, string>)[os.arch()];
  const system = fs.existsSync('/etc/ld.so.cache') ? ldconfigEntries(label ?? '') : null;
  const skip =
    os.platform() !== 'linux'
      ? 'not Linux'
      : !label
        ? `no flag for ${os.arch()}`
        : system === null
          ? 'ldconfig -p unavailable'
          : false;
  it('/etc/ld.so.cache read directly is what ldconfig -p prints for this architecture', { skip }, () => {
    const got = readLdCache();
    assert.ok(system!.size > 0, 'ldconfig -p listed libraries');
    assert.deepEqual([...got.keys()].sort(), [...system!.keys()].sort());
    for (const [name, paths] of system!) assert.deepEqual(new Set(got.get(name)), paths, name);
    assert.deepEqual(readLdCache('/etc/ld.so.cache'), parseLdCache(fs.readFileSync('/etc/ld.so.cache')));
  });

  it("a hand-built cache: only this architecture's entries, each path once, in cache order", () => {
    const buf = newFormatCache(CACHE_ENTRIES);
    assert.deepEqual(parseLdCache(buf, 'x64'), CACHE_X64);
    assert.deepEqual(parseLdCache(buf, 'arm64'), CACHE_ARM64);
  });

  it('the new cache after the old "ld.so-1.7.0" block reads the same', () => {
    const buf = withOldPrefix(['libold.so.1', '/lib/libold.so.1', 'libfoo.so.1'], newFormatCache(CACHE_ENTRIES));
    assert.equal(buf.toString('latin1', 0, 11), 'ld.so-1.7.0');
    assert.deepEqual(parseLdCache(buf, 'x64'), CACHE_X64);
    assert.deepEqual(parseLdCache(buf, 'arm64'), CACHE_ARM64);
    // No old entries at all.
    assert.deepEqual(parseLdCache(withOldPrefix([], newFormatCache(CACHE_ENTRIES)), 'x64'), CACHE_X64);
  });

  it('garbage, an old-format-only cache, cut headers, impossible counts: an empty map or the entries that fit', () => {
    const empty = new Map();
    assert.deepEqual(parseLdCache(Buffer.alloc(0), 'x64'), empty);
    const text = Buffer.from('not a cache at all, just some text that goes on for a while');
    assert.deepEqual(parseLdCache(text, 'x64'), empty);
    const oldOnly = withOldPrefix(['libold.so.1', '/lib/libold.so.1'], Buffer.alloc(0));
    assert.deepEqual(parseLdCache(oldOnly, 'x64'), empty);
    const full = newFormatCache(CACHE_ENTRIES);
    assert.deepEqual(parseLdCache(full.subarray(0, 30), 'x64'), empty, 'header cut');
    assert.deepEqual(parseLdCache(full.subarray(0, 47), 'x64'), empty, 'header one byte short');
    // An old block claiming 2^32-1 entries.
    const hugeOld = Buffer.from(withOldPrefix([], full));
    hugeOld.writeUInt32LE(0xffffffff, 12);
    assert.deepEqual(parseLdCache(hugeOld, 'x64'), empty);
    // nlibs 2^32-1: the entries that are there are read, then the end of the buffer stops it.
    const hugeNew = Buffer.from(full);
    hugeNew.writeUInt32LE(0xffffffff, 20);
    const t0 = Date.now();
    const r = parseLdCache(hugeNew, 'x64');
    assert.ok(Date.now() - t0 < 2000, 'stopped at the end of the buffer');
    for (const [name, paths] of r) assert.ok(CACHE_X64.has(name), `${name} -> ${paths}`);
    // String offsets past the end: that entry is skipped.
    const badOffsets = newFormatCache([CACHE_ENTRIES[0], CACHE_ENTRIES[2]]);
    badOffsets.writeUInt32LE(0x7fffffff, 48 + 4);
    const barOnly = new Map([['libbar.so.2', ['/lib/x86_64-linux-gnu/libbar.so.2']]]);
    assert.deepEqual(parseLdCache(badOffsets, 'x64'), barOnly);
    // Random bytes after each magic never throw.
    let seed = 7;
    for (let trial = 0; trial < 500; trial++) {
      const b = Buffer.alloc(48 + (trial % 97) * 7);
      for (let i = 0; i < b.length; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        b[i] = seed & 0xff;
      }
      b.write(trial % 2 ? 'glibc-ld.so.cache1.1' : 'ld.so-1.7.0', 0, 'latin1');
      assert.ok(parseLdCache(b, 'x64') instanceof Map);
    }
  });

  it('an unreadable cache file is an empty map', () => {
    assert.deepEqual(readLdCache(path.join(BASE, 'no-such-ld.so.cache')), new Map());
    assert.deepEqual(readLdCache(freshDir('cachedir')), new Map());
    const cut = touch(path.join(freshDir('cache'), 'ld.so.cache'), Buffer.from('glibc-ld.so.cache1.1'));
    assert.deepEqual(readLdCache(cut), new Map());
  });

  const notLinux = os.platform() !== 'linux' && 'not Linux';
  it('a cache file written here is read from disk like from memory', { skip: notLinux }, () => {
    const file = touch(path.join(freshDir('cache'), 'ld.so.cache'), newFormatCache(CACHE_ENTRIES));
    const want = os.arch() === 'arm64' ? CACHE_ARM64 : os.arch() === 'x64' ? CACHE_X64 : null;
    if (want) assert.deepEqual(readLdCache(file), want);
  });
});

// ---------------------------------------------------------------------------------------------
// CUDA libraries on fake trees
// ---------------------------------------------------------------------------------------------

interface FakeTree {
  base: string;
  root: string;
  home: string;
  venv: string;
  ldDir: string;
  /** root/usr/local/cuda-13.0/lib64 */
  toolkit: string;
  /** home/.local/lib/python3.11/site-packages */
  homeSp: string;
  /** venv/lib/python3.12/site-packages */
  venvSp: string;
  /** home/.local/.../nvidia/cublas/lib */
  cublasDir: string;
  /** venv/.../nvidia/cudnn/lib */
  cudnnDir: string;
  env: NodeJS.ProcessEnv;
}
/** Empty folders laid out as on an ML machine; tests put libraries in them. */
function fakeTree(): FakeTree {
  const base = freshDir('tree');
  const root = path.join(base, 'root');
  const home = path.join(base, 'home');
  const venv = path.join(base, 'venv');
  const ldDir = path.join(base, 'ldpath');
  const toolkit = path.join(root, 'usr/local/cuda-13.0/lib64');
  const homeSp = path.join(home, '.local/lib/python3.11/site-packages');
  const venvSp = path.join(venv, 'lib/python3.12/site-packages');
  const cublasDir = path.join(homeSp, 'nvidia/cublas/lib');
  const cudnnDir = path.join(venvSp, 'nvidia/cudnn/lib');
  for (const d of [root, home, ldDir, toolkit, cublasDir, cudnnDir]) fs.mkdirSync(d, { recursive: true });
  const env = { VIRTUAL_ENV: venv, LD_LIBRARY_PATH: ldDir };
  return { base, root, home, venv, ldDir, toolkit, homeSp, venvSp, cublasDir, cudnnDir, env };
}
const NO_CACHE: LdCache = new Map();

describe('CUDA library search on fake trees', () => {
  it('each library found where it is, with its source; the rest missing with what provides them', () => {
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    touch(path.join(t.cublasDir, 'libcublas.so.13'));
    touch(path.join(t.cublasDir, 'libcublasLt.so.13'));
    touch(path.join(t.cudnnDir, 'libcudnn.so.9'));
    touch(path.join(t.ldDir, 'libcurand.so.10'));
    const cached = touch(path.join(t.base, 'cache/libnvrtc.so.13'));
    const ldCache: LdCache = new Map([['libnvrtc.so.13', [path.join(t.base, 'gone/libnvrtc.so.13'), cached]]]);
    const libs = [
      'libcublas.so.13',
      'libcudart.so.13',
      'libcublasLt.so.13',
      'libcudnn.so.9',
      'libcurand.so.10',
      'libnvrtc.so.13',
      'libcuda.so.1',
      'libc.so.6',
      'libstdc++.so.6',
      'libcufft.so.11',
    ];
    const r = findLibraries(libs, { env: t.env, home: t.home, root: t.root, ldCache });
    const homePy = `Python environment (${t.homeSp})`;
    const venvPy = `Python environment (${t.venvSp})`;
    assert.deepEqual(r.found, [
      { name: 'libcublas.so.13', path: path.join(t.cublasDir, 'libcublas.so.13'), source: homePy },
      { name: 'libcudart.so.13', path: path.join(t.toolkit, 'libcudart.so.13'), source: 'CUDA toolkit' },
      { name: 'libcublasLt.so.13', path: path.join(t.cublasDir, 'libcublasLt.so.13'), source: homePy },
      { name: 'libcudnn.so.9', path: path.join(t.cudnnDir, 'libcudnn.so.9'), source: venvPy },
      { name: 'libcurand.so.10', path: path.join(t.ldDir, 'libcurand.so.10'), source: 'LD_LIBRARY_PATH' },
      { name: 'libnvrtc.so.13', path: cached, source: 'linker cache' },
    ]);
    assert.deepEqual(
      r.missing.map((m) => m.name),
      ['libcuda.so.1', 'libcufft.so.11'],
    );
    assert.match(r.missing[0].provides, /NVIDIA driver/);
    assert.match(r.missing[1].provides, /cuFFT/);
    // The folders outside LD_LIBRARY_PATH and the cache, once each, in the order they are searched
    // (the toolkit, then VIRTUAL_ENV, then ~/.local), whatever the order of the libraries.
    assert.deepEqual(r.addToPath, [t.toolkit, t.cudnnDir, t.cublasDir]);
  });

  it('with addToPath after LD_LIBRARY_PATH, the loader would find each library where the search says it is', () => {
    // libcudart.so.13 is in the toolkit and in the pip wheels' folder; libcublas.so.13 only in the latter.
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    const pipRuntime = path.join(t.homeSp, 'nvidia/cuda_runtime/lib');
    touch(path.join(pipRuntime, 'libcudart.so.13'));
    touch(path.join(t.cublasDir, 'libcublas.so.13'));
    touch(path.join(t.cublasDir, 'libcudart.so.13'));
    for (const libs of [
      ['libcublas.so.13', 'libcudart.so.13'],
      ['libcudart.so.13', 'libcublas.so.13'],
    ]) {
      const r = findLibraries(libs, { env: t.env, home: t.home, root: t.root, ldCache: NO_CACHE });
      assert.deepEqual(r.missing, []);
      const loaderPath = [t.ldDir, ...r.addToPath];
      for (const f of r.found) {
        const first = loaderPath.find((d) => fs.existsSync(path.join(d, f.name)));
        const why = `${libs.join(', ')}: the loader would take ${f.name} from ${first}, the search says ${f.path}`;
        assert.equal(first, path.dirname(f.path), why);
      }
      assert.equal(r.found.find((f) => f.name === 'libcudart.so.13')!.path, path.join(t.toolkit, 'libcudart.so.13'));
    }
  });

  it('LD_LIBRARY_PATH first, then the linker cache, then the toolkit, then Python environments', () => {
    const t = fakeTree();
    const lib = 'libcudart.so.13';
    const cached = touch(path.join(t.base, 'cache', lib));
    const inLd = touch(path.join(t.ldDir, lib));
    const inToolkit = touch(path.join(t.toolkit, lib));
    const inPython = touch(path.join(t.cublasDir, lib));
    const opts = { env: t.env, home: t.home, root: t.root, ldCache: new Map([[lib, [cached]]]) };
    let r = findLibraries([lib], opts);
    assert.deepEqual(r.found, [{ name: lib, path: inLd, source: 'LD_LIBRARY_PATH' }]);
    assert.deepEqual(r.addToPath, []);
    fs.rmSync(inLd);
    r = findLibraries([lib], opts);
    assert.deepEqual(r.found, [{ name: lib, path: cached, source: 'linker cache' }]);
    assert.deepEqual(r.addToPath, []);
    r = findLibraries([lib], { ...opts, ldCache: NO_CACHE });
    assert.deepEqual(r.found, [{ name: lib, path: inToolkit, source: 'CUDA toolkit' }]);
    assert.deepEqual(r.addToPath, [t.toolkit]);
    fs.rmSync(inToolkit);
    r = findLibraries([lib], { ...opts, ldCache: NO_CACHE });
    assert.deepEqual(r.found, [{ name: lib, path: inPython, source: `Python environment (${t.homeSp})` }]);
    assert.deepEqual(r.addToPath, [t.cublasDir]);
  });

  it('a folder already on LD_LIBRARY_PATH is not added again; a library beside the provider needs no folder', () => {
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    const env = { LD_LIBRARY_PATH: `${t.ldDir}:${t.toolkit}` };
    const r = findLibraries(['libcudart.so.13'], { env, home: t.home, root: t.root, ldCache: NO_CACHE });
    const inToolkit = path.join(t.toolkit, 'libcudart.so.13');
    assert.deepEqual(r.found, [{ name: 'libcudart.so.13', path: inToolkit, source: 'LD_LIBRARY_PATH' }]);
    assert.deepEqual(r.addToPath, []);
    const providerDir = path.join(t.base, 'ort');
    touch(path.join(providerDir, 'libcublas.so.13'));
    const opts = { env: {}, home: t.home, root: t.root, ldCache: NO_CACHE };
    const beside = findLibraries(['libcublas.so.13'], opts, providerDir);
    const there = path.join(providerDir, 'libcublas.so.13');
    assert.deepEqual(beside.found, [{ name: 'libcublas.so.13', path: there, source: 'beside the provider' }]);
    assert.deepEqual(beside.addToPath, []);
  });

  it('system libraries are never looked for nor reported missing', () => {
    const t = fakeTree();
    const system = [
      'libc.so.6',
      'libm.so.6',
      'libdl.so.2',
      'librt.so.1',
      'libpthread.so.0',
      'libstdc++.so.6',
      'libgcc_s.so.1',
      'ld-linux-x86-64.so.2',
      'ld-linux-aarch64.so.1',
      'libutil.so.1',
      'libresolv.so.2',
    ];
    const opts = { env: {}, home: t.home, root: t.root, ldCache: NO_CACHE };
    const r = findLibraries(system, opts);
    assert.deepEqual(r, { found: [], missing: [], addToPath: [], searched: r.searched });
    // Names that only look like them are looked for.
    const r2 = findLibraries(['libcublas.so.13', 'libcares.so.2'], opts);
    assert.deepEqual(
      r2.missing.map((m) => m.name),
      ['libcublas.so.13', 'libcares.so.2'],
    );
  });

  it("folders searched: LD_LIBRARY_PATH, the provider's, /usr/local/cuda then the newest, drivers, Python", () => {
    const t = fakeTree();
    const r = t.root;
    const dirs = {
      cuda: path.join(r, 'usr/local/cuda/lib64'),
      c129: path.join(r, 'usr/local/cuda-12.9/lib64'),
      c1210: path.join(r, 'usr/local/cuda-12.10/lib64'),
      c13targets: path.join(r, 'usr/local/cuda-13.0/targets/x86_64-linux/lib'),
      c13cupti: path.join(r, 'usr/local/cuda-13.0/extras/CUPTI/lib64'),
      notCuda: path.join(r, 'usr/local/cudnn-9/lib64'),
      nvidia: path.join(r, 'usr/local/nvidia/lib64'),
      wsl: path.join(r, 'usr/lib/wsl/lib'),
      conda: path.join(t.base, 'conda/lib/python3.10/site-packages/nvidia/nccl/lib'),
      homeRuntime: path.join(t.homeSp, 'nvidia/cuda_runtime/lib'),
      noLib: path.join(t.homeSp, 'nvidia/__pycache__'),
      sysDist: path.join(r, 'usr/lib/python3/dist-packages/nvidia/cufft/lib'),
      optEnv: path.join(r, 'opt/conda/envs/torch/lib/python3.10/site-packages/nvidia/curand/lib'),
    };
    for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
    const ldB = path.join(t.base, 'ldB');
    const providerDir = path.join(t.base, 'ort');
    const env = {
      VIRTUAL_ENV: t.venv,
      CONDA_PREFIX: path.join(t.base, 'conda'),
      LD_LIBRARY_PATH: `${t.ldDir}::${ldB}:${t.ldDir}`,
    };
    const got = searchFolders({ env, home: t.home, root: r }, providerDir);
    const sp = (d: string) => `Python environment (${d.slice(0, d.indexOf('/nvidia/'))})`;
    assert.deepEqual(got, [
      { dir: t.ldDir, source: 'LD_LIBRARY_PATH' },
      { dir: ldB, source: 'LD_LIBRARY_PATH' },
      { dir: providerDir, source: 'beside the provider' },
      { dir: dirs.cuda, source: 'CUDA toolkit' },
      { dir: t.toolkit, source: 'CUDA toolkit' },
      { dir: dirs.c13targets, source: 'CUDA toolkit' },
      { dir: dirs.c13cupti, source: 'CUDA toolkit' },
      { dir: dirs.c1210, source: 'CUDA toolkit' },
      { dir: dirs.c129, source: 'CUDA toolkit' },
      { dir: dirs.nvidia, source: 'GPU driver' },
      { dir: dirs.wsl, source: 'GPU driver' },
      { dir: t.cudnnDir, source: sp(t.cudnnDir) },
      { dir: dirs.conda, source: sp(dirs.conda) },
      { dir: t.cublasDir, source: sp(t.cublasDir) },
      { dir: dirs.homeRuntime, source: sp(dirs.homeRuntime) },
      { dir: dirs.sysDist, source: sp(dirs.sysDist) },
      { dir: dirs.optEnv, source: sp(dirs.optEnv) },
    ]);
  });

  it("Python environments: VIRTUAL_ENV, CONDA_PREFIX, ~/.local, pyenv and conda envs, then the system's", () => {
    const t = fakeTree();
    const sp = (prefix: string, py: string, kind = 'site-packages') => {
      const d = path.join(prefix, 'lib', py, kind);
      fs.mkdirSync(d, { recursive: true });
      return d;
    };
    const conda = path.join(t.base, 'conda');
    const want = [
      t.venvSp,
      sp(conda, 'python3.10'),
      t.homeSp,
      sp(path.join(t.home, '.local'), 'python3.11', 'dist-packages'),
      sp(path.join(t.home, '.pyenv/versions/3.10.4'), 'python3.10'),
      sp(path.join(t.home, 'miniconda3/envs/ml'), 'python3.12'),
      sp(path.join(t.home, 'miniconda3'), 'python3.13'),
      sp(path.join(t.root, 'usr'), 'python3', 'dist-packages'),
      sp(path.join(t.root, 'usr/local'), 'python3.11', 'dist-packages'),
      sp(path.join(t.root, 'opt/conda'), 'python3.11'),
      sp(path.join(t.root, 'opt/conda/envs/x'), 'python3.11'),
    ];
    // Not Python 3, or not a package folder: left out.
    sp(path.join(t.root, 'usr'), 'python2.7', 'dist-packages');
    fs.mkdirSync(path.join(t.root, 'usr/lib/python3.11/config'), { recursive: true });
    const env = { VIRTUAL_ENV: t.venv, CONDA_PREFIX: conda };
    assert.deepEqual(pythonSitePackages({ env, home: t.home, root: t.root }), want);
  });

  it('what provides each library, in words', () => {
    assert.match(whatProvides('libcuda.so.1'), /NVIDIA driver/);
    // NVIDIA's wheels: "-cu12" names for CUDA 12; for 13 the plain names ("-cu13" ones are
    // deprecated placeholders on PyPI), except cuDNN's, which keep the CUDA major.
    assert.match(whatProvides('libcudart.so.13'), /CUDA 13 runtime.*pip install nvidia-cuda-runtime\)/);
    assert.match(whatProvides('libcudart.so.12'), /CUDA 12 runtime.*nvidia-cuda-runtime-cu12/);
    assert.match(whatProvides('libcublas.so.13'), /cuBLAS for CUDA 13.*pip install nvidia-cublas\)/);
    assert.match(whatProvides('libcublas.so.12'), /pip install nvidia-cublas-cu12\)/);
    assert.match(whatProvides('libnvrtc.so.13'), /pip install nvidia-cuda-nvrtc\)/);
    assert.match(whatProvides('libcudnn.so.9'), /nvidia-cudnn-cu13/);
    assert.match(whatProvides('libcublasLt.so.12'), /cuBLAS for CUDA 12/);
    assert.match(whatProvides('libcudnn.so.9'), /^cuDNN 9/);
    assert.match(whatProvides('libcurand.so.10'), /cuRAND/);
    assert.match(whatProvides('libcufft.so.11'), /cuFFT/);
    assert.match(whatProvides('libnvinfer.so.10'), /TensorRT/);
    assert.match(whatProvides('libnvrtc.so.13'), /NVRTC/);
    assert.match(whatProvides('libonnxruntime_providers_shared.so'), /provider bridge/);
    assert.equal(whatProvides('libwhatever.so.1'), 'a library the provider was built against');
    assert.equal(CUDNN_LIBRARY, 'libcudnn.so.9');
  });

  it('listWords and describeMissing', () => {
    assert.equal(listWords([]), '');
    assert.equal(listWords(['a']), 'a');
    assert.equal(listWords(['a', 'b']), 'a and b');
    assert.equal(listWords(['a', 'b', 'c']), 'a, b and c');
    const missing = [
      { name: 'x.so', provides: 'X' },
      { name: 'y.so', provides: 'Y' },
    ];
    assert.equal(describeMissing(missing), 'x.so (X) and y.so (Y)');
  });

  it("the provider's needs: its NEEDED list without system libraries, plus cuDNN once", () => {
    const dir = freshDir('needs');
    const needed = ['libcublas.so.13', 'libcudart.so.13', 'libc.so.6', 'libstdc++.so.6'];
    const a = touch(path.join(dir, 'a.so'), libraryElf(needed));
    const want = ['libcublas.so.13', 'libcudart.so.13', 'libcudnn.so.9'];
    assert.deepEqual(cudaProviderNeeds(a), { libs: want, error: null });
    const b = touch(path.join(dir, 'b.so'), libraryElf(['libcudnn.so.9', 'libcudart.so.13']));
    assert.deepEqual(cudaProviderNeeds(b), { libs: ['libcudnn.so.9', 'libcudart.so.13'], error: null });
    const bad = touch(path.join(dir, 'bad.so'), '<html><body>404: this is an error page, not a library</body></html>');
    const r = cudaProviderNeeds(bad);
    assert.deepEqual(r.libs, ['libcudnn.so.9']);
    assert.match(r.error ?? '', /bad\.so could not be read as a shared library \(no ELF magic\)/);
  });
});

// ---------------------------------------------------------------------------------------------
// The CUDA provider's status, precision and environment
// ---------------------------------------------------------------------------------------------

const PROVIDER = 'libonnxruntime_providers_cuda.so';
const BRIDGE = 'libonnxruntime_providers_shared.so';

/** A fake onnxruntime-node binary folder with the provider (NEEDED `needed`) and its bridge. */
function installProvider(t: FakeTree, needed = NEEDED3, bridge = true): string {
  const binaryDir = path.join(t.base, 'ort-bin');
  touch(path.join(binaryDir, PROVIDER), libraryElf(needed));
  if (bridge) touch(path.join(binaryDir, BRIDGE), libraryElf(['libc.so.6'], BRIDGE));
  return binaryDir;
}
const linux = (t: FakeTree, binaryDir: string | null, env: NodeJS.ProcessEnv = t.env) => ({
  platform: 'linux',
  arch: 'x64',
  binaryDir,
  env,
  home: t.home,
  root: t.root,
  ldCache: NO_CACHE,
});

describe('CUDA provider status', () => {
  it('no provider library: not usable, naming the library and the setup command', () => {
    const t = fakeTree();
    const binaryDir = freshDir('ort-empty');
    const s = cudaStatus(linux(t, binaryDir));
    assert.equal(s.usable, false);
    assert.equal(s.installed, false);
    assert.equal(s.providerLib, path.join(binaryDir, PROVIDER));
    assert.ok(s.reason?.includes(PROVIDER) && s.reason.includes(binaryDir), s.reason ?? '');
    assert.ok(s.nextStep?.includes('Set Up GPU (CUDA)') && s.nextStep.includes('setup-cuda'), s.nextStep ?? '');
    assert.deepEqual([s.found, s.missing, s.addToPath, s.search], [[], [], [], null]);
    const noDir = cudaStatus(linux(t, null));
    assert.equal(noDir.usable, false);
    assert.equal(noDir.providerLib, null);
    assert.ok(noDir.reason?.includes(PROVIDER), noDir.reason ?? '');
  });

  it('the provider without its bridge: installed, not usable, naming the bridge', () => {
    const t = fakeTree();
    const binaryDir = installProvider(t, NEEDED3, false);
    const s = cudaStatus(linux(t, binaryDir));
    assert.equal(s.usable, false);
    assert.equal(s.installed, true);
    assert.ok(s.reason?.includes(BRIDGE) && /missing/.test(s.reason), s.reason ?? '');
    assert.ok(s.nextStep?.includes('setup-cuda'));
  });

  it('NEEDED [libcublas.so.13, libcudart.so.13, libc.so.6], only libcudart present: cuBLAS and cuDNN missing', () => {
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    const binaryDir = installProvider(t);
    const s = cudaStatus(linux(t, binaryDir));
    assert.equal(s.usable, false);
    assert.equal(s.installed, true);
    assert.deepEqual(
      s.missing.map((m) => m.name),
      ['libcublas.so.13', 'libcudnn.so.9'],
    );
    const cudart = path.join(t.toolkit, 'libcudart.so.13');
    assert.deepEqual(s.found, [{ name: 'libcudart.so.13', path: cudart, source: 'CUDA toolkit' }]);
    assert.deepEqual(s.addToPath, [t.toolkit]);
    assert.ok(s.reason?.includes('libcublas.so.13 (cuBLAS for CUDA 13'), s.reason ?? '');
    assert.ok(s.reason?.includes('libcudnn.so.9 (cuDNN 9'), s.reason ?? '');
    assert.doesNotMatch(s.reason ?? '', /libc\.so\.6/);
    assert.doesNotMatch(s.nextStep ?? '', /NVIDIA driver/);
    assert.ok(s.search);
  });

  it("the driver's libcuda.so.1 missing: the next step is the driver", () => {
    const t = fakeTree();
    const binaryDir = installProvider(t, ['libcuda.so.1', 'libcudart.so.13']);
    const s = cudaStatus(linux(t, binaryDir));
    assert.deepEqual(
      s.missing.map((m) => m.name),
      ['libcuda.so.1', 'libcudart.so.13', 'libcudnn.so.9'],
    );
    assert.match(s.nextStep ?? '', /NVIDIA driver/);
  });

  it('everything found: usable null (only a session can tell), addToPath the folders in search order', () => {
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    touch(path.join(t.cublasDir, 'libcublas.so.13'));
    touch(path.join(t.cudnnDir, 'libcudnn.so.9'));
    const binaryDir = installProvider(t);
    const s = cudaStatus(linux(t, binaryDir));
    assert.equal(s.usable, null);
    assert.equal(s.reason, null);
    assert.equal(s.nextStep, null);
    assert.deepEqual(s.missing, []);
    assert.deepEqual(s.found.map((f) => f.name).sort(), ['libcublas.so.13', 'libcudart.so.13', 'libcudnn.so.9']);
    assert.deepEqual(s.addToPath, [t.toolkit, t.cudnnDir, t.cublasDir]);
  });

  it('a provider file that is not a library: not usable, saying so', () => {
    const t = fakeTree();
    const binaryDir = path.join(t.base, 'ort-bad');
    touch(path.join(binaryDir, PROVIDER), 'HTML error page instead of a library');
    touch(path.join(binaryDir, BRIDGE), libraryElf([], BRIDGE));
    const s = cudaStatus(linux(t, binaryDir));
    assert.equal(s.usable, false);
    assert.equal(s.installed, true);
    assert.match(s.reason ?? '', /could not be read as a shared library/);
    assert.ok(s.nextStep?.includes('setup-cuda'));
  });

  it('macOS, Windows and Linux on ARM have no CUDA provider in onnxruntime-node', () => {
    const mac = cudaStatus({ platform: 'darwin', arch: 'arm64', binaryDir: freshDir('mac') });
    assert.equal(mac.usable, false);
    assert.equal(mac.installed, false);
    assert.equal(mac.providerLib, null);
    assert.match(mac.reason ?? '', /no CUDA provider for darwin-arm64/);
    assert.match(mac.nextStep ?? '', /Metal/);
    const arm = cudaStatus({ platform: 'linux', arch: 'arm64', binaryDir: freshDir('arm') });
    assert.match(arm.reason ?? '', /no CUDA provider for linux-arm64/);
    // Even with the DLLs there (the Windows binding has no CUDA provider to load them).
    const winDir = freshDir('win');
    touch(path.join(winDir, 'onnxruntime_providers_cuda.dll'));
    touch(path.join(winDir, 'onnxruntime_providers_shared.dll'));
    const win = cudaStatus({ platform: 'win32', arch: 'x64', binaryDir: winDir });
    assert.equal(win.usable, false);
    assert.match(win.reason ?? '', /no CUDA provider for win32-x64/);
    assert.doesNotMatch(win.nextStep ?? '', /Metal/);
  });

  it("a provider that Exit Lens's setup recorded for another ONNX Runtime version: not usable, naming both", () => {
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    touch(path.join(t.cublasDir, 'libcublas.so.13'));
    touch(path.join(t.cudnnDir, 'libcudnn.so.9'));
    const binaryDir = installProvider(t);
    const bundled = ORT_VERSION;
    touch(path.join(binaryDir, 'exit-lens-cuda.json'), JSON.stringify({ version: '0.0.1' }));
    const old = cudaStatus(linux(t, binaryDir));
    assert.equal(old.usable, false);
    assert.equal(old.installed, true);
    assert.ok(old.reason?.includes('0.0.1') && old.reason.includes(bundled), old.reason ?? '');
    assert.ok(old.nextStep?.includes('setup-cuda'));
    touch(path.join(binaryDir, 'exit-lens-cuda.json'), JSON.stringify({ version: bundled }));
    assert.equal(cudaStatus(linux(t, binaryDir)).usable, null);
    // No record, or one without a version: the provider is taken as it is.
    touch(path.join(binaryDir, 'exit-lens-cuda.json'), '{ not json');
    assert.equal(cudaStatus(linux(t, binaryDir)).usable, null);
  });

  it('cudaPrecision: NVIDIA_TF32_OVERRIDE=0 is fp32, anything else tf32', () => {
    assert.equal(cudaPrecision({ NVIDIA_TF32_OVERRIDE: '0' }).precision, 'fp32');
    assert.match(cudaPrecision({ NVIDIA_TF32_OVERRIDE: '0' }).reason, /NVIDIA_TF32_OVERRIDE=0/);
    assert.equal(cudaPrecision({}).precision, 'tf32');
    assert.equal(cudaPrecision({ NVIDIA_TF32_OVERRIDE: '1' }).precision, 'tf32');
    assert.equal(cudaPrecision({ NVIDIA_TF32_OVERRIDE: '' }).precision, 'tf32');
  });
});

describe("the engine's environment for CUDA", () => {
  /** A tree where every library the provider needs is found outside the loader's search. */
  function ready() {
    const t = fakeTree();
    touch(path.join(t.toolkit, 'libcudart.so.13'));
    touch(path.join(t.cublasDir, 'libcublas.so.13'));
    touch(path.join(t.cudnnDir, 'libcudnn.so.9'));
    const binaryDir = installProvider(t);
    return { t, binaryDir, expectedAdd: [t.toolkit, t.cudnnDir, t.cublasDir] };
  }

  it('providers without CUDA or TensorRT: no change at all', () => {
    const { t, binaryDir } = ready();
    const env = { ...t.env, NVIDIA_TF32_OVERRIDE: '1' };
    for (const precision of ['fp32', 'tf32'] as const) {
      const change = engineEnvironment(['webgpu', 'cpu'], precision, linux(t, binaryDir, env));
      assert.deepEqual(change, { set: {}, unset: [], notes: [] });
    }
  });

  it('fp32: NVIDIA_TF32_OVERRIDE=0, and LD_LIBRARY_PATH = the existing one then the folders found', () => {
    const { t, binaryDir, expectedAdd } = ready();
    const other = freshDir('other-lib');
    const env = { ...t.env, LD_LIBRARY_PATH: `${t.ldDir}:${other}` };
    const change = engineEnvironment(['cuda', 'cpu'], 'fp32', linux(t, binaryDir, env));
    const ldPath = [t.ldDir, other, ...expectedAdd].join(':');
    assert.deepEqual(change.set, { NVIDIA_TF32_OVERRIDE: '0', LD_LIBRARY_PATH: ldPath });
    assert.deepEqual(change.unset, []);
    assert.equal(change.notes.length, 2);
    // TensorRT also runs through CUDA; the default precision is fp32.
    assert.deepEqual(engineEnvironment(['tensorrt'], undefined, linux(t, binaryDir, env)).set, change.set);
  });

  it('no LD_LIBRARY_PATH before: only the folders found, no empty element', () => {
    const { t, binaryDir, expectedAdd } = ready();
    const env = { VIRTUAL_ENV: t.venv, NVIDIA_TF32_OVERRIDE: '0' };
    const change = engineEnvironment(['cuda'], 'fp32', linux(t, binaryDir, env));
    assert.deepEqual(change.set, { LD_LIBRARY_PATH: expectedAdd.join(':') });
    assert.deepEqual(change.unset, []);
  });

  it('tf32: NVIDIA_TF32_OVERRIDE removed when set, nothing when not', () => {
    const { t, binaryDir } = ready();
    const withVar = engineEnvironment(['cuda'], 'tf32', linux(t, binaryDir, { ...t.env, NVIDIA_TF32_OVERRIDE: '0' }));
    assert.deepEqual(withVar.unset, ['NVIDIA_TF32_OVERRIDE']);
    assert.equal(withVar.set.NVIDIA_TF32_OVERRIDE, undefined);
    const without = engineEnvironment(['cuda'], 'tf32', linux(t, binaryDir, t.env));
    assert.deepEqual(without.unset, []);
    assert.equal(without.set.NVIDIA_TF32_OVERRIDE, undefined);
  });

  it('the provider not installed, or its libraries all on LD_LIBRARY_PATH: LD_LIBRARY_PATH unchanged', () => {
    const { t } = ready();
    const none = engineEnvironment(['cuda'], 'fp32', linux(t, freshDir('ort-none')));
    assert.deepEqual(none.set, { NVIDIA_TF32_OVERRIDE: '0' });
    const t2 = fakeTree();
    for (const lib of ['libcudart.so.13', 'libcublas.so.13', 'libcudnn.so.9']) touch(path.join(t2.ldDir, lib));
    const onPath = engineEnvironment(['cuda'], 'fp32', linux(t2, installProvider(t2)));
    assert.deepEqual(onPath.set, { NVIDIA_TF32_OVERRIDE: '0' });
  });

  it('withEnvironment applies set and unset to a copy', () => {
    const base: NodeJS.ProcessEnv = { A: '1', NVIDIA_TF32_OVERRIDE: '0', LD_LIBRARY_PATH: '/x' };
    const before = { ...base };
    const change = { set: { LD_LIBRARY_PATH: '/x:/y', B: '2' }, unset: ['NVIDIA_TF32_OVERRIDE'], notes: [] };
    const env = withEnvironment(base, change);
    assert.deepEqual(env, { A: '1', LD_LIBRARY_PATH: '/x:/y', B: '2' });
    assert.deepEqual(base, before);
    assert.notEqual(env, base);
  });
});

// ---------------------------------------------------------------------------------------------
// WebGPU (Vulkan) on fake trees
// ---------------------------------------------------------------------------------------------

describe('WebGPU check on fake trees', () => {
  function vk() {
    const base = freshDir('vk');
    const root = path.join(base, 'root');
    const home = path.join(base, 'home');
    fs.mkdirSync(root, { recursive: true });
    fs.mkdirSync(home, { recursive: true });
    const opts = { platform: 'linux' as const, root, home, env: {} as NodeJS.ProcessEnv, ldCache: NO_CACHE };
    const loader = () => touch(path.join(root, 'usr/lib/x86_64-linux-gnu/libvulkan.so.1'));
    const manifest = (rel: string, library: string) => {
      const json = { file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } };
      return touch(path.join(root, rel), JSON.stringify(json));
    };
    return { base, root, home, opts, loader, manifest };
  }
  const LVP = 'usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
  const NV = 'usr/share/vulkan/icd.d/nvidia_icd.json';
  const CONTAINER = 'usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';

  it('no Vulkan loader: not usable, naming libvulkan.so.1 and the package', () => {
    const v = vk();
    v.manifest(NV, 'libGLX_nvidia.so.0');
    const c = checkWebGpu(v.opts);
    assert.equal(c.usable, false);
    assert.ok(c.reason?.includes('libvulkan.so.1'), c.reason ?? '');
    assert.ok(c.nextStep?.includes('libvulkan1'), c.nextStep ?? '');
    assert.deepEqual(c.drivers, []);
  });

  it('the loader found through LD_LIBRARY_PATH or the linker cache (a cache entry for a gone file does not count)', () => {
    const v = vk();
    v.manifest(NV, 'libGLX_nvidia.so.0');
    const ld = freshDir('vk-ld');
    touch(path.join(ld, 'libvulkan.so.1'));
    assert.equal(checkWebGpu({ ...v.opts, env: { LD_LIBRARY_PATH: `/nonexistent:${ld}` } }).usable, null);
    const cached = touch(path.join(freshDir('vk-cache'), 'libvulkan.so.1'));
    assert.equal(checkWebGpu({ ...v.opts, ldCache: new Map([['libvulkan.so.1', [cached]]]) }).usable, null);
    const gone = new Map([['libvulkan.so.1', [path.join(v.base, 'gone.so')]]]);
    assert.equal(checkWebGpu({ ...v.opts, ldCache: gone }).usable, false);
  });

  it('the loader but only lavapipe (software): not usable, naming the software driver', () => {
    const v = vk();
    v.loader();
    v.manifest(LVP, 'libvulkan_lvp.so');
    const c = checkWebGpu(v.opts);
    assert.equal(c.usable, false);
    assert.ok(c.reason?.includes('lvp_icd.x86_64.json') && /software/.test(c.reason), c.reason ?? '');
    assert.deepEqual(c.drivers, [{ manifest: path.join(v.root, LVP), library: 'libvulkan_lvp.so', software: true }]);
    assert.match(c.nextStep ?? '', /VK_DRIVER_FILES/);
  });

  it('the loader and no driver at all: not usable', () => {
    const v = vk();
    v.loader();
    const c = checkWebGpu(v.opts);
    assert.equal(c.usable, false);
    assert.match(c.reason ?? '', /no GPU driver with Vulkan/);
    assert.deepEqual(c.drivers, []);
  });

  it('an NVIDIA manifest: usable unknown until a session (null), both drivers listed', () => {
    const v = vk();
    v.loader();
    v.manifest(LVP, 'libvulkan_lvp.so');
    v.manifest(NV, 'libGLX_nvidia.so.0');
    const c = checkWebGpu(v.opts);
    assert.equal(c.usable, null);
    assert.equal(c.reason, null);
    assert.equal(c.nextStep, null);
    assert.deepEqual(c.drivers, [
      { manifest: path.join(v.root, LVP), library: 'libvulkan_lvp.so', software: true },
      { manifest: path.join(v.root, NV), library: 'libGLX_nvidia.so.0', software: false },
    ]);
  });

  it('manifest folders: ~/.config, /etc/xdg, /etc, ~/.local/share, then XDG_DATA_DIRS under the root', () => {
    const v = vk();
    v.loader();
    const want = [
      touch(path.join(v.home, '.config/vulkan/icd.d/a_icd.json'), '{"ICD":{"library_path":"liba.so"}}'),
      v.manifest('etc/xdg/vulkan/icd.d/b_icd.json', 'libb.so'),
      v.manifest('etc/vulkan/icd.d/c_icd.json', 'libc_vk.so'),
      touch(path.join(v.home, '.local/share/vulkan/icd.d/d_icd.json'), '{"ICD":{"library_path":"libd.so"}}'),
      v.manifest('usr/local/share/vulkan/icd.d/e_icd.json', 'libe.so'),
      v.manifest('usr/share/vulkan/icd.d/f_icd.json', 'libf.so'),
    ];
    v.manifest('usr/share/vulkan/icd.d/not-a-manifest.txt', 'libz.so');
    assert.deepEqual(
      checkWebGpu(v.opts).drivers.map((d) => d.manifest),
      want,
    );
    // XDG_DATA_DIRS replaces /usr/local/share:/usr/share, its folders taken under the root.
    const custom = v.manifest('opt/share/vulkan/icd.d/g_icd.json', 'libg.so');
    const withXdg = checkWebGpu({ ...v.opts, env: { XDG_DATA_DIRS: '/opt/share' } }).drivers.map((d) => d.manifest);
    assert.deepEqual(withXdg, [...want.slice(0, 4), custom]);
    // XDG_CONFIG_HOME and XDG_DATA_HOME replace ~/.config and ~/.local/share.
    const cfg = freshDir('xdg-config');
    const cfgManifest = touch(path.join(cfg, 'vulkan/icd.d/h_icd.json'), '{"ICD":{"library_path":"libh.so"}}');
    const xdgEnv = { XDG_CONFIG_HOME: cfg, XDG_DATA_HOME: freshDir('xdg-data') };
    const withCfg = checkWebGpu({ ...v.opts, env: xdgEnv }).drivers.map((d) => d.manifest);
    assert.deepEqual(withCfg, [cfgManifest, want[1], want[2], want[4], want[5]]);
  });

  it('VK_DRIVER_FILES naming a file: only that driver; a folder: its manifests; VK_ICD_FILENAMES the same', () => {
    const v = vk();
    v.loader();
    v.manifest(NV, 'libGLX_nvidia.so.0');
    const radeon = '{"ICD":{"library_path":"/usr/lib/libvulkan_radeon.so"}}';
    const own = touch(path.join(freshDir('vk-own'), 'radeon_icd.x86_64.json'), radeon);
    const only = checkWebGpu({ ...v.opts, env: { VK_DRIVER_FILES: own } });
    assert.deepEqual(only.drivers, [{ manifest: own, library: '/usr/lib/libvulkan_radeon.so', software: false }]);
    assert.equal(only.usable, null);
    const folder = checkWebGpu({ ...v.opts, env: { VK_DRIVER_FILES: path.dirname(own) } });
    assert.deepEqual(
      folder.drivers.map((d) => d.manifest),
      [own],
    );
    const legacy = checkWebGpu({ ...v.opts, env: { VK_ICD_FILENAMES: own } });
    assert.deepEqual(
      legacy.drivers.map((d) => d.manifest),
      [own],
    );
    const lvp = v.manifest(LVP, 'libvulkan_lvp.so');
    const softOnly = checkWebGpu({ ...v.opts, env: { VK_DRIVER_FILES: lvp, VK_ICD_FILENAMES: own } });
    assert.deepEqual(
      softOnly.drivers.map((d) => d.manifest),
      [lvp],
    );
    assert.equal(softOnly.usable, false);
  });

  it('in a container, the NVIDIA manifest under /usr/local/nvidia is pointed at', () => {
    const v = vk();
    v.loader();
    const icd = v.manifest(CONTAINER, 'libGLX_nvidia.so.0');
    const c = checkWebGpu(v.opts);
    assert.equal(c.usable, false);
    assert.ok(c.nextStep?.includes(`VK_DRIVER_FILES=${icd}`), c.nextStep ?? '');
    const set = checkWebGpu({ ...v.opts, env: { VK_DRIVER_FILES: icd } });
    assert.equal(set.usable, null);
    assert.equal(set.nextStep, null);
    assert.deepEqual(set.drivers, [{ manifest: icd, library: 'libGLX_nvidia.so.0', software: false }]);
    // A hardware driver found elsewhere: usable unknown, the container manifest still mentioned.
    v.manifest(NV, 'libGLX_nvidia.so.0');
    const both = checkWebGpu(v.opts);
    assert.equal(both.usable, null);
    assert.ok(both.nextStep?.includes(icd), both.nextStep ?? '');
  });

  it('a manifest that is not JSON: its library unknown, software judged by the file name', () => {
    const v = vk();
    v.loader();
    touch(path.join(v.root, LVP), '{ broken');
    const c = checkWebGpu(v.opts);
    assert.deepEqual(c.drivers, [{ manifest: path.join(v.root, LVP), library: '', software: true }]);
    assert.equal(c.usable, false);
  });

  it('Windows and macOS: nothing to check before a session; other systems: not available', () => {
    const v = vk();
    for (const platform of ['win32', 'darwin'] as const) {
      const c = checkWebGpu({ ...v.opts, platform });
      assert.deepEqual(c, { usable: null, reason: null, nextStep: null, drivers: [] });
    }
    const bsd = checkWebGpu({ ...v.opts, platform: 'freebsd' });
    assert.equal(bsd.usable, false);
    assert.match(bsd.reason ?? '', /freebsd/);
  });
});

describe('explainWebGpuFailure', () => {
  const ORT_NO_ADAPTER = 'Failed to get a WebGPU adapter: No supported adapters\n  at something.cc:123';
  const noLoader: WebGpuCheck = {
    usable: false,
    reason: 'the Vulkan loader libvulkan.so.1 is not installed (WebGPU runs on Vulkan on Linux).',
    nextStep: 'install libvulkan1',
    drivers: [],
  };
  const nvidia: WebGpuCheck = {
    usable: null,
    reason: null,
    nextStep: null,
    drivers: [
      { manifest: '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json', library: 'libvulkan_lvp.so', software: true },
      { manifest: '/usr/share/vulkan/icd.d/nvidia_icd.json', library: 'libGLX_nvidia.so.0', software: false },
    ],
  };

  it('ORT\'s "No supported adapters" with no loader found: the loader is the reason', () => {
    const r = explainWebGpuFailure(ORT_NO_ADAPTER, noLoader, 'linux');
    assert.deepEqual(r, { reason: noLoader.reason, nextStep: 'install libvulkan1' });
  });

  it('with a hardware driver: no adapter, naming that driver and not the software one', () => {
    const r = explainWebGpuFailure(ORT_NO_ADAPTER, nvidia, 'linux');
    assert.match(r.reason, /no GPU adapter/);
    assert.ok(r.reason.includes('libGLX_nvidia.so.0'), r.reason);
    assert.ok(!r.reason.includes('lvp'), r.reason);
    assert.match(r.nextStep, /vulkaninfo|nvidia-smi/);
    const intel = { ...nvidia, drivers: [{ manifest: '/x/intel_icd.json', library: '', software: false }] };
    const unnamed = explainWebGpuFailure(ORT_NO_ADAPTER, intel, 'linux');
    assert.ok(unnamed.reason.includes('intel_icd.json'), unnamed.reason);
  });

  it('Windows: Direct3D 12; macOS: Metal', () => {
    const win = { usable: null, reason: null, nextStep: null, drivers: [] };
    assert.match(explainWebGpuFailure(ORT_NO_ADAPTER, win, 'win32').reason, /Direct3D 12/);
    assert.match(explainWebGpuFailure(ORT_NO_ADAPTER, win, 'darwin').reason, /Metal/);
  });

  it('Vulkan not loadable, no WebGPU build, or anything else (first line only)', () => {
    const vulkan = explainWebGpuFailure("Couldn't load Vulkan", nvidia, 'linux');
    assert.match(vulkan.reason, /libvulkan\.so\.1 could not be loaded/);
    const noBuild = explainWebGpuFailure('unknown provider webgpu\nmore', nvidia, 'linux');
    assert.match(noBuild.reason, /no WebGPU provider \(unknown provider webgpu\)/);
    const other = explainWebGpuFailure('Something odd happened\nstack line', nvidia, 'linux');
    assert.equal(other.reason, 'Something odd happened');
    assert.match(other.nextStep, /doctor/);
  });
});

// ---------------------------------------------------------------------------------------------
// How a run's provider is told
// ---------------------------------------------------------------------------------------------

describe('summarizeProvider', () => {
  const cudaFailed = {
    provider: 'cuda',
    ok: false,
    reason: 'the CUDA provider library is not installed.',
    nextStep: 'Run setup-cuda',
  };
  const webgpuFailed = { provider: 'webgpu', ok: false, reason: 'the Vulkan loader libvulkan.so.1 is not installed.' };

  it('a GPU used: tone gpu, badge "CUDA · tf32", the precision\'s reason in the line', () => {
    const s = summarizeProvider({
      used: 'cuda',
      requested: ['cuda', 'cpu'],
      explicit: false,
      attempts: [{ provider: 'cuda', ok: true }],
      threads: 8,
      precision: 'tf32',
      precisionReason: 'TF32 tensor cores',
    });
    assert.equal(s.tone, 'gpu');
    assert.equal(s.badge, 'CUDA · tf32');
    assert.equal(s.line, 'CUDA (TF32 tensor cores)');
    assert.deepEqual(s.notUsed, []);
  });

  it('a GPU used after another failed: the failed one is listed, its final period dropped', () => {
    const s = summarizeProvider({
      used: 'webgpu',
      requested: ['cuda', 'webgpu'],
      explicit: true,
      attempts: [cudaFailed, { provider: 'webgpu', ok: true }],
      threads: 8,
      precision: 'fp32',
      precisionReason: 'WebGPU: fp32 shaders',
    });
    assert.equal(s.tone, 'gpu');
    assert.equal(s.badge, 'WebGPU · fp32');
    assert.ok(s.line.includes('not used: CUDA: the CUDA provider library is not installed'), s.line);
    assert.ok(!s.line.includes('installed.'), s.line);
    assert.deepEqual(s.notUsed, [
      { provider: 'cuda', reason: 'the CUDA provider library is not installed', nextStep: 'Run setup-cuda' },
    ]);
  });

  it('the CPU by the default order after GPUs failed: neutral, "no GPU provider available"', () => {
    const s = summarizeProvider({
      used: 'cpu',
      requested: ['cuda', 'webgpu', 'cpu'],
      explicit: false,
      attempts: [cudaFailed, webgpuFailed, { provider: 'cpu', ok: true }],
      threads: 4,
      precision: 'fp32',
      precisionReason: 'CPU: fp32',
    });
    assert.equal(s.tone, 'neutral');
    assert.equal(s.badge, 'CPU · fp32');
    assert.ok(s.line.includes('no GPU provider available'), s.line);
    assert.ok(s.line.includes('4 threads'), s.line);
    assert.ok(s.line.includes('CUDA: the CUDA provider library is not installed'), s.line);
    assert.ok(s.line.includes('WebGPU: the Vulkan loader'), s.line);
    assert.deepEqual(
      s.notUsed.map((n) => [n.provider, n.nextStep]),
      [
        ['cuda', 'Run setup-cuda'],
        ['webgpu', null],
      ],
    );
  });

  it('the CPU after GPUs the user named failed: a fallback', () => {
    const s = summarizeProvider({
      used: 'cpu',
      requested: ['cuda', 'cpu'],
      explicit: true,
      attempts: [cudaFailed, { provider: 'cpu', ok: true }],
      threads: 2,
      precision: 'fp32',
      precisionReason: 'CPU: fp32',
    });
    assert.equal(s.tone, 'fallback');
    assert.ok(s.line.includes('instead of CUDA'), s.line);
    assert.ok(!s.line.includes('no GPU provider available'), s.line);
  });

  it('the CPU asked for and used: neutral, no reasons', () => {
    const s = summarizeProvider({
      used: 'cpu',
      requested: ['cpu'],
      explicit: true,
      attempts: [{ provider: 'cpu', ok: true }],
      threads: 3,
      precision: 'fp32',
      precisionReason: 'CPU: fp32',
    });
    assert.deepEqual([s.tone, s.badge, s.notUsed], ['neutral', 'CPU · fp32', []]);
    assert.ok(s.line.startsWith('CPU') && s.line.includes('3 threads'), s.line);
  });

  it('a report from before precision and explicit: no precision in the badge, a failed GPU a fallback', () => {
    /** A report's provider information without the fields added later. */
    const legacy = (used: string, attempts: { provider: string; ok: boolean }[]) =>
      summarizeProvider({
        used,
        requested: attempts.map((a) => a.provider),
        attempts,
        threads: 4,
      } as unknown as ExecutionProviderInfo);
    const s = legacy('cpu', [
      { provider: 'cuda', ok: false },
      { provider: 'cpu', ok: true },
    ]);
    assert.equal(s.badge, 'CPU');
    assert.equal(s.tone, 'fallback');
    assert.ok(!/undefined|null/.test(s.line), s.line);
    assert.deepEqual(s.notUsed, [{ provider: 'cuda', reason: 'unknown reason', nextStep: null }]);
    const oldGpu = legacy('cuda', [{ provider: 'cuda', ok: true }]);
    assert.deepEqual([oldGpu.badge, oldGpu.line, oldGpu.tone], ['CUDA', 'CUDA', 'gpu']);
    const oldCpu = legacy('cpu', [{ provider: 'cpu', ok: true }]);
    assert.deepEqual([oldCpu.badge, oldCpu.tone], ['CPU', 'neutral']);
    assert.ok(!/undefined|null/.test(oldCpu.line), oldCpu.line);
  });

  it('an unknown provider name is shown in capitals', () => {
    const s = summarizeProvider({
      used: 'rocm',
      requested: ['rocm'],
      explicit: true,
      attempts: [{ provider: 'rocm', ok: true }],
      threads: 1,
      precision: 'fp32',
      precisionReason: 'x',
    });
    assert.equal(s.badge, 'ROCM · fp32');
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI's environment change
// ---------------------------------------------------------------------------------------------

describe('cliEnvironmentChange', () => {
  it('commands that run no model: no change', () => {
    const noModel = [['analyze', 'logits.npz', '--ep', 'cuda'], ['inspect', 'm.onnx'], ['setup-cuda'], ['--help'], []];
    for (const argv of noModel) {
      assert.equal(cliEnvironmentChange(argv, { NVIDIA_TF32_OVERRIDE: '1' }), null, argv.join(' '));
    }
  });

  it('--ep cpu: nothing changes, not even the precision variable', () => {
    const none = { set: {}, unset: [], notes: [] };
    assert.deepEqual(cliEnvironmentChange(['profile', 'm.onnx', '--ep', 'cpu'], { NVIDIA_TF32_OVERRIDE: '1' }), none);
    assert.deepEqual(cliEnvironmentChange(['profile', 'm.onnx', '--ep=webgpu,cpu'], {}), none);
    // The last --ep wins.
    assert.deepEqual(cliEnvironmentChange(['profile', 'm.onnx', '--ep', 'cuda', '--ep', 'cpu'], {}), none);
  });

  it('--ep=cuda,cpu and the default order include CUDA: fp32 by default sets NVIDIA_TF32_OVERRIDE=0', () => {
    const withCuda = [
      ['profile', 'm.onnx', '--ep=cuda,cpu'],
      ['profile', 'm.onnx', '--ep', ' CUDA , cpu'],
      ['profile', 'm.onnx'],
      ['profile', 'm.onnx', '--', '--ep', 'cpu'],
      ['doctor'],
      ['doctor', '--ep', 'cpu'],
    ];
    for (const argv of withCuda) {
      const c = cliEnvironmentChange(argv, {});
      assert.equal(c?.set.NVIDIA_TF32_OVERRIDE, '0', argv.join(' '));
    }
  });

  it('options before the command are read as the CLI reads them (the command is the first positional)', () => {
    // `exit-lens --ep cuda,cpu profile m.onnx`: "cuda,cpu" is the option's value, not the command.
    const c = cliEnvironmentChange(['--ep', 'cuda,cpu', 'profile', 'm.onnx'], {});
    assert.equal(c?.set.NVIDIA_TF32_OVERRIDE, '0');
    assert.equal(
      cliEnvironmentChange(['--samples', 'profile', 'analyze', 'x.npz'], {}),
      null,
      'the command is analyze',
    );
    assert.equal(cliEnvironmentChange(['--json', 'doctor', 'inspect', 'm.onnx'], {}), null, 'the command is inspect');
  });

  it('--gpu-precision tf32 / --gpu-precision=TF32 remove NVIDIA_TF32_OVERRIDE; --gpu-precision fp32 keeps 0', () => {
    const tf32 = [
      ['profile', 'm.onnx', '--gpu-precision', 'tf32'],
      ['profile', 'm.onnx', '--ep=cuda', '--gpu-precision=TF32'],
    ];
    for (const argv of tf32) {
      const c = cliEnvironmentChange(argv, { NVIDIA_TF32_OVERRIDE: '0' });
      assert.deepEqual(c?.unset, ['NVIDIA_TF32_OVERRIDE'], argv.join(' '));
      assert.equal(c?.set.NVIDIA_TF32_OVERRIDE, undefined);
    }
    const fp32 = cliEnvironmentChange(['profile', 'm.onnx', '--gpu-precision', 'fp32'], { NVIDIA_TF32_OVERRIDE: '0' });
    assert.deepEqual(fp32?.unset, []);
    assert.equal(fp32?.set.NVIDIA_TF32_OVERRIDE, undefined);
  });

  it("LD_LIBRARY_PATH changes only with the folders this machine's CUDA provider needs", () => {
    const env = { LD_LIBRARY_PATH: '/already/there' };
    const add = cudaStatus({ env }).addToPath;
    const c = cliEnvironmentChange(['profile', 'm.onnx', '--ep', 'cuda,cpu'], env);
    assert.equal(c?.set.LD_LIBRARY_PATH, add.length ? ['/already/there', ...add].join(':') : undefined);
    assert.equal(cliEnvironmentChange(['profile', 'm.onnx', '--ep', 'cpu'], env)?.set.LD_LIBRARY_PATH, undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// The doctor
// ---------------------------------------------------------------------------------------------

/** softmax(x · W) for the probe, worked out here: x = [0.5, -1, 2, 0.25], W as in probeModel.ts. */
function handProbe(): number[] {
  const x = [0.5, -1, 2, 0.25];
  const W = [
    [0.1, -0.2, 0.3],
    [0.4, 0.5, -0.6],
    [-0.7, 0.8, 0.9],
    [1.0, -1.1, 1.2],
  ];
  // z = x · W: [0.05 - 0.4 - 1.4 + 0.25, -0.1 - 0.5 + 1.6 - 0.275, 0.15 + 0.6 + 1.8 + 0.3]
  const z = [-1.5, 0.725, 2.85];
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(z[j] - x.reduce((s, xi, i) => s + xi * W[i][j], 0)) < 1e-12);
  const e = z.map(Math.exp);
  const sum = e[0] + e[1] + e[2];
  return e.map((v) => v / sum);
}

describe('doctor', { timeout: 120_000 }, () => {
  it('the probe model is softmax(x · W): ORT on the CPU and probeExpected agree with the hand value', async () => {
    const want = handProbe();
    assert.deepEqual(Array.from(PROBE_INPUT), [0.5, -1, 2, 0.25]);
    probeExpected().forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `expected[${i}] ${v}, want ${want[i]}`));
    const o = loadOrt();
    const session = await o.InferenceSession.create(probeModelBytes(), { executionProviders: ['cpu'] });
    try {
      const out = await session.run({ x: new o.Tensor('float32', new Float32Array([0.5, -1, 2, 0.25]), [1, 4]) });
      assert.deepEqual(out.y.dims, [1, 3]);
      const y = Array.from(out.y.data as Float32Array);
      y.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `y[${i}] ${v}, want ${want[i]}`));
    } finally {
      await session.release();
    }
  });

  let report: DoctorReport;
  it('runDoctor here: the CPU usable and exact; CUDA and WebGPU, when not usable, with reason and step', async () => {
    report = await runDoctor();
    assert.deepEqual(
      report.entries.map((e) => e.provider),
      ['cuda', 'webgpu', 'cpu'],
    );
    const cpu = report.entries[2];
    assert.equal(cpu.usable, true);
    assert.ok(cpu.probeError !== null && cpu.probeError < 1e-6, `probeError ${cpu.probeError}`);
    assert.equal(cpu.precision?.precision, 'fp32');
    const prechecks: Record<string, { usable: false | null }> = { cuda: cudaStatus(), webgpu: checkWebGpu() };
    for (const e of report.entries.slice(0, 2)) {
      if (prechecks[e.provider].usable === false) assert.equal(e.usable, false, `${e.provider}: files say it cannot`);
      if (e.usable) {
        assert.ok(e.probeError !== null && e.probeError <= 2e-3, `${e.provider} probeError ${e.probeError}`);
      } else {
        assert.ok(e.reason && e.reason.length > 0, `${e.provider} has a reason`);
        assert.ok(e.nextStep && e.nextStep.length > 0, `${e.provider} has a next step`);
        assert.equal(e.probeError === null || e.probeError > 2e-3, true);
      }
    }
    assert.equal(report.platform, `${os.platform()}-${os.arch()}`);
    assert.equal(report.onnxRuntime, ORT_VERSION);
  });

  it("doctorText and doctorMarkdown carry each provider's line", () => {
    assert.ok(report, 'runDoctor ran');
    const text = doctorText(report);
    const md = doctorMarkdown(report);
    const label: Record<string, string> = { cuda: 'CUDA', webgpu: 'WebGPU', cpu: 'CPU' };
    for (const e of report.entries) {
      const head = `^${label[e.provider]}\\s+${e.usable ? 'usable' : 'not usable: '}`;
      assert.match(text, new RegExp(head, 'm'), e.provider);
      if (!e.usable) assert.ok(text.includes(e.reason!), `${e.provider} reason in the text`);
      assert.match(md, new RegExp(`^\\| ${label[e.provider]} \\| ${e.usable ? 'yes' : 'no'} `, 'm'), e.provider);
    }
  });

  it('doctorText and doctorMarkdown on a hand-built report', () => {
    const r: DoctorReport = {
      tool: '9.9.9',
      onnxRuntime: '1.30.0',
      platform: 'linux-x64',
      node: '20.1.0',
      gpuPrecision: { asked: 'fp32', cuda: { precision: 'fp32', reason: 'r' } },
      entries: [
        {
          provider: 'cuda',
          usable: false,
          reason: 'lib_a.so is *missing*',
          nextStep: 'run setup',
          precision: null,
          probeError: null,
        },
        {
          provider: 'webgpu',
          usable: false,
          reason: 'no <GPU> | driver',
          nextStep: null,
          precision: null,
          probeError: null,
        },
        {
          provider: 'cpu',
          usable: true,
          reason: null,
          nextStep: null,
          precision: { precision: 'fp32', reason: 'CPU: fp32' },
          probeError: 0,
        },
      ],
      cuda: {
        providerLibrary: '/ort/libonnxruntime_providers_cuda.so',
        installed: true,
        found: [{ name: 'libcudart.so.13', path: '/c/libcudart.so.13', source: 'CUDA toolkit' }],
        missing: [{ name: 'libcudnn.so.9', provides: 'cuDNN 9' }],
        addToPath: ['/c'],
        libraryPath: '',
      },
      webgpu: { drivers: [{ manifest: '/m/lvp.json', library: 'libvulkan_lvp.so', software: true }] },
    };
    const lines = doctorText(r).split('\n');
    for (const want of [
      'Exit Lens 9.9.9 · ONNX Runtime 1.30.0 · linux-x64 · Node 20.1.0',
      'CUDA     not usable: lib_a.so is *missing*',
      '         next: run setup',
      'WebGPU   not usable: no <GPU> | driver',
      'CPU      usable (CPU: fp32)',
      'A profile with the default order (cuda, webgpu, cpu) runs on: CPU.',
      'CUDA provider: /ort/libonnxruntime_providers_cuda.so',
      '  found   libcudart.so.13      /c/libcudart.so.13 (CUDA toolkit)',
      '  missing libcudnn.so.9        cuDNN 9',
      'Vulkan drivers: libvulkan_lvp.so (software)',
    ])
      assert.ok(lines.includes(want), `text line: ${want}\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => l.startsWith('  LD_LIBRARY_PATH gains: /c ')));
    const md = doctorMarkdown(r).split('\n');
    for (const want of [
      '| CUDA | no | lib\\_a.so is \\*missing\\* | run setup |',
      '| WebGPU | no | no \\<GPU\\> \\| driver |  |',
      '| CPU | yes · fp32 |  |  |',
      'With the default order (cuda, webgpu, cpu) a profile runs on **CPU**.',
      '- found `libcudart.so.13`: /c/libcudart.so.13 (CUDA toolkit)',
      '- **missing** `libcudnn.so.9`: cuDNN 9',
    ])
      assert.ok(md.includes(want), `markdown line: ${want}\n${md.join('\n')}`);
    // Every table row has the four cells of the header (a | in a reason is escaped).
    for (const row of md.filter((l) => l.startsWith('| '))) assert.equal(row.split(/(?<!\\)\|/).length - 2, 4, row);
    const entries = r.entries.map((e) => ({ ...e, usable: false }));
    const nothing = { ...r, entries, cuda: { ...r.cuda, installed: false } };
    assert.match(doctorText(nothing), /runs on: nothing/);
    assert.doesNotMatch(doctorText(nothing), /CUDA provider:/);
  });

  it('exit-lens doctor --json - prints entries for cuda, webgpu and cpu', () => {
    const env = { ...process.env };
    delete env.EXIT_LENS_GPU_ENV;
    const args = ['--import', 'tsx', path.join(REPO, 'src', 'cli', 'main.ts'), 'doctor', '--json', '-'];
    const r = spawnSync(process.execPath, args, {
      cwd: REPO,
      env,
      encoding: 'utf8',
      timeout: 90_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout) as DoctorReport;
    assert.deepEqual(
      json.entries.map((e) => e.provider),
      ['cuda', 'webgpu', 'cpu'],
    );
    const cpu = json.entries.find((e) => e.provider === 'cpu')!;
    assert.equal(cpu.usable, true);
    assert.ok(cpu.probeError !== null && cpu.probeError < 1e-6);
    for (const e of json.entries) {
      if (!e.usable) assert.ok(e.reason && e.nextStep, `${e.provider}: reason and next step`);
    }
    const cudaKeys = ['addToPath', 'found', 'installed', 'libraryPath', 'missing', 'providerLibrary', 'setupVersion'];
    assert.deepEqual(Object.keys(json.cuda).sort(), cudaKeys);
  });
});

describe('precision and failed batches on a GPU provider', () => {
  const info = (used: string, precision: 'fp32' | 'tf32'): ExecutionProviderInfo => ({
    used,
    requested: [used, 'cpu'],
    explicit: true,
    attempts: [{ provider: used, ok: true }],
    threads: 2,
    precision,
    precisionReason: '',
  });
  // The words cuDNN gave for one conv of a ResNet-50 at batch 128 under NVIDIA_TF32_OVERRIDE=0.
  const cudnn =
    'ONNX Runtime failed on samples 0..127 (batch 1, 128 samples): CUDNN failure 5003: ' +
    'CUDNN_STATUS_EXECUTION_FAILED_CUDART ; GPU=0 ; ... No valid engine configs for ConvFwd HEURISTIC_QUERY_FAILED';

  it('cuDNN refusing a convolution under fp32 offers tf32, WebGPU and a smaller batch', () => {
    const hint = explainRunFailure(info('cuda', 'fp32'), cudnn) ?? '';
    assert.match(hint, /--gpu-precision tf32/);
    assert.match(hint, /--ep webgpu,cpu/);
    assert.match(hint, /smaller --batch/);
    // Under tf32 the same failure does not suggest tf32 again.
    assert.doesNotMatch(explainRunFailure(info('cuda', 'tf32'), cudnn) ?? '', /--gpu-precision tf32/);
    // On the CPU, or for another failure, no GPU hint.
    assert.equal(explainRunFailure(info('cpu', 'fp32'), cudnn), null);
    assert.equal(explainRunFailure(info('cuda', 'fp32'), 'Got invalid dimensions for input: x'), null);
    assert.match(explainRunFailure(info('webgpu', 'fp32'), 'out of memory') ?? '', /smaller --batch/);
  });

  it("the precision each provider reports, and the environment that decides CUDA's", () => {
    assert.deepEqual(providerPrecision('cpu', {}).precision, 'fp32');
    assert.deepEqual(providerPrecision('webgpu', {}).precision, 'fp32');
    assert.deepEqual(providerPrecision('cuda', {}).precision, 'tf32');
    assert.deepEqual(providerPrecision('cuda', { NVIDIA_TF32_OVERRIDE: '0' }).precision, 'fp32');
    const env: NodeJS.ProcessEnv = {};
    assert.match(applyGpuPrecision('fp32', env) ?? '', /NVIDIA_TF32_OVERRIDE=0/);
    assert.equal(env.NVIDIA_TF32_OVERRIDE, '0');
    assert.equal(applyGpuPrecision('fp32', env), null, 'already so: no change');
    assert.match(applyGpuPrecision('tf32', env) ?? '', /removed/);
    assert.equal(env.NVIDIA_TF32_OVERRIDE, undefined);
    assert.equal(parseGpuPrecision(undefined), 'fp32');
    assert.equal(parseGpuPrecision(' TF32 '), 'tf32');
    assert.throws(() => parseGpuPrecision('bf16'), /not fp32 or tf32/);
  });
});

describe('the ONNX Runtime version a provider library was built for', () => {
  const strings = (...s: string[]) => Buffer.from(`\0${s.join('\0')}\0`, 'latin1');

  it("is the one 1.<minor>.<patch> string of its read-only data (as in ONNX Runtime 1.29.0's CUDA provider)", () => {
    const dir = freshDir('ortver');
    // Around the version in the real library: "Replay", "1.29.0", "Failed to get device id.".
    const lib = touch(
      path.join(dir, 'a.so'),
      withRodata(libraryElf(NEEDED3), strings('Replay', '1.29.0', 'Failed to get device id.', 'ORT_VERSION', '1.3.9')),
    );
    assert.equal(readOrtVersionOfProvider(lib), '1.29.0');
    // A version inside a longer string is not one; two different versions are not guessed between.
    const none = touch(
      path.join(dir, 'b.so'),
      withRodata(libraryElf(NEEDED3), strings('v1.29.0', 'opset 1.30.0-rc', '2.11.4')),
    );
    assert.equal(readOrtVersionOfProvider(none), null);
    const two = touch(path.join(dir, 'c.so'), withRodata(libraryElf(NEEDED3), strings('1.29.0', '1.30.0')));
    assert.equal(readOrtVersionOfProvider(two), null);
    // No section headers at all.
    assert.equal(readOrtVersionOfProvider(touch(path.join(dir, 'd.so'), libraryElf(NEEDED3))), null);
    // The bundled libonnxruntime.so.1 holds its own version the same way.
    const bundled = path.join(ORT_BIN, 'libonnxruntime.so.1');
    if (fs.existsSync(bundled)) assert.equal(readOrtVersionOfProvider(bundled), ORT_VERSION);
  });

  it('a provider built for another ONNX Runtime is refused by the status, naming both versions', () => {
    const dir = freshDir('ortver-status');
    const other = ORT_VERSION === '1.29.0' ? '1.28.1' : '1.29.0';
    touch(
      path.join(dir, 'libonnxruntime_providers_cuda.so'),
      withRodata(libraryElf(NEEDED3), strings('Replay', other)),
    );
    touch(
      path.join(dir, 'libonnxruntime_providers_shared.so'),
      libraryElf(['libc.so.6'], 'libonnxruntime_providers_shared.so'),
    );
    const s = cudaStatus({
      platform: 'linux',
      arch: 'x64',
      binaryDir: dir,
      ldCache: new Map(),
      env: {},
      home: dir,
      root: dir,
    });
    assert.equal(s.usable, false);
    assert.match(
      s.reason ?? '',
      new RegExp(
        `built for ONNX Runtime ${other.replace(/\./g, '\\.')}; the bundled ONNX Runtime is ${ORT_VERSION.replace(/\./g, '\\.')}`,
      ),
    );
    assert.match(s.nextStep ?? '', /Set Up GPU \(CUDA\)/);
    // The same library for the bundled version passes on to the library search.
    touch(
      path.join(dir, 'libonnxruntime_providers_cuda.so'),
      withRodata(libraryElf(NEEDED3), strings('Replay', ORT_VERSION, 'x')),
    );
    const ok = cudaStatus({
      platform: 'linux',
      arch: 'x64',
      binaryDir: dir,
      ldCache: new Map(),
      env: {},
      home: dir,
      root: dir,
    });
    assert.doesNotMatch(ok.reason ?? '', /built for ONNX Runtime/);
    assert.deepEqual(ok.missing.map((m) => m.name).sort(), ['libcublas.so.13', 'libcudart.so.13', 'libcudnn.so.9']);
  });
});

describe('GPU checks never block on a special file', () => {
  it('a FIFO named like a Vulkan driver manifest or the setup manifest is skipped at once', (t) => {
    const root = freshDir('fifo-icd');
    const icd = path.join(root, 'icd');
    fs.mkdirSync(icd, { recursive: true });
    const bin = path.join(root, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const made = spawnSync('mkfifo', [path.join(icd, 'nvidia_icd.json'), path.join(bin, 'exit-lens-cuda.json')]);
    if (made.status !== 0) return t.skip('mkfifo is not available');
    touch(path.join(bin, 'libonnxruntime_providers_cuda.so'), libraryElf(NEEDED3));
    // In a child process with a time limit, so that a read that blocks fails instead of hanging.
    const script = `
      const { checkWebGpu } = require(${JSON.stringify(path.join(REPO, 'src', 'gpu', 'webgpu.ts'))});
      const { manifestVersion } = require(${JSON.stringify(path.join(REPO, 'src', 'gpu', 'cuda.ts'))});
      const w = checkWebGpu({ platform: 'linux', env: { VK_DRIVER_FILES: ${JSON.stringify(icd)}, LD_LIBRARY_PATH: '' },
        root: ${JSON.stringify(root)}, home: ${JSON.stringify(root)}, ldCache: new Map([['libvulkan.so.1', ['/proc/self/exe']]]) });
      console.log(JSON.stringify({ drivers: w.drivers, version: manifestVersion(${JSON.stringify(bin)}) }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      timeout: 15_000,
      encoding: 'utf8',
      cwd: REPO,
    });
    assert.equal(r.signal, null, `the check blocked: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.deepEqual(
      out.drivers.map((d: { library: string }) => d.library),
      [''],
    );
    assert.equal(out.version, null);
  });
});
