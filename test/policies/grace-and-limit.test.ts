// The health policy's grace and hourly limit (SPEC §1 mon.checks.health.grace and .limit, issue
// 11) through the real listener and the real daemon, timed with Docker's own event times:
// - grace 6 s: a container Docker reports unhealthy is not restarted before it has been unhealthy
//   for 6 s, and is restarted then; one that heals 2 s into its grace is never restarted;
// - limit 2: a container that never heals is restarted twice (the backoff spaces them 10 s
//   apart), then one CRITICAL line names it and it is not restarted again, not even once the
//   backoff would have allowed the third; after someone else restarts it, the listener restarts
//   it again when it is unhealthy.
// One listener and one etcd for the file; the three containers run side by side from the start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import {
  type DockerResult,
  dockerOk,
  ensureTestImage,
  runContainer,
  TEST_IMAGE,
  waitFor,
} from '../support/images.js';
import {
  containerFacts,
  type DockerEvent,
  type DockerEventRecorder,
  dockerExec,
  isAction,
  isListening,
  type LogLine,
  labelArgs,
  type PolicyListener,
  recordDockerEvents,
  removeAll,
  sleepUntil,
  startPolicyListener,
  testPrefix,
  timeOf,
  waitForDockerEvent,
} from '../support/policy-listener.js';

