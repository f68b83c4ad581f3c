// SPEC §3, the record: what key and value the `monitor` process writes to a real etcd for a
// real container, on what lease, how often, and for which containers (no check, Docker's own
// health, a container started after the monitor); and SPEC §6 for its start-up errors.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { buildToolsIfMissing, runTool } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { dockerOk, TEST_IMAGE, uniqueName, waitFor } from '../support/images.js';
import {
  delay,
  dockerAt,
  dockerEventAt,
  inspectFacts,
  keysUnder,
  leaseTtl,
  monitorFlags,
  serviceKey,
  storedKey,
  test,
  whenKey,
} from './support.js';

let etcd: TestEtcd;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.cleanup();
});

describe.concurrent('monitor: the service record', () => {
  test('writes /SERVICE/busybox/<full id> with the exact compact JSON: container IP, name, published ports with their host address (0.0.0.0 → --host-ip), exposed ports', async ({
    made,
  }) => {
    const name = uniqueName('record');
    // HEALTHCHECK=true runs in the default sidecar mode, so this also proves that path.
    const id = await made.sleeper([
      '--name',
      name,
      '-e',
      'HEALTHCHECK=true',
      '-p',
      '127.0.0.1::80',
      '-p',
      '0.0.0.0::81',
      '--expose',
      '9000',
    ]);
    const facts = await inspectFacts(id);
    const hostPort = (spec: string, hostIp: string) => {
      const binding = facts.ports[spec]?.find((b) => b.HostIp === hostIp);
      if (!binding) throw new Error(`no ${hostIp} binding of ${spec} in ${JSON.stringify(facts.ports)}`);
      return Number(binding.HostPort);
    };
    const expected =
      `{"IP":"${facts.ip}","Name":"/${name}","Ports":[` +
      `{"IP":"127.0.0.1","PrivatePort":80,"PublicPort":${hostPort('80/tcp', '127.0.0.1')},"Type":"tcp"},` +
      `{"IP":"10.1.2.3","PrivatePort":81,"PublicPort":${hostPort('81/tcp', '0.0.0.0')},"Type":"tcp"},` +
      `{"IP":"","PrivatePort":0,"PublicPort":9000,"Type":"tcp"}]}`;

    const key = serviceKey(id);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--host-ip', '10.1.2.3', id));
    await whenKey(etcd, key, 'present', { monitor });

    expect((await storedKey(etcd, key))?.value).toBe(expected);
    // Nothing else of this container anywhere in etcd.
    expect((await keysUnder(etcd, '/')).filter((k) => k.includes(id))).toEqual([key]);
  });

  test('--etcd-prefix puts the key under that prefix and nowhere else; a container named by name is keyed by its full id', async ({
    made,
  }) => {
    const prefix = `/custom-${uniqueName('p')}`;
    const name = uniqueName('by-name');
    const id = await made.sleeper(['--name', name]);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--etcd-prefix', prefix, name));
    await whenKey(etcd, serviceKey(id, prefix), 'present', { monitor });
    expect((await keysUnder(etcd, '/')).filter((k) => k.includes(id))).toEqual([serviceKey(id, prefix)]);
  });

  test.for([
    { how: '--period 1', flags: ['--period', '1'], env: [], ttl: 3 },
    { how: 'HEALTHCHECKPERIOD=2', flags: [], env: ['-e', 'HEALTHCHECKPERIOD=2'], ttl: 5 },
  ])(
    'puts the key on a lease of period*2+1 seconds ($how → $ttl s)',
    async ({ flags, env, ttl }, { made }) => {
      const id = await made.sleeper(env);
      const monitor = made.monitor(monitorFlags(etcd, ...flags, id));
      const key = serviceKey(id);
      await whenKey(etcd, key, 'present', { monitor });
      const stored = await storedKey(etcd, key);
      expect(stored?.lease).not.toBe('0');
      const lease = await leaseTtl(etcd, stored!.lease);
      expect(lease.granted).toBe(ttl);
      expect(lease.remaining).toBeGreaterThan(0);
      expect(lease.remaining).toBeLessThanOrEqual(ttl);
    },
  );

  test('writes the key once while its value stays the same: watchers see one PUT over several periods, and the lease is renewed without writes', async ({
    made,
  }) => {
    // No check of its own: every period is one inspect, so a loaded host cannot stretch the
    // gap between renewals past the 3 s TTL (a slow check would; see the report on TTLs).
    const id = await made.sleeper();
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '1', '--loglevel', 'debug', id));
    const firstPut = await watch.next('put', 0, 20_000);
    // Four more checks, and longer than the 3 s TTL: the key is still there only because its
    // lease was renewed, and each check found the same value.
    const checksSince = () => monitor.lines.filter((l) => l.msg === 'checked' && l.arrivedAt > firstPut.at);
    await waitFor(() => checksSince().length >= 4 && Date.now() - firstPut.at > 4000, {
      timeoutMs: 30_000,
      what: 'four checks after the first write',
    });
    const timeline = () =>
      [
        ...watch.events.map((e) => `${e.at - firstPut.at} ms: ${e.type}`),
        ...checksSince().map((l) => `${Date.parse(l.time) - firstPut.at} ms: checked (${l.durationMs} ms)`),
      ].join('\n');
    expect(checksSince().every((l) => l.verdict === 'no-check')).toBe(true);
    expect(
      watch.events.map((e) => e.type),
      timeline(),
    ).toEqual(['put']);
    expect((await storedKey(etcd, key))?.value).toBe(firstPut.value);
  });

  test('a running container with no health check at all (no HEALTHCHECK, no Docker health) is registered', async ({
    made,
  }) => {
    const id = await made.sleeper();
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--loglevel', 'debug', id));
    await whenKey(etcd, serviceKey(id), 'present', { monitor });
    const checked = await monitor.waitForLog((l) => l.msg === 'checked');
    expect(checked.verdict).toBe('no-check');
  });

  test("a container with Docker's own health check (--health-cmd) is registered only once Docker reports it healthy", async ({
    made,
  }) => {
    const id = await made.sleeper([
      '--health-cmd',
      'test -f /ready',
      '--health-interval',
      '1s',
      '--health-retries',
      '1',
    ]);
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    // A 30 s period: the registration can only come from Docker's health_status event.
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--loglevel', 'debug', id));
    // starting, then unhealthy: checks, no write.
    await monitor.waitForLog((l) => l.msg === 'checked' && l.status === 'unhealthy', {
      timeoutMs: 20_000,
      what: 'a check seeing Docker report unhealthy',
    });
    await delay(1000);
    expect(watch.puts()).toEqual([]);
    expect(await storedKey(etcd, key)).toBeUndefined();

    const touch = await dockerAt(['exec', id, 'touch', '/ready']);
    const put = await watch.next('put', 0, 10_000);
    // Docker notices at its next 1 s probe; its health_status event makes the monitor check at once.
    const healthy = await dockerEventAt(id, 'health_status: healthy', touch.started);
    console.log(`docker health: healthy event → key written: ${put.at - healthy} ms`);
    expect(put.at - healthy).toBeLessThan(1000);
  });

  test('HEALTHCHECKPERIOD=abc logs a warning and uses the default period of 30 s (lease TTL 61 s)', async ({
    made,
  }) => {
    const id = await made.sleeper(['-e', 'HEALTHCHECKPERIOD=abc']);
    const monitor = made.monitor(monitorFlags(etcd, id));
    const key = serviceKey(id);
    await whenKey(etcd, key, 'present', { monitor });
    const warning = await monitor.waitForLog((l) => l.level === 'WARNING');
    expect(String(warning.msg)).toContain('HEALTHCHECKPERIOD="abc"');
    expect(warning.container).toBe(id);
    const started = await monitor.waitForLog((l) => l.msg === 'monitoring');
    expect(started).toMatchObject({ periodSeconds: 30, ttlSeconds: 61 });
    expect((await leaseTtl(etcd, (await storedKey(etcd, key))!.lease)).granted).toBe(61);
  });

  test('a monitor started while its container is stopped registers it within 1 s of docker start', async ({
    made,
  }) => {
    const id = await made.createdContainer([TEST_IMAGE, 'sleep', '600']);
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    // A long period: only the start event can explain a quick registration.
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', id));
    await monitor.waitForLog((l) => l.msg === 'not healthy', {
      what: 'the first check (container not running)',
    });
    expect(watch.puts()).toEqual([]);

    const before = Date.now();
    await dockerOk(['start', id]);
    const put = await watch.next('put', before, 10_000);
    const started = await dockerEventAt(id, 'start', before);
    console.log(`monitor started first: start event → key written: ${put.at - started} ms`);
    expect(put.at - started).toBeLessThan(1000);
  });

  test('an unknown container ends it with exit 3 and a one-line error on stderr', async () => {
    const missing = uniqueName('no-such-container');
    const result = await runTool('monitor', monitorFlags(etcd, missing));
    expect(result.code).toBe(3);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('no such container');
    expect(lines[0]).toContain(missing);
  });

  test('--etcd-cert without --etcd-key is a usage error: exit 2 naming the missing flag', async ({
    made,
  }) => {
    const id = await made.sleeper();
    const result = await runTool('monitor', monitorFlags(etcd, '--etcd-cert', '/etc/hostname', id));
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('--etcd-key');
    expect(await storedKey(etcd, serviceKey(id))).toBeUndefined();
  });
});
