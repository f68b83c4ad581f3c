import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AGENT_PATH,
  AGENT_PROTOCOL_VERSION,
  AGENT_SOURCE_SHA256,
  type AgentArch,
  agentProgram,
  agentProgramTar,
} from './agent-program.js';
import { programTar } from './static-program.js';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_GNU_STACK = 0x6474e551;
const PF_X = 1;
const PF_W = 2;

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
    phentsize: elf.readUInt16LE(54),
    phnum: elf.readUInt16LE(56),
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

/** The bytes at a virtual address, through the PT_LOAD that maps it. */
function bytesAt(elf: Buffer, address: bigint, length: number): Buffer {
  const { segments } = parseElf(elf);
  const load = segments.find(
    (s) => s.type === PT_LOAD && address >= s.vaddr && address + BigInt(length) <= s.vaddr + s.filesz,
  );
  if (!load) throw new Error(`0x${address.toString(16)} is not in the file`);
  const at = Number(load.offset + (address - load.vaddr));
  return elf.subarray(at, at + length);
}

describe('the check agent: a static ELF executable the kernel can start in any image', () => {
  it.each([
    ['x86_64', 62, 0x1000n],
    ['aarch64', 183, 0x10000n],
  ] as const)(
    '%s: a 64-bit little-endian ET_EXEC for machine %d, no interpreter, no dynamic section',
    (arch, machine, pageSize) => {
      const elf = agentProgram(arch);
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
        phentsize: 56,
      });
      expect(segments.map((s) => s.type)).not.toContain(PT_INTERP);
      expect(segments.map((s) => s.type)).not.toContain(PT_DYNAMIC);

      const loads = segments.filter((s) => s.type === PT_LOAD);
      expect(loads.length).toBeGreaterThan(0);
      for (const load of loads) {
        // mappable with the largest page size the architecture's kernels use (64 KiB on aarch64)
        expect(load.align).toBeGreaterThanOrEqual(pageSize);
        expect(load.vaddr % load.align).toBe(load.offset % load.align);
        expect(load.offset + load.filesz).toBeLessThanOrEqual(BigInt(elf.length));
        expect(load.memsz).toBeGreaterThanOrEqual(load.filesz);
        // never writable and executable at once
        expect(load.flags & (PF_W | PF_X)).not.toBe(PF_W | PF_X);
      }
      // the entry point is in an executable mapping
      const code = loads.find((s) => s.flags & PF_X)!;
      expect(header.entry).toBeGreaterThanOrEqual(code.vaddr);
      expect(header.entry).toBeLessThan(code.vaddr + code.filesz);
      // the stack is read+write, not executable
      expect(segments.find((s) => s.type === PT_GNU_STACK)?.flags).toBe(6);
    },
  );

  it('x86_64 enters at _start: xor ebp,ebp; mov rdi,rsp; and rsp,-16; call agent_main', () => {
    const elf = agentProgram('x86_64');
    const start = bytesAt(elf, parseElf(elf).header.entry, 10);
    expect([...start]).toEqual([0x31, 0xed, 0x48, 0x89, 0xe7, 0x48, 0x83, 0xe4, 0xf0, 0xe8]);
  });

  it('aarch64 enters at _start: clear the frame and link registers, x0 = sp, bl agent_main', () => {
    const elf = agentProgram('aarch64');
    const start = bytesAt(elf, parseElf(elf).header.entry, 16);
    const words = [0, 1, 2, 3].map((i) => start.readUInt32LE(i * 4));
    expect(words.slice(0, 3)).toEqual([0xd280001d, 0xd280001e, 0x910003e0]);
    expect(words[3]! >>> 26).toBe(0b100101); // bl
  });

  it('is a few kB for each architecture and the same bytes every time', () => {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      expect(agentProgram(arch).length).toBeLessThan(8192);
      expect(agentProgram(arch).equals(agentProgram(arch))).toBe(true);
    }
  });

  it('was built from the agent.c in the tree (run scripts/build-agent.sh after changing it)', () => {
    const source = readFileSync(new URL('./agent/agent.c', import.meta.url));
    expect(createHash('sha256').update(source).digest('hex')).toBe(AGENT_SOURCE_SHA256);
    expect(source.toString('utf8')).toContain(`#define PROTOCOL_VERSION ${AGENT_PROTOCOL_VERSION}\n`);
  });
});

describe('agentProgramTar: one ustar entry for putArchive at /', () => {
  const text = (block: Buffer, offset: number, length: number) =>
    block
      .subarray(offset, offset + length)
      .toString('ascii')
      .replace(/\0.*$/s, '');

  it.each(['x86_64', 'aarch64'] as AgentArch[])(
    '%s: the agent as a root-owned 0755 file at AGENT_PATH',
    (arch) => {
      const tar = agentProgramTar(arch);
      const program = agentProgram(arch);
      expect(`/${text(tar, 0, 100)}`).toBe(AGENT_PATH);
      expect(Number.parseInt(text(tar, 100, 8), 8)).toBe(0o755);
      expect(Number.parseInt(text(tar, 124, 12), 8)).toBe(program.length);
      expect(tar.subarray(512, 512 + program.length).equals(program)).toBe(true);
      expect(tar.length).toBe(512 + Math.ceil(program.length / 512) * 512 + 1024);
      expect(tar.equals(programTar(AGENT_PATH, program))).toBe(true);
    },
  );

  it('programTar refuses a name that does not fit the 100-byte ustar name field', () => {
    expect(() => programTar('/', Buffer.alloc(1))).toThrow(RangeError);
    expect(() => programTar(`/${'x'.repeat(100)}`, Buffer.alloc(1))).toThrow(RangeError);
    expect(
      programTar(`/${'x'.repeat(99)}`, Buffer.alloc(1))
        .subarray(0, 99)
        .toString(),
    ).toBe('x'.repeat(99));
  });
});