const P = testPrefix();
const GRACE_S = 6;
const LIMIT = 2;
/** Docker's health check: fails every second until /tmp/ok exists. */
const HEALTH_CMD = ['--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '1'];
const BASE = ['mon.observe=1', 'mon.checks.health=1', 'mon.checks.health.timeout=1000'];
/** Docker's events that show a restart under way. */
const STOPPING = ['kill', 'stop', 'die', 'restart'];
const UNHEALTHY = 'health_status: unhealthy';
const HEALTHY = 'health_status: healthy';

const name = (what: string) => `${P}${what}`;
const id: Record<'late' | 'heals' | 'limited', string> = { late: '', heals: '', limited: '' };
const startedAt: Record<string, string | undefined> = {};

let etcd: TestEtcd | undefined;
let listener: PolicyListener | undefined;
let events: DockerEventRecorder | undefined;
/** The healing of `heals`, under way from the start (the tests before it take longer than its grace). */
let healing: Promise<{ unhealthy: DockerEvent; touched: DockerResult }> | undefined;

const POLICY_ACTIONS = ['restart', 'remove', 'gave-up'];
/** The listener's lines with a policy action on this container (not its monitor's register/deregister). */
const actionsOn = (containerId: string) =>
  listener!.lines.filter(
    (l) => l.tool === 'listener' && POLICY_ACTIONS.includes(String(l['action'])) && l.id === containerId,
  );

/** The listener's DEBUG line saying it waits out the grace of this container. */
const graceWait = (containerId: string) => (l: LogLine) =>
  l.tool === 'listener' && l.level === 'DEBUG' && l.id === containerId && / grace$/.test(l.msg);

describe('health policy: grace and hourly limit (listener, real Docker)', () => {
  beforeAll(async () => {
    await ensureTestImage();
    etcd = await startEtcd();
    listener = startPolicyListener([
      '--loglevel',
      'DEBUG',
      '--prefix',
      P,
      '--interval',
      '1000',
      '--etcd-host',
      etcd.hosts,
    ]);
    await listener.waitForLine(isListening, { what: 'that it listens' });
    events = recordDockerEvents(`checker.policy-test=${P}`);
    const run = async (key: keyof typeof id, labels: string[]) => {
      id[key] = await runContainer([
        '--name',
        name(key),
        '--label',
        `checker.policy-test=${P}`,
        ...labelArgs(labels),
        ...HEALTH_CMD,
        TEST_IMAGE,
        // The image has no /tmp: made here, so that the test can heal it with `touch /tmp/ok`.
        'sh',
        '-c',
        'mkdir -p /tmp && exec sleep 600',
      ]);
      startedAt[key] = (await containerFacts(id[key])).startedAt;
    };
    await Promise.all([
      run('late', [...BASE, `mon.checks.health.grace=${GRACE_S}`]),
      run('heals', [...BASE, `mon.checks.health.grace=${GRACE_S}`]),
      run('limited', [...BASE, `mon.checks.health.limit=${LIMIT}`]),
    ]);
    healing = (async () => {
      const unhealthy = await waitForDockerEvent(events!, id.heals, [UNHEALTHY], { timeoutMs: 20_000 });
      await sleepUntil(unhealthy.timeMs + 2_000);
      return { unhealthy, touched: await dockerExec(id.heals, ['touch', '/tmp/ok']) };
    })();
    // Awaited by its test; a failure here must not go unhandled meanwhile.
    healing.catch(() => undefined);
  });

  afterAll(async () => {
    await listener?.stop();
    await events?.stop();
    await removeAll(Object.values(id));
    await etcd?.cleanup();
  });

  it(`grace ${GRACE_S} s: not restarted before Docker has reported it unhealthy for ${GRACE_S} s, restarted then`, async () => {
    const unhealthy = await waitForDockerEvent(events!, id.late, [UNHEALTHY], { timeoutMs: 20_000 });
    const begins = await waitForDockerEvent(events!, id.late, STOPPING, {
      afterMs: unhealthy.timeMs,
      timeoutMs: GRACE_S * 1000 + 15_000,
      what: `the restart of ${name('late')} to begin`,
    });
    // Nothing ended the unhealthy report in between (no healthy report, no other start).
    expect(
      events!
        .of(id.late, [HEALTHY, 'start'])
        .filter((e) => e.timeMs > unhealthy.timeMs && e.timeMs < begins.timeMs),
    ).toEqual([]);
    const after = begins.timeMs - unhealthy.timeMs;
    expect(
      after,
      `the restart began ${after.toFixed(0)} ms after Docker's unhealthy report`,
    ).toBeGreaterThanOrEqual(GRACE_S * 1000);
    // Then at once: the timer for the end of the grace, the drain (≤ 1 s) and the call.
    expect(after).toBeLessThan(GRACE_S * 1000 + 3_000);
    expect(begins.action).toBe('kill');

    const notice = listener!.lines.find(isAction('restart', id.late));
    expect(notice).toMatchObject({
      container: name('late'),
      attempt: 1,
      reason: 'unhealthy',
      stopTimeoutMs: 1000,
    });
    // It says since when it was unhealthy: Docker's report, to the millisecond.
    expect(Math.abs(Date.parse(String(notice!['unhealthySince'])) - unhealthy.timeMs)).toBeLessThan(1.5);
    // The listener saw the report at once and chose to wait (the delay is not a late look).
    const waited = listener!.lines.find(graceWait(id.late));
    expect(waited, `a DEBUG line about ${name('late')}'s grace`).toBeDefined();
    expect(timeOf(waited!)).toBeLessThan(unhealthy.timeMs + 2_000);
    await waitFor(async () => (await containerFacts(id.late)).startedAt !== startedAt.late, {
      timeoutMs: 10_000,
      what: `${name('late')} to run again`,
    });
  }, 40_000);

  it(`grace ${GRACE_S} s: a container that heals 2 s into its grace is never restarted`, async () => {
    const { unhealthy, touched } = await healing!;
    expect(touched.code, touched.stderr).toBe(0);
    const healthy = await waitForDockerEvent(events!, id.heals, [HEALTHY], {
      afterMs: unhealthy.timeMs,
      what: `${name('heals')} to be healthy again`,
    });
    expect(healthy.timeMs - unhealthy.timeMs).toBeLessThan(GRACE_S * 1000);

    // Watched for twice the grace after the unhealthy report: still the same run, untouched.
    await sleepUntil(unhealthy.timeMs + 2 * GRACE_S * 1000);
    expect(events!.of(id.heals, STOPPING)).toEqual([]);
    expect(await containerFacts(id.heals)).toMatchObject({
      status: 'running',
      health: 'healthy',
      startedAt: startedAt.heals,
    });
    expect(actionsOn(id.heals)).toEqual([]);
    // …although the listener saw it unhealthy and counted the grace.
    expect(listener!.lines.filter(graceWait(id.heals)).length).toBeGreaterThan(0);
  }, 40_000);

  it(`limit ${LIMIT}: ${LIMIT} restarts, one CRITICAL naming it, no more; restarted again after someone else restarts it`, async () => {
    const s = name('limited');
    const restarts = () => listener!.lines.filter(isAction('restart', id.limited));
    const criticals = () =>
      listener!.lines.filter((l) => l.tool === 'listener' && l.level === 'CRITICAL' && l.id === id.limited);

    const critical = await listener!.waitForLine((l) => l.level === 'CRITICAL' && l.id === id.limited, {
      timeoutMs: 40_000,
      what: `a CRITICAL line about ${s}`,
    });
    expect(critical).toMatchObject({
      tool: 'listener',
      container: s,
      action: 'gave-up',
      limit: LIMIT,
      restartsInHour: LIMIT,
    });
    expect(critical.msg).toContain(s);
    expect(critical.msg).toMatch(/mon\.checks\.health\.limit=2/);
    const [first, second] = restarts();
    expect(restarts().map((l) => l['attempt'])).toEqual([1, 2]);
    // The backoff spaced them; the CRITICAL came with the first unhealthy report after the second.
    expect(timeOf(second!) - timeOf(first!)).toBeGreaterThanOrEqual(9_990);
    expect(timeOf(critical)).toBeGreaterThan(timeOf(second!));

    // A third restart would have been due 20 s after the second (backoff): look past that.
    await sleepUntil(timeOf(second!) + 23_000);
    expect(restarts()).toHaveLength(LIMIT);
    expect(criticals()).toHaveLength(1);
    expect(events!.of(id.limited, ['restart'])).toHaveLength(LIMIT);
    const facts = await containerFacts(id.limited);
    expect(facts).toMatchObject({ status: 'running', health: 'unhealthy' });

    // Someone else restarts it: the budget starts over, and it is unhealthy again at once.
    const ours = Date.now();
    await dockerOk(['restart', '-t', '1', id.limited], { timeoutMs: 30_000 });
    const again = await listener!.waitForLine(
      (l) => isAction('restart', id.limited)(l) && timeOf(l) >= ours,
      {
        timeoutMs: 20_000,
        what: `a restart of ${s} after someone else's`,
      },
    );
    expect(again).toMatchObject({ container: s, attempt: LIMIT + 1 });
    const theirs = await waitForDockerEvent(events!, id.limited, ['restart'], {
      afterMs: timeOf(again),
      timeoutMs: 10_000,
      what: `Docker's restart event of the listener's restart of ${s}`,
    });
    expect(theirs.timeMs).toBeGreaterThan(ours);
    expect(criticals()).toHaveLength(1);
  }, 90_000);
});
