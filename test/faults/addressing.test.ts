// SPEC §3 and §6, network modes a record cannot take at face value (issue 9): a container on
// the host network is reached at the host's advertised address (--host-ip), not at a loopback
// every remote consumer would take for its own; a container with `--network none` is reachable
// by nobody, so it gets no record, and its monitor says why once (a NOTICE), not every period.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { delay, monitorFlags, serviceKey, storedKey, test, whenKey } from '../monitor/support.js';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { uniqueName } from '../support/images.js';

let etcd: TestEtcd;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.cleanup();
});

describe.concurrent('monitor: records of containers outside a bridge network', () => {
  test('a container on the host network is registered with IP = the host address given by --host-ip', async ({
    made,
  }) => {
    const name = uniqueName('faults-hostnet');
    const id = await made.sleeper(['--name', name, '--network', 'host', '-e', 'HEALTHCHECK=true']);
    const key = serviceKey(id);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '2', '--host-ip', '10.9.8.7', id));
    await whenKey(etcd, key, 'present', { monitor, timeoutMs: 20_000 });

    const value = JSON.parse((await storedKey(etcd, key))!.value) as { IP: string; Name: string };
    expect(value).toEqual({ IP: '10.9.8.7', Name: `/${name}`, Ports: [] });
  });

  test('a container with --network none gets no record, and one NOTICE says why', async ({ made }) => {
    const id = await made.sleeper(['--name', uniqueName('faults-nonet'), '--network', 'none']);
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '1', id));
    await monitor.waitForLog((line) => line.msg === 'monitoring', { what: 'the monitor to start' });
    // Five periods: five healthy checks, none of which may write the key or repeat the notice.
    await delay(5_500);

    expect(monitor.running(), monitor.tail()).toBe(true);
    expect(watch.puts()).toEqual([]);
    expect(await storedKey(etcd, key)).toBeUndefined();
    const notices = monitor.lines.filter((line) => line.level === 'NOTICE');
    expect(notices, monitor.tail()).toHaveLength(1);
    expect(notices[0]!.msg).toMatch(/--network none/);
    expect(notices[0]!.msg).toMatch(/no service record/);
  });
});
