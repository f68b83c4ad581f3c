// SPEC §3 and §6, "Docker restarted under a monitor → reconnect, replay, reconcile; records
// equal reality afterwards", for a standalone `monitor` (issue 9 asked for this test). A check
// that cannot reach Docker refreshes nothing, so while Docker is down a record expires one TTL
// after its last passing check, unless Docker is back before that. The daemon is a second
// dockerd this file owns (test/support/second-dockerd.ts), killed with SIGKILL so that its
// containers live on while it is down, as in a crash of the engine:
//   - without --live-restore, down for longer than the TTL: the records expire one TTL later;
//     the daemon, back, kills the containers it finds and starts again only the one with
//     `--restart always`: its record comes back, the other container's does not.
//   - with --live-restore, back within the TTL: the containers never stopped, and the record
//     is never deleted; the monitor's event subscription is back too (a stop deregisters).
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  delay,
  type KeyWatch,
  keysUnder,
  monitorFlags,
  storedKey,
  watchKey,
  whenKey,
} from '../monitor/support.js';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { TEST_IMAGE, uniqueName } from '../support/images.js';
import { killMonitors, type MonitorProcess, startMonitor } from '../support/monitor-process.js';
import { type SecondDockerd, startSecondDockerd } from '../support/second-dockerd.js';

let etcd: TestEtcd;
let daemon: SecondDockerd | undefined;
const monitors: MonitorProcess[] = [];
const watches: KeyWatch[] = [];

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterEach(async () => {
  await killMonitors(monitors.splice(0));
  await Promise.all(watches.splice(0).map((w) => w.close()));
  await daemon?.cleanup();
  daemon = undefined;
});

afterAll(async () => {
  await etcd?.cleanup();
});

/** `docker run -d --init` on the second daemon: a healthy sleeper; resolves its id. */
async function sleeper(d: SecondDockerd, name: string, extra: string[] = []): Promise<string> {
  const r = await d.docker(
    [
      'run',
      '-d',
      '--init',
      '--label',
      'checker.test=1',
      '--name',
      name,
      '-e',
      'HEALTHCHECK=true',
      ...extra,
      TEST_IMAGE,
      'sleep',
      '600',
    ],
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`docker run on the second daemon: ${r.stderr}`);
  return r.stdout.trim().split('\n').at(-1)!;
}

function monitorOn(d: SecondDockerd, etcdPrefix: string, period: number, id: string): MonitorProcess {
  const monitor = startMonitor(
    monitorFlags(
      etcd,
      '--control',
      d.control,
      '--etcd-prefix',
      etcdPrefix,
      '--mode',
      'exec',
      '--period',
      String(period),
      id,
    ),
    { timeoutMs: 180_000 },
  );
  monitors.push(monitor);
  return monitor;
}

