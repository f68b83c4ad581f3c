// The listener's docker-mon options read from the environment (SPEC §5: MON_PREFIX,
// MON_INTERVAL, MON_RETRIES, MON_QUIET), and flags winning over them, shown by what the
// listener does to real containers. A failing Docker call is made for real by a proxy socket
// in front of the daemon that answers 500 to the removal of one container.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { ensureTestImage, TEST_IMAGE, waitFor } from '../support/images.js';
import {
  containerFacts,
  createContainer,
  type DockerProxy,
  isAction,
  isListening,
  type LogLine,
  labelArgs,
  type PolicyListener,
  removeAll,
  runExiting,
  startContainer,
  startDockerProxy,
  startPolicyListener,
  testPrefix,
  timeOf,
} from '../support/policy-listener.js';

const OBSERVE = 'mon.observe=1';
const CLEANUP = 'mon.checks.cleanup=1';

let etcd: TestEtcd | undefined;

beforeAll(async () => {
  await ensureTestImage();
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.cleanup();
});

describe('MON_PREFIX and MON_INTERVAL, without flags', () => {
  const P = testPrefix();
  const INTERVAL_MS = 500;
  const id: Record<string, string> = {};
  let listener: PolicyListener | undefined;
  let listening: LogLine | undefined;

  beforeAll(async () => {
    listener = startPolicyListener(['--loglevel', 'DEBUG', '--etcd-host', etcd!.hosts], {
      env: { MON_PREFIX: P, MON_INTERVAL: String(INTERVAL_MS) },
    });
    listening = await listener.waitForLine(isListening, { what: 'that it listens' });
    await Promise.all(
      (
        [
          ['inside', `${P}exit-0`, 0],
          ['outside', `zz-${P}exit-0`, 0],
          ['kept', `${P}exit-1`, 1],
        ] as const
      ).map(async ([key, name, code]) => {
        id[key] = await runExiting(name, code, [OBSERVE, CLEANUP]);
      }),
    );
  });

  afterAll(async () => {
    await listener?.stop();
    await removeAll(Object.values(id));
  });

  it('MON_PREFIX: removes an exited opted-in container whose name starts with it, and leaves one that does not alone', async () => {
    expect(listening).toMatchObject({ prefix: P });
    await listener!.waitForLine(isAction('remove', id['inside']!), {
      what: 'the removal of the inside container',
    });
    await waitFor(async () => !(await containerFacts(id['inside']!)).exists, {
      what: 'the inside container to go',
    });
    // Several sweeps later, the outside one is still there, and never mentioned.
    await waitFor(
      () => listener!.lines.filter((l) => l.id === id['kept'] && l.level === 'DEBUG').length >= 4,
      {
        timeoutMs: 10_000,
        what: 'a few sweeps',
      },
    );
    expect((await containerFacts(id['outside']!)).status).toBe('exited');
    expect(listener!.lines.filter((l) => l.id === id['outside'] || l.container === id['outside'])).toEqual(
      [],
    );
  });

  it('MON_INTERVAL: sweeps every MON_INTERVAL ms (the default is 10 s)', async () => {
    expect(listening).toMatchObject({ intervalMs: INTERVAL_MS });
    // Every sweep looks at the exited-1 container again and says why it keeps it.
    const looks = () =>
      listener!.lines.filter((l) => l.id === id['kept'] && l.level === 'DEBUG' && /expected 0/.test(l.msg));
    await waitFor(() => looks().length >= 8, {
      timeoutMs: 15_000,
      what: 'eight looks at the exited-1 container',
    });
    const times = looks().map(timeOf);
    const gaps = times
      .slice(1)
      .map((t, i) => t - times[i]!)
      .sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    expect(median).toBeGreaterThanOrEqual(INTERVAL_MS - 50);
    expect(median).toBeLessThan(INTERVAL_MS + 400);
  });
});

