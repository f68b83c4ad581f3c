// The listener's observability end to end (SPEC §4 Observability, Notifications; issue 10): the
// built listener with `--metrics 127.0.0.1:0` (it logs the bound address as `metrics listening`)
// and `--notify` pointing at a loopback receiver the test owns, against the host's Docker daemon,
// a second daemon the test owns (for /healthz), and etcd processes of its own.
//   - /status lists exactly the running containers of the listener's --prefix, with the monitor
//     pids the process table shows and the record keys etcd holds; /metrics (parsed by a
//     Prometheus text parser) counts the same monitors and records, and the checks made;
//   - /healthz is 200 while the listener runs normally, 503 while the daemon it watches is
//     stopped, and 200 again once the daemon is back;
//   - a restart, a removal and a give-up are each posted once, with the container's name, id,
//     image, the reason, the health output, the host and the time; a second restart within the
//     minute is not posted but counted as dropped.
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { StatusDocument } from '../../packages/core/src/listener/observability/index.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import {
  docker,
  ensureTestImage,
  removeContainers,
  runContainer,
  TEST_IMAGE,
  waitFor,
} from '../support/images.js';
import { monitoredContainer, processInfo } from '../support/listener-process.js';
import {
  isAction,
  isListening,
  labelArgs,
  type PolicyListener,
  removeAll,
  runExiting,
  startPolicyListener,
  testPrefix,
  timeOf,
} from '../support/policy-listener.js';
import { type SecondDockerd, startSecondDockerd } from '../support/second-dockerd.js';
import { get, sample, scrape } from './scrape.js';
import { startWebhook, type Webhook } from './webhook.js';

/** Starts the built listener with --metrics on any free loopback port; resolves once it listens. */
async function startWithMetrics(args: string[]): Promise<{ listener: PolicyListener; base: string }> {
  const listener = startPolicyListener(['--loglevel', 'DEBUG', '--metrics', '127.0.0.1:0', ...args]);
  const line = await listener.waitForLine((l) => l.tool === 'listener' && l.msg === 'metrics listening', {
    what: 'the address --metrics is served on',
  });
  expect(line.address).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
  await listener.waitForLine(isListening, { what: 'that it listens to Docker events' });
  return { listener, base: `http://${line.address}` };
}

async function statusOf(base: string): Promise<StatusDocument> {
  const { status, body } = await get(base, '/status');
  expect(status).toBe(200);
  return JSON.parse(body) as StatusDocument;
}

async function healthOf(base: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, body } = await get(base, '/healthz');
  return { status, body: JSON.parse(body) };
}

/** Full ids of the running containers whose name starts with `prefix`, per `docker ps`. */
async function runningWithPrefix(prefix: string, cli = docker): Promise<string[]> {
  const r = await cli(['ps', '-q', '--no-trunc', '--filter', `name=^/${prefix}`]);
  return r.stdout.split('\n').filter(Boolean).sort();
}

const sorted = (ids: Iterable<string>) => [...ids].sort();

