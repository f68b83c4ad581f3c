// The listener across a restart of the Docker daemon it follows (SPEC §4: "When the event stream
// breaks … it reconnects with backoff, replays what it missed and reconciles"). The daemon is a
// second dockerd this file owns (test/support/second-dockerd.ts), so the host's daemon and the
// other tests never notice.
//
// The daemon runs without --live-restore, as a default install does: stopping it stops its
// containers. A and B are `--restart always`, so the daemon starts them again when it comes
// back — before the listener can have resubscribed, which is the case that needs the replay
// and the reconcile. Right after the restart the test starts C and removes B, so at the end
// the truth is {A, C}; with --interval 2000 the listener must get there within a few seconds.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { TEST_IMAGE, uniqueName, waitFor } from '../support/images.js';
import { type ListenerProcess, watchForDuplicates } from '../support/listener-process.js';
import { type SecondDockerd, startSecondDockerd } from '../support/second-dockerd.js';
import { keyedIds, listenerFor, observe, settle, tail } from './support.js';

let etcd: TestEtcd | undefined;
let daemon: SecondDockerd | undefined;
let listener: ListenerProcess | undefined;

beforeAll(async () => {
  [etcd, daemon] = await Promise.all([startEtcd(), startSecondDockerd()]);
});

afterAll(async () => {
  // Each step on its own: one failing must not leave the daemon or its bridge behind.
  await listener?.dispose().catch(() => undefined);
  await daemon?.cleanup();
  await etcd?.cleanup();
});

describe('listener across a Docker daemon restart', () => {
  it('reconnects, replays and reconciles: afterwards monitors and keys match the running containers', async () => {
    const d = daemon!;
    const e = etcd!;
    const prefix = `${uniqueName('lr')}-`;
    const etcdPrefix = `/${prefix.slice(0, -1)}`;
    onTestFailed(async () => {
      if (listener) console.error(`--- listener output ---\n${tail(listener)}`);
      console.error(`--- second dockerd log ---\n${(await d.log()).slice(-3000)}`);
    });

    const run = async (suffix: string, extra: string[] = []) => {
      const r = await d.docker(
        [
          'run',
          '-d',
          '--init',
          '--label',
          'checker.test=1',
          '--name',
          `${prefix}${suffix}`,
          ...extra,
          TEST_IMAGE,
          'sleep',
          '600',
        ],
        { timeoutMs: 60_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').at(-1)!;
    };
    const running = async () =>
      (await d.docker(['ps', '-q', '--no-trunc', '--filter', `name=^/${prefix}`])).stdout
        .split('\n')
        .filter(Boolean)
        .sort();

    const a = await run('a', ['--restart', 'always']);
    const b = await run('b', ['--restart', 'always']);

    listener = listenerFor({
      etcd: e,
      prefix,
      etcdPrefix,
      args: ['--control', d.control, '--interval', '2000'],
    });
    await settle(e, etcdPrefix, listener, [a, b], 15_000);
    const watch = watchForDuplicates(listener);
    let sampled: Awaited<ReturnType<typeof watch.stop>>;

    try {
      await d.stop();
      // Down: the containers died with the daemon; their monitors end and the keys go. The
      // listener itself stays up, retrying.
      await waitFor(async () => (await observe(e, etcdPrefix, listener!)).keys.length === 0, {
        timeoutMs: 5_000,
        what: 'the keys of the containers that died with the daemon to go',
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(listener.tool.child.exitCode).toBeNull();
      expect(await observe(e, etcdPrefix, listener)).toEqual({ keys: [], monitors: [], children: 0 });

      await d.start();
      const c = await run('c');
      const rm = await d.docker(['rm', '-f', b], { timeoutMs: 30_000 });
      expect(rm.code, rm.stderr).toBe(0);

      const truth = await running();
      expect(truth).toEqual([a, c].sort());
      await settle(e, etcdPrefix, listener, truth, 15_000);
      expect(listener.output()).toMatch(/Docker event stream lost/);
      expect(listener.output()).toMatch(/Docker event stream back/);
      // A daemon going away is Docker being unreachable, not "a bug in checker".
      expect(listener.output()).not.toMatch(/a bug in checker/);
    } finally {
      sampled = await watch.stop();
    }
    expect(sampled.duplicates).toEqual([]);

    // And it still ends cleanly.
    listener.tool.child.kill('SIGTERM');
    const result = await listener.exited;
    expect(result.code, result.stderr).toBe(0);
    expect(await keyedIds(e, etcdPrefix)).toEqual([]);
    expect(await listener.descendants()).toEqual([]);
  }, 120_000);
});
