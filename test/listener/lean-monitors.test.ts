// Issue 8 ("lean, warm monitors"), proven against the host's Docker daemon and a real etcd:
// SPEC §3 (a monitor under the listener has no etcd client: its record goes through the
// listener's one client over IPC, on a lease of its own that only its own checks renew) and
// §4 (one etcd connection per host, warm monitors, takeover after a listener restart, a clear
// exit on a protocol mismatch). Every listener runs with a --prefix and an etcd prefix of its
// own, so other tests' containers on the same daemon are not its business.
//
// What the process-per-container design before it would have shown here: one etcd connection
// per monitor (20 for 20), etcd3 and @grpc/grpc-js in every monitor's modules, a new process
// booted after each `docker run`, and no protocol version to check.
import { fork, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import {
  MONITOR_EXEC_ARGV,
  MONITOR_PROTOCOL_ENV,
  MONITOR_PROTOCOL_VERSION,
  type MonitorSettings,
  monitorForkOptions,
  PROTOCOL_MISMATCH_EXIT,
} from '../../packages/core/src/monitor/protocol.js';
import { buildToolsIfMissing, REPO_ROOT } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import {
  docker,
  dockerOk,
  removeContainers,
  runContainer,
  TEST_IMAGE,
  uniqueName,
  waitFor,
} from '../support/images.js';
import { type ListenerProcess, type ProcessInfo, startListener } from '../support/listener-process.js';
import { type ModuleLog, startModuleLog, withBundledSources } from '../support/module-log.js';
import { connectionsTo, nowTicks, startTicks } from '../support/process-facts.js';
import { IMAGE_NAME, keyedIds, listenerFor, settle, tail, watchRecords } from './support.js';

const CHILD_ENTRY = join(REPO_ROOT, 'packages', 'monitor', 'bin', 'child.js');

let etcd: TestEtcd;
let modules: ModuleLog;
const containers: string[] = [];
const listeners: ListenerProcess[] = [];
/** monitor children a test stopped with SIGSTOP: continued before the cleanup kills them */
const stoppedPids: number[] = [];
let prefix = '';
let etcdPrefix = '';

beforeAll(async () => {
  await buildToolsIfMissing();
  [etcd, modules] = await Promise.all([startEtcd(), startModuleLog()]);
});

afterAll(async () => {
  await etcd?.cleanup();
  await modules?.cleanup();
});

// Each test: containers named lm-…-<suffix>, keys under /lm-…
beforeEach(() => {
  prefix = `${uniqueName('lm')}-`;
  etcdPrefix = `/${prefix.slice(0, -1)}`;
});

afterEach(async () => {
  for (const pid of stoppedPids.splice(0)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  }
  const mine = { listeners: listeners.splice(0), containers: containers.splice(0) };
  await Promise.all(mine.listeners.map((listener) => listener.dispose()));
  await removeContainers(mine.containers);
});

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const keyOf = (id: string) => `${etcdPrefix}/${IMAGE_NAME}/${id}`;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};

/** The lease a key is written on (as text: lease ids exceed Number's precision), or undefined. */
async function leaseOf(key: string): Promise<string | undefined> {
  const out = await etcd.ctl('get', key, '-w', 'json');
  return /"lease":(\d+)/.exec(out)?.[1];
}

/** Remembers a listener for the cleanup, and prints its output when the test fails. */
function track(listener: ListenerProcess): ListenerProcess {
  listeners.push(listener);
  onTestFailed(() => {
    console.error(`--- listener output (pid ${listener.pid}) ---\n${tail(listener)}`);
  });
  return listener;
}

/** A listener in exec mode for this test's containers and etcd prefix. */
function startFor(options: { args?: string[]; env?: Record<string, string | undefined> } = {}) {
  return track(listenerFor({ etcd, prefix, etcdPrefix, args: options.args, env: options.env }));
}

/** A `sleep 600` test container (or `command`) named `<prefix><suffix>`, removed after the test. */
async function run(suffix: string, extra: string[] = [], command = ['sleep', '600']): Promise<string> {
  const id = await runContainer(['--name', `${prefix}${suffix}`, ...extra, TEST_IMAGE, ...command]);
  containers.push(id);
  return id;
}