describe('MON_RETRIES and MON_QUIET, with --prefix and --interval over MON_PREFIX and MON_INTERVAL', () => {
  const P = testPrefix();
  const RETRIES = 2;
  let failing = '';
  let proxy: DockerProxy | undefined;
  let listener: PolicyListener | undefined;
  let errorLine: LogLine | undefined;

  /** The removals of the failing container that reached the proxy. */
  const deletes = () =>
    proxy!.requests.filter(
      (r) => r.method === 'DELETE' && failing !== '' && r.path.includes(`/containers/${failing}`),
    );

  beforeAll(async () => {
    proxy = await startDockerProxy(
      (method, path) => method === 'DELETE' && failing !== '' && path.includes(`/containers/${failing}`),
    );
    listener = startPolicyListener(
      [
        '--loglevel',
        'DEBUG',
        '--prefix',
        P,
        '--interval',
        '60000',
        '--control',
        proxy.control,
        '--etcd-host',
        etcd!.hosts,
      ],
      {
        env: {
          // Were these used, the container below would not be looked at (prefix) or its
          // removal would be tried again every 200 ms (interval).
          MON_PREFIX: `${P}never-`,
          MON_INTERVAL: '200',
          MON_RETRIES: String(RETRIES),
          MON_QUIET: 'true',
        },
      },
    );
    // --quiet hides the "listening" line: the first sweep's container list says it is up.
    await waitFor(
      () => proxy!.requests.some((r) => r.method === 'GET' && /\/containers\/json/.test(r.path)),
      {
        timeoutMs: 15_000,
        what: 'the listener to list containers through the proxy',
      },
    );
    // Runs long enough for its monitor to register it (a few seconds), then exits 0.
    failing = await createContainer([
      '--name',
      `${P}exit-0`,
      ...labelArgs([OBSERVE, CLEANUP]),
      TEST_IMAGE,
      'sh',
      '-c',
      'sleep 4; exit 0',
    ]);
    await startContainer(failing);
    errorLine = await listener.waitForLine((l) => l.level === 'ERROR' && l.msg === 'policy action failed', {
      timeoutMs: 20_000,
      what: 'that it gave up removing the container',
    });
    // Time for sweeps at MON_INTERVAL=200 ms to try again, were it used.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  });

  afterAll(async () => {
    await listener?.stop();
    await proxy?.close();
    await removeAll([failing]);
  });

  it('MON_RETRIES: retries a failing Docker call MON_RETRIES times, then gives up with an ERROR line', async () => {
    expect(deletes()).toHaveLength(RETRIES + 1);
    const retries = listener!.lines.filter(
      (l) => l.tool === 'listener' && l.level === 'WARNING' && l.msg === 'Docker call failed; retrying',
    );
    expect(retries.map((l) => [l['call'], l['attempt']])).toEqual([
      [`remove ${P}exit-0`, 1],
      [`remove ${P}exit-0`, 2],
    ]);
    // Each names the container and says what Docker answered, in one line: a 500 from Docker
    // is not "a bug in checker".
    for (const line of [...retries, errorLine!]) {
      expect(line).toMatchObject({ container: `${P}exit-0`, id: failing });
      expect(line['err']).toMatch(
        /^Docker answered with an error: fault injected by the test proxy \(HTTP 500\)$/,
      );
    }
    expect((await containerFacts(failing)).exists).toBe(true);
  });

  it('--prefix and --interval win over MON_PREFIX and MON_INTERVAL', async () => {
    // The flag's prefix: the container was acted on.
    await listener!.waitForLine(isAction('remove', failing), {
      timeoutMs: 1000,
      what: 'the removal attempt',
    });
    // The flag's interval: no sweep tried the removal again after the listener gave up.
    expect(deletes()).toHaveLength(RETRIES + 1);
    expect(
      proxy!.requests.filter((r) => r.method === 'GET' && /\/containers\/json/.test(r.path)),
    ).toHaveLength(1);
  });

  it('MON_QUIET=true: only NOTICE and WARNING-or-worse lines, from the listener and its monitors, even at --loglevel DEBUG', async () => {
    const lines = listener!.lines;
    expect(listener!.rawLines).toEqual([]);
    expect(lines.filter((l) => !['NOTICE', 'WARNING', 'ERROR', 'CRITICAL'].includes(l.level))).toEqual([]);
    // The actions are still there: the listener's removal, and the registration of a monitor's
    // record (logged by the listener, whose etcd client serves the monitors' records).
    expect(lines.some(isAction('remove', failing))).toBe(true);
    expect(lines.some((l) => l.level === 'NOTICE' && l['action'] === 'register')).toBe(true);
  });
});