describe('/status, /metrics and /healthz of the real listener', () => {
  const P = testPrefix();
  const etcdPrefix = `/${P.slice(0, -1)}`;
  const ids: string[] = [];
  let outsider: string | undefined;
  let etcd: TestEtcd | undefined;
  let listener: PolicyListener | undefined;
  let base = '';
  let startedAt = 0;

  beforeAll(async () => {
    await ensureTestImage();
    etcd = await startEtcd();
    startedAt = Date.now();
    ({ listener, base } = await startWithMetrics([
      '--prefix',
      P,
      '--interval',
      '1000',
      '--etcd-host',
      etcd.hosts,
      '--etcd-prefix',
      etcdPrefix,
    ]));
    for (const suffix of ['a', 'b'])
      ids.push(await runContainer(['--name', `${P}${suffix}`, TEST_IMAGE, 'sleep', '600']));
    // Not the listener's business: its name does not start with the prefix.
    outsider = await runContainer(['--name', `zz-${P}outside`, TEST_IMAGE, 'sleep', '600']);
  });

  afterAll(async () => {
    await listener?.stop();
    await removeContainers([...ids, outsider]);
    await etcd?.cleanup();
  });

  it('/status lists exactly the running containers of its --prefix, with their monitors, verdicts and records', async () => {
    onTestFailed(() =>
      console.error(
        listener!.lines
          .slice(-30)
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ),
    );
    const doc = await waitFor(
      async () => {
        const d = await statusOf(base);
        return d.containers.length === 2 && d.containers.every((c) => c.registered && c.lastVerdict)
          ? d
          : undefined;
      },
      { timeoutMs: 20_000, what: 'both containers registered in /status' },
    );
    expect(sorted(doc.containers.map((c) => c.id))).toEqual(await runningWithPrefix(P));
    expect(doc.containers.map((c) => c.name)).toEqual([`${P}a`, `${P}b`]);
    expect(doc).toMatchObject({ host: hostname(), eventStream: 'up' });
    for (const c of doc.containers) {
      // The pid is the monitor child the process table shows for this container.
      const info = await processInfo(c.monitorPid!);
      expect(info && monitoredContainer(info), `monitor pid of ${c.name}`).toBe(c.id);
      expect(Date.parse(c.lastVerdictAt!)).toBeGreaterThanOrEqual(startedAt);
      expect(c.restarts).toBe(0);
    }
    // The record keys are those etcd holds under the listener's prefix.
    const keys = (await etcd!.ctl('get', '--prefix', '--keys-only', `${etcdPrefix}/`))
      .split('\n')
      .filter(Boolean);
    expect(sorted(keys)).toEqual(sorted(doc.containers.map((c) => c.recordKey!)));
  });

  it('/metrics counts the same monitors and records, and the checks they made', async () => {
    const { status, contentType, families } = await scrape(base);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(families, 'checker_monitors_running')).toBe(2);
    expect(sample(families, 'checker_records_registered')).toBe(2);
    const checks = ['healthy', 'unhealthy', 'no-check'].map(
      (verdict) => sample(families, 'checker_checks_total', { verdict }) ?? 0,
    );
    expect(checks.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(2);
    expect(families.get('checker_check_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(sample(families, 'checker_event_stream_up')).toBe(1);
    expect(sample(families, 'checker_last_sweep_timestamp_seconds')).toBeGreaterThanOrEqual(startedAt / 1000);
    expect(sample(families, 'checker_monitor_crashes_total')).toBe(0);
    expect(sample(families, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('/healthz is 200 while it runs normally', async () => {
    expect(await healthOf(base)).toMatchObject({
      status: 200,
      body: { status: 'ok', eventStream: 'up', problems: [] },
    });
  });

  it('a removed container leaves /status and the gauges', async () => {
    await removeContainers([ids[0]]);
    const doc = await waitFor(
      async () => {
        const d = await statusOf(base);
        return d.containers.length === 1 ? d : undefined;
      },
      { timeoutMs: 10_000, what: 'the removed container to leave /status' },
    );
    expect(doc.containers[0]!.id).toBe(ids[1]);
    const { families } = await scrape(base);
    expect(sample(families, 'checker_monitors_running')).toBe(1);
    expect(sample(families, 'checker_records_registered')).toBe(1);
  });
});

describe('/healthz follows the Docker daemon the listener watches', () => {
  let daemon: SecondDockerd | undefined;
  let etcd: TestEtcd | undefined;
  let listener: PolicyListener | undefined;

  afterAll(async () => {
    await listener?.stop().catch(() => undefined);
    await daemon?.cleanup();
    await etcd?.cleanup();
  });

  it('turns 503 while the daemon is stopped, and 200 again once it is back', async () => {
    [daemon, etcd] = await Promise.all([startSecondDockerd(), startEtcd()]);
    const P = testPrefix();
    let base: string;
    ({ listener, base } = await startWithMetrics([
      '--control',
      daemon.control,
      '--prefix',
      P,
      '--interval',
      '1000',
      '--etcd-host',
      etcd.hosts,
    ]));
    onTestFailed(() =>
      console.error(
        listener!.lines
          .slice(-30)
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ),
    );
    await waitFor(async () => (await healthOf(base)).status === 200, {
      timeoutMs: 15_000,
      what: '/healthz 200',
    });

    await daemon.stop();
    const down = await waitFor(
      async () => {
        const h = await healthOf(base);
        return h.status === 503 ? h : undefined;
      },
      { timeoutMs: 10_000, what: '/healthz 503 with the daemon stopped' },
    );
    expect(down.body).toMatchObject({ status: 'unhealthy', eventStream: 'down' });
    expect((down.body.problems as string[]).join(' ')).toMatch(/event stream is down/);
    expect(sample((await scrape(base)).families, 'checker_event_stream_up')).toBe(0);

    await daemon.start();
    await waitFor(async () => (await healthOf(base)).status === 200, {
      timeoutMs: 30_000,
      what: '/healthz 200 again with the daemon back',
    });
    expect(
      sample((await scrape(base)).families, 'checker_event_stream_reconnects_total'),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('--notify: webhooks for policy actions from the real listener', () => {
  const P = testPrefix();
  const HEALTH_OUTPUT = 'no /tmp/ok yet';
  /** Docker's health check fails every second, saying why: unhealthy from the first probe on. */
  const UNHEALTHY = [
    '--health-cmd',
    `test -f /tmp/ok || { echo '${HEALTH_OUTPUT}'; exit 1; }`,
    '--health-interval',
    '1s',
    '--health-retries',
    '1',
  ];
  const HEALS = ['mon.observe=1', 'mon.checks.health=1', 'mon.checks.health.timeout=1000'];
  const id: Record<'restarted' | 'limited' | 'removed', string> = { restarted: '', limited: '', removed: '' };
  let etcd: TestEtcd | undefined;
  let webhook: Webhook | undefined;
  let listener: PolicyListener | undefined;
  let base = '';
  let t0 = 0;

  beforeAll(async () => {
    await ensureTestImage();
    [etcd, webhook] = await Promise.all([startEtcd(), startWebhook('/hooks/checker')]);
    ({ listener, base } = await startWithMetrics([
      '--prefix',
      P,
      '--interval',
      '1000',
      '--etcd-host',
      etcd.hosts,
      '--notify',
      webhook.url,
    ]));
    t0 = Date.now();
    const unhealthy = (name: string, labels: string[]) =>
      runContainer(['--name', `${P}${name}`, ...labelArgs(labels), ...UNHEALTHY, TEST_IMAGE, 'sleep', '600']);
    [id.restarted, id.limited, id.removed] = await Promise.all([
      unhealthy('restarted', HEALS),
      unhealthy('limited', [...HEALS, 'mon.checks.health.limit=1']),
      runExiting(`${P}removed`, 0, ['mon.observe=1', 'mon.checks.cleanup=1'], [], 1),
    ]);
  });

  afterAll(async () => {
    await listener?.stop();
    await removeAll(Object.values(id));
    await webhook?.close();
    await etcd?.cleanup();
  });

  /** The first delivery about `container` of `kind`, once it arrived. */
  const delivered = (container: string, kind: 'restart' | 'remove' | 'gave-up', timeoutMs = 20_000) =>
    waitFor(() => webhook!.about(container, kind)[0], {
      timeoutMs,
      what: `a ${kind} webhook for ${container}`,
    });

  it('posts a restart with the container’s name, id, image, the reason, its health output, the host and the time', async () => {
    onTestFailed(() =>
      console.error(
        listener!.lines
          .slice(-30)
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ),
    );
    const d = await delivered(id.restarted, 'restart');
    expect(d).toMatchObject({ method: 'POST', path: '/hooks/checker', contentType: 'application/json' });
    expect(d.body).toMatchObject({
      kind: 'restart',
      container: { id: id.restarted, name: `${P}restarted`, image: TEST_IMAGE },
      reason: expect.any(String),
      host: hostname(),
      source: 'checker-listener',
      dropped: 0,
    });
    expect(d.body.healthOutput).toContain(HEALTH_OUTPUT);
    expect(Date.parse(d.body.time)).toBeGreaterThanOrEqual(t0);
    expect(Date.parse(d.body.time)).toBeLessThanOrEqual(d.at);
    // Posted for the restart the listener logged (the post may reach us before its log line).
    await listener!.waitForLine(isAction('restart', id.restarted), { what: 'the restart NOTICE' });
  });

  it('posts a removal of a cleanly exited container', async () => {
    const d = await delivered(id.removed, 'remove');
    expect(d.body).toMatchObject({
      kind: 'remove',
      container: { id: id.removed, name: `${P}removed`, image: TEST_IMAGE },
      host: hostname(),
    });
    await listener!.waitForLine(isAction('remove', id.removed), { what: 'the remove NOTICE' });
    expect(listener!.lines.filter(isAction('remove', id.removed))).toHaveLength(1);
  });

  it('posts a give-up once the hourly restart limit is spent', async () => {
    const d = await delivered(id.limited, 'gave-up', 30_000);
    expect(d.body).toMatchObject({
      kind: 'gave-up',
      container: { id: id.limited, name: `${P}limited`, image: TEST_IMAGE },
      reason: expect.stringContaining('mon.checks.health.limit=1'),
    });
    // Its one restart was posted too: the limit is per container and kind.
    expect(webhook!.about(id.limited, 'restart')).toHaveLength(1);
  });

  it('does not post a second restart within the minute, and counts it as dropped', async () => {
    const restarts = await waitFor(
      () => {
        const lines = listener!.lines.filter(isAction('restart', id.restarted));
        return lines.length >= 2 ? lines : undefined;
      },
      { timeoutMs: 45_000, what: `a second restart of ${P}restarted (10 s backoff)` },
    );
    expect(timeOf(restarts[1]!) - timeOf(restarts[0]!)).toBeLessThan(60_000);
    // Time for a (wrongly) posted second notification to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(webhook!.about(id.restarted, 'restart')).toHaveLength(1);
    const { families } = await scrape(base);
    expect(
      sample(families, 'checker_notifications_dropped_total', { kind: 'restart' }),
    ).toBeGreaterThanOrEqual(1);
    // One restart posted for each of the two containers.
    expect(sample(families, 'checker_notifications_total', { kind: 'restart', outcome: 'delivered' })).toBe(
      2,
    );
    expect(sample(families, 'checker_notifications_total', { kind: 'remove', outcome: 'delivered' })).toBe(1);
    expect(sample(families, 'checker_notifications_total', { kind: 'gave-up', outcome: 'delivered' })).toBe(
      1,
    );
    expect(sample(families, 'checker_restarts_total', { reason: 'unhealthy' })).toBeGreaterThanOrEqual(3);
    expect(sample(families, 'checker_removals_total', { reason: 'exited' })).toBe(1);
    expect(sample(families, 'checker_restarts_given_up_total')).toBe(1);
    // /status counts the policy's restarts of each container.
    // (Listed again once the restart brought it a new monitor: notifications go out as a
    // restart begins, and a container being restarted is between monitors.)
    const restartedEntry = await waitFor(
      async () => (await statusOf(base)).containers.find((c) => c.id === id.restarted && c.restarts >= 2),
      { timeoutMs: 20_000, what: `${P}restarted listed again in /status with its 2 restarts` },
    );
    expect(restartedEntry.restarts).toBeGreaterThanOrEqual(2);
  });
});
