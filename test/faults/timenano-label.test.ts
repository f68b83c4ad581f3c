// Issue 9: "a label named `timeNano` derails the event parser". Docker puts a container's labels
// among its event's attributes, before the event's own timeNano, so a parser that takes the
// first `"timeNano":` in the line reads the label's value (here 1) as the event's time: the event
// then looks older than everything seen and is dropped as a replayed duplicate, and a replay
// `since` that time would start at the epoch. A listener follows a second dockerd this file owns,
// with a sweep interval long enough (60 s) that only events can explain what it does: a
// container labelled `timeNano=1` must get its key on start and lose it on stop, and after a
// restart of the daemon (stream broken, replayed, reconciled) the records must equal the
// running containers and the labelled containers' events must still be followed.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { keyedIds, tail } from '../listener/support.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { TEST_IMAGE, uniqueName, waitFor } from '../support/images.js';
import { type ListenerProcess, startListener } from '../support/listener-process.js';
import { type SecondDockerd, startSecondDockerd } from '../support/second-dockerd.js';

let etcd: TestEtcd | undefined;
let daemon: SecondDockerd | undefined;
let listener: ListenerProcess | undefined;

beforeAll(async () => {
  [etcd, daemon] = await Promise.all([startEtcd(), startSecondDockerd()]);
});

afterAll(async () => {
  await listener?.dispose().catch(() => undefined);
  await daemon?.cleanup();
  await etcd?.cleanup();
});

describe('listener: a container labelled timeNano', () => {
  it('gets its key on start, loses it on stop, and a replay after a Docker restart is correct', async () => {
    const d = daemon!;
    const e = etcd!;
    const prefix = `${uniqueName('faults-tn')}-`;
    const etcdPrefix = `/${prefix.slice(0, -1)}`;
    onTestFailed(async () => {
      if (listener) console.error(`--- listener output ---\n${tail(listener)}`);
      console.error(`--- second dockerd log ---\n${(await d.log()).slice(-2000)}`);
    });
    const cli = async (args: string[]) => {
      const r = await d.docker(args, { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.trim()}`);
      return r.stdout.trim().split('\n').at(-1)!;
    };
    const run = (name: string, labels: string[]) =>
      cli([
        'run',
        '-d',
        '--init',
        '--restart',
        'always',
        '--label',
        'checker.test=1',
        ...labels.flatMap((label) => ['--label', label]),
        '--name',
        `${prefix}${name}`,
        TEST_IMAGE,
        'sleep',
        '600',
      ]);
    const keys = () => keyedIds(e, etcdPrefix);
    /** Resolves with how long it took until the keyed ids are `want`. */
    const within = async (want: string[], timeoutMs: number, what: string) => {
      const from = Date.now();
      const sorted = [...want].sort().join();
      await waitFor(async () => (await keys()).join() === sorted, { timeoutMs, intervalMs: 50, what });
      return Date.now() - from;
    };

    listener = startListener([
      '--control',
      d.control,
      '--prefix',
      prefix,
      '--etcd-host',
      e.hosts,
      '--etcd-prefix',
      etcdPrefix,
      '--mode',
      'exec',
      '--interval',
      '60000',
    ]);
    await listener.tool.waitForOutput(/listening to Docker events/, { timeoutMs: 30_000 });
    // An ordinary container first, so the stream has seen an event before the labelled one's.
    const plain = await run('plain', []);
    await within([plain], 10_000, 'the plain container to be registered');

    const labelled = await run('labelled', ['timeNano=1']);
    const registered = await within([plain, labelled], 10_000, 'the labelled container to be registered');
    await cli(['stop', labelled]);
    const deregistered = await within([plain], 2_000, 'the labelled container to be deregistered on stop');
    await cli(['start', labelled]);
    const again = await within([plain, labelled], 10_000, 'the labelled container to be registered again');
    console.log(
      `timeNano=1: registered ${registered} ms after docker run, deregistered ${deregistered} ms after docker stop, registered again ${again} ms after docker start`,
    );

    // The daemon restarts: its containers stop with it and come back (--restart always)
    // before the listener has resubscribed; the replay and the reconcile set things right.
    await d.stop();
    await within([], 15_000, 'the keys of the containers that stopped with the daemon to go');
    await d.start();
    const replayed = await within([plain, labelled], 20_000, 'both containers registered after the restart');
    // Events after the replay are followed too, for a labelled container started now as well.
    const late = await run('late', ['timeNano=1']);
    const lateRegistered = await within(
      [plain, labelled, late],
      10_000,
      'a labelled container started after the restart',
    );
    await cli(['stop', labelled]);
    const lateStop = await within(
      [plain, late],
      2_000,
      'the labelled container deregistered after the restart',
    );
    console.log(
      `after the Docker restart: records equal the running containers ${replayed} ms after the daemon was back; ` +
        `a new labelled container registered in ${lateRegistered} ms; a stop deregistered in ${lateStop} ms`,
    );
    expect(listener.output()).toMatch(/Docker event stream back/);
    expect(listener.output()).not.toMatch(/monitor crashed|a bug in checker/);
    expect(listener.tool.child.exitCode).toBeNull();
  }, 180_000);
});
