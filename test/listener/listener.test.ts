// The listener against the host's Docker daemon and a real etcd (SPEC §4): one monitor child per
// running container, no more and no fewer, keys that follow the containers, children that
// never outlive the listener. Every listener runs with a --prefix of its own so other tests'
// containers on the same daemon are not its business, and writes under an etcd prefix of its own.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
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
import { type ListenerProcess, monitorAlive, watchForDuplicates } from '../support/listener-process.js';
import { keyedIds, listenerFor, observe, settle, tail, watchRecords } from './support.js';

let etcd: TestEtcd;
const containers: string[] = [];
const listeners: ListenerProcess[] = [];
let prefix = '';
let etcdPrefix = '';

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.cleanup();
});

// Each test: containers named lt-…-<suffix>, keys under /lt-…
beforeEach(() => {
  prefix = `${uniqueName('lt')}-`;
  etcdPrefix = `/${prefix.slice(0, -1)}`;
});

afterEach(async () => {
  const mine = { listeners: listeners.splice(0), containers: containers.splice(0) };
  await Promise.all(mine.listeners.map((listener) => listener.dispose()));
  await removeContainers(mine.containers);
});

/** The lease a key is written on (as text: lease ids exceed Number's precision), or undefined. */
async function leaseOf(key: string): Promise<string | undefined> {
  const out = await etcd.ctl('get', key, '-w', 'json');
  return /"lease":(\d+)/.exec(out)?.[1];
}

/** A listener for this test; its output is printed when the test fails. */
function startFor(
  options: {
    args?: string[];
    env?: Record<string, string | undefined>;
    etcdPrefix?: string | null;
    prefix?: string;
  } = {},
) {
  const listener = listenerFor({
    etcd,
    prefix: options.prefix ?? prefix,
    etcdPrefix: options.etcdPrefix === null ? undefined : (options.etcdPrefix ?? etcdPrefix),
    args: options.args,
    env: options.env,
  });
  listeners.push(listener);
  onTestFailed(() => {
    console.error(`--- listener output (pid ${listener.pid}) ---\n${tail(listener)}`);
  });
  return listener;
}

/** A `sleep 600` test container (with --init) named `<prefix><suffix>`, removed after the test. */
async function run(suffix: string, extra: string[] = []): Promise<string> {
  const id = await runContainer(['--name', `${prefix}${suffix}`, ...extra, TEST_IMAGE, 'sleep', '600']);
  containers.push(id);
  return id;
}

