// What the monitor's integration tests share: a per-test fixture that owns the containers,
// monitor processes and etcd watches a test makes (and removes them, by id, after the test
// whether it passed or not), and ways to look at etcd and Docker that do not go through the
// code under test: etcdctl for keys and leases, the Docker CLI for event times, and an etcd3
// watch for the exact moments keys were written and deleted.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3, type Watcher } from 'etcd3';
import { test as base } from 'vitest';
import type { TestEtcd } from '../support/etcd.js';
import { dockerOk, removeContainers, runContainer, TEST_IMAGE, TEST_LABEL } from '../support/images.js';
import { killMonitors, type MonitorProcess, startMonitor } from '../support/monitor-process.js';

export const IMAGE_NAME = 'busybox'; // of TEST_IMAGE, checker-test/busybox:latest

export const serviceKey = (id: string, prefix = '/SERVICE') => `${prefix}/${IMAGE_NAME}/${id}`;

/** The monitor's flags for a test: logs as JSON lines on stdout, no syslog, this etcd. */
export function monitorFlags(etcd: TestEtcd, ...extra: string[]): string[] {
  const flags = ['--stdout', '--no-syslog', '--etcd-host', etcd.hosts];
  if (etcd.tls)
    flags.push('--etcd-ca', etcd.tls.ca, '--etcd-cert', etcd.tls.cert, '--etcd-key', etcd.tls.key);
  if (etcd.auth) flags.push('--etcd-user', etcd.auth.user, '--etcd-password', etcd.auth.password);
  return [...flags, ...extra];
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- etcd, seen through etcdctl ---------------------------------------------------------

export interface StoredKey {
  /** the value, byte for byte */
  value: string;
  /** the lease id in decimal, as etcd prints it (beyond 2^53: kept as text) */
  lease: string;
}

/** The key as etcd holds it now, or undefined. */
export async function storedKey(etcd: TestEtcd, key: string): Promise<StoredKey | undefined> {
  const raw = await etcd.ctl('get', key, '-w', 'json');
  const parsed = JSON.parse(raw) as { kvs?: { value: string }[] };
  const kv = parsed.kvs?.[0];
  if (kv === undefined) return undefined;
  // JSON.parse would round a 64-bit lease id; read its digits from the text.
  const lease = /"lease":(\d+)/.exec(raw)?.[1] ?? '0';
  return { value: Buffer.from(kv.value, 'base64').toString('utf8'), lease };
}

/** Every key under `prefix` (for "nothing else was written"). */
export async function keysUnder(etcd: TestEtcd, prefix: string): Promise<string[]> {
  const out = await etcd.ctl('get', prefix, '--prefix', '--keys-only');
  return out.split('\n').filter((line) => line.trim() !== '');
}

/** `etcdctl lease timetolive`: the TTL the lease was granted with, and what is left of it. */
export async function leaseTtl(
  etcd: TestEtcd,
  leaseDecimal: string,
): Promise<{ granted: number; remaining: number }> {
  const hex = BigInt(leaseDecimal).toString(16);
  const out = await etcd.ctl('lease', 'timetolive', hex);
  const match = /granted with TTL\((\d+)s\), remaining\((-?\d+)s\)/.exec(out);
  if (!match) throw new Error(`etcdctl lease timetolive ${hex}: unexpected output ${JSON.stringify(out)}`);
  return { granted: Number(match[1]), remaining: Number(match[2]) };
}

/** Polls etcd until the key is present (or absent); resolves with Date.now() when seen so. */
export async function whenKey(
  etcd: TestEtcd,
  key: string,
  state: 'present' | 'absent',
  opts: { timeoutMs?: number; intervalMs?: number; monitor?: MonitorProcess } = {},
): Promise<number> {
  const { timeoutMs = 30_000, intervalMs = 100, monitor } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const present = (await storedKey(etcd, key)) !== undefined;
      if (present === (state === 'present')) return Date.now();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `key ${key} not ${state} after ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}` +
          (monitor ? `; the monitor's last lines:\n${monitor.tail()}` : ''),
      );
    }
    await delay(intervalMs);
  }
}

// ---- etcd, seen through a watch ---------------------------------------------------------

export interface KeyEvent {
  type: 'put' | 'delete';
  /** Date.now() when the watch delivered it */
  at: number;
  value?: string;
}

export interface KeyWatch {
  readonly events: KeyEvent[];
  puts(): KeyEvent[];
  /** the first event of `type` delivered at or after `since` (ms), waiting for it */
  next(type: KeyEvent['type'], since: number, timeoutMs: number): Promise<KeyEvent>;
  close(): Promise<void>;
}

/** Watches one key from now on; resolves once the watch is live, so no write is missed. */
export async function watchKey(etcd: TestEtcd, key: string): Promise<KeyWatch> {
  const client = new Etcd3({
    hosts: etcd.hosts,
    ...(etcd.tls
      ? {
          credentials: {
            rootCertificate: await readFile(etcd.tls.ca),
            certChain: await readFile(etcd.tls.cert),
            privateKey: await readFile(etcd.tls.key),
          },
        }
      : {}),
    ...(etcd.auth ? { auth: { username: etcd.auth.user, password: etcd.auth.password } } : {}),
  });
  const events: KeyEvent[] = [];
  const wakers = new Set<() => void>();
  let watcher: Watcher;
  try {
    watcher = await client.watch().key(key).create();
  } catch (error) {
    client.close();
    throw error;
  }
  watcher.on('put', (kv) => {
    events.push({ type: 'put', at: Date.now(), value: kv.value.toString('utf8') });
    for (const wake of wakers) wake();
  });
  watcher.on('delete', () => {
    events.push({ type: 'delete', at: Date.now() });
    for (const wake of wakers) wake();
  });
  return {
    events,
    puts: () => events.filter((e) => e.type === 'put'),
    next: (type, since, timeoutMs) =>
      new Promise((resolve, reject) => {
        const look = () => {
          const found = events.find((e) => e.type === type && e.at >= since);
          if (found) {
            clearTimeout(timer);
            wakers.delete(look);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          wakers.delete(look);
          reject(new Error(`no ${type} of ${key} within ${timeoutMs} ms; events: ${JSON.stringify(events)}`));
        }, timeoutMs);
        wakers.add(look);
        look();
      }),
    close: async () => {
      await watcher.cancel().catch(() => undefined);
      client.close();
    },
  };
}

