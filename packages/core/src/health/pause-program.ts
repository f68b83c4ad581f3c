// What a long-lived check sidecar runs between checks: a static ELF program of a few hundred
// bytes that blocks in one system call forever, shipped here as bytes so that it idles in any
// image, including `FROM scratch` ones with neither a shell nor `sleep`. It is copied into the
// created-but-not-started sidecar with Docker's archive API (PUT /containers/{id}/archive, as
// dockerode's `container.putArchive(tar, {path: '/'})`) and run under Docker's own init
// (`HostConfig.Init: true`): tini is PID 1, forwards `docker stop`'s SIGTERM (whose default
// action ends the program, which is not PID 1) and reaps what checks leave orphaned.
//
// The ELF: one 64-byte header, a PT_LOAD mapping the whole file read+execute at 0x400000, a
// PT_GNU_STACK asking for a non-executable stack, then the code; no sections, no libc, no
// dynamic loader, so the kernel maps and starts it in any root filesystem.

/** Where the program lands in the sidecar's filesystem (the sidecar's Entrypoint). */
export const PAUSE_PROGRAM_PATH = '/.checker-pause';

export type PauseArch = 'x86_64' | 'aarch64';

const LOAD_ADDRESS = 0x400000n;
const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const PROGRAM_HEADERS = 2;
/** The code starts right after the headers; the entry point is its address. */
export const PAUSE_CODE_OFFSET = ELF_HEADER_SIZE + PROGRAM_HEADERS * PROGRAM_HEADER_SIZE;

interface ArchCode {
  /** e_machine */
  machine: number;
  /** p_align of the PT_LOAD: aarch64 kernels may use 64 KiB pages */
  align: number;
  code: Buffer;
}

// x86_64 (checked with GNU as/objdump and run under strace with EINTR injected):
//   0: b8 22 00 00 00    mov  eax, 34        ; __NR_pause
//   5: 0f 05             syscall             ; returns only if a caught signal interrupts it
//   7: eb f7             jmp  0              ; …which never happens (no handlers): loop anyway
const X86_64_CODE = Buffer.from([0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7]);

// aarch64 has no pause(2): ppoll(NULL, 0, NULL, NULL, 0) waits for a signal the same way
// (checked with aarch64-linux-gnu-as/objdump and run under qemu-aarch64 with EINTR injected):
//   0: aa1f03e0    mov  x0, xzr          ; fds = NULL
//   4: aa1f03e1    mov  x1, xzr          ; nfds = 0
//   8: aa1f03e2    mov  x2, xzr          ; timeout = NULL: forever
//   c: aa1f03e3    mov  x3, xzr          ; sigmask = NULL
//  10: aa1f03e4    mov  x4, xzr          ; sigsetsize
//  14: d2800928    mov  x8, #73          ; __NR_ppoll
//  18: d4000001    svc  #0
//  1c: 17fffff9    b    0                ; x0 now holds -EINTR: set the arguments again
const AARCH64_WORDS = [
  0xaa1f03e0, 0xaa1f03e1, 0xaa1f03e2, 0xaa1f03e3, 0xaa1f03e4, 0xd2800928, 0xd4000001, 0x17fffff9,
];
const AARCH64_CODE = Buffer.alloc(AARCH64_WORDS.length * 4);
for (const [i, word] of AARCH64_WORDS.entries()) AARCH64_CODE.writeUInt32LE(word, i * 4);

const ARCHES: Record<PauseArch, ArchCode> = {
  x86_64: { machine: 62, align: 0x1000, code: X86_64_CODE },
  aarch64: { machine: 183, align: 0x10000, code: AARCH64_CODE },
};

/**
 * The architecture of the program for a daemon's architecture name: Docker's version `Arch`
 * (`amd64`, `arm64`), its info `Architecture` (`x86_64`, `aarch64`, as `uname -m`), or Node's
 * `process.arch` (`x64`, `arm64`). Undefined for any other (no program is shipped for it).
 * It is the daemon's machine that runs the program, whatever the image was built for.
 */
export function pauseArchOf(name: string): PauseArch | undefined {
  switch (name.toLowerCase()) {
    case 'amd64':
    case 'x86_64':
    case 'x64':
      return 'x86_64';
    case 'arm64':
    case 'aarch64':
      return 'aarch64';
    default:
      return undefined;
  }
}

