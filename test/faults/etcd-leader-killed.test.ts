// SPEC §6, "one etcd node of a cluster down, its leader killed → warnings, checks go on, records
// back within 2 s of a quorum answering; none written stale" (issue 9: with a 3-node cluster
// whose leader was SIGKILLed, every call failed for ~6 s with "No connection established", and
// a container stopped meanwhile kept its key that long). A listener is given the three members'
// endpoints and 10 containers; the leader is SIGKILLed and at once one container is stopped:
// its key must be gone within 2 s, no other record may be deleted, and a container started
// then must be registered within 2 s. The figures are printed.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { tail } from '../listener/support.js';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcdCluster, type TestEtcdCluster } from '../support/etcd-cluster.js';
import {
  dockerOk,
  removeContainers,
  runContainer,
  TEST_IMAGE,
  uniqueName,
  waitFor,
} from '../support/images.js';
import { type ListenerProcess, startListener } from '../support/listener-process.js';

const CONTAINERS = 10;

let cluster: TestEtcdCluster;
let listener: ListenerProcess | undefined;
const containers: string[] = [];

beforeAll(async () => {
  await buildToolsIfMissing();
  cluster = await startEtcdCluster();
});

afterAll(async () => {
  await listener?.dispose();
  await removeContainers(containers);
  await cluster?.cleanup();
}, 120_000);

/** Container ids with a key under `<etcdPrefix>/busybox/`, from the members that run. */
async function keyedIds(etcdPrefix: string): Promise<string[]> {
  const out = await cluster.ctl('get', '--prefix', '--keys-only', `${etcdPrefix}/`);
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((key) => key.slice(key.lastIndexOf('/') + 1))
    .sort();
}

/** Polls until `test` holds for the keyed ids; resolves with Date.now() then. */
function whenKeys(etcdPrefix: string, test: (ids: string[]) => boolean, what: string, timeoutMs = 30_000) {
  return waitFor(async () => (test(await keyedIds(etcdPrefix)) ? Date.now() : undefined), {
    timeoutMs,
    intervalMs: 50,
    what,
  });
}

function sleeper(name: string): Promise<string> {
  return runContainer([
    '--name',
    name,
    '-e',
    'HEALTHCHECK=true',
    '-e',
    'HEALTHCHECKPERIOD=5',
    TEST_IMAGE,
    'sleep',
    '600',
  ]);
}

describe('listener with a 3-member etcd cluster whose leader is SIGKILLed', () => {
  it('a container stopped at once loses its key within 2 s, the other records are kept, a new container registers within 2 s', async () => {
    const prefix = `${uniqueName('faults-ldr')}-`;
    const etcdPrefix = `/${prefix.slice(0, -1)}`;
    for (let i = 0; i < CONTAINERS; i += 1) containers.push(await sleeper(`${prefix}${i}`));
    listener = startListener([
      '--prefix',
      prefix,
      '--etcd-host',
      cluster.hosts,
      '--etcd-prefix',
      etcdPrefix,
      '--mode',
      'exec',
      '--interval',
      '2000',
    ]);
    const l = listener;
    onTestFailed(() => console.error(`--- listener output (end) ---\n${tail(l, 3000)}`));
    const all = [...containers].sort();
    await whenKeys(etcdPrefix, (ids) => ids.join() === all.join(), `the ${CONTAINERS} records`, 60_000);

    // Every delete under the prefix from now on, as a consumer watching the registry sees it.
    const client = new Etcd3({ hosts: cluster.hosts.split(',') });
    const deleted: string[] = [];
    const watcher = await client.watch().prefix(`${etcdPrefix}/`).create();
    watcher.on('delete', (kv) =>
      deleted.push(kv.key.toString().slice(kv.key.toString().lastIndexOf('/') + 1)),
    );

    try {
      const leader = await cluster.leader();
      const [victim, ...kept] = containers;
      onTestFailed(() => {
        // What the listener and the stopped container's monitor said about it.
        const about = l
          .output()
          .split('\n')
          .filter((line) => line.includes(victim!) || /etcd/.test(line))
          .filter((line) => !line.includes('"msg":"checked"'));
        console.error(`--- lines about the stopped container, and about etcd ---\n${about.join('\n')}`);
      });
      const killedAt = Date.now();
      await cluster.kill(leader.name);
      const stopStarted = Date.now();
      await dockerOk(['stop', victim!], { timeoutMs: 30_000 });
      const stopReturned = Date.now();
      const goneAt = await whenKeys(
        etcdPrefix,
        (ids) => !ids.includes(victim!),
        `the stopped container's key to go`,
      );

      const newcomer = await sleeper(`${prefix}new`);
      containers.push(newcomer);
      const startedAt = Date.now();
      const registeredAt = await whenKeys(
        etcdPrefix,
        (ids) => ids.includes(newcomer),
        `the new container's key`,
      );

      const newLeader = await cluster.leader().catch(() => undefined);
      console.log(
        `leader ${leader.name} SIGKILLed; docker stop ${stopReturned - stopStarted} ms, began ${stopStarted - killedAt} ms after the kill; ` +
          `the stopped container's key gone ${goneAt - stopReturned} ms after docker stop returned (${goneAt - killedAt} ms after the kill); ` +
          `a new container registered ${registeredAt - startedAt} ms after docker run returned; new leader ${newLeader?.name ?? 'unknown'}`,
      );
      expect(goneAt - stopReturned).toBeLessThanOrEqual(2_000);
      expect(registeredAt - startedAt).toBeLessThanOrEqual(2_000);

      // Records kept: a period later still exactly the 9 left and the newcomer, and the only
      // delete a watcher saw was the stopped container's.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(await keyedIds(etcdPrefix)).toEqual([...kept, newcomer].sort());
      expect(deleted).toEqual([victim]);
      expect(l.tool.child.exitCode).toBeNull();
      expect(l.output()).not.toMatch(/monitor crashed/);
    } finally {
      await watcher.cancel().catch(() => undefined);
      client.close();
    }
  }, 180_000);
});
