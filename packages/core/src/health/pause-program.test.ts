import { describe, expect, it } from 'vitest';
import {
  PAUSE_CODE_OFFSET,
  PAUSE_PROGRAM_PATH,
  type PauseArch,
  pauseArchOf,
  pauseProgram,
  pauseProgramTar,
} from './pause-program.js';

/** The fields of an ELF64 little-endian file header and its program headers. */
function parseElf(elf: Buffer) {
  const header = {
    magic: elf.subarray(0, 4).toString('latin1'),
    elfClass: elf[4],
    data: elf[5],
    identVersion: elf[6],
    osAbi: elf[7],
    type: elf.readUInt16LE(16),
    machine: elf.readUInt16LE(18),
    version: elf.readUInt32LE(20),
    entry: elf.readBigUInt64LE(24),
    phoff: Number(elf.readBigUInt64LE(32)),
    shoff: elf.readBigUInt64LE(40),
    ehsize: elf.readUInt16LE(52),
    phentsize: elf.readUInt16LE(54),
    phnum: elf.readUInt16LE(56),
    shnum: elf.readUInt16LE(60),
  };
  const segments = Array.from({ length: header.phnum }, (_, i) => {
    const at = header.phoff + i * header.phentsize;
    return {
      type: elf.readUInt32LE(at),
      flags: elf.readUInt32LE(at + 4),
      offset: elf.readBigUInt64LE(at + 8),
      vaddr: elf.readBigUInt64LE(at + 16),
      filesz: elf.readBigUInt64LE(at + 32),
      memsz: elf.readBigUInt64LE(at + 40),
      align: elf.readBigUInt64LE(at + 48),
    };
  });
  return { header, segments };
}

const PT_LOAD = 1;
const PT_GNU_STACK = 0x6474e551;

describe('the pause program: a static ELF executable the kernel can start in any image', () => {
  it.each([
    ['x86_64', 62, 0x1000n],
    ['aarch64', 183, 0x10000n],
  ] as const)('%s: a 64-bit little-endian ET_EXEC for machine %d, no sections', (arch, machine, align) => {
    const elf = pauseProgram(arch);
    const { header, segments } = parseElf(elf);
    expect(header).toMatchObject({
      magic: '\x7fELF',
      elfClass: 2,
      data: 1,
      identVersion: 1,
      osAbi: 0,
      type: 2,
      machine,
      version: 1,
      phoff: 64,
      shoff: 0n,
      ehsize: 64,
      phentsize: 56,
      phnum: 2,
      shnum: 0,
    });
    const load = segments.find((s) => s.type === PT_LOAD)!;
    // The whole file is one read+execute mapping, page-aligned, nothing more in memory than on disk.
    expect(load).toMatchObject({
      flags: 5,
      offset: 0n,
      filesz: BigInt(elf.length),
      memsz: BigInt(elf.length),
    });
    expect(load.align).toBe(align);
    expect(load.vaddr % load.align).toBe(0n);
    // The entry point is the first byte of the code, inside the mapping.
    expect(header.entry).toBe(load.vaddr + BigInt(PAUSE_CODE_OFFSET));
    expect(PAUSE_CODE_OFFSET).toBeLessThan(elf.length);
    // The stack is read+write, not executable.
    expect(segments.find((s) => s.type === PT_GNU_STACK)?.flags).toBe(6);
  });

  it('x86_64 code is `mov eax, 34 (pause); syscall; jmp back to the mov`', () => {
    const code = pauseProgram('x86_64').subarray(PAUSE_CODE_OFFSET);
    expect([...code]).toEqual([0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]);
    // jmp rel8 is relative to the next instruction: 9 + (-9) = 0, the mov
    expect(code.length + code.readInt8(8)).toBe(0);
  });

  it('aarch64 code zeroes x0..x4, puts 73 (ppoll) in x8, svc #0, and branches back to the start', () => {
    const code = pauseProgram('aarch64').subarray(PAUSE_CODE_OFFSET);
    const words = Array.from({ length: code.length / 4 }, (_, i) => code.readUInt32LE(i * 4));
    // mov xN, xzr is orr xN, xzr, xzr
    expect(words.slice(0, 5)).toEqual([0, 1, 2, 3, 4].map((n) => 0xaa1f03e0 + n));
    // movz x8, #imm16: the immediate sits in bits 5..20, the register in bits 0..4
    expect((words[5]! >>> 5) & 0xffff).toBe(73);
    expect(words[5]! & 0x1f).toBe(8);
    expect(words[6]).toBe(0xd4000001);
    // b: a signed 26-bit word offset, -7 words from the branch = the first instruction
    const branch = words[7]!;
    expect(branch >>> 26).toBe(0b000101);
    const offset = ((branch & 0x3ffffff) << 6) >> 6;
    expect(7 + offset).toBe(0);
  });

  it('is the same bytes every time, a few hundred of them', () => {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      expect(pauseProgram(arch).equals(pauseProgram(arch))).toBe(true);
      expect(pauseProgram(arch).length).toBeLessThan(256);
    }
  });
});

describe('pauseArchOf: the daemon architecture names Docker and Node use', () => {
  it.each([
    ['amd64', 'x86_64'],
    ['x86_64', 'x86_64'],
    ['x64', 'x86_64'],
    ['AMD64', 'x86_64'],
    ['arm64', 'aarch64'],
    ['aarch64', 'aarch64'],
    ['arm', undefined],
    ['armv7l', undefined],
    ['s390x', undefined],
    ['ppc64le', undefined],
    ['riscv64', undefined],
    ['', undefined],
  ])('%s → %s', (name, arch) => {
    expect(pauseArchOf(name)).toBe(arch);
  });
});

describe('pauseProgramTar: one ustar entry for putArchive at /', () => {
  const octal = (block: Buffer, offset: number, length: number) =>
    Number.parseInt(
      block
        .subarray(offset, offset + length)
        .toString('ascii')
        .replace(/\0.*$/s, '')
        .trim(),
      8,
    );
  const text = (block: Buffer, offset: number, length: number) =>
    block
      .subarray(offset, offset + length)
      .toString('ascii')
      .replace(/\0.*$/s, '');

  it.each(['x86_64', 'aarch64'] as PauseArch[])(
    '%s: the program as a root-owned 0755 regular file named after PAUSE_PROGRAM_PATH',
    (arch) => {
      const tar = pauseProgramTar(arch);
      const program = pauseProgram(arch);
      const header = tar.subarray(0, 512);
      expect(`/${text(header, 0, 100)}`).toBe(PAUSE_PROGRAM_PATH);
      expect(octal(header, 100, 8)).toBe(0o755);
      expect(octal(header, 108, 8)).toBe(0);
      expect(octal(header, 116, 8)).toBe(0);
      expect(octal(header, 124, 12)).toBe(program.length);
      expect(text(header, 156, 1)).toBe('0');
      expect(text(header, 257, 6)).toBe('ustar');
      expect(text(header, 263, 2)).toBe('00');

      // The checksum: the sum of the header's bytes with its own field counted as spaces.
      const blanked = Buffer.from(header);
      blanked.fill(0x20, 148, 156);
      const sum = blanked.reduce((a, b) => a + b, 0);
      expect(octal(header, 148, 8)).toBe(sum);

      // The data follows, padded to a block, then two zero blocks end the archive.
      expect(tar.length % 512).toBe(0);
      expect(tar.subarray(512, 512 + program.length).equals(program)).toBe(true);
      const rest = tar.subarray(512 + program.length);
      expect(rest.length).toBeGreaterThanOrEqual(1024);
      expect(rest.every((byte) => byte === 0)).toBe(true);
    },
  );
});
