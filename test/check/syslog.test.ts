// Syslog (SPEC §5): log lines go to the local syslog socket as RFC 3164 datagrams (facility
// daemon, the severity of the level, `tool[pid]:` tag, the pino JSON line); a socket that is
// missing or not a socket is said once on stderr and the tool goes on with its verdict.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../packages/core/src/log/logger.js';
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

const SYSLOG_FILE = '/var/log/checker-syslog.log';
const SETUP =
  'run `bash scripts/setup-host.sh` (as root): it starts rsyslogd on /dev/log writing to ' + SYSLOG_FILE;

const made = new Made();
let dir: string;
let target: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checker-syslog-'));
  target = await made.container(['-e', 'HEALTHCHECK=true']);
});

afterAll(async () => {
  await killSpawnedTools();
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

  it('says once on stderr that a missing socket is not reachable, and logging goes on', () => {
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
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain(`syslog is not reachable at ${missing}`);
  });
});

describe.concurrent('check --syslog, end to end', () => {
  it('its lines reach the host syslog (rsyslogd on /dev/log), tagged check[<pid>]', async () => {
    const rsyslogd = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .some((p) => {
        try {
          return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'rsyslogd';
        } catch {
          return false;
        }
      });
    if (!rsyslogd || !existsSync(SYSLOG_FILE) || !(await stat('/dev/log')).isSocket()) {
      throw new Error(`no rsyslogd writing ${SYSLOG_FILE} from /dev/log: ${SETUP}`);
    }
    const running = spawnTool('check', ['--syslog', '--no-stdout', '-loglevel=DEBUG', target]);
    const result = await running.exited;
    expectStatus(result, 0);
    expect(result.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/: healthy \(env: exit 0/)]);
    const tag = `check[${running.pid}]: `;
    const lines = await waitFor(
      async () => {
        const mine = (await readFile(SYSLOG_FILE, 'utf8')).split('\n').filter((l) => l.includes(tag));
        return mine.length >= 2 ? mine : undefined;
      },
      { timeoutMs: 10_000, what: `lines tagged ${tag} in ${SYSLOG_FILE}` },
    );
    const logs = lines.map(
      (l) => JSON.parse(l.slice(l.indexOf(tag) + tag.length)) as Record<string, unknown>,
    );
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['running HEALTHCHECK', 'verdict']));
    for (const log of logs) expect(log).toMatchObject({ tool: 'check', container: target, pid: running.pid });
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
    expect(stderr[0]).toMatch(/^check: syslog is not reachable at \/dev\/log \(.+\); going on without it$/);
    expect(result.stdout).toMatch(/: healthy \(env: exit 0/);
  });
});