/** Until the listener follows Docker's events; a failure names what it said on stderr. */
const listening = (listener: ListenerProcess) =>
  listener.tool.waitForOutput(/listening to Docker events/, { timeoutMs: 20_000 }).catch((error: Error) => {
    throw new Error(`${error.message}; stderr: ${listener.tool.stderr.trim().slice(-2000)}`);
  });

/** Warm monitors that have booted: idle, titled `checker-monitor (idle)`. */
async function idleMonitors(listener: ListenerProcess): Promise<ProcessInfo[]> {
  return (await listener.warm()).filter((info) => info.argv[0]?.startsWith('checker-monitor (idle)'));
}

interface LogLine {
  msg?: string;
  time?: string;
  id?: string;
  [field: string]: unknown;
}

/** The listener's (and its monitors') pino lines so far, parsed; other lines skipped. */
function logLines(listener: ListenerProcess): LogLine[] {
  return listener
    .output()
    .split('\n')
    .flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

describe('one etcd client per host', () => {
  it('the listener and 20 monitors hold exactly one TCP connection to etcd, and the monitors none', async () => {
    // A 2 s period (TTL 5 s): by the count, every record has been renewed through the connection.
    const ids = await Promise.all(range(20).map((i) => run(`${i}`, ['-e', 'HEALTHCHECKPERIOD=2'])));
    const listener = startFor();
    await settle(etcd, etcdPrefix, listener, ids, 60_000);
    await delay(6000);
    // Past a TTL: the keys are there because their leases were renewed, not by luck.
    expect(await keyedIds(etcd, etcdPrefix)).toEqual([...ids].sort());

    const port = Number(new URL(etcd.endpoint).port);
    const [byPid, descendants, monitors] = await Promise.all([
      connectionsTo(port),
      listener.descendants(),
      listener.monitors(),
    ]);
    expect(monitors).toHaveLength(20);
    const tree = [listener.pid, ...descendants.map((d) => d.pid)];
    const held = tree.map((pid) => ({ pid, connections: byPid.get(pid) ?? 0 }));
    const total = held.reduce((sum, { connections }) => sum + connections, 0);
    console.log(
      `etcd connections: listener ${byPid.get(listener.pid) ?? 0}, its ${descendants.length} descendants ` +
        `${total - (byPid.get(listener.pid) ?? 0)}, total ${total} (20 monitors)`,
    );
    expect(byPid.get(listener.pid)).toBe(1);
    expect(held.filter(({ pid, connections }) => pid !== listener.pid && connections > 0)).toEqual([]);
    // Every monitor is among the descendants counted.
    expect(monitors.every((m) => tree.includes(m.pid))).toBe(true);
    expect(total).toBe(1);
  }, 120_000);

  /**
   * A listener whose node processes record what they load, one assigned monitor that has
   * checked and renewed a few times, and two warm ones: what each has loaded, bundled sources
   * included (test/support/module-log.ts).
   */
  async function loadedModules() {
    const a = await run('a', ['-e', 'HEALTHCHECK=true', '-e', 'HEALTHCHECKPERIOD=1']);
    // NODE_OPTIONS reaches the forked monitors through their environment.
    const listener = startFor({ env: modules.env });
    await settle(etcd, etcdPrefix, listener, [a], 20_000);
    // Several checks and renewals later: whatever the monitor loads lazily is loaded by now.
    await delay(3000);
    const [monitor] = await listener.monitors();
    const warm = await waitFor(
      async () => {
        const idle = await idleMonitors(listener);
        return idle.length === 2 ? idle : undefined;
      },
      { timeoutMs: 20_000, what: 'two booted warm monitors' },
    );
    const files = await modules.modulesOf(monitor!.pid);
    const [mine, ofListener, ...ofWarm] = await Promise.all([
      withBundledSources(files),
      modules.modulesOf(listener.pid).then(withBundledSources),
      ...warm.map((w) => modules.modulesOf(w.pid).then(withBundledSources)),
    ]);
    return { files, mine: mine!, ofListener: ofListener!, ofWarm };
  }

  const matching = (list: string[], pattern: RegExp) => list.filter((path) => pattern.test(path));

  it('a monitor child loads neither etcd3 nor gRPC, as files or bundled (the listener does), and does load dockerode', async () => {
    const { files, mine, ofListener, ofWarm } = await loadedModules();
    const etcdOrGrpc = /\/node_modules\/(etcd3|@grpc\/[^/]+)\//;
    // Our own etcd client code, which would bring etcd3 with it.
    const ourEtcdClient =
      /\/packages\/core\/(dist|src)\/etcd\/(etcd-client|lease-keeper|leased-record|connection)\.[jt]s$/;
    console.log(
      `modules: monitor child loaded ${files.length} files, ${mine.length} modules with bundled sources ` +
        `(${matching(mine, /\/node_modules\//).length} from node_modules); listener ${ofListener.length} ` +
        `(${matching(ofListener, etcdOrGrpc).length} of etcd3/@grpc)`,
    );
    // The record proves itself: the listener's list has etcd3 and gRPC, the child's dockerode.
    expect(matching(ofListener, /\/node_modules\/etcd3\//).length).toBeGreaterThan(0);
    expect(matching(ofListener, /\/node_modules\/@grpc\/grpc-js\//).length).toBeGreaterThan(0);
    expect(files).toContain(CHILD_ENTRY);
    expect(matching(mine, /\/node_modules\/dockerode\/lib\/docker\.js$/)).toHaveLength(1);

    expect(matching(mine, etcdOrGrpc)).toEqual([]);
    expect(matching(mine, ourEtcdClient)).toEqual([]);
    expect(ofWarm).toHaveLength(2);
    for (const list of ofWarm) {
      expect(list).toContain(CHILD_ENTRY);
      expect(matching(list, etcdOrGrpc)).toEqual([]);
    }
  }, 90_000);

  it("a monitor child carries no protobufjs either (gRPC's message codec; dockerode needs it only to decode BuildKit output)", async () => {
    const { mine } = await loadedModules();
    // The bundler leaves dockerode's BuildKit session out (gRPC and protobuf behind a stand-in);
    // its BuildKit output decoder (dockerode/lib/buildkit.js) brings protobufjs just the same.
    const protobuf = /\/node_modules\/(protobufjs|@protobufjs\/[^/]+|long)\//;
    const found = matching(mine, protobuf);
    console.log(`protobufjs modules in the monitor child: ${found.length}`);
    expect(found).toEqual([]);
  }, 90_000);
});

describe('records on leases of their own', () => {
  it('a monitor stopped with SIGSTOP loses its key about one TTL later, the others keep theirs; SIGCONT brings it back', async () => {
    // Period 1 s: TTL 3 s.
    const ids = await Promise.all(range(3).map((i) => run(`${i}`, ['-e', 'HEALTHCHECKPERIOD=1'])));
    const [victimId, ...others] = ids as [string, ...string[]];
    const listener = startFor();
    await settle(etcd, etcdPrefix, listener, ids, 30_000);
    const victim = (await listener.monitors()).find((m) => m.container === victimId)!;
    const key = keyOf(victimId);
    const watch = await watchRecords(etcd, etcdPrefix);
    try {
      process.kill(victim.pid, 'SIGSTOP');
      stoppedPids.push(victim.pid);
      const stoppedAt = Date.now();
      await waitFor(async () => !(await keyedIds(etcd, etcdPrefix)).includes(victimId), {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: "the stopped monitor's key to expire",
      });
      const lostAfter = Date.now() - stoppedAt;
      console.log(`SIGSTOP → key gone: ${lostAfter} ms (TTL 3000 ms, period 1000 ms)`);
      // Renewed last at most a period (and a check) before the stop, so gone one TTL after
      // that: between TTL - period and TTL, plus etcd's expiry tick (500 ms) and our polling.
      expect(lostAfter).toBeGreaterThanOrEqual(1000);
      expect(lostAfter).toBeLessThanOrEqual(4500);

      // Two more TTLs: the others are renewed by their own monitors all along.
      await delay(6000);
      expect(await keyedIds(etcd, etcdPrefix)).toEqual([...others].sort());
      expect(watch.deletes()).toEqual([key]);
      expect(watch.puts()).toEqual([]);

      // The listener neither replaced it nor renewed for it: the same process, still stopped.
      expect((await listener.monitors()).filter((m) => m.container === victimId)).toEqual([victim]);

      process.kill(victim.pid, 'SIGCONT');
      const continuedAt = Date.now();
      await waitFor(async () => (await keyedIds(etcd, etcdPrefix)).includes(victimId), {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: "the continued monitor's key to come back",
      });
      const backAfter = Date.now() - continuedAt;
      console.log(`SIGCONT → key back: ${backAfter} ms`);
      // Its next check is overdue, so it runs at once and writes the key on a new lease.
      expect(backAfter).toBeLessThanOrEqual(3000);
      await settle(etcd, etcdPrefix, listener, ids, 5000);
      expect((await listener.monitors()).find((m) => m.container === victimId)?.pid).toBe(victim.pid);
      expect(watch.deletes()).toEqual([key]);
      expect(watch.puts()).toEqual([key]);
    } finally {
      await watch.stop();
    }
  }, 90_000);

  for (const wipe of [false, true]) {
    it(`etcd stopped for 8 s (TTL 3 s) and started again ${wipe ? 'with its data wiped' : 'with its data'}: every record back within 2 s of etcd answering`, async () => {
      const ids = await Promise.all(range(6).map((i) => run(`${i}`, ['-e', 'HEALTHCHECKPERIOD=1'])));
      const listener = startFor();
      await settle(etcd, etcdPrefix, listener, ids, 30_000);
      const monitorsBefore = (await listener.monitors()).map((m) => m.pid).sort();
      const leasesBefore = await Promise.all(ids.map((id) => leaseOf(keyOf(id))));
      // With the data kept, the watch follows the same revisions across the restart.
      const watch = wipe ? undefined : await watchRecords(etcd, etcdPrefix);
      try {
        await etcd.stop();
        const stoppedAt = Date.now();
        await delay(8000);
        expect(listener.tool.child.exitCode).toBeNull();
        expect((await listener.monitors()).map((m) => m.pid).sort()).toEqual(monitorsBefore);
        expect(
          logLines(listener).some(
            (l) =>
              l.msg === 'etcd call failed; retrying with backoff' && Date.parse(l.time ?? '') >= stoppedAt,
          ),
        ).toBe(true);

        await etcd.start({ wipe });
        const answering = Date.now();
        const present = await waitFor(
          async () => {
            const keys = await keyedIds(etcd, etcdPrefix);
            return keys.length === ids.length && ids.every((id) => keys.includes(id))
              ? Date.now()
              : undefined;
          },
          { timeoutMs: 15_000, intervalMs: 20, what: 'every key back' },
        );
        // Back in etcd's eyes: with the data kept the keys never left (etcd restores leases
        // with a fresh TTL), so what counts is each record's first successful sync since the
        // outage, as the listener logs it ("etcd reachable again", one per record).
        const restored = await waitFor(
          () => {
            const times = new Map<string, number>();
            for (const line of logLines(listener)) {
              const at = Date.parse(line.time ?? '');
              if (
                line.msg === 'etcd reachable again' &&
                at >= answering - 1000 &&
                ids.includes(line.id ?? '')
              )
                if (!times.has(line.id!)) times.set(line.id!, at);
            }
            return times.size === ids.length ? [...times.values()] : undefined;
          },
          { timeoutMs: 15_000, what: 'every record to log that etcd is reachable again' },
        );
        const keysBack = present - answering;
        const renewedBack = Math.max(...restored) - answering;
        console.log(
          `etcd back (${wipe ? 'data wiped' : 'same data'}), 6 records: all keys present ${keysBack} ms, ` +
            `every record synced again ${renewedBack} ms (median ${median(restored) - answering} ms) after etcd answered`,
        );
        expect(keysBack).toBeLessThanOrEqual(2500);
        expect(renewedBack).toBeLessThanOrEqual(2500);

        // Kept alive by the monitors from now on (etcd's restored leases, or none at all after a
        // wipe, would be gone within a TTL and a second).
        const until = Date.now() + 3 * 3000;
        while (Date.now() < until) {
          expect(await keyedIds(etcd, etcdPrefix)).toEqual([...ids].sort());
          await delay(250);
        }
        if (!wipe) {
          // Same data: the same leases renewed, nothing deleted or written again.
          expect(await Promise.all(ids.map((id) => leaseOf(keyOf(id))))).toEqual(leasesBefore);
          expect(watch!.events).toEqual([]);
        }
        expect((await listener.monitors()).map((m) => m.pid).sort()).toEqual(monitorsBefore);
      } finally {
        await watch?.stop();
      }
    }, 90_000);
  }
});

describe('warm monitors', () => {
  /**
   * Starts a container under a settled listener: which process serves it, when that process
   * started and when the run began (both in clock ticks since boot), and how long from the
   * container's start (Docker's StartedAt) to its key's first PUT.
   */
  async function serve(listener: ListenerProcess) {
    const watch = await watchRecords(etcd, etcdPrefix);
    try {
      const before = await nowTicks();
      const c = await run('c');
      await settle(etcd, etcdPrefix, listener, [c], 15_000);
      const [monitor] = await listener.monitors();
      const started = await startTicks(monitor!.pid);
      const put = watch.events.find((e) => e.type === 'put' && e.key === keyOf(c));
      const startedAt = Date.parse(await dockerOk(['inspect', '--format', '{{.State.StartedAt}}', c]));
      return { pid: monitor!.pid, started: started!, before, startToKey: put!.at - startedAt };
    } finally {
      await watch.stop();
    }
  }

  it('with the default --warm 2, a container started after the listener settled is served by an already-running process', async () => {
    const listener = startFor();
    await listening(listener);
    const warm = await waitFor(
      async () => {
        const idle = await idleMonitors(listener);
        return idle.length === 2 ? idle : undefined;
      },
      { timeoutMs: 20_000, what: 'two booted warm monitors' },
    );
    const warmPids = warm.map((w) => w.pid);
    const served = await serve(listener);
    console.log(
      `warm: container start → key ${served.startToKey} ms; its monitor (pid ${served.pid}) started ` +
        `${served.before - served.started} ticks (10 ms) before the docker run`,
    );
    expect(warmPids).toContain(served.pid);
    expect(served.started).toBeLessThan(served.before);

    // The pool refills in the background: two idle ones again, a new process among them.
    const refilled = await waitFor(
      async () => {
        const idle = await idleMonitors(listener);
        return idle.length === 2 ? idle : undefined;
      },
      { timeoutMs: 20_000, what: 'the warm pool to refill' },
    );
    expect(refilled.map((w) => w.pid)).not.toContain(served.pid);
    expect(refilled.some((w) => !warmPids.includes(w.pid))).toBe(true);
  });

  it('with --warm 0, a container started after the listener settled gets a process started after it', async () => {
    const listener = startFor({ args: ['--warm', '0'] });
    await listening(listener);
    // Nothing booted in advance (long enough for a pool to have been filled).
    await delay(2000);
    expect(await listener.children()).toEqual([]);
    const served = await serve(listener);
    console.log(
      `cold: container start → key ${served.startToKey} ms; its monitor started ` +
        `${served.started - served.before} ticks after the docker run began`,
    );
    expect(served.started).toBeGreaterThanOrEqual(served.before);
    expect(await listener.children()).toHaveLength(1);
  });
});

describe('takeover after a listener restart', () => {
  it("deletes a taken-over key at once when the new monitor's first check fails", async () => {
    // Period 10 s: the lease (TTL 21 s) outlives the test's steps, so only a delete removes the key.
    const c = await run(
      'c',
      ['-e', "HEALTHCHECK=sh -c 'test -e /ok'", '-e', 'HEALTHCHECKPERIOD=10'],
      ['sh', '-c', 'touch /ok && exec sleep 600'],
    );
    const key = keyOf(c);
    const first = startFor();
    await settle(etcd, etcdPrefix, first, [c], 20_000);

    first.tool.child.kill('SIGKILL');
    await waitFor(async () => (await first.descendants()).length === 0, {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'the first listener’s monitors to end',
    });
    expect(await keyedIds(etcd, etcdPrefix)).toEqual([c]);
    await dockerOk(['exec', c, 'rm', '/ok']);
    const lease = await leaseOf(key);
    const ttl = await etcd.ctl('lease', 'timetolive', BigInt(lease!).toString(16));
    const remaining = Number(/remaining\((-?\d+)s\)/.exec(ttl)?.[1]);
    expect(remaining).toBeGreaterThan(10);

    const watch = await watchRecords(etcd, etcdPrefix);
    try {
      const second = startFor();
      const startedAt = Date.now();
      const deleted = await waitFor(() => watch.events.find((e) => e.type === 'delete' && e.key === key), {
        timeoutMs: 20_000,
        intervalMs: 20,
        what: 'the key to be deleted',
      });
      const after = deleted.at - startedAt;
      // From the new monitor taking the container (its "monitoring" line) to the DELETE: its
      // first check and the delete, without the listener's and the child's boot.
      const monitoring = logLines(second).find((l) => l.msg === 'monitoring' && l.id === c);
      console.log(
        `new listener started → failing first check deleted the key: ${after} ms ` +
          `(${deleted.at - Date.parse(monitoring?.time ?? '')} ms after its monitor took the container; ` +
          `the lease had ${remaining} s left)`,
      );
      // Deleted by the new monitor, long before the lease could have expired; "a couple of
      // seconds", with room for booting node twice on a loaded 2-core host.
      expect(after).toBeLessThan(Math.min(8000, (remaining - 1) * 1000));
      expect(watch.puts()).toEqual([]);
      await second.tool.waitForOutput(/service record removed from etcd/, { timeoutMs: 5000 });
      // It keeps monitoring the container: its monitor stays, and no key while the check fails.
      await delay(2000);
      expect(await keyedIds(etcd, etcdPrefix)).toEqual([]);
      expect((await second.monitors()).map((m) => m.container)).toEqual([c]);
      expect(watch.puts()).toEqual([]);
    } finally {
      await watch.stop();
    }
  }, 60_000);
});

describe('protocol', () => {
  const settings: MonitorSettings = {
    mode: 'exec',
    timeout: 10,
    loglevel: 'INFO',
    stdout: false,
    syslog: false,
    etcdPrefix: '/SERVICE',
  };

  /** Runs bin/child.js to its end with `env`: forked with an IPC channel, or spawned without one. */
  function child(ipc: boolean, env: NodeJS.ProcessEnv) {
    return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
      (resolve, reject) => {
        const proc = ipc
          ? fork(CHILD_ENTRY, [], {
              ...monitorForkOptions(settings),
              env,
              stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
            })
          : spawn(process.execPath, [...MONITOR_EXEC_ARGV, CHILD_ENTRY], {
              env,
              stdio: ['ignore', 'pipe', 'pipe'],
            });
        const err: Buffer[] = [];
        proc.stderr!.on('data', (b: Buffer) => err.push(b));
        const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        proc.on('error', reject);
        proc.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, stderr: Buffer.concat(err).toString('utf8') });
        });
      },
    );
  }

  /** The test's environment without anything that would change how node starts. */
  const baseEnv = () => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    return env;
  };

  it('a child told another protocol version exits 78 with one line naming both versions', async () => {
    const other = MONITOR_PROTOCOL_VERSION + 41;
    const options = monitorForkOptions(settings, baseEnv());
    const result = await child(true, { ...options.env, [MONITOR_PROTOCOL_ENV]: String(other) });
    console.log(`protocol mismatch: exit ${result.code}, stderr: ${result.stderr.trim()}`);
    expect(result.code).toBe(PROTOCOL_MISMATCH_EXIT);
    expect(result.code).toBe(78);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`\\b${other}\\b`));
    expect(lines[0]!.replace(String(other), '')).toMatch(new RegExp(`\\b${MONITOR_PROTOCOL_VERSION}\\b`));
  });

  it('started without an IPC channel, it exits 2 with one line saying who starts it', async () => {
    for (const env of [monitorForkOptions(settings, baseEnv()).env, baseEnv()]) {
      const result = await child(false, env);
      console.log(`no IPC channel: exit ${result.code}, stderr: ${result.stderr.trim()}`);
      expect(result.code).toBe(2);
      const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/listener/);
    }
  });
});