// ---- Docker -----------------------------------------------------------------------------

/**
 * When Docker says `action` (e.g. `die`, `health_status: healthy`) happened to the container,
 * at or after `sinceMs` (ms since the epoch; the daemon runs on this host, so the clocks are
 * one). Reads the daemon's own event log after the fact: nothing to subscribe beforehand.
 */
export async function dockerEventAt(id: string, action: string, sinceMs: number): Promise<number> {
  const out = await dockerOk([
    'events',
    '--since',
    (sinceMs / 1000 - 0.001).toFixed(3),
    '--until',
    (Date.now() / 1000 + 0.001).toFixed(3),
    '--filter',
    `container=${id}`,
    '--filter',
    `event=${action.split(':')[0]}`,
    '--format',
    '{{.TimeNano}} {{.Action}}',
  ]);
  for (const line of out.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(space + 1) === action)
      return Number(BigInt(line.slice(0, space)) / 1_000_000n);
  }
  throw new Error(`Docker reported no ${action} event of ${id} since ${sinceMs}: ${JSON.stringify(out)}`);
}

export interface ContainerFacts {
  ip: string;
  name: string;
  ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
}

export async function inspectFacts(id: string): Promise<ContainerFacts> {
  const out = await dockerOk([
    'inspect',
    '--format',
    '{{json .NetworkSettings.IPAddress}} {{json .Name}} {{json .NetworkSettings.Ports}}',
    id,
  ]);
  const [ip, name, ports] = out.split(' ').map((part) => JSON.parse(part));
  return { ip, name, ports };
}

// ---- the per-test fixture ---------------------------------------------------------------

/** What one test made; removed after it, in every case. */
export class Made {
  readonly containers: string[] = [];
  readonly monitors: MonitorProcess[] = [];
  readonly watches: KeyWatch[] = [];

  /** `docker run -d --init --label checker.test=1 …args` (image and command included). */
  async container(args: string[]): Promise<string> {
    const id = await runContainer(args);
    this.containers.push(id);
    return id;
  }

  /** `docker create`: a container that exists but does not run. */
  async createdContainer(args: string[]): Promise<string> {
    const out = await dockerOk(['create', '--init', '--label', TEST_LABEL, ...args], { timeoutMs: 60_000 });
    const id = out.split('\n').at(-1)!.trim();
    this.containers.push(id);
    return id;
  }

  /** A running test container: `sleep 600` in the busybox image, with these options. */
  sleeper(options: string[] = []): Promise<string> {
    return this.container([...options, TEST_IMAGE, 'sleep', '600']);
  }

  monitor(args: string[], env?: NodeJS.ProcessEnv): MonitorProcess {
    const monitor = startMonitor(args, env ? { env } : {});
    this.monitors.push(monitor);
    return monitor;
  }

  async watch(etcd: TestEtcd, key: string): Promise<KeyWatch> {
    const watch = await watchKey(etcd, key);
    this.watches.push(watch);
    return watch;
  }

  async cleanup(): Promise<void> {
    await killMonitors(this.monitors);
    await Promise.all(this.watches.map((w) => w.close()));
    await removeContainers(this.containers);
  }
}

/** vitest's `test` with a `made` fixture: torn down after each test, passed or failed. */
export const test = base.extend<{ made: Made }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures must destructure their first argument
  made: async ({}, use) => {
    const made = new Made();
    try {
      await use(made);
    } finally {
      await made.cleanup();
    }
  },
});

/**
 * `docker <args>` that must succeed; resolves with Date.now() before it was run and after it
 * returned. What it does takes effect somewhere between the two (a loaded host can make that
 * seconds), so look for consequences from `started` on and measure latencies from `returned`.
 */
export async function dockerAt(args: string[]): Promise<{ started: number; returned: number }> {
  const started = Date.now();
  await dockerOk(args, { timeoutMs: 30_000 });
  return { started, returned: Date.now() };
}

// ---- a Docker socket that never answers /events -------------------------------------------

export interface HoldingProxy {
  /** what --control takes */
  control: string;
  /** request lines of the /events calls it is holding */
  readonly held: string[];
  close(): Promise<void>;
}

/**
 * A unix socket in front of the real Docker socket that forwards every request but swallows
 * `GET /events…`, which then never gets an answer: what a daemon that is still starting does
 * to an event subscription.
 */
export async function eventHoldingProxy(): Promise<HoldingProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-proxy-'));
  const path = join(dir, 'docker.sock');
  const held: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect('/var/run/docker.sock');
    sockets.add(client).add(upstream);
    let holding = false;
    client.on('data', (chunk: Buffer) => {
      const requestLine = /^GET [^ ]*\/events[^\r\n]*/m.exec(chunk.toString('latin1'))?.[0];
      if (requestLine) {
        holding = true;
        held.push(requestLine);
      }
      if (!holding) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!holding) client.write(chunk);
    });
    upstream.on('end', () => client.end());
    client.on('end', () => upstream.end());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    control: `unix://${path}`,
    held,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
