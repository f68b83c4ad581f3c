// Three healing rules of issue 11 through the real listener, the real daemon and a real etcd:
// - drain (SPEC §4): a restart by the listener withdraws the container's record first; an etcd
//   watch of the test's own sees the DELETE before Docker stamps the restart's `kill`, and the
//   record is held back until the container runs again. The container keeps a record while
//   Docker reports it unhealthy because its HEALTHCHECK environment variable (the monitor's
//   source) passes, while its Docker --health-cmd (what mon.checks.health=1 acts on) fails;
// - cleanup cleans only exits of the container's own (SPEC §4): `docker stop` or a person's
//   `docker kill -s TERM` of a container that exits 0 on SIGTERM leaves it (a NOTICE says why),
//   while the same container exiting 0 by itself is removed;
// - label values are validated (SPEC §1): `mon.observe=yes` is one warning naming the container,
//   the label and the accepted values, and the default (off) applies.
// One listener and one etcd for the file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { dockerOk, ensureTestImage, runContainer, TEST_IMAGE, waitFor } from '../support/images.js';
import {
  containerFacts,
  type DockerEventRecorder,
  dockerExec,
  isAction,
  isListening,
  type KeyWatch,
  labelArgs,
  type PolicyListener,
  recordDockerEvents,
  removeAll,
  runExiting,
  sleep,
  startPolicyListener,
  testPrefix,
  timeOf,
  waitForDockerEvent,
  watchKeys,
} from '../support/policy-listener.js';

const P = testPrefix();
const ETCD_PREFIX = `/${P}services`;
const INTERVAL_MS = 1000;
const OBSERVE = 'mon.observe=1';
const CLEANUP = 'mon.checks.cleanup=1';
/** Exits 0 on SIGTERM (after the `sleep 1` in flight), and by itself once /tmp/done exists. */
const EXITS_0_ON_TERM = [
  'sh',
  '-c',
  'mkdir -p /tmp; trap "exit 0" TERM; while [ ! -e /tmp/done ]; do sleep 1; done; exit 0',
];

const name = (what: string) => `${P}${what}`;
const ids: string[] = [];

let etcd: TestEtcd | undefined;
let listener: PolicyListener | undefined;
let events: DockerEventRecorder | undefined;
let keys: KeyWatch | undefined;

async function run(what: string, args: string[], command: string[]): Promise<string> {
  const id = await runContainer([
    '--name',
    name(what),
    '--label',
    `checker.policy-test=${P}`,
    ...args,
    TEST_IMAGE,
    ...command,
  ]);
  ids.push(id);
  return id;
}

/** The listener's and its monitor's lines about the container, for a failure's message. */
const said = (id: string, container: string) =>
  listener!.lines
    .filter((l) => l.id === id || l.container === id || l.container === container)
    .map((l) => JSON.stringify(l))
    .join('\n');

/** The listener's NOTICE that it left the container alone (cleanup), and why. */
const leftAlone = (id: string) =>
  listener!.waitForLine(
    (l) => l.tool === 'listener' && l.level === 'NOTICE' && l.id === id && /^left alone/.test(l.msg),
    {
      timeoutMs: 15_000,
      what: `a NOTICE that ${id.slice(0, 12)} is left alone`,
    },
  );

