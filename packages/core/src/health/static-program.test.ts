import { describe, expect, it } from 'vitest';
import { programArchOf, programTar } from './static-program.js';

describe('programArchOf: the daemon architecture names Docker and Node use', () => {
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
    expect(programArchOf(name)).toBe(arch);
  });
});

describe('programTar: one ustar entry for putArchive at /', () => {
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

  it('holds the program as a root-owned 0755 regular file at the path, padded, ended by two zero blocks', () => {
    const program = Buffer.from('\x7fELF and then some bytes of a program', 'latin1');
    const tar = programTar('/.checker-agent', program);
    const header = tar.subarray(0, 512);
    expect(text(header, 0, 100)).toBe('.checker-agent');
    expect(octal(header, 100, 8)).toBe(0o755);
    expect(octal(header, 108, 8)).toBe(0);
    expect(octal(header, 116, 8)).toBe(0);
    expect(octal(header, 124, 12)).toBe(program.length);
    expect(octal(header, 136, 12)).toBe(0);
    expect(text(header, 156, 1)).toBe('0');
    expect(text(header, 257, 6)).toBe('ustar');
    expect(text(header, 263, 2)).toBe('00');
    // The checksum: the sum of the header's bytes with its own field counted as spaces.
    const blanked = Buffer.from(header);
    blanked.fill(0x20, 148, 156);
    expect(octal(header, 148, 8)).toBe(blanked.reduce((a, b) => a + b, 0));
    expect(tar.length).toBe(512 + 512 + 2 * 512);
    expect(tar.subarray(512, 512 + program.length).equals(program)).toBe(true);
    expect(tar.subarray(512 + program.length).every((b) => b === 0)).toBe(true);
    // The same bytes every time (mtime 0).
    expect(programTar('/.checker-agent', program).equals(tar)).toBe(true);
  });
});
