// Logs never vanish (SPEC §5): when syslog cannot be used (a dead /dev/log, the daemon killed,
// the native module missing) a long-running tool says so once on stderr and writes its lines
// there, and goes back to syslog once a restarted daemon answers. Each case runs the built
// logger in a driver process (test/log/syslog-driver.mjs: a numbered line every 100 ms, as
// monitor) inside a private mount namespace whose /dev/log is the test's own socket, and
// accounts for every number: in rsyslog's output or on stderr, never both, none missing.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';
import { waitFor } from '../support/images.js';
import { type Rsyslogd, socketAnswers, startRsyslogd, stopAllRsyslogd } from './rsyslogd.js';

const DRIVER = join(REPO_ROOT, 'test', 'log', 'syslog-driver.mjs');
const BUILT = join(REPO_ROOT, 'packages', 'core', 'dist', 'log', 'syslog-stream.js');
const SOURCE = join(REPO_ROOT, 'packages', 'core', 'src', 'log', 'syslog-stream.ts');
/** where the built logger finds unix-dgram */
const MODULE_DIR = dirname(createRequire(BUILT).resolve('unix-dgram/package.json'));

interface DgramSocket {
  on(event: 'error', listener: (e: Error) => void): void;
  bind(path: string): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as {
  createSocket(type: 'unix_dgram'): DgramSocket;
};

let dir: string;
const drivers = new Set<ChildProcess>();

beforeAll(async () => {
  // The driver runs the built logger: a stale build would test yesterday's code.
  if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < statSync(SOURCE).mtimeMs)
    throw new Error(`${BUILT} is missing or older than its source: run \`npx tsc -b packages/core\``);
  dir = await mkdtemp(join(tmpdir(), 'checker-syslog-fallback-'));
});