describe('drain, own exits and label values (listener, real Docker, real etcd)', () => {
  beforeAll(async () => {
    await ensureTestImage();
    etcd = await startEtcd();
    keys = await watchKeys(etcd, `${ETCD_PREFIX}/`);
    listener = startPolicyListener([
      '--loglevel',
      'DEBUG',
      '--prefix',
      P,
      '--interval',
      String(INTERVAL_MS),
      '--etcd-host',
      etcd.hosts,
      '--etcd-prefix',
      ETCD_PREFIX,
    ]);
    await listener.waitForLine(isListening, { what: 'that it listens' });
    events = recordDockerEvents(`checker.policy-test=${P}`);
  });

  afterAll(async () => {
    await listener?.stop();
    await events?.stop();
    await keys?.stop();
    await removeAll(ids);
    await etcd?.cleanup();
  });

  it("drain: the record's DELETE reaches an etcd watch before Docker's kill of the restart, and comes back once it runs again", async () => {
    const id = await run(
      'drained',
      [
        // The monitor's check (passes: the record is kept while Docker reports it unhealthy)…
        '-e',
        'HEALTHCHECK=true',
        // …and Docker's, which the health policy acts on: fails once /tmp/fail exists.
        ...['--health-cmd', 'test ! -e /tmp/fail', '--health-interval', '1s', '--health-retries', '1'],
        ...labelArgs([OBSERVE, 'mon.checks.health=1', 'mon.checks.health.timeout=1000']),
      ],
      ['sh', '-c', 'mkdir -p /tmp; rm -f /tmp/fail; exec sleep 600'],
    );
    const key = `${ETCD_PREFIX}/busybox/${id}`;
    // Registered now (the latest change of the key is a PUT). A first check that fails is tried
    // again at the next Docker health report or period (30 s), hence the long wait.
    const registered = await waitFor(
      () => {
        const latest = keys!.of(key).at(-1);
        return latest?.type === 'put' ? latest : undefined;
      },
      {
        timeoutMs: 45_000,
        what: `the record ${key}`,
      },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; what the listener said of it:\n${said(id, name('drained'))}`);
    });

    const made = await dockerExec(id, ['touch', '/tmp/fail']);
    expect(made.code, made.stderr).toBe(0);
    const unhealthy = await waitForDockerEvent(events!, id, ['health_status: unhealthy'], {
      timeoutMs: 15_000,
    });
    const kill = await waitForDockerEvent(events!, id, ['kill'], {
      afterMs: unhealthy.timeMs,
      what: 'the kill of the restart',
    });
    const restarted = await waitForDockerEvent(events!, id, ['start'], {
      afterMs: kill.timeMs,
      what: 'the start of the restart',
    });
    const notice = listener!.lines.find(isAction('restart', id));
    expect(notice).toMatchObject({ msg: 'restarting unhealthy container', container: name('drained') });

    // etcd answered the delete before the kill: the listener's line about it (logged once etcd
    // answered; pino's times are whole ms, floored) is older than Docker's stamp on the kill.
    const confirmed = listener!.lines.find(
      (l) =>
        l.msg === 'service record removed from etcd' &&
        l.id === id &&
        timeOf(l) >= Math.floor(unhealthy.timeMs),
    );
    expect(confirmed, "the listener's line on the DELETE").toBeDefined();
    expect(timeOf(confirmed!) + 1).toBeLessThanOrEqual(kill.timeMs);
    // And a consumer saw it go before the kill: the record was there while Docker reported it
    // unhealthy, and the watch's arrival time is never earlier than etcd's delete.
    const deleted = keys!.of(key).find((c) => c.type === 'delete' && c.revision > registered.revision);
    expect(deleted, `a DELETE of ${key}`).toBeDefined();
    expect(deleted!.at).toBeGreaterThanOrEqual(Math.floor(unhealthy.timeMs));
    expect(deleted!.at, `DELETE seen ${deleted!.at - kill.timeMs} ms after the kill`).toBeLessThan(
      kill.timeMs,
    );
    // The drain waits for etcd's confirmation, one second at most.
    expect(kill.timeMs - unhealthy.timeMs).toBeLessThan(2_500);

    // Held back while it stops, published again once it runs again.
    const back = await waitFor(
      () => keys!.of(key).find((c) => c.type === 'put' && c.revision > deleted!.revision),
      { timeoutMs: 15_000, what: `the record ${key} back` },
    );
    expect(back.at).toBeGreaterThanOrEqual(Math.floor(restarted.timeMs));
  }, 90_000);

  it('docker stop of a container that exits 0 on SIGTERM: left alone, a NOTICE says why; the same container exiting 0 by itself: removed', async () => {
    const id = await run('stopped', labelArgs([OBSERVE, CLEANUP]), EXITS_0_ON_TERM);
    await dockerOk(['stop', '-t', '10', id], { timeoutMs: 30_000 });
    await waitForDockerEvent(events!, id, ['die']);
    const notice = await leftAlone(id);
    expect(notice).toMatchObject({ container: name('stopped'), exitCode: 0 });
    // Docker logs docker stop's `kill` (SIGTERM) before the `die`, and its `stop` only after it:
    // whichever the listener had when it decided names the cause.
    expect(notice.msg).toMatch(
      /not by itself: (stopped by someone \(docker stop\)|killed by someone \(signal 15,)/,
    );
    // Several sweeps later, still there.
    await sleep(3 * INTERVAL_MS + 500);
    expect(await containerFacts(id)).toMatchObject({ exists: true, status: 'exited', exitCode: 0 });
    expect(listener!.lines.filter(isAction('remove', id))).toEqual([]);

    // The same container, started again, ends by itself with the same code: that one is cleaned.
    await dockerOk(['start', id], { timeoutMs: 30_000 });
    const done = await dockerExec(id, ['touch', '/tmp/done']);
    expect(done.code, done.stderr).toBe(0);
    await waitFor(async () => !(await containerFacts(id)).exists, {
      timeoutMs: 20_000,
      what: `${name('stopped')} to be removed`,
    });
    expect(listener!.lines.find(isAction('remove', id))).toMatchObject({
      exitCode: 0,
      container: name('stopped'),
    });
  }, 60_000);

  it('docker kill -s TERM by a person of a container that exits 0 on it: left alone', async () => {
    const id = await run('killed', labelArgs([OBSERVE, CLEANUP]), EXITS_0_ON_TERM);
    await dockerOk(['kill', '-s', 'TERM', id], { timeoutMs: 30_000 });
    await waitForDockerEvent(events!, id, ['die']);
    const notice = await leftAlone(id);
    expect(notice).toMatchObject({ container: name('killed'), exitCode: 0 });
    expect(notice.msg).toMatch(/not by itself: killed by someone \(signal 15/);
    await sleep(3 * INTERVAL_MS + 500);
    expect(await containerFacts(id)).toMatchObject({ exists: true, status: 'exited', exitCode: 0 });
    expect(listener!.lines.filter(isAction('remove', id))).toEqual([]);
  }, 40_000);

  it('mon.observe=yes: one warning naming the container, the label and the accepted values; not observed (not removed)', async () => {
    // Beside it, the same exit with mon.observe=1: removed in the same while.
    const [bad, good] = await Promise.all([
      runExiting(name('observe-yes'), 0, ['mon.observe=yes', CLEANUP, `checker.policy-test=${P}`]),
      runExiting(name('observe-1'), 0, [OBSERVE, CLEANUP, `checker.policy-test=${P}`]),
    ]);
    ids.push(bad, good);
    const warning = await listener!.waitForLine(
      (l) => l.level === 'WARNING' && l.tool === 'listener' && l.id === bad,
      { what: `a warning about ${name('observe-yes')}` },
    );
    expect(warning).toMatchObject({ container: name('observe-yes'), label: 'mon.observe', value: 'yes' });
    expect(warning.msg).toContain('mon.observe');
    expect(warning.msg).toContain('yes');
    expect(warning.msg).toMatch(/\b1\b.*\b0\b.*\btrue\b.*\bfalse\b/);

    await waitFor(async () => !(await containerFacts(good)).exists, {
      timeoutMs: 15_000,
      what: 'the mon.observe=1 twin to be removed',
    });
    await sleep(3 * INTERVAL_MS + 500);
    expect(await containerFacts(bad)).toMatchObject({ exists: true, status: 'exited', exitCode: 0 });
    expect(listener!.lines.filter(isAction('remove', bad))).toEqual([]);
    expect(listener!.lines.filter((l) => l.level === 'WARNING' && l.id === bad)).toHaveLength(1);
  }, 40_000);
});
