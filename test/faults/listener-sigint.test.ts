// SPEC §4, "SIGTERM/SIGINT: ends every monitor (each removes its key), waits for them, exits 0",
// for SIGINT (issue 9 asked for this test: Ctrl-C of an operator running the listener in a
// terminal). Five containers under a listener with warm monitors; after SIGINT the listener
// exits 0, and by then every key is gone and no process it started is left.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { keyedIds, listenerFor, settle, tail, watchRecords } from '../listener/support.js';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { removeContainers, runContainer, TEST_IMAGE, uniqueName, waitFor } from '../support/images.js';
import type { ListenerProcess } from '../support/listener-process.js';

let etcd: TestEtcd;
let listener: ListenerProcess | undefined;
const containers: string[] = [];

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterAll(async () => {
  await listener?.dispose();
  await removeContainers(containers);
  await etcd?.cleanup();
});

describe('listener: SIGINT', () => {
  it('removes every key, leaves no child, exits 0', async () => {
    const prefix = `${uniqueName('faults-int')}-`;
    const etcdPrefix = `/${prefix.slice(0, -1)}`;
    for (let i = 0; i < 5; i += 1)
      containers.push(
        await runContainer(['--name', `${prefix}${i}`, '-e', 'HEALTHCHECK=true', TEST_IMAGE, 'sleep', '600']),
      );
    listener = listenerFor({ etcd, prefix, etcdPrefix });
    const l = listener;
    onTestFailed(() => console.error(`--- listener output ---\n${tail(l)}`));
    await settle(etcd, etcdPrefix, l, containers, 30_000);
    // One monitor per container, and any warm (idle) ones: SIGINT must end them all.
    expect((await l.children()).length).toBeGreaterThanOrEqual(containers.length);
    const watch = await watchRecords(etcd, etcdPrefix);

    const signalledAt = Date.now();
    l.tool.child.kill('SIGINT');
    const result = await l.exited;
    const exitedAt = Date.now();
    console.log(`SIGINT: the listener exited ${result.code} after ${exitedAt - signalledAt} ms`);
    // The watch delivers what etcd did before the exit a moment later.
    await waitFor(() => watch.deletes().length >= containers.length, {
      timeoutMs: 3_000,
      what: 'the watch to see the deletes',
    }).catch(() => undefined);
    await watch.stop();

    expect(result.code, result.stderr).toBe(0);
    expect(result.signal).toBeNull();
    // Withdrawn before the listener exited (their leases had a minute left): deleted, not expired.
    expect(await keyedIds(etcd, etcdPrefix)).toEqual([]);
    expect(watch.deletes().length).toBe(containers.length);
    expect(await l.descendants()).toEqual([]);
    expect(l.output()).not.toMatch(/monitor crashed|a bug in checker/);
  }, 90_000);
});