afterEach(async () => {
  for (const child of drivers)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  drivers.clear();
  await stopAllRsyslogd();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Driver {
  pid: number;
  /** stderr so far, line by line */
  stderrLines(): string[];
  /** the numbers of the lines on stderr so far */
  stderrNumbers(): number[];
  /** SIGTERM; resolves with the exit status once the process has ended on its own */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; msAfterSigterm: number }>;
}

/**
 * Starts the driver with `socket` as its /dev/log (a symlink on a private tmpfs /dev, as
 * systemd hosts have it), after `setup` (more shell run in its mount namespace, as root).
 */
function startDriver(socket: string, setup = 'true'): Driver {
  const child = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t tmpfs tmpfs /dev && ln -s "$SYSLOG_SOCKET" /dev/log && ${setup} && exec "$@"`,
      'sh',
      process.execPath,
      DRIVER,
    ],
    { env: { ...process.env, SYSLOG_SOCKET: socket }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  drivers.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const stderrLines = () => stderr.split('\n').filter(Boolean);
  return {
    // unshare (without --fork) and sh's exec keep one process: this pid is node's.
    pid: child.pid!,
    stderrLines,
    stderrNumbers: () => stderrLines().filter(isJson).map(numberOf),
    stop: async () => {
      const sent = performance.now();
      child.kill('SIGTERM');
      const result = await closed;
      return { ...result, msAfterSigterm: Math.round(performance.now() - sent) };
    },
  };
}

const isJson = (line: string) => line.startsWith('{');
const numberOf = (json: string) => (JSON.parse(json) as { n: number }).n;

/** The numbers of the driver's lines that rsyslogd wrote (`daemon.info monitor[pid]: {…}`). */
async function syslogNumbers(daemon: Rsyslogd, pid: number): Promise<number[]> {
  const text = await readFile(daemon.output, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.startsWith(`daemon.info monitor[${pid}]:`))
    .map((line) => numberOf(line.slice(line.indexOf('{'))));
}

/** [first, first + 1, …, last] */
const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

describe('when syslog cannot be used, a long-running tool writes its lines to stderr', () => {
  it('a dead /dev/log (a socket nobody reads): one notice, then every line on stderr, and it still exits on its own', async () => {
    const dead = join(dir, 'dead.sock');
    const socket = unixDgram.createSocket('unix_dgram');
    socket.bind(dead);
    socket.close(); // the file stays, with nobody reading it
    expect(socketAnswers(dead)).toBe(false);

    const driver = startDriver(dead);
    // 2 s of lines: past the reconnections (one a second) that find nobody either.
    await waitFor(() => driver.stderrNumbers().length >= 20, {
      timeoutMs: 10_000,
      what: '20 lines on stderr',
    });
    const exit = await driver.stop();
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.msAfterSigterm).toBeLessThan(2_000);

    const [notice, ...lines] = driver.stderrLines();
    expect(notice).toBe(
      'monitor: syslog is not reachable at /dev/log (connect ECONNREFUSED); log lines go to stderr until it answers',
    );
    expect(lines.every(isJson), lines.join('\n')).toBe(true);
    const numbers = lines.map(numberOf);
    expect(numbers).toEqual(range(1, numbers.length));
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'INFO',
      tool: 'monitor',
      container: 'driver',
      msg: 'line',
    });
  });

  it('rsyslogd killed: later lines on stderr; started again on the same socket: lines back in syslog, none lost or doubled', async () => {
    const home = join(dir, 'restarted');
    await mkdir(home);
    const first = await startRsyslogd(home);
    const driver = startDriver(first.socket);
    await waitFor(async () => (await syslogNumbers(first, driver.pid)).length >= 5, {
      timeoutMs: 10_000,
      what: 'the first 5 lines in syslog',
    });

    await first.kill();
    // Down for 1.5 s: past a reconnection that finds nobody, which must not end the retries.
    await waitFor(() => driver.stderrNumbers().length >= 15, {
      timeoutMs: 10_000,
      what: '15 lines on stderr',
    });

    const second = await startRsyslogd(home);
    const answering = performance.now();
    await waitFor(() => driver.stderrLines().some((line) => line.includes('answers again')), {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'the "answers again" notice',
    });
    const backAfterMs = performance.now() - answering;
    const lastOnStderr = Math.max(...driver.stderrNumbers());
    await waitFor(async () => Math.max(...(await syslogNumbers(second, driver.pid))) >= lastOnStderr + 5, {
      timeoutMs: 10_000,
      what: '5 lines in syslog after the restart',
    });
    const exit = await driver.stop();
    await second.stop(); // flushes its output

    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.msAfterSigterm).toBeLessThan(2_000);
    // Reconnections are tried at most once a second, on the next line.
    expect(backAfterMs).toBeLessThan(2_500);

    const stderr = driver.stderrLines();
    const onStderr = stderr.filter(isJson).map(numberOf);
    expect(stderr).toEqual([
      'monitor: syslog is not reachable at /dev/log (connect ECONNREFUSED); log lines go to stderr until it answers',
      ...onStderr.map((n) => expect.stringContaining(`"n":${n},`)),
      'monitor: syslog at /dev/log answers again; log lines go there again',
    ]);
    const inSyslog = await syslogNumbers(second, driver.pid);
    const firstOnStderr = onStderr[0]!;
    const last = Math.max(...inSyslog);
    expect(onStderr).toEqual(range(firstOnStderr, lastOnStderr));
    expect(inSyslog.filter((n) => onStderr.includes(n))).toEqual([]);
    // The one line a killed rsyslogd may have read but not yet written is the only one that
    // may be missing: the last one sent before the first refusal.
    const beforeKill = inSyslog.filter((n) => n < firstOnStderr);
    expect([firstOnStderr - 1, firstOnStderr - 2]).toContain(Math.max(...beforeKill));
    expect(beforeKill).toEqual(range(1, Math.max(...beforeKill)));
    expect(inSyslog.filter((n) => n > lastOnStderr)).toEqual(range(lastOnStderr + 1, last));
    console.log(
      `syslog restart: lines 1-${Math.max(...beforeKill)} in syslog, ${firstOnStderr}-${lastOnStderr} on stderr, ` +
        `${lastOnStderr + 1}-${last} in syslog again; back ${Math.round(backAfterMs)} ms after rsyslogd answered`,
    );
  });

  it('unix-dgram missing (hidden in the mount namespace): one notice, every line on stderr, none in syslog', async () => {
    const home = join(dir, 'no-module');
    const daemon = await startRsyslogd(home);
    const empty = join(dir, 'empty-module');
    await mkdir(empty);
    const driver = startDriver(daemon.socket, `mount --bind "${empty}" "${MODULE_DIR}"`);
    await waitFor(() => driver.stderrNumbers().length >= 15, {
      timeoutMs: 10_000,
      what: '15 lines on stderr',
    });
    const exit = await driver.stop();
    await daemon.stop();

    expect(exit).toMatchObject({ code: 0, signal: null });
    const [notice, ...lines] = driver.stderrLines();
    expect(notice).toBe(
      "monitor: syslog cannot be used: the native module unix-dgram does not load (Cannot find module 'unix-dgram'); log lines go to stderr",
    );
    expect(lines.every(isJson), lines.join('\n')).toBe(true);
    expect(lines.map(numberOf)).toEqual(range(1, lines.length));
    expect(await syslogNumbers(daemon, driver.pid)).toEqual([]);
    // The hiding stayed inside the namespace.
    expect(existsSync(join(MODULE_DIR, 'package.json'))).toBe(true);
  });
});