describe('sidecar mode', () => {
  it('registers healthy containers only in a burst of 50 starts with real HEALTHCHECKs, and leaves no sidecar behind', async () => {
    // A real check through the shared network namespace: a wget against the container's httpd,
    // run in each container's long-lived sidecar (period 15 s: several checks within the test).
    const check = [
      '-e',
      "HEALTHCHECK=sh -c 'timeout 3 wget -q -O /dev/null http://127.0.0.1:8080/ok'",
      '-e',
      'HEALTHCHECKPERIOD=15',
    ];
    const httpd = ['sh', '-c', 'mkdir -p /www && echo ok > /www/ok && exec httpd -f -p 8080 -h /www'];
    // The default mode: no --mode flag.
    const listener = track(
      startListener(['--prefix', prefix, '--etcd-host', etcd.hosts, '--etcd-prefix', etcdPrefix]),
    );
    await listening(listener);
    const watch = await watchRecords(etcd, etcdPrefix);
    const healthy: string[] = [];
    const sick: string[] = [];
    const mine = new Set<string>();
    /** Sidecars (running or not) whose target is one of this test's containers: [id, target]. */
    const sidecarsOfMine = async () => {
      const out = await dockerOk([
        'ps',
        '-a',
        '--filter',
        'label=checker.sidecar=1',
        '--format',
        '{{.ID}} {{.Label "checker.target"}}',
      ]);
      return out
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => line.split(' '))
        .filter(([, target]) => mine.has(target ?? ''));
    };
    try {
      const burstAt = Date.now();
      const started = await Promise.all([
        ...range(47).map(async (i) => healthy.push(await run(`ok${i}`, check, httpd))),
        // No httpd: the same check fails.
        ...range(3).map(async (i) => sick.push(await run(`sick${i}`, check))),
      ]);
      expect(started).toHaveLength(50);
      const runsTook = Date.now() - burstAt;
      for (const id of [...healthy, ...sick]) mine.add(id);
      await waitFor(
        async () => {
          const keys = await keyedIds(etcd, etcdPrefix);
          return healthy.every((id) => keys.includes(id));
        },
        { timeoutMs: 120_000, intervalMs: 100, what: 'the 47 healthy containers to be registered' },
      );
      const firstPut = new Map<string, number>();
      for (const e of watch.events) if (e.type === 'put' && !firstPut.has(e.key)) firstPut.set(e.key, e.at);
      const latencies = healthy.map((id) => firstPut.get(keyOf(id))! - burstAt);
      // Each container's own start (Docker's StartedAt) → its key: the burst's docker runs
      // queue behind one another on a busy host, so this is the monitor's share.
      const startedAtOf = new Map(
        (await dockerOk(['inspect', '--format', '{{.Id}} {{.State.StartedAt}}', ...healthy]))
          .split('\n')
          .map((line) => line.split(' ') as [string, string]),
      );
      const sinceStart = healthy.map((id) => firstPut.get(keyOf(id))! - Date.parse(startedAtOf.get(id)!));
      console.log(
        `sidecar burst of 50 (47 healthy, 3 failing): the docker runs took ${runsTook} ms; keys median ` +
          `${median(latencies)} ms, max ${Math.max(...latencies)} ms after the burst began; each container's ` +
          `start → its key median ${median(sinceStart)} ms, max ${Math.max(...sinceStart)} ms`,
      );

      // Every failing container has a monitor and has been checked twice: never a key.
      const sickNames = new Set(range(3).map((i) => `${prefix}sick${i}`));
      await waitFor(
        () => {
          const failed = new Map<string, number>();
          for (const line of logLines(listener)) {
            const name = String(line.container).replace(/^\//, '');
            if (line.msg === 'checked' && line.verdict === 'unhealthy' && sickNames.has(name))
              failed.set(name, (failed.get(name) ?? 0) + 1);
          }
          return failed.size === 3 && [...failed.values()].every((n) => n >= 2);
        },
        { timeoutMs: 60_000, what: 'two failed checks of each failing container' },
      );
      const monitored = (await listener.monitors()).map((m) => m.container);
      expect([...mine].filter((id) => !monitored.includes(id))).toEqual([]);
      expect(watch.puts().filter((key) => sick.some((id) => key === keyOf(id)))).toEqual([]);
      // The healthy ones' keys are all there (a check that a loaded host timed out comes back).
      await waitFor(
        async () => {
          const keys = await keyedIds(etcd, etcdPrefix);
          return keys.length === healthy.length && healthy.every((id) => keys.includes(id));
        },
        { timeoutMs: 30_000, what: 'exactly the healthy containers registered' },
      );
      const flaps = watch.deletes().length;
      if (flaps > 0)
        console.log(`sidecar mode: ${flaps} deletes of healthy keys (checks timed out on a loaded host)`);

      const removed = await docker(['rm', '-f', ...mine], { timeoutMs: 60_000 });
      expect(removed.code, removed.stderr).toBe(0);
      await settle(etcd, etcdPrefix, listener, [], 30_000);
      await waitFor(async () => (await sidecarsOfMine()).length === 0, {
        timeoutMs: 15_000,
        intervalMs: 250,
        what: 'no sidecar of these containers to be left',
      });
    } finally {
      await watch.stop();
      // Whatever the outcome, none stays on the host.
      await removeContainers((await sidecarsOfMine().catch(() => [])).map(([id]) => id));
    }
  }, 240_000);
});
