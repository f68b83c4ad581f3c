// docker-mon's health policy through the real listener and the real daemon (SPEC §1 labels, §4):
// a running container Docker reports unhealthy is restarted when it has mon.observe=1 and
// mon.checks.health=1, at once the first time and then spaced 10 s, 20 s, …; the labels, the
// --prefix (given here with its leading /) and an unparsable stop timeout are honoured.
// One listener and one etcd for the file; the containers never heal (/tmp/ok never exists), so
// they are all unhealthy a second or two after they start, at the same time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { ensureTestImage, runContainer, TEST_IMAGE, waitFor } from '../support/images.js';
import {
  containerFacts,
  type DockerEventRecorder,
  isAction,
  isListening,
  labelArgs,
  type PolicyListener,
  recordDockerEvents,
  removeAll,
  startPolicyListener,
  testPrefix,
  timeOf,
} from '../support/policy-listener.js';

const P = testPrefix();
const HEALTH_OUTPUT = 'no /tmp/ok yet';
/** Docker's health check: fails every second, saying why, from the first check on. */
const UNHEALTHY = [
  '--health-cmd',
  `test -f /tmp/ok || { echo '${HEALTH_OUTPUT}'; exit 1; }`,
  '--health-interval',
  '1s',
  '--health-retries',
  '1',
];
const OBSERVE = 'mon.observe=1';
const HEALTH = 'mon.checks.health=1';
const TIMEOUT_1S = 'mon.checks.health.timeout=1000';

interface Subject {
  name: string;
  labels: string[];
  id?: string;
  startedAt?: string;
}

const subjects: Record<'opted' | 'noHealthLabel' | 'noObserveLabel' | 'badTimeout' | 'outside', Subject> = {
  /** everything right: restarted */
  opted: { name: `${P}opted-in`, labels: [OBSERVE, HEALTH, TIMEOUT_1S] },
  /** unhealthy, observed, but the health policy is off */
  noHealthLabel: { name: `${P}no-health-label`, labels: [OBSERVE, TIMEOUT_1S] },
  /** unhealthy, asks for the health policy, but is not observed */
  noObserveLabel: { name: `${P}no-observe-label`, labels: [HEALTH, TIMEOUT_1S] },
  /** opted in, but its stop timeout does not parse: warned about, default 10 s used */
  badTimeout: { name: `${P}bad-timeout`, labels: [OBSERVE, HEALTH, 'mon.checks.health.timeout=soon'] },
  /** opted in, but its name contains the prefix without starting with it */
  outside: { name: `zz-${P}outside`, labels: [OBSERVE, HEALTH, TIMEOUT_1S] },
};

let etcd: TestEtcd | undefined;
let listener: PolicyListener | undefined;
let events: DockerEventRecorder | undefined;
/** when the containers were started */
let t0 = 0;

const idOf = (s: Subject) => s.id!;

/** Unhealthy for a while, and still exactly as started: never restarted, stopped or killed. */
async function expectLeftAlone(subject: Subject) {
  const facts = await containerFacts(idOf(subject));
  expect(facts).toMatchObject({ exists: true, status: 'running', health: 'unhealthy' });
  expect(facts.startedAt).toBe(subject.startedAt);
  expect(events!.of(idOf(subject), ['restart', 'kill', 'stop', 'die'])).toEqual([]);
  // …while Docker did report it unhealthy.
  expect(events!.of(idOf(subject), ['health_status: unhealthy']).length).toBeGreaterThan(0);
  expect(
    listener!.lines.filter((l) => l.tool === 'listener' && l['action'] !== undefined && l.id === subject.id),
  ).toEqual([]);
}

