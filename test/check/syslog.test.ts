// Syslog (SPEC §5): log lines go to the local syslog socket as RFC 3164 datagrams (facility
// daemon, the severity of the level, `tool[pid]:` tag, the pino JSON line); a socket that is
// missing or not a socket is said once on stderr, its lines go to stderr (unless already on
// stdout), and the tool goes on with its verdict. test/log/ has the long-running faults.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../packages/core/src/log/logger.js';
import { startRsyslogd, stopAllRsyslogd } from '../log/rsyslogd.js';
import { killSpawnedTools, spawnTool } from '../support/cli.js';
import { waitFor } from '../support/images.js';
import { check, expectStatus, Made } from './fixtures.js';

interface DgramSocket {
  on(event: 'error', listener: (e: Error) => void): void;
  bind(path: string): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as {
  createSocket(type: 'unix_dgram', onMessage: (message: Buffer) => void): DgramSocket;
};

const made = new Made();
let dir: string;
let target: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checker-syslog-'));
  target = await made.container(['-e', 'HEALTHCHECK=true']);
});

afterAll(async () => {
  await killSpawnedTools();
  await stopAllRsyslogd();
  await made.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A syslog daemon of our own: a unix datagram socket in the temp dir, collecting what arrives. */
function fakeSyslog(name: string) {
  const path = join(dir, name);
  const received: string[] = [];
  const socket = unixDgram.createSocket('unix_dgram', (message) => received.push(message.toString('utf8')));
  socket.on('error', (e) => received.push(`socket error: ${e.message}`));
  socket.bind(path);
  return { path, received, close: () => socket.close() };
}

// How rsyslog names the severity each of our levels is sent with (SPEC §5).
const SEVERITY_OF_LEVEL: Record<string, string> = {
  DEBUG: 'debug',
  INFO: 'info',
  NOTICE: 'notice',
  WARNING: 'warning',
  ERROR: 'err',
  CRITICAL: 'crit',
};

describe('the logger to a syslog socket', () => {
  it('sends each line as one datagram: <PRI> of facility daemon, timestamp, check[pid]: and the JSON line', async () => {
    const syslog = fakeSyslog('log.sock');
    try {
      const { log, close } = createLogger({
        tool: 'check',
        level: 'INFO',
        stdout: false,
        syslog: true,
        syslogPath: syslog.path,
        container: 'web',
      });
      log.debug('below the level');
      log.info({ verdict: 'healthy' }, 'verdict');
      log.warning('something to look at');
      close();
      await waitFor(() => syslog.received.length >= 2, { timeoutMs: 5_000, what: 'two datagrams' });
      await new Promise((resolve) => setTimeout(resolve, 50)); // nothing more is coming
      expect(syslog.received).toHaveLength(2);
      const [info, warning] = syslog.received as [string, string];
      const shape = /^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} check\[(\d+)\]: (\{.*\})$/;
      const i = shape.exec(info);
      expect(i, info).not.toBeNull();
      expect(i![1]).toBe('30'); // daemon (3) * 8 + info (6)
      expect(i![2]).toBe(String(process.pid));
      expect(JSON.parse(i![3]!)).toMatchObject({
        level: 'INFO',
        tool: 'check',
        container: 'web',
        verdict: 'healthy',
        msg: 'verdict',
      });
      const w = shape.exec(warning);
      expect(w?.[1]).toBe('28'); // daemon * 8 + warning (4)
      expect(JSON.parse(w![3]!)).toMatchObject({ level: 'WARNING', msg: 'something to look at' });
    } finally {
      syslog.close();
    }
  });

  it('says once on stderr that a missing socket is not reachable, and writes its lines there instead', () => {
    const missing = join(dir, 'no-such-dir', 'log.sock');
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const { log, close } = createLogger({
        tool: 'check',
        level: 'DEBUG',
        stdout: false,
        syslog: true,
        syslogPath: missing,
      });
      for (let n = 0; n < 5; n++) log.info({ n }, 'line');
      close();
    } finally {
      spy.mockRestore();
    }
    expect(writes[0]).toBe(
      `check: syslog is not reachable at ${missing} (connect ENOENT); log lines go to stderr until it answers\n`,
    );
    expect(writes.slice(1).map((line) => JSON.parse(line))).toEqual(
      [0, 1, 2, 3, 4].map((n) => expect.objectContaining({ level: 'INFO', tool: 'check', n, msg: 'line' })),
    );
  });

  it('with --stdout on as well, a missing socket is said once and no line is written twice', () => {
    const missing = join(dir, 'no-such-dir', 'log.sock');
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    try {
      const { log, close } = createLogger({
        tool: 'check',
        level: 'DEBUG',
        stdout: true,
        destination: out,
        syslog: true,
        syslogPath: missing,
      });
      for (let n = 0; n < 3; n++) log.info({ n }, 'line');
      close();
    } finally {
      spy.mockRestore();
    }
    expect(writes).toEqual([
      `check: syslog is not reachable at ${missing} (connect ENOENT); log lines go to stdout only until it answers\n`,
    ]);
    expect(lines).toHaveLength(3);
  });
});