const listening = (listener: ListenerProcess) =>
  listener.tool.waitForOutput(/listening to Docker events/, { timeoutMs: 15_000 });

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('listener', () => {
  it('registers every container that was already running when it started', async () => {
    const ids = await Promise.all(range(20).map((i) => run(`${i}`)));
    const listener = startFor();
    // ~20 s is the target; the slack is for a host busy with other test files.
    await settle(etcd, etcdPrefix, listener, ids, 30_000);
  });

  it('follows containers started and removed after it started: key on start, gone within 1 s of rm -f or stop', async () => {
    const listener = startFor();
    await listening(listener);

    const a = await run('a');
    await settle(etcd, etcdPrefix, listener, [a], 10_000);
    await dockerOk(['rm', '-f', a]);
    await waitFor(async () => !(await keyedIds(etcd, etcdPrefix)).includes(a), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: 'the key of a removed container to go',
    });
    await settle(etcd, etcdPrefix, listener, [], 5_000);

    const b = await run('b');
    await settle(etcd, etcdPrefix, listener, [b], 10_000);
    await dockerOk(['stop', b]);
    await waitFor(async () => !(await keyedIds(etcd, etcdPrefix)).includes(b), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: 'the key of a stopped container to go',
    });
    await settle(etcd, etcdPrefix, listener, [], 5_000);

    // Started again: a new monitor, the key back.
    await dockerOk(['start', b]);
    await settle(etcd, etcdPrefix, listener, [b], 10_000);
  });

  it('keeps the monitor of a paused container through sweeps: the key goes on pause, comes back at once on unpause', async () => {
    const listener = startFor({ args: ['--interval', '300'] });
    await listening(listener);
    const c = await run('paused');
    await settle(etcd, etcdPrefix, listener, [c], 10_000);
    const [monitorBefore] = await listener.monitors();
    await dockerOk(['pause', c]);
    await waitFor(async () => !(await keyedIds(etcd, etcdPrefix)).includes(c), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: 'the key of a paused container to go',
    });
    await new Promise((resolve) => setTimeout(resolve, 1500)); // several sweeps
    expect((await listener.monitors()).map((m) => m.pid)).toEqual([monitorBefore!.pid]);
    await dockerOk(['unpause', c]);
    await waitFor(async () => (await keyedIds(etcd, etcdPrefix)).includes(c), {
      timeoutMs: 1000,
      intervalMs: 20,
      what: 'the key of an unpaused container to come back',
    });
  });

  it('keeps exactly one monitor per container through a burst of 50 starts and 50 removals, and leaks none', async () => {
    const listener = startFor();
    await listening(listener);
    const watch = watchForDuplicates(listener);
    let sampled: Awaited<ReturnType<typeof watch.stop>>;
    try {
      const ids = await Promise.all(range(50).map((i) => run(`${i}`)));
      await settle(etcd, etcdPrefix, listener, ids, 60_000);
      // Settled means settled: nothing more starts a second later.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await observe(etcd, etcdPrefix, listener)).toEqual({
        keys: [...ids].sort(),
        monitors: [...ids].sort(),
        children: 50,
      });

      const removed = await Promise.all(ids.map((id) => docker(['rm', '-f', id], { timeoutMs: 60_000 })));
      expect(removed.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
      await settle(etcd, etcdPrefix, listener, [], 20_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await observe(etcd, etcdPrefix, listener)).toEqual({ keys: [], monitors: [], children: 0 });
    } finally {
      sampled = await watch.stop();
    }
    // Sampled every 50 ms throughout: never two monitors for one container.
    expect(sampled.duplicates).toEqual([]);
    expect(sampled.samples).toBeGreaterThan(20);
  }, 150_000);

  it('replaces a monitor killed with SIGKILL after the backoff; the new one takes the key and its lease over, without a write', async () => {
    // A 1 s period: the lease (TTL 3 s) would expire within the test unless the new monitor
    // renews it.
    const c = await run('c', ['-e', 'HEALTHCHECKPERIOD=1']);
    const key = `${etcdPrefix}/busybox/${c}`;
    const listener = startFor();
    await settle(etcd, etcdPrefix, listener, [c], 10_000);
    const [old] = await listener.monitors();
    expect(old?.container).toBe(c);
    const oldLease = await leaseOf(key);
    expect(oldLease).toBeDefined();
    const watch = await watchRecords(etcd, etcdPrefix);
    try {
      process.kill(old!.pid, 'SIGKILL');
      const killedAt = Date.now();
      const replacement = await waitFor(
        async () => (await listener.monitors()).find((m) => m.container === c && m.pid !== old!.pid),
        { timeoutMs: 10_000, intervalMs: 50, what: 'a new monitor for the container' },
      );
      // The first restart waits the 1 s backoff (a little slack for the process table's clock).
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(900);
      expect(await monitorAlive(old!.pid)).toBe(false);
      await listener.tool.waitForOutput(/took over the service record and lease/, { timeoutMs: 5000 });
      // Three TTLs later: the key is still there, on the same lease, never deleted or rewritten.
      await new Promise((resolve) => setTimeout(resolve, 9000));
      expect(await leaseOf(key)).toBe(oldLease);
      expect(watch.events).toEqual([]);
      await settle(etcd, etcdPrefix, listener, [c], 5_000);
      expect((await listener.monitors()).map((m) => m.pid)).toEqual([replacement.pid]);
    } finally {
      await watch.stop();
    }
  }, 40_000);

  it('killed with SIGKILL: its children end within 1 s and leave the records; a new listener takes them over without a DELETE', async () => {
    const ids = await Promise.all(range(3).map((i) => run(`${i}`, ['-e', 'HEALTHCHECKPERIOD=2'])));
    const first = startFor();
    await settle(etcd, etcdPrefix, first, ids, 15_000);
    const leases = await Promise.all(ids.map((id) => leaseOf(`${etcdPrefix}/busybox/${id}`)));
    const watch = await watchRecords(etcd, etcdPrefix);
    try {
      first.tool.child.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(async () => (await first.descendants()).length === 0, {
        timeoutMs: 1500,
        intervalMs: 20,
        what: 'the orphaned monitors to end',
      });
      expect(Date.now() - killedAt).toBeLessThan(1000);
      // The records stay on their leases (TTL 5 s) for the next listener.
      expect(await keyedIds(etcd, etcdPrefix)).toEqual([...ids].sort());

      const second = startFor();
      await settle(etcd, etcdPrefix, second, ids, 15_000);
      // Past the TTL: the new monitors renew the same leases; nothing was deleted or rewritten.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      expect(await Promise.all(ids.map((id) => leaseOf(`${etcdPrefix}/busybox/${id}`)))).toEqual(leases);
      expect(watch.deletes()).toEqual([]);
      expect(watch.puts()).toEqual([]);
    } finally {
      await watch.stop();
    }
  }, 60_000);

  // A monitor still loading its modules when the listener dies must go too: it has no
  // disconnect handler of its own yet (bin/child.js exits early; runMonitor checks again).
  it('leaves no monitor behind when it is killed with SIGKILL while a monitor is still starting', async () => {
    await run('c');
    const listener = startFor();
    await waitFor(async () => (await listener.monitors()).length > 0, {
      timeoutMs: 10_000,
      intervalMs: 10,
      what: 'a monitor process',
    });
    listener.tool.child.kill('SIGKILL');
    await waitFor(async () => (await listener.descendants()).length === 0, {
      timeoutMs: 5000,
      intervalMs: 50,
      what: 'the orphaned monitor to end',
    });
  });

  it('on SIGTERM ends every monitor, removes every key before it exits, and exits 0', async () => {
    const ids = await Promise.all(range(5).map((i) => run(`${i}`)));
    const listener = startFor();
    await settle(etcd, etcdPrefix, listener, ids, 15_000);
    expect(await listener.monitors()).toHaveLength(5);

    listener.tool.child.kill('SIGTERM');
    const result = await listener.exited;
    expect(result.code, result.stderr).toBe(0);
    // No waiting here: the listener waits for its monitors, which remove their keys first.
    expect(await keyedIds(etcd, etcdPrefix)).toEqual([]);
    expect(await listener.descendants()).toEqual([]);
  });

  it('ignores check sidecars (checker.sidecar=1) and names outside --prefix, found at start or by events', async () => {
    // Outside: the prefix inside the name but not at its start (the prefix is anchored).
    const runOutside = async () => {
      const id = await runContainer(['--name', `x${uniqueName(prefix)}`, TEST_IMAGE, 'sleep', '600']);
      containers.push(id);
      return id;
    };
    const before = await run('before');
    await run('sidecar-before', ['--label', 'checker.sidecar=1']);
    await runOutside();

    // The prefix given with the leading slash, as a Docker name has it.
    const listener = startFor({ prefix: `/${prefix}` });
    await settle(etcd, etcdPrefix, listener, [before], 10_000);

    const after = await run('after');
    await run('sidecar-after', ['--label', 'checker.sidecar=1']);
    await runOutside();
    await settle(etcd, etcdPrefix, listener, [before, after], 10_000);
    // …and it stays that way: nothing else shows up late.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await observe(etcd, etcdPrefix, listener)).toEqual({
      keys: [before, after].sort(),
      monitors: [before, after].sort(),
      children: 2,
    });
  });

  it('passes its options to the monitors: MON_ETCD_PREFIX=/other puts the keys under /other', async () => {
    const c = await run('c');
    const listener = startFor({ etcdPrefix: null, env: { MON_ETCD_PREFIX: '/other' } });
    await settle(etcd, '/other', listener, [c], 10_000);
    expect(await keyedIds(etcd, '/SERVICE')).toEqual([]);
    // Stopping the listener removes them from there too.
    listener.tool.child.kill('SIGTERM');
    expect((await listener.exited).code).toBe(0);
    expect(await keyedIds(etcd, '/other')).toEqual([]);
  });
});

