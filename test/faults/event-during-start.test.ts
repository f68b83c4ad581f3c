// Issue 9: "an event arriving between the monitor's inspect and its record creation crashes the
// child (TypeError)". Under a listener, a container created from a bare image id makes its
// monitor inspect the image too (for the record's IMAGENAME); a Docker proxy of the test's own
// holds that image inspect back for 2 s, and the container is paused inside that window, so
// the `pause` event reaches a monitor that has inspected its container but made no record yet.
// The child must not crash ("monitor crashed" never logged, the same process throughout), the
// paused containers must get no record (also the one without a HEALTHCHECK, whose first check
// would pass on the inspect made before the pause), and their keys must appear once unpaused.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { keyedIds, tail } from '../listener/support.js';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { type FaultProxy, pass, startFaultProxy } from '../support/fault-proxy.js';
import {
  dockerOk,
  removeContainers,
  runContainer,
  TEST_IMAGE,
  uniqueName,
  waitFor,
} from '../support/images.js';
import { type ListenerProcess, startListener } from '../support/listener-process.js';

const IMAGE_DELAY_MS = 2_000;

let etcd: TestEtcd;
let proxy: FaultProxy;
let listener: ListenerProcess | undefined;
const containers: string[] = [];

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
  proxy = await startFaultProxy((method, path) =>
    method === 'GET' && /^\/images\/[^/]+\/json/.test(path) ? { kind: 'delay', ms: IMAGE_DELAY_MS } : pass,
  );
});

afterAll(async () => {
  await listener?.dispose();
  for (const id of containers) await dockerOk(['unpause', id]).catch(() => undefined);
  await removeContainers(containers);
  await proxy?.close();
  await etcd?.cleanup();
});

describe('listener: an event between a monitor’s inspect and its record', () => {
  it('a pause while the image inspect is held back: no crash, no record while paused, the keys after unpause', async () => {
    const prefix = `${uniqueName('faults-eds')}-`;
    const etcdPrefix = `/${prefix.slice(0, -1)}`;
    listener = startListener([
      '--control',
      proxy.control,
      '--prefix',
      prefix,
      '--etcd-host',
      etcd.hosts,
      '--etcd-prefix',
      etcdPrefix,
      '--mode',
      'exec',
    ]);
    const l = listener;
    onTestFailed(() => console.error(`--- listener output ---\n${tail(l)}`));
    await l.tool.waitForOutput(/listening to Docker events/, { timeoutMs: 30_000 });

    const imageId = await dockerOk(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE]);
    const seenBefore = proxy.requests.length;
    const heldSince = () =>
      proxy.requests.filter((r) => proxy.requests.indexOf(r) >= seenBefore && r.action === 'delay');
    // Created by the bare image id: each monitor has to look the image up for IMAGENAME. One
    // with a HEALTHCHECK, and one without, whose verdict needs nothing but the container's
    // state: a first check judged on the inspect made before the pause would register it.
    const ids: string[] = [];
    for (const [what, env] of [
      ['byid', ['-e', 'HEALTHCHECK=true']],
      ['byid-nocheck', []],
    ] as const) {
      const id = await runContainer(['--name', `${prefix}${what}`, ...env, imageId, 'sleep', '600']);
      containers.push(id);
      ids.push(id);
    }
    await waitFor(() => heldSince().length >= 2, {
      timeoutMs: 20_000,
      intervalMs: 10,
      what: "both monitors' image inspects",
    });
    const held = heldSince()[1]!;
    await dockerOk(['pause', ...ids]);
    const pausedAt = Date.now();
    console.log(
      `paused ${pausedAt - held.at} ms into the ${IMAGE_DELAY_MS} ms the image inspect was held back`,
    );
    expect(pausedAt - held.at).toBeLessThan(IMAGE_DELAY_MS);
    const before = (await l.monitors()).filter((m) => ids.includes(m.container));
    expect(before, 'the monitors of the containers while they started').toHaveLength(2);

    // Past the hold, and a little more: the monitors have made their record objects and checked.
    await new Promise((resolve) => setTimeout(resolve, IMAGE_DELAY_MS + 2_000));
    expect(l.output()).not.toMatch(/monitor crashed/);
    expect(l.output()).not.toMatch(/TypeError|a bug in checker/);
    expect(await keyedIds(etcd, etcdPrefix)).toEqual([]);

    await dockerOk(['unpause', ...ids]);
    const unpausedAt = Date.now();
    await waitFor(async () => (await keyedIds(etcd, etcdPrefix)).length === 2, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'both keys after unpause',
    });
    expect((await keyedIds(etcd, etcdPrefix)).sort()).toEqual([...ids].sort());
    console.log(`keys registered ${Date.now() - unpausedAt} ms after docker unpause`);

    expect(l.output()).not.toMatch(/monitor crashed/);
    expect(l.output()).not.toMatch(/TypeError|a bug in checker/);
    // One monitor process a container, the one that was starting during the pause.
    const now = (await l.monitors()).filter((m) => ids.includes(m.container));
    expect(now.map((m) => m.pid).sort()).toEqual(before.map((m) => m.pid).sort());
  }, 90_000);
});
