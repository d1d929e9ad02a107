/**
 * ELF files built byte by byte, for the readers in src/gpu/elf.ts and the checks built on them:
 * shared libraries with a dynamic section (NEEDED, SONAME, RUNPATH), and ONNX Runtime's provider
 * libraries as they look where their version is kept (a .rodata section, elfSections.ts).
 */
import * as crypto from 'node:crypto';
import { withRodata } from './elfSections';

export const DT = {
  NULL: 0,
  NEEDED: 1,
  STRTAB: 5,
  SYMTAB: 6,
  STRSZ: 10,
  SONAME: 14,
  RPATH: 15,
  RUNPATH: 29,
  GNU_HASH: 0x6ffffef5,
};
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
/** Virtual address of file offset 0 in the first loaded segment, and of the second's start minus its offset. */
export const LOAD_A_VADDR = 0x10000;
export const LOAD_B_DELTA = 0x30000;

export type Num = number | bigint;
export interface ElfSpec {
  is64: boolean;
  le: boolean;
  /** The string table's strings, after its leading NUL, in this order. */
  strings: string[];
  /** The dynamic entries, given each string's offset in the table and the table's address and size. */
  dynamic: (at: (s: string) => number, strtabAddr: number, strsz: number) => [Num, Num][];
  /** PT_DYNAMIC before the two PT_LOADs (the reader must not depend on the order). */
  dynamicFirst?: boolean;
}
export interface ElfLayout {
  bytes: Buffer;
  is64: boolean;
  le: boolean;
  phoff: number;
  phentsize: number;
  /** File offset of the PT_DYNAMIC program header. */
  dynPh: number;
  strOff: number;
  strtabAddr: number;
  strsz: number;
  dynOff: number;
  dynSize: number;
}

/**
 * An ELF shared library with no sections: the header, three program headers (PT_LOAD A for the
 * headers at vaddr 0x10000, PT_LOAD B for the string table and dynamic section at file offset +
 * 0x30000, PT_DYNAMIC), the string table, then the dynamic section (the file's last bytes).
 * DT_STRTAB holds B's address, not the file offset: a reader that does not translate it through
 * the PT_LOAD reads past the end of the file.
 */
export function buildElf(spec: ElfSpec): ElfLayout {
  const { is64, le } = spec;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const phnum = 3;
  const phoff = ehsize;
  const strOff = phoff + phnum * phentsize;
  const offsets = new Map<string, number>();
  const parts: Buffer[] = [Buffer.from([0])];
  let len = 1;
  for (const s of spec.strings) {
    offsets.set(s, len);
    const b = Buffer.from(`${s}\0`, 'latin1');
    parts.push(b);
    len += b.length;
  }
  const strtab = Buffer.concat(parts);
  const strsz = strtab.length;
  const strtabAddr = strOff + LOAD_B_DELTA;
  const at = (s: string): number => {
    const o = offsets.get(s);
    if (o === undefined) throw new Error(`test bug: "${s}" is not in the string table`);
    return o;
  };
  const entries = spec.dynamic(at, strtabAddr, strsz);
  const entSize = is64 ? 16 : 8;
  const dynOff = Math.ceil((strOff + strsz) / 8) * 8;
  const dynSize = entries.length * entSize;
  const total = dynOff + dynSize;
  const b = Buffer.alloc(total);
  const u16 = (o: number, v: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (o: number, v: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const u64 = (o: number, v: Num) => (le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o));
  b.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1], 0);
  u16(0x10, 3); // ET_DYN
  u16(0x12, is64 ? 62 : 20); // EM_X86_64 / EM_PPC
  u32(0x14, 1); // EV_CURRENT
  if (is64) {
    u64(0x20, phoff);
    u16(0x34, ehsize);
    u16(0x36, phentsize);
    u16(0x38, phnum);
  } else {
    u32(0x1c, phoff);
    u16(0x28, ehsize);
    u16(0x2a, phentsize);
    u16(0x2c, phnum);
  }
  const ph = (slot: number, type: number, offset: number, vaddr: number, filesz: number, flags: number) => {
    const o = phoff + slot * phentsize;
    u32(o, type);
    if (is64) {
      u32(o + 4, flags);
      u64(o + 8, offset);
      u64(o + 16, vaddr);
      u64(o + 24, vaddr);
      u64(o + 32, filesz);
      u64(o + 40, filesz);
      u64(o + 48, 8);
    } else {
      u32(o + 4, offset);
      u32(o + 8, vaddr);
      u32(o + 12, vaddr);
      u32(o + 16, filesz);
      u32(o + 20, filesz);
      u32(o + 24, flags);
      u32(o + 28, 8);
    }
  };
  const [slotA, slotB, slotDyn] = spec.dynamicFirst ? [1, 2, 0] : [0, 1, 2];
  ph(slotA, PT_LOAD, 0, LOAD_A_VADDR, strOff, 5);
  ph(slotB, PT_LOAD, strOff, strtabAddr, total - strOff, 6);
  ph(slotDyn, PT_DYNAMIC, dynOff, dynOff + LOAD_B_DELTA, dynSize, 6);
  strtab.copy(b, strOff);
  entries.forEach(([tag, val], i) => {
    const o = dynOff + i * entSize;
    if (is64) {
      u64(o, tag);
      u64(o + 8, val);
    } else {
      u32(o, Number(tag));
      u32(o + 4, Number(val));
    }
  });
  const dynPh = phoff + slotDyn * phentsize;
  return { bytes: b, is64, le, phoff, phentsize, dynPh, strOff, strtabAddr, strsz, dynOff, dynSize };
}