describe('orphaned check sidecars', () => {
  it('removes one-shot sidecars older than their timeout, running or exited (their check was killed), and leaves younger ones alone', async () => {
    const sidecar = (timeoutMs: number) => [
      '--label',
      'checker.sidecar=1',
      '--label',
      'checker.target=gone',
      '--label',
      `checker.timeout-ms=${timeoutMs}`,
    ];
    const exited = await dockerOk([
      'run',
      '-d',
      ...sidecar(500),
      '--label',
      'checker.test=1',
      '--name',
      `${prefix}exited-sidecar`,
      TEST_IMAGE,
      'true',
    ]);
    containers.push(exited);
    // A sidecar whose command hangs and whose owner was killed: still running, past its timeout.
    const hung = await run('hung-sidecar', sidecar(500));
    const young = await run('young-sidecar', sidecar(600_000));
    const listener = startFor({
      args: ['--interval', '500'],
      env: { CHECKER_ORPHAN_SIDECAR_AFTER_MS: '1000' },
    });
    for (const [id, what] of [
      [exited, 'the exited orphan sidecar'],
      [hung, 'the running orphan sidecar'],
    ] as const) {
      await waitFor(async () => (await docker(['inspect', id])).code !== 0, {
        timeoutMs: 15_000,
        what: `the listener to remove ${what}`,
      });
    }
    expect(listener.output()).toMatch(/removed an orphaned check sidecar/);
    expect(await dockerOk(['inspect', '--format', '{{.State.Status}}', young])).toBe('running');
  });
});