describe('standalone monitor across a Docker daemon restart', () => {
  it('down longer than the TTL: records expire one TTL later; afterwards only the container that came back has one', async () => {
    daemon = await startSecondDockerd();
    const d = daemon;
    onTestFailed(async () => {
      for (const m of monitors) console.error(`--- monitor ${m.pid} ---\n${m.tail(30)}`);
      console.error(`--- second dockerd log ---\n${(await d.log()).slice(-3000)}`);
    });
    const etcdPrefix = `/${uniqueName('faults-mdr')}`;
    const period = 2;
    const ttlMs = (period * 2 + 1) * 1000;
    const back = await sleeper(d, uniqueName('faults-mdr-back'), ['--restart', 'always']);
    const gone = await sleeper(d, uniqueName('faults-mdr-gone'));
    const keyOf = (id: string) => `${etcdPrefix}/busybox/${id}`;
    const backMonitor = monitorOn(d, etcdPrefix, period, back);
    const goneMonitor = monitorOn(d, etcdPrefix, period, gone);
    await whenKey(etcd, keyOf(back), 'present', { monitor: backMonitor, timeoutMs: 20_000 });
    await whenKey(etcd, keyOf(gone), 'present', { monitor: goneMonitor, timeoutMs: 20_000 });
    const backWatch = await watchKey(etcd, keyOf(back));
    const goneWatch = await watchKey(etcd, keyOf(gone));
    watches.push(backWatch, goneWatch);

    const killedAt = Date.now();
    await d.kill();
    // Docker unreachable is not a failed check: the records stay on their leases...
    await delay(1_000);
    expect(await storedKey(etcd, keyOf(back))).toBeDefined();
    expect(await storedKey(etcd, keyOf(gone))).toBeDefined();
    // ...until they expire, one TTL after the last passing check (at most a period before the kill).
    const expired = await Promise.all([
      backWatch.next('delete', killedAt, ttlMs + 5_000),
      goneWatch.next('delete', killedAt, ttlMs + 5_000),
    ]);
    const expiredAfterMs = expired.map((e) => e.at - killedAt);
    console.log(
      `Docker down: records expired ${expiredAfterMs.join(' and ')} ms after the kill (TTL ${ttlMs} ms, period ${period * 1000} ms)`,
    );
    for (const ms of expiredAfterMs) {
      expect(ms).toBeGreaterThanOrEqual(ttlMs - period * 1000 - 1_000);
      expect(ms).toBeLessThanOrEqual(ttlMs + 1_500);
    }
    // Down a little longer; neither monitor gives up.
    await delay(2_000);
    expect(backMonitor.running(), backMonitor.tail()).toBe(true);
    expect(goneMonitor.running(), goneMonitor.tail()).toBe(true);

    const restartedAt = Date.now();
    await d.start();
    const daemonBackAt = Date.now();
    const states = async () =>
      (await d.docker(['inspect', '--format', '{{.State.Status}}', back, gone])).stdout.trim().split('\n');
    // The daemon restarts the --restart always container; the other one stays exited.
    await whenKey(etcd, keyOf(back), 'present', { monitor: backMonitor, timeoutMs: 20_000 });
    const recordBackAt = Date.now();
    console.log(
      `Docker back ${daemonBackAt - restartedAt} ms after its start; the record of the restarted container back ${recordBackAt - daemonBackAt} ms later`,
    );
    expect(await states()).toEqual(['running', 'exited']);
    // Records equal reality, and stay so.
    await delay(3 * period * 1000);
    expect(await keysUnder(etcd, etcdPrefix)).toEqual([keyOf(back)]);
    expect(goneWatch.events.filter((e) => e.type === 'put' && e.at >= killedAt)).toEqual([]);
    expect(backMonitor.running(), backMonitor.tail()).toBe(true);
    expect(goneMonitor.running(), goneMonitor.tail()).toBe(true);

    // And both still follow their containers: the exited one's removal ends its monitor (exit 0).
    const rm = await d.docker(['rm', '-f', gone], { timeoutMs: 30_000 });
    expect(rm.code, rm.stderr).toBe(0);
    expect(await goneMonitor.exited).toEqual({ code: 0, signal: null });
  }, 150_000);

  it('back within the TTL (--live-restore): the record is never deleted, and the monitor follows the container again', async () => {
    daemon = await startSecondDockerd({ liveRestore: true });
    const d = daemon;
    onTestFailed(async () => {
      for (const m of monitors) console.error(`--- monitor ${m.pid} ---\n${m.tail(30)}`);
      console.error(`--- second dockerd log ---\n${(await d.log()).slice(-3000)}`);
    });
    const etcdPrefix = `/${uniqueName('faults-mdr-live')}`;
    // TTL 21 s: the daemon is back, and checked again, well within it.
    const period = 10;
    const id = await sleeper(d, uniqueName('faults-mdr-live'));
    const key = `${etcdPrefix}/busybox/${id}`;
    const monitor = monitorOn(d, etcdPrefix, period, id);
    await whenKey(etcd, key, 'present', { monitor, timeoutMs: 20_000 });
    const watch = await watchKey(etcd, key);
    watches.push(watch);

    const killedAt = Date.now();
    await d.kill();
    await delay(1_000);
    await d.start();
    const backAt = Date.now();
    console.log(`live-restore: Docker down for ${backAt - killedAt} ms`);
    // Past the point where the lease would have run out (at most TTL - period after the
    // kill) had no check passed since: a check passing again renewed it.
    await delay(period * 1000);
    expect(watch.events.filter((e) => e.type === 'delete')).toEqual([]);
    expect(await storedKey(etcd, key)).toBeDefined();
    expect((await d.docker(['inspect', '--format', '{{.State.Running}}', id])).stdout.trim()).toBe('true');

    // Its event subscription is back: a stop deregisters at once, not a TTL later.
    const stopAt = Date.now();
    const stop = await d.docker(['stop', id], { timeoutMs: 30_000 });
    expect(stop.code, stop.stderr).toBe(0);
    const deleted = await watch.next('delete', stopAt, 10_000);
    console.log(`live-restore: after the restart, docker stop deregistered in ${deleted.at - stopAt} ms`);
    expect(deleted.at - stopAt).toBeLessThan(2_000);
    expect(monitor.running(), monitor.tail()).toBe(true);
  }, 150_000);
});