describe('health policy: restart unhealthy containers (listener, real Docker)', () => {
  beforeAll(async () => {
    await ensureTestImage();
    etcd = await startEtcd();
    listener = startPolicyListener([
      '--loglevel',
      'DEBUG',
      '--prefix',
      `/${P}`,
      '--interval',
      '1000',
      '--etcd-host',
      etcd.hosts,
    ]);
    await listener.waitForLine(isListening, { what: 'that it listens' });
    t0 = Date.now();
    events = recordDockerEvents(`checker.policy-test=${P}`);
    await Promise.all(
      Object.values(subjects).map(async (s: Subject) => {
        s.id = await runContainer([
          '--name',
          s.name,
          '--label',
          `checker.policy-test=${P}`,
          ...labelArgs(s.labels),
          ...UNHEALTHY,
          TEST_IMAGE,
          'sleep',
          '600',
        ]);
        s.startedAt = (await containerFacts(s.id)).startedAt;
      }),
    );
  });

  afterAll(async () => {
    await listener?.stop();
    await events?.stop();
    await removeAll(Object.values(subjects).map((s: Subject) => s.id));
    await etcd?.cleanup();
  });

  it('restarts an unhealthy container labelled mon.observe=1 mon.checks.health=1 at once, logging why', async () => {
    const s: Subject = subjects.opted;
    const notice = await listener!.waitForLine(isAction('restart', idOf(s)), {
      timeoutMs: 20_000,
      what: `a restart of ${s.name}`,
    });
    expect(notice).toMatchObject({
      level: 'NOTICE',
      tool: 'listener',
      container: s.name,
      action: 'restart',
      attempt: 1,
      reason: 'unhealthy',
      healthOutput: HEALTH_OUTPUT,
      stopTimeoutMs: 1000,
    });

    // Docker started it again (RestartCount counts only restarts by the restart policy, so
    // StartedAt is what a `docker restart` changes).
    await waitFor(async () => (await containerFacts(idOf(s))).startedAt !== s.startedAt, {
      timeoutMs: 10_000,
      what: `${s.name} to be started again`,
    });

    // "At once": right after Docker's own unhealthy event, not at a later sweep or backoff.
    const unhealthy = events!.of(idOf(s), ['health_status: unhealthy'])[0];
    expect(unhealthy, 'Docker reported it unhealthy').toBeDefined();
    const delay = timeOf(notice) - unhealthy!.timeMs;
    expect(delay).toBeGreaterThan(-50);
    expect(delay).toBeLessThan(2000);
  });

  it('warns about an unparsable mon.checks.health.timeout, naming container and label, and restarts with the default 10 s', async () => {
    const s: Subject = subjects.badTimeout;
    const warning = await listener!.waitForLine(
      (l) => l.level === 'WARNING' && l.tool === 'listener' && l['label'] === 'mon.checks.health.timeout',
      { timeoutMs: 20_000, what: 'a warning about mon.checks.health.timeout' },
    );
    expect(warning).toMatchObject({ container: s.name, id: s.id, value: 'soon' });
    expect(warning.msg).toMatch(/mon\.checks\.health\.timeout.*soon.*default 10000/);

    const notice = await listener!.waitForLine(isAction('restart', idOf(s)), {
      timeoutMs: 20_000,
      what: `a restart of ${s.name}`,
    });
    expect(notice).toMatchObject({ container: s.name, stopTimeoutMs: 10_000, attempt: 1 });
  });

  it('restarts a container that stays unhealthy with growing gaps (10 s, then 20 s), not in a loop', async () => {
    const s: Subject = subjects.opted;
    const first = await listener!.waitForLine(isAction('restart', idOf(s)), { timeoutMs: 20_000 });
    const firstAt = timeOf(first);
    // The third restart is due 30 s after the first; look a little past it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstAt + 32_000 - Date.now())));

    const notices = listener!.lines.filter(isAction('restart', idOf(s)));
    const times = notices.map(timeOf);
    expect(notices.map((n) => n['attempt'])).toEqual([1, 2, 3]);
    const inFirst25s = times.filter((t) => t < firstAt + 25_000);
    expect(inFirst25s.length).toBeGreaterThanOrEqual(2);
    expect(inFirst25s.length).toBeLessThanOrEqual(3);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Restarts are due exactly 10 s and 20 s after the previous one (log times have ms
    // resolution); they come at most a sweep late.
    expect(gaps[0]).toBeGreaterThanOrEqual(9_990);
    expect(gaps[0]).toBeLessThan(12_000);
    expect(gaps[1]).toBeGreaterThanOrEqual(19_990);
    expect(gaps[1]).toBeLessThan(22_000);

    // Docker's own record agrees: one restart per NOTICE, no others, each completed (stop with
    // the 1 s timeout, start) shortly after its NOTICE. (On a busy host the third may still be
    // under way: wait for its event, within the bound below.)
    await waitFor(() => events!.of(idOf(s), ['restart']).length >= 3, {
      timeoutMs: Math.max(1000, times[2]! + 5_000 - Date.now()),
      what: 'the third restart event',
    }).catch(() => undefined);
    const restarts = events!.of(idOf(s), ['restart']).map((e) => e.timeMs);
    expect(restarts).toHaveLength(3);
    restarts.forEach((doneAt, i) => {
      expect(doneAt - times[i]!).toBeGreaterThanOrEqual(0);
      expect(doneAt - times[i]!).toBeLessThan(5_000);
    });
  }, 60_000);

  it('leaves unhealthy containers lacking mon.checks.health=1 or mon.observe=1 running, never restarted', async () => {
    // They have been unhealthy as long as the restarted one (also when run on its own).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + 25_000 - Date.now())));
    await expectLeftAlone(subjects.noHealthLabel);
    await expectLeftAlone(subjects.noObserveLabel);
  }, 40_000);

  it('--prefix given as /pt-…-: leaves an opted-in unhealthy container whose name does not start with it alone', async () => {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + 25_000 - Date.now())));
    await expectLeftAlone(subjects.outside);
    // Not even a monitor, nor a line about it.
    expect(
      listener!.lines.filter((l) => l.id === subjects.outside.id || l.container === subjects.outside.id),
    ).toEqual([]);
  }, 40_000);
});
