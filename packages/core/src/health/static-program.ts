// The static programs the project copies into check sidecars (the check agent, agent.c): the
// architectures they are built for, which one a Docker daemon needs, and the one-file tar that
// Docker's archive API (putArchive, before the sidecar starts) unpacks into a container, so
// they run in any image, `FROM scratch` ones included.

/** The machines a program is shipped for. */
export type ProgramArch = 'x86_64' | 'aarch64';

/**
 * The architecture of the program for a daemon's architecture name: Docker's version `Arch`
 * (`amd64`, `arm64`), its info `Architecture` (`x86_64`, `aarch64`, as `uname -m`), or Node's
 * `process.arch` (`x64`, `arm64`). Undefined for any other (no program is shipped for it).
 * It is the daemon's machine that runs the program, whatever the image was built for.
 */
export function programArchOf(name: string): ProgramArch | undefined {
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

const BLOCK = 512;

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
