// The network policy (SPEC §1 mon.checks.network=1, issue 11) through the real listener and the
// real daemon: D runs with `--network container:X`, and X serves a file with busybox httpd on
// 127.0.0.1:8080, which only a process in X's network namespace can reach. When X restarts, its
// namespace dies and D is left in the dead one; the listener restarts D once X runs again, so D
// reaches X on loopback again. Shown for a restart of X by a person and by the listener's own
// health policy, with a control dependent without the label that stays cut off. A D whose X is
// removed is left alone, with a warning naming D.
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
  labelArgs,
  type PolicyListener,
  recordDockerEvents,
  removeAll,
  sleep,
  startPolicyListener,
  testPrefix,
  timeOf,
  waitForDockerEvent,
} from '../support/policy-listener.js';

const P = testPrefix();
const INTERVAL_MS = 1000;
const PAGE = 'served from the network container';
const URL = 'http://127.0.0.1:8080/index.html';
/** X: the page on loopback only; healthy while /tmp/fail does not exist (each run starts healthy). */
const SERVER = [
  'sh',
  '-c',
  `rm -f /tmp/fail; mkdir -p /www /tmp; echo '${PAGE}' > /www/index.html; exec httpd -f -p 127.0.0.1:8080 -h /www`,
];
const DEPENDENT = ['mon.observe=1', 'mon.checks.network=1'];
const STOPPING = ['kill', 'stop', 'die', 'restart'];

const name = (what: string) => `${P}${what}`;
const id: Record<'x' | 'd' | 'control' | 'gone' | 'orphan', string> = {
  x: '',
  d: '',
  control: '',
  gone: '',
  orphan: '',
};

let etcd: TestEtcd | undefined;
let listener: PolicyListener | undefined;
let events: DockerEventRecorder | undefined;

async function run(key: keyof typeof id, args: string[], command: string[]) {
  id[key] = await runContainer([
    '--name',
    name(key),
    '--label',
    `checker.policy-test=${P}`,
    ...args,
    TEST_IMAGE,
    ...command,
  ]);
}

/** What `wget` of X's page on loopback gives inside the container. */
const fetchPage = (containerId: string) => dockerExec(containerId, ['wget', '-q', '-O-', URL]);

const dependentRestarts = (containerId: string) =>
  listener!.lines.filter(
    (l) => isAction('restart', containerId)(l) && l.msg === 'restarting a network dependent',
  );

/** D restarted by the listener after `afterMs`, running again and able to fetch X's page. */
async function expectRejoined(afterMs: number, restartsSoFar: number) {
  const notice = await listener!.waitForLine(
    (l) => isAction('restart', id.d)(l) && timeOf(l) >= afterMs - 5,
    { timeoutMs: 20_000, what: `a restart of ${name('d')}` },
  );
  expect(notice).toMatchObject({
    container: name('d'),
    msg: 'restarting a network dependent',
    networkContainer: id.x,
  });
  // Docker's own record: D's restart began after X's new run started, and D runs again.
  const xStart = events!
    .of(id.x, ['start'])
    .filter((e) => e.timeMs >= afterMs - 5)
    .at(0);
  expect(xStart, 'X started again').toBeDefined();
  const dRestart = await waitForDockerEvent(events!, id.d, ['restart'], {
    afterMs: xStart!.timeMs,
    what: `Docker's restart event of ${name('d')}`,
  });
  expect(
    events!.of(id.d, ['kill']).find((e) => e.timeMs > xStart!.timeMs && e.timeMs < dRestart.timeMs),
  ).toBeDefined();
  const page = await fetchPage(id.d);
  expect(page.stderr).toBe('');
  expect(page).toMatchObject({ code: 0, stdout: `${PAGE}\n` });

  // Once: a few sweeps later there is no second restart for this start of X.
  await sleep(3 * INTERVAL_MS + 500);
  expect(events!.of(id.d, ['restart'])).toHaveLength(restartsSoFar);
  expect(dependentRestarts(id.d)).toHaveLength(restartsSoFar);
  expect((await containerFacts(id.d)).status).toBe('running');
}

