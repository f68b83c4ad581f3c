// SPEC §2 and §6, a sidecar that cannot be created (issue 9: any Docker 404 counted as
// "container removed", so a sidecar create answered "No such image" made `check` say "no such
// container" (exit 3) and the monitor exit 0 as if its container were gone). A Docker proxy of
// the test's own answers every container create with Docker's 404 for a missing image; the
// target itself is there and running. `check` must give the unhealthy verdict with the reason,
// and a monitor must go on checking, without a record.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { expectStatus } from '../check/fixtures.js';
import { delay, monitorFlags, serviceKey, storedKey, test } from '../monitor/support.js';
import { buildToolsIfMissing, runTool } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { type FaultProxy, pass, startFaultProxy } from '../support/fault-proxy.js';
import { uniqueName } from '../support/images.js';

let etcd: TestEtcd;
let proxy: FaultProxy;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
  // Only the tools talk to this proxy; the test's own containers are made on the real socket.
  proxy = await startFaultProxy((method, path) =>
    method === 'POST' && path.startsWith('/containers/create')
      ? { kind: 'answer', status: 404, body: { message: 'No such image: sha256:0123456789ab' } }
      : pass,
  );
});

afterAll(async () => {
  await proxy?.close();
  await etcd?.cleanup();
});

const creates = () =>
  proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('/containers/create'));

describe('a sidecar create answered with 404 "No such image"', () => {
  test('check: exit 1 (unhealthy) with the reason, not 3 (no such container)', async ({ made }) => {
    const name = uniqueName('faults-404');
    await made.sleeper(['--name', name, '-e', 'HEALTHCHECK=true']);
    const before = creates().length;
    const r = await runTool('check', ['--control', proxy.control, name], { timeoutMs: 50_000 });

    expectStatus(r, 1);
    expect(r.stdout + r.stderr).toContain('No such image');
    expect(r.stdout + r.stderr).not.toMatch(/no such container/i);
    expect(creates().length).toBeGreaterThan(before);
  });

  test('monitor: keeps running and checking, and never registers the key', async ({ made }) => {
    const id = await made.sleeper(['--name', uniqueName('faults-404-mon'), '-e', 'HEALTHCHECK=true']);
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    const before = creates().length;
    const monitor = made.monitor(monitorFlags(etcd, '--control', proxy.control, '--period', '1', id));
    await monitor.waitForLog((line) => line.msg === 'monitoring', { what: 'the monitor to start' });
    await delay(6_000);

    expect(monitor.running(), `the monitor exited:\n${monitor.tail()}`).toBe(true);
    // It went on checking: one refused sidecar create per period.
    expect(creates().length - before).toBeGreaterThanOrEqual(3);
    expect(watch.puts()).toEqual([]);
    expect(await storedKey(etcd, key)).toBeUndefined();
    expect(monitor.tail(50)).toContain('No such image');
  });
});
