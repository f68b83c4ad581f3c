// SPEC §3, the record's life: the `monitor` process follows its container's Docker events
// (stop, pause, removal) and its check (failing, passing again) and keeps the etcd key in step
// within a second; it removes the key and exits 0 on SIGTERM/SIGINT; killed with SIGKILL, it
// leaves the key to its lease, which expires.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { docker, dockerOk, TEST_IMAGE, uniqueName, waitFor } from '../support/images.js';
import type { MonitorExit, MonitorProcess } from '../support/monitor-process.js';
import {
  delay,
  dockerAt,
  dockerEventAt,
  eventHoldingProxy,
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

// Where a test measures how fast the monitor reacts to an event, its container has no check of
// its own: the check an event triggers is then one inspect, and the time measured is the
// monitor's, not a health command's on a loaded host.

/** The monitor's exit, or a failure if it has not exited within `ms`. */
async function exitWithin(monitor: MonitorProcess, ms: number): Promise<MonitorExit> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running ${ms} ms after the signal:\n${monitor.tail()}`)),
      ms,
    );
  });
  try {
    return await Promise.race([monitor.exited, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks that pass while /ok exists in the container: `sh -c 'test -f /ok' <ip>`. */
const FILE_CHECK = ['-e', "HEALTHCHECK=sh -c 'test -f /ok'"];

describe.concurrent('monitor: the record follows the container', () => {
  test('docker stop removes the key within 1 s of the container dying; docker start brings it back within 1 s', async ({
    made,
  }) => {
    const id = await made.sleeper();
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    // A 30 s period: only the container's events can explain what happens within a second.
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', id));
    await watch.next('put', 0, 20_000);

    const beforeStop = Date.now();
    const { returned: stopReturned } = await dockerAt(['stop', '-t', '5', id]);
    const gone = await watch.next('delete', beforeStop, 10_000);
    const died = await dockerEventAt(id, 'die', beforeStop);
    console.log(
      `docker stop: die event → key deleted ${gone.at - died} ms; stop returned → key deleted ${gone.at - stopReturned} ms`,
    );
    expect(gone.at - died).toBeLessThan(1000);
    expect(monitor.running()).toBe(true);

    const beforeStart = Date.now();
    await dockerOk(['start', id]);
    const back = await watch.next('put', beforeStart, 10_000);
    const started = await dockerEventAt(id, 'start', beforeStart);
    console.log(`docker start: start event → key written ${back.at - started} ms`);
    expect(back.at - started).toBeLessThan(1000);
  });

  test('docker pause removes the key within 1 s; docker unpause brings it back within 1 s', async ({
    made,
  }) => {
    const id = await made.sleeper();
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', id));
    await watch.next('put', 0, 20_000);

    const beforePause = Date.now();
    await dockerOk(['pause', id]);
    const gone = await watch.next('delete', beforePause, 10_000);
    const paused = await dockerEventAt(id, 'pause', beforePause);
    console.log(`docker pause: pause event → key deleted ${gone.at - paused} ms`);
    expect(gone.at - paused).toBeLessThan(1000);
    expect(await storedKey(etcd, key)).toBeUndefined();

    const beforeUnpause = Date.now();
    await dockerOk(['unpause', id]);
    const back = await watch.next('put', beforeUnpause, 10_000);
    const unpaused = await dockerEventAt(id, 'unpause', beforeUnpause);
    console.log(`docker unpause: unpause event → key written ${back.at - unpaused} ms`);
    expect(back.at - unpaused).toBeLessThan(1000);
    expect(monitor.running()).toBe(true);
    expect(await dockerOk(['inspect', '--format', '{{.State.Running}}', id])).toBe('true');
  });

  test('a paused container stays unregistered across periodic checks, even one with no check of its own', async ({
    made,
  }) => {
    const id = await made.sleeper();
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '1', '--loglevel', 'debug', id));
    await watch.next('put', 0, 20_000);

    const paused = Date.now();
    await dockerOk(['pause', id]);
    await watch.next('delete', paused, 10_000);
    const pausedChecks = () =>
      monitor.lines.filter((l) => l.msg === 'checked' && l.status === 'not running (paused)');
    await waitFor(() => pausedChecks().length >= 2, {
      timeoutMs: 15_000,
      what: `two checks of the paused container:\n${monitor.tail()}`,
    });
    expect(watch.events.map((e) => e.type)).toEqual(['put', 'delete']);
    expect(await storedKey(etcd, key)).toBeUndefined();
  });

  test('a failing check removes the key at once (not by expiry); the check passing again brings it back', async ({
    made,
  }) => {
    const id = await made.sleeper(FILE_CHECK);
    await dockerOk(['exec', id, 'touch', '/ok']);
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    // exec mode: the check looks at the target's own file system.
    const monitor = made.monitor(monitorFlags(etcd, '--period', '1', '--mode', 'exec', id));
    await watch.next('put', 0, 20_000);

    const removal = await dockerAt(['exec', id, 'rm', '/ok']);
    const gone = await watch.next('delete', removal.started, 10_000);
    const failed = await monitor.waitForLog((l) => l.msg === 'not healthy' && l.arrivedAt >= removal.started);
    const failedAt = Date.parse(failed.time);
    console.log(
      `check failing: failed check → key deleted ${gone.at - failedAt} ms; file removed → key deleted ${gone.at - removal.returned} ms (period 1 s)`,
    );
    // At once after the failing check, and so well before the 3 s lease could expire.
    expect(gone.at - failedAt).toBeLessThan(1000);
    expect(gone.at - removal.returned).toBeLessThan(2000);

    const touch = await dockerAt(['exec', id, 'touch', '/ok']);
    const back = await watch.next('put', touch.started, 10_000);
    console.log(`check passing again: file back → key written ${back.at - touch.returned} ms (period 1 s)`);
    expect(back.at - touch.returned).toBeLessThan(2000);
    expect(monitor.running()).toBe(true);
    expect(await dockerOk(['inspect', '--format', '{{.State.Running}}', id])).toBe('true');
  });

  test('docker rm -f ends the monitor with exit 0 and no key left', async ({ made }) => {
    const id = await made.sleeper(['-e', 'HEALTHCHECK=true']);
    const key = serviceKey(id);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--mode', 'exec', id));
    await whenKey(etcd, key, 'present', { monitor });

    await dockerOk(['rm', '-f', id]);
    const exit = await monitor.exited;
    expect(exit, monitor.tail()).toEqual({ code: 0, signal: null });
    expect(await storedKey(etcd, key)).toBeUndefined();
    expect(monitor.lines.some((l) => l.msg === 'container removed; monitor ends')).toBe(true);
  });

  test.for(['SIGTERM', 'SIGINT'] as const)('%s removes the key and exits 0', async (signal, { made }) => {
    const id = await made.sleeper(['-e', 'HEALTHCHECK=true']);
    const key = serviceKey(id);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--mode', 'exec', id));
    await whenKey(etcd, key, 'present', { monitor });

    monitor.signal(signal);
    const exit = await monitor.exited;
    expect(exit, monitor.tail()).toEqual({ code: 0, signal: null });
    // Removed, not left to expire: it is gone the moment the process has exited.
    expect(await storedKey(etcd, key)).toBeUndefined();
    expect(monitor.lines.some((l) => l.action === 'deregister')).toBe(true);
  });

  test('SIGTERM while Docker cannot be reached at start ends it with exit 0, not a Docker error', async ({
    made,
  }) => {
    const control = `unix:///tmp/${uniqueName('no-docker')}.sock`;
    const monitor = made.monitor(monitorFlags(etcd, '--control', control, 'some-container'));
    await monitor.waitForLog((l) => l.level === 'WARNING' && /Docker/.test(String(l.err)), {
      what: "the warning that Docker can't be reached",
    });
    monitor.signal('SIGTERM');
    expect(await exitWithin(monitor, 8000), monitor.tail()).toEqual({ code: 0, signal: null });
    expect(monitor.stderr()).toBe('');
  });

  test('SIGTERM while its Docker event subscription goes unanswered still ends it, exit 0, key removed', async ({
    made,
  }) => {
    const proxy = await eventHoldingProxy();
    try {
      const id = await made.sleeper();
      const monitor = made.monitor(monitorFlags(etcd, '--control', proxy.control, id));
      await monitor.waitForLog((l) => l.msg === 'monitoring');
      await waitFor(() => proxy.held.length > 0, { what: 'the /events request' });
      monitor.signal('SIGTERM');
      expect(await exitWithin(monitor, 8000), monitor.tail()).toEqual({ code: 0, signal: null });
      expect(await storedKey(etcd, serviceKey(id))).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  test('SIGKILL leaves the key to its lease: still there after the kill, gone within TTL + 1 s', async ({
    made,
  }) => {
    const id = await made.sleeper();
    const key = serviceKey(id);
    const watch = await made.watch(etcd, key);
    // period 2: TTL 5 s, so "still there" and "gone" are seconds apart.
    const monitor = made.monitor(monitorFlags(etcd, '--period', '2', id));
    await watch.next('put', 0, 20_000);
    await delay(1000);

    monitor.signal('SIGKILL');
    const exit = await monitor.exited;
    const killed = Date.now();
    expect(exit.signal).toBe('SIGKILL');

    await delay(1500);
    expect(await storedKey(etcd, key), 'key 1.5 s after SIGKILL').toBeDefined();
    const gone = await watch.next('delete', killed, 10_000);
    console.log(`SIGKILL: key expired ${gone.at - killed} ms after the kill (TTL 5 s)`);
    expect(gone.at - killed).toBeLessThanOrEqual(6000);
  });
});

describe.concurrent('monitor: signals and checks in flight', () => {
  test('a reload signal (docker kill -s HUP) leaves the key where it is', async ({ made }) => {
    // A service that takes HUP as "reload" (a plain sleep would die of it, and rightly lose its key).
    const id = await made.container([TEST_IMAGE, 'sh', '-c', "trap '' HUP; sleep 600"]);
    const key = serviceKey(id);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', id));
    await whenKey(etcd, key, 'present', { timeoutMs: 10_000, monitor });
    const watch = await made.watch(etcd, key);
    await dockerOk(['kill', '-s', 'HUP', id]);
    await delay(2_000);
    expect(watch.events.filter((e) => e.type === 'delete')).toEqual([]);
    expect(await storedKey(etcd, key)).toBeDefined();
    expect(monitor.running()).toBe(true);
    expect(await dockerOk(['inspect', '--format', '{{.State.Running}}', id])).toBe('true');
  });

  test('SIGTERM while a sidecar check runs: the monitor removes that sidecar before it exits', async ({
    made,
  }) => {
    const id = await made.sleeper(['-e', "HEALTHCHECK=sh -c 'sleep 30' --"]);
    const monitor = made.monitor(monitorFlags(etcd, '--period', '30', '--timeout', '60', id));
    const sidecars = async () =>
      (await docker(['ps', '-aq', '--filter', `label=checker.target=${id}`])).stdout
        .trim()
        .split('\n')
        .filter(Boolean);
    await waitFor(async () => (await sidecars()).length > 0, {
      timeoutMs: 15_000,
      what: 'the check sidecar to start',
    });
    monitor.signal('SIGTERM');
    expect((await exitWithin(monitor, 10_000)).code).toBe(0);
    expect(await sidecars()).toEqual([]);
  });
});
