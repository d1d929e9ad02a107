/**
 * An ELF64 little-endian file given section headers after its end: a .rodata holding `rodata`
 * and a .shstrtab, with e_shoff, e_shentsize, e_shnum and e_shstrndx patched into the header.
 * What ONNX Runtime's provider libraries look like where their version is kept.
 */
export function withRodata(elf: Buffer, rodata: Buffer): Buffer {
  const names = Buffer.from('\0.rodata\0.shstrtab\0', 'latin1');
  const rodataAt = elf.length;
  const namesAt = rodataAt + rodata.length;
  const shoff = Math.ceil((namesAt + names.length) / 8) * 8;
  const sh = Buffer.alloc(64 * 3);
  // [0] null; [1] .rodata (name 1, PROGBITS); [2] .shstrtab (name 9, STRTAB)
  sh.writeUInt32LE(1, 64);
  sh.writeUInt32LE(1, 64 + 4);
  sh.writeBigUInt64LE(BigInt(rodataAt), 64 + 0x18);
  sh.writeBigUInt64LE(BigInt(rodata.length), 64 + 0x20);
  sh.writeUInt32LE(9, 128);
  sh.writeUInt32LE(3, 128 + 4);
  sh.writeBigUInt64LE(BigInt(namesAt), 128 + 0x18);
  sh.writeBigUInt64LE(BigInt(names.length), 128 + 0x20);
  const out = Buffer.concat([elf, rodata, names, Buffer.alloc(shoff - namesAt - names.length), sh]);
  out.writeBigUInt64LE(BigInt(shoff), 0x28);
  out.writeUInt16LE(64, 0x3a);
  out.writeUInt16LE(3, 0x3c);
  out.writeUInt16LE(2, 0x3e);
  return out;
}

/** A bare ELF64 little-endian header (no program headers), for withRodata. */
export function bareElf64(): Buffer {
  const header = Buffer.alloc(64);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // little-endian
  header[6] = 1;
  return header;
}