export const NEEDED3 = ['libcublas.so.13', 'libcudart.so.13', 'libc.so.6'];
export const SONAME = 'libonnxruntime_providers_cuda.so';
export const RUNPATH = '$ORIGIN:/opt/cuda/lib64';
/**
 * NEEDED x3, SONAME, RUNPATH, a tag the reader ignores, STRTAB, STRSZ, NULL, then a NEEDED after
 * NULL that must be ignored.
 */
export function providerSpec(is64: boolean, le: boolean, extra: Partial<ElfSpec> = {}): ElfSpec {
  return {
    is64,
    le,
    strings: [...NEEDED3, SONAME, RUNPATH, 'libafter.so.1'],
    dynamic: (at, addr, sz) => [
      ...NEEDED3.map((n): [Num, Num] => [DT.NEEDED, at(n)]),
      [DT.SONAME, at(SONAME)],
      [DT.RUNPATH, at(RUNPATH)],
      [DT.GNU_HASH, 0x1234],
      [DT.STRTAB, addr],
      [DT.STRSZ, sz],
      [DT.NULL, 0],
      [DT.NEEDED, at('libafter.so.1')],
    ],
    ...extra,
  };
}
/** A library whose NEEDED list is `needed` (for the CUDA provider tests). */
export function libraryElf(needed: string[], soname = SONAME): Buffer {
  return buildElf({
    is64: true,
    le: true,
    strings: [...needed, soname],
    dynamic: (at, addr, sz) => [
      ...needed.map((n): [Num, Num] => [DT.NEEDED, at(n)]),
      [DT.SONAME, at(soname)],
      [DT.STRTAB, addr],
      [DT.STRSZ, sz],
      [DT.NULL, 0],
    ],
  }).bytes;
}

/**
 * A provider library as ONNX Runtime ships them, in small: an x86-64 shared object with a dynamic
 * section, a .rodata holding `version` as a string of its own (as the real 1.29.0 CUDA provider
 * keeps it, between "Replay" and "Failed to get device id."), or none, then `padding` random bytes.
 */
export function providerLibraryBytes(opts: { version?: string; padding?: number; soname?: string } = {}): Buffer {
  const strings = ['Replay', ...(opts.version ? [opts.version] : []), 'Failed to get device id.'];
  const rodata = Buffer.from(`\0${strings.join('\0')}\0`, 'latin1');
  const elf = withRodata(libraryElf(NEEDED3, opts.soname ?? SONAME), rodata);
  return Buffer.concat([elf, crypto.randomBytes(opts.padding ?? 0)]);
}