describe('network policy: dependents rejoin their network container (listener, real Docker)', () => {
  beforeAll(async () => {
    await ensureTestImage();
    etcd = await startEtcd();
    listener = startPolicyListener([
      '--loglevel',
      'DEBUG',
      '--prefix',
      P,
      '--interval',
      String(INTERVAL_MS),
      '--etcd-host',
      etcd.hosts,
    ]);
    await listener.waitForLine(isListening, { what: 'that it listens' });
    events = recordDockerEvents(`checker.policy-test=${P}`);
    await Promise.all([
      run(
        'x',
        [
          ...labelArgs(['mon.observe=1', 'mon.checks.health=1', 'mon.checks.health.timeout=1000']),
          ...['--health-cmd', 'test ! -e /tmp/fail', '--health-interval', '1s', '--health-retries', '1'],
        ],
        SERVER,
      ),
      run('gone', [], ['sleep', '600']),
    ]);
    await Promise.all([
      run('d', [...labelArgs(DEPENDENT), '--network', `container:${id.x}`], ['sleep', '600']),
      // The same, without the label: what every dependent went through before issue 11.
      run('control', ['--network', `container:${id.x}`], ['sleep', '600']),
      run('orphan', [...labelArgs(DEPENDENT), '--network', `container:${id.gone}`], ['sleep', '600']),
    ]);
    await waitFor(async () => (await fetchPage(id.d)).code === 0, {
      timeoutMs: 10_000,
      what: "X's page from D",
    });
  });

  afterAll(async () => {
    await listener?.stop();
    await events?.stop();
    // Dependents first, then the containers whose network they share.
    await removeAll([id.d, id.control, id.orphan]);
    await removeAll([id.x, id.gone]);
    await etcd?.cleanup();
  });

  it('X restarted by a person (docker restart): D is restarted once, and reaches X on loopback again', async () => {
    expect((await fetchPage(id.control)).code).toBe(0);
    const before = Date.now();
    await dockerOk(['restart', '-t', '1', id.x], { timeoutMs: 30_000 });
    await expectRejoined(before, 1);
    // Without the label, a dependent is left in the dead namespace: nothing listens there.
    const cutOff = await fetchPage(id.control);
    expect(cutOff.code).not.toBe(0);
    expect(cutOff.stderr).toMatch(/refused/i);
  }, 60_000);

  it("X restarted by the listener's health policy: D is restarted once more, and reaches X again", async () => {
    const before = Date.now();
    const made = await dockerExec(id.x, ['touch', '/tmp/fail']);
    expect(made.code, made.stderr).toBe(0);
    const healthRestart = await listener!.waitForLine(
      (l) => isAction('restart', id.x)(l) && timeOf(l) >= before,
      { timeoutMs: 20_000, what: `a health restart of ${name('x')}` },
    );
    expect(healthRestart).toMatchObject({ msg: 'restarting unhealthy container' });
    await expectRejoined(before, 2);
  }, 60_000);

  it('leaves a dependent whose network container was removed alone, with one warning naming it', async () => {
    const startedAt = (await containerFacts(id.orphan)).startedAt;
    const before = Date.now();
    await dockerOk(['rm', '-f', id.gone], { timeoutMs: 30_000 });
    const warning = await listener!.waitForLine(
      (l) => l.level === 'WARNING' && l.tool === 'listener' && l.id === id.orphan,
      { what: `a warning about ${name('orphan')}` },
    );
    expect(timeOf(warning)).toBeGreaterThanOrEqual(before - 5);
    expect(warning.container).toBe(name('orphan'));
    expect(warning.msg).toMatch(/gone/);
    expect(warning.msg).toContain(id.gone);

    // Several sweeps later: still the same run, never touched, warned about once.
    await sleep(4 * INTERVAL_MS);
    expect(await containerFacts(id.orphan)).toMatchObject({ status: 'running', startedAt });
    expect(events!.of(id.orphan, STOPPING)).toEqual([]);
    expect(listener!.lines.filter((l) => l.level === 'WARNING' && l.id === id.orphan)).toHaveLength(1);
    expect(listener!.lines.filter(isAction('restart', id.orphan))).toEqual([]);
  }, 40_000);
});
