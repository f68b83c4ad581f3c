// Docker helpers for the integration tests: the Docker CLI as a function, the tiny busybox test
// image (built once, offline, from the host's static busybox), test containers and their cleanup.
// They drive the real CLI rather than dockerode so the tests do not share code with what they test.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Debian Docker CLI matches the 20.10 engine; a newer one may be first on PATH. */
export const DOCKER_BIN = process.env['CHECKER_TEST_DOCKER'] ?? '/usr/bin/docker';

/** FROM scratch + static busybox: a shell, `sleep`, `true`, `false`, `wget`, `nc`… in ~1 MB. */
export const TEST_IMAGE = 'checker-test/busybox:latest';

/** Every container made through runContainer carries it, so leftovers of a crashed run can be found. */
export const TEST_LABEL = 'checker.test=1';

const BUSYBOX = '/bin/busybox';

export interface DockerResult {
  stdout: string;
  stderr: string;
  /** The exit status; 128 + signal number when the CLI was killed (also on timeout). */
  code: number;
  timedOut: boolean;
}

export interface DockerOptions {
  /** Written to the CLI's stdin (e.g. a build context tar or `docker exec -i` input). */
  input?: string | Buffer;
  /** Kills the CLI with SIGKILL after this long; the result then has timedOut: true. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs the Docker CLI. Never rejects on a non-zero exit: callers assert on `code`. */
export function docker(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER_BIN, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${DOCKER_BIN}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? 128 + signalNumber(signal),
        timedOut,
      });
    });
    // A CLI that exits before reading its stdin makes the write fail with EPIPE: the exit code says more.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : constants.signals[signal];
}

/** Like docker(), but a non-zero exit is an error carrying the command and its stderr. */
export async function dockerOk(args: string[], opts: DockerOptions = {}): Promise<string> {
  const r = await docker(args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exit ${r.code}`;
    throw new Error(`docker ${args.join(' ')}: ${why}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout.trim();
}

export async function imageExists(ref: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', ref])).code === 0;
}

let testImage: Promise<string> | undefined;

/**
 * Builds TEST_IMAGE unless it exists, and resolves with its tag. Once per process; concurrent
 * builds from several workers are harmless (same content, same tag).
 */
export function ensureTestImage(): Promise<string> {
  testImage ??= buildTestImage().catch((e: unknown) => {
    testImage = undefined; // let a later call try again
    throw e;
  });
  return testImage;
}

async function buildTestImage(): Promise<string> {
  if (await imageExists(TEST_IMAGE)) return TEST_IMAGE;
  const dir = await mkdtemp(join(tmpdir(), 'checker-test-image-'));
  try {
    try {
      await copyFile(BUSYBOX, join(dir, 'busybox'));
    } catch (e) {
      throw new Error(
        `cannot read ${BUSYBOX} (${(e as Error).message}): run \`bash scripts/setup-host.sh\` (as root) to install busybox-static`,
      );
    }
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'CMD ["/bin/sh"]',
        '',
      ].join('\n'),
    );
    const r = await docker(['build', '-q', '--force-rm', '-t', TEST_IMAGE, dir], {
      timeoutMs: 120_000,
      // The classic builder is the one this engine has.
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    if (r.code !== 0) {
      throw new Error(
        `building ${TEST_IMAGE} failed (exit ${r.code}): ${r.stderr.trim()} ` +
          `(${BUSYBOX} must be Debian's static busybox: apt-get install busybox-static)`,
      );
    }
    return TEST_IMAGE;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RunOptions {
  /** `--init` (default true): a busybox `sleep` as PID 1 ignores SIGTERM, so every stop would wait its full timeout. */
  init?: boolean;
}

/**
 * `docker run -d [--init] --label checker.test=1 …args` and resolves with the full container id.
 * args are what follows `docker run -d`: options, then the image and its command.
 */
export async function runContainer(args: string[], opts: RunOptions = {}): Promise<string> {
  const pre = ['run', '-d', '--label', TEST_LABEL];
  if (opts.init ?? true) pre.push('--init');
  const id = await dockerOk([...pre, ...args], { timeoutMs: 60_000 });
  // `docker run -d` prints only the id; anything else (a warning) precedes it.
  return id.split('\n').at(-1)!.trim();
}

/**
 * Force-removes containers and their anonymous volumes; ones already gone are fine. Their check
 * sidecars go too: a monitor the test killed with SIGKILL could not remove its long-lived one.
 */
export async function removeContainers(ids: Iterable<string | undefined>): Promise<void> {
  const given = [...ids].filter((id): id is string => !!id);
  if (given.length === 0) return;
  const sidecars = await docker([
    'ps',
    '-a',
    '--no-trunc',
    '--filter',
    'label=checker.sidecar=1',
    '--format',
    '{{.ID}} {{.Label "checker.target"}}',
  ]);
  const targets = new Set(given);
  const list = [
    ...given,
    ...sidecars.stdout
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(
        ([id, target]) =>
          id && target && [...targets].some((t) => target.startsWith(t) || t.startsWith(target)),
      )
      .map(([id]) => id!),
  ];
  const r = await docker(['rm', '-f', '-v', ...list], { timeoutMs: 60_000 });
  const problems = r.stderr
    .split('\n')
    .filter(
      (line) => line.trim() !== '' && !/no such container/i.test(line) && !/already in progress/i.test(line),
    );
  if (r.code !== 0 && problems.length > 0) {
    throw new Error(`docker rm -f -v ${list.join(' ')}: ${problems.join('; ')}`);
  }
}

let counter = 0;

/** A name no other test, worker or run will pick: valid for containers, networks, etcd prefixes. */
export function uniqueName(prefix: string): string {
  const safe = prefix.replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '') || 'checker';
  const rand = Math.random().toString(36).slice(2, 8);
  counter += 1;
  return `${safe}-${process.pid}-${Date.now().toString(36)}-${counter}${rand}`;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the timeout error: "key /SERVICE/x to appear". */
  what?: string;
}

/**
 * Polls predicate until it returns a truthy value, which it resolves with. A predicate that
 * throws counts as "not yet"; on timeout the error names `what` and the last thrown error.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 100, what = 'condition' }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why =
        lastError === undefined ? '' : ` (last error: ${(lastError as Error).message ?? lastError})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
