// What the listener tests share: the listener started against the test's etcd, and the two
// views a test compares with Docker's reality — the service keys in etcd and the listener's
// monitor children in the process table.
import { Etcd3 } from 'etcd3';
import { etcdOptionsFrom } from '../../packages/core/src/etcd/connection.js';
import type { TestEtcd } from '../support/etcd.js';
import { type ListenerProcess, startListener } from '../support/listener-process.js';

/** The record key's IMAGENAME for checker-test/busybox:latest. */
export const IMAGE_NAME = 'busybox';

/** Container ids with a key under `<etcdPrefix>/`; a key of another shape is returned whole, so it never matches an id. */
export async function keyedIds(etcd: TestEtcd, etcdPrefix: string): Promise<string[]> {
  const out = await etcd.ctl('get', '--prefix', '--keys-only', `${etcdPrefix}/`);
  const shape = new RegExp(
    `^${etcdPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${IMAGE_NAME}/([0-9a-f]{64})$`,
  );
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((key) => shape.exec(key)?.[1] ?? key)
    .sort();
}

export interface Observed {
  keys: string[];
  monitors: string[];
  /** every live child of the listener that is not a warm (idle) monitor */
  children: number;
}

export async function observe(
  etcd: TestEtcd,
  etcdPrefix: string,
  listener: ListenerProcess,
): Promise<Observed> {
  const [keys, monitors, children, warm] = await Promise.all([
    keyedIds(etcd, etcdPrefix),
    listener.monitors(),
    listener.children(),
    listener.warm(),
  ]);
  return { keys, monitors: monitors.map((m) => m.container).sort(), children: children.length - warm.length };
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** "3 missing (abc…, def…), 1 extra (…)" for a failure message. */
function difference(label: string, seen: string[], want: string[]): string {
  const missing = want.filter((id) => !seen.includes(id));
  const extra = seen.filter((id) => !want.includes(id));
  const short = (ids: string[]) =>
    ids
      .slice(0, 5)
      .map((id) => id.slice(0, 12))
      .join(', ');
  return `${label}: ${seen.length} seen, ${missing.length} missing (${short(missing)}), ${extra.length} extra (${short(extra)})`;
}

/**
 * Waits until the keys under etcdPrefix, the listener's monitors and its children are exactly
 * `expected` (container ids): each container once, nothing else.
 */
export async function settle(
  etcd: TestEtcd,
  etcdPrefix: string,
  listener: ListenerProcess,
  expected: string[],
  timeoutMs: number,
): Promise<Observed> {
  const want = [...expected].sort();
  const deadline = Date.now() + timeoutMs;
  let last: Observed | undefined;
  for (;;) {
    const { exitCode, signalCode } = listener.tool.child;
    if (exitCode !== null || signalCode !== null) {
      throw new Error(`the listener exited (${exitCode ?? signalCode}): ${tail(listener, 1500)}`);
    }
    last = await observe(etcd, etcdPrefix, listener);
    if (same(last.keys, want) && same(last.monitors, want) && last.children === want.length) return last;
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for exactly ${want.length} keys and monitors: ` +
          `${difference('keys', last.keys, want)}; ${difference('monitors', last.monitors, want)}; ${last.children} children`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface ListenerSetup {
  etcd: TestEtcd;
  /** --prefix: only containers named with it are the test's */
  prefix: string;
  /** --etcd-prefix, unless the test passes it another way */
  etcdPrefix?: string;
  args?: string[];
  env?: Record<string, string | undefined>;
}

/** The listener (exec mode unless `args` says otherwise) against the test's etcd, limited to the test's containers. */
export function listenerFor({ etcd, prefix, etcdPrefix, args = [], env }: ListenerSetup): ListenerProcess {
  return startListener(
    [
      '--prefix',
      prefix,
      '--etcd-host',
      etcd.hosts,
      ...(etcdPrefix ? ['--etcd-prefix', etcdPrefix] : []),
      // exec unless the test asks for another mode
      ...(args.includes('--mode') ? [] : ['--mode', 'exec']),
      ...args,
    ],
    env ? { env } : {},
  );
}

/** The last lines of the listener's output, for a failed test's report. */
export function tail(listener: ListenerProcess, chars = 6000): string {
  const text = listener.output();
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

export interface KeyEvent {
  type: 'put' | 'delete';
  key: string;
  at: number;
}

/**
 * Every PUT and DELETE under `prefix/`, as an etcd watch sees them, from now until `stop()`:
 * what a consumer of the registry would see.
 */
export async function watchRecords(etcd: TestEtcd, prefix: string) {
  const client = new Etcd3(etcdOptionsFrom(etcd.connection));
  const events: KeyEvent[] = [];
  const watcher = await client.watch().prefix(`${prefix}/`).create();
  watcher.on('put', (kv) => events.push({ type: 'put', key: kv.key.toString(), at: Date.now() }));
  watcher.on('delete', (kv) => events.push({ type: 'delete', key: kv.key.toString(), at: Date.now() }));
  return {
    events,
    deletes: () => events.filter((e) => e.type === 'delete').map((e) => e.key),
    puts: () => events.filter((e) => e.type === 'put').map((e) => e.key),
    async stop() {
      await watcher.cancel();
      client.close();
    },
  };
}