describe.concurrent('check --syslog, end to end', () => {
  // A real rsyslogd of the test's own, on a socket in the temp dir, seen by check as /dev/log
  // (a symlink, as systemd hosts have it) inside a private mount namespace. The host's syslog
  // may be anything (journald, a stale socket, rsyslogd writing elsewhere): this proves the
  // lines arrive at a real syslog daemon and that it reads facility, severity and tag from them.
  it('its lines reach rsyslogd listening on /dev/log: facility daemon, the level as severity, tagged check[<pid>]', async () => {
    const syslog = await startRsyslogd(join(dir, 'rsyslogd'));
    try {
      const running = spawnTool('check', ['--syslog', '--no-stdout', '-loglevel=DEBUG', target], {
        env: { SYSLOG_SOCKET: syslog.socket },
        wrapper: [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs tmpfs /dev && ln -s "$SYSLOG_SOCKET" /dev/log && exec "$@"',
          'sh',
        ],
      });
      const result = await running.exited;
      expectStatus(result, 0);
      expect(result.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/: healthy \(env: exit 0/)]);
      expect(result.stderr).toBe('');
      const tag = `check[${running.pid}]:`;
      const lines = await waitFor(
        async () => {
          const mine = (await readFile(syslog.output, 'utf8').catch(() => ''))
            .split('\n')
            .filter((l) => l.includes(tag));
          return mine.some((l) => l.includes('"verdict"')) ? mine : undefined;
        },
        { timeoutMs: 10_000, what: `lines tagged ${tag} in ${syslog.output}` },
      );
      // Each line: `<facility>.<severity> check[pid]: {json}` (the test's rsyslog template).
      const logs = lines.map((l): Record<string, unknown> => {
        const [facility, severity] = l.slice(0, l.indexOf(' ')).split('.');
        return { facility, severity, ...(JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>) };
      });
      expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['running HEALTHCHECK', 'verdict']));
      for (const log of logs) {
        expect(log).toMatchObject({ facility: 'daemon', tool: 'check', container: target, pid: running.pid });
        expect(log.severity).toBe(SEVERITY_OF_LEVEL[String(log.level)]);
      }
    } finally {
      await syslog.stop();
    }
  });

  // Each in a private mount namespace, so the host's /dev/log is untouched.
  it.each([
    ['missing (/dev is an empty tmpfs)', 'mount -t tmpfs tmpfs /dev'],
    ['not a socket (a plain file over /dev/log)', `touch "$TMP_FILE" && mount --bind "$TMP_FILE" /dev/log`],
  ])('with /dev/log %s, check says so once on stderr and still gives its verdict', async (_what, setup) => {
    const result = await check(['--syslog', target], {
      env: { TMP_FILE: join(dir, `not-a-socket-${Math.random().toString(36).slice(2)}`) },
      wrapper: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${setup} && exec "$@"`, 'sh'],
    });
    expectStatus(result, 0);
    const stderr = result.stderr.trimEnd().split('\n');
    expect(stderr).toHaveLength(1);
    // check logs to stdout by default: the notice is all that stderr gets.
    expect(stderr[0]).toMatch(
      /^check: syslog is not reachable at \/dev\/log \(connect E[A-Z]+\); log lines go to stdout only until it answers$/,
    );
    expect(result.stdout).toMatch(/: healthy \(env: exit 0/);
  });
});
