import { ProviderLibrary, sameVersion } from './cudaPackage';
import { EM_X86_64, ET_DYN, ElfError, readElfDynamic, readElfHeader, readOrtVersionOfProvider } from './elf';

/**
 * Whether a file from a CUDA provider package is what its name says, before it is installed: an
 * ELF shared library for x86-64 Linux (64-bit, little-endian, e_type ET_DYN, e_machine
 * EM_X86_64, with loadable segments and a dynamic section that reads), and, for an execution
 * provider, built for the bundled ONNX Runtime (the version string its read-only data keeps,
 * elf.ts). The CUDA provider must name its version; the optional TensorRT provider is refused
 * only when it names another one. This catches a wrong or damaged file, not a forged one: a
 * package from elsewhere is as trustworthy as its source (check its hash with the size and
 * SHA-256 its publisher gives).
 */

export interface LibraryProblem {
  problem: 'not-a-library' | 'wrong-version';
  /** One clause, starting with the library's name. */
  why: string;
}

const MACHINES: Record<number, string> = {
  3: 'x86 (32-bit)',
  8: 'MIPS',
  20: 'PowerPC',
  21: 'PowerPC 64',
  40: 'ARM (32-bit)',
  62: 'x86-64',
  183: 'AArch64 (ARM 64-bit)',
  243: 'RISC-V',
};
const TYPES: Record<number, string> = {
  0: 'file of no type',
  1: 'relocatable object (.o)',
  2: 'executable',
  4: 'core dump',
};

function notALibrary(why: string): LibraryProblem {
  return { problem: 'not-a-library', why };
}

/** The first thing wrong with `file` as the library `lib` for ONNX Runtime `bundled` on Linux x64, or null. */
export function providerLibraryProblem(file: string, lib: ProviderLibrary, bundled: string): LibraryProblem | null {
  const name = lib.name;
  let header;
  try {
    header = readElfHeader(file);
  } catch (err) {
    if (!(err instanceof ElfError)) throw err;
    return notALibrary(`${name} is not an ELF shared library (${err.message})`);
  }
  if (!header.is64 || !header.littleEndian || header.machine !== EM_X86_64) {
    const machine = MACHINES[header.machine] ?? `machine ${header.machine}`;
    const form = `${header.is64 ? 64 : 32}-bit ${header.littleEndian ? 'little' : 'big'}-endian`;
    return notALibrary(`${name} is built for ${machine} (${form}), not for x86-64 Linux`);
  }
  if (header.type !== ET_DYN) {
    return notALibrary(
      `${name} is an ELF ${TYPES[header.type] ?? `file of type ${header.type}`}, not a shared library`,
    );
  }
  if (!header.hasDynamic || !header.hasLoad) {
    return notALibrary(
      `${name} has no ${header.hasLoad ? 'dynamic section' : 'loadable segment'}: it cannot be loaded`,
    );
  }
  try {
    readElfDynamic(file);
  } catch (err) {
    if (!(err instanceof ElfError)) throw err;
    return notALibrary(`${name}'s dynamic section cannot be read (${err.message})`);
  }
  if (!lib.provider) return null;
  let builtFor: string | null;
  try {
    builtFor = readOrtVersionOfProvider(file);
  } catch (err) {
    if (!(err instanceof ElfError)) throw err;
    return notALibrary(`${name}'s sections cannot be read (${err.message})`);
  }
  if (builtFor === null) {
    return lib.required
      ? notALibrary(
          `${name} does not say which ONNX Runtime it was built for (no single 1.x.y version in its read-only ` +
            "data, where ONNX Runtime's provider libraries keep it)",
        )
      : null;
  }
  if (!sameVersion(builtFor, bundled)) {
    return { problem: 'wrong-version', why: `${name} was built for ONNX Runtime ${builtFor}` };
  }
  return null;
}