/** The static ELF executable for one architecture. */
export function pauseProgram(arch: PauseArch): Buffer {
  const { machine, align, code } = ARCHES[arch];
  const size = PAUSE_CODE_OFFSET + code.length;
  const elf = Buffer.alloc(size);
  // e_ident: magic, ELFCLASS64, little-endian, version 1, System V ABI
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  elf.writeUInt16LE(2, 16); // e_type: ET_EXEC
  elf.writeUInt16LE(machine, 18);
  elf.writeUInt32LE(1, 20); // e_version
  elf.writeBigUInt64LE(LOAD_ADDRESS + BigInt(PAUSE_CODE_OFFSET), 24); // e_entry
  elf.writeBigUInt64LE(BigInt(ELF_HEADER_SIZE), 32); // e_phoff
  // e_shoff, e_flags: 0
  elf.writeUInt16LE(ELF_HEADER_SIZE, 52); // e_ehsize
  elf.writeUInt16LE(PROGRAM_HEADER_SIZE, 54); // e_phentsize
  elf.writeUInt16LE(PROGRAM_HEADERS, 56); // e_phnum
  // e_shentsize, e_shnum, e_shstrndx: 0 (no section table)

  let ph = ELF_HEADER_SIZE;
  elf.writeUInt32LE(1, ph); // PT_LOAD
  elf.writeUInt32LE(5, ph + 4); // PF_R | PF_X
  // p_offset 0: the headers are mapped too, so the entry address is file offset + LOAD_ADDRESS
  elf.writeBigUInt64LE(LOAD_ADDRESS, ph + 16); // p_vaddr
  elf.writeBigUInt64LE(LOAD_ADDRESS, ph + 24); // p_paddr
  elf.writeBigUInt64LE(BigInt(size), ph + 32); // p_filesz
  elf.writeBigUInt64LE(BigInt(size), ph + 40); // p_memsz
  elf.writeBigUInt64LE(BigInt(align), ph + 48); // p_align

  ph += PROGRAM_HEADER_SIZE;
  // Without PT_GNU_STACK the kernel gives x86_64 an executable stack, which hardened hosts refuse.
  elf.writeUInt32LE(0x6474e551, ph); // PT_GNU_STACK
  elf.writeUInt32LE(6, ph + 4); // PF_R | PF_W
  elf.writeBigUInt64LE(16n, ph + 48); // p_align

  code.copy(elf, PAUSE_CODE_OFFSET);
  return elf;
}

const BLOCK = 512;

/**
 * A tar archive (POSIX ustar) holding only the program, mode 0755, owned by root, to be
 * extracted at `/` (putArchive's `path`): it lands at PAUSE_PROGRAM_PATH, executable by
 * whatever user the sidecar runs as.
 */
export function pauseProgramTar(arch: PauseArch): Buffer {
  return programTar(PAUSE_PROGRAM_PATH, pauseProgram(arch));
}

/**
 * A tar archive (POSIX ustar) of one executable at `path` (absolute, under 100 bytes), mode
 * 0755, owned by root, mtime 0, for putArchive at `/` or `docker cp - <id>:/`. Written here
 * rather than with tar-stream, which is only a transitive dependency of dockerode (and
 * untyped): one fixed file needs one 512-byte header.
 */
export function programTar(path: string, program: Buffer): Buffer {
  const name = path.replace(/^\/+/, ''); // relative to the extraction path
  if (name === '' || Buffer.byteLength(name) >= 100) throw new RangeError(`tar name unusable: ${path}`);
  const dataBlocks = Math.ceil(program.length / BLOCK);
  // header, data padded to a whole block, then the two zero blocks that end an archive
  const tar = Buffer.alloc(BLOCK + dataBlocks * BLOCK + 2 * BLOCK);
  const field = (offset: number, length: number, value: string) => {
    tar.write(value.slice(0, length), offset, length, 'ascii');
  };
  const octal = (offset: number, length: number, value: number) => {
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  };
  field(0, 100, name);
  octal(100, 8, 0o755); // mode
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, program.length); // size
  octal(136, 12, 0); // mtime: fixed, so the archive is the same bytes every time
  tar.fill(0x20, 148, 156); // chksum counts as eight spaces while it is summed
  field(156, 1, '0'); // typeflag: regular file
  field(257, 6, 'ustar\0'); // magic
  field(263, 2, '00'); // version
  field(265, 32, 'root'); // uname
  field(297, 32, 'root'); // gname
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += tar[i]!;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  program.copy(tar, BLOCK);
  return tar;
}
