import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ContainerEvent } from './container-event.js';
import type { DockerClient } from './docker-client.js';
import { DockerEventStream } from './event-stream.js';

const line = (id: string, action: string, timeNano: bigint) =>
  `{"Type":"container","Action":"${action}","Actor":{"ID":"${id}","Attributes":{"name":"${id}"}},"time":${timeNano / 1_000_000_000n},"timeNano":${timeNano}}\n`;

/** A Docker client whose event subscriptions are streams the test writes to. */
function fakeDocker() {
  const subscriptions: { query: Record<string, unknown>; stream: PassThrough }[] = [];
  const docker = {
    control: 'unix:///fake.sock',
    ping: async () => {},
    translate: (error: unknown) => error as Error,
    events: async (query: Record<string, unknown>) => {
      const stream = new PassThrough();
      subscriptions.push({ query, stream });
      return stream;
    },
  } as unknown as DockerClient;
  return { docker, subscriptions };
}

const T = 1_700_000_000_000_000_000n;

describe('DockerEventStream', () => {
  it('delivers live events that arrive out of timestamp order, and drops only exact repeats on replay', async () => {
    const { docker, subscriptions } = fakeDocker();
    const stream = new DockerEventStream(docker, { backoff: { initialMs: 1, maxMs: 1 } });
    const seen: string[] = [];
    stream.on('event', (e: ContainerEvent) => seen.push(`${e.id}:${e.action}`));
    const resynced = new Promise<void>((resolve) => stream.once('resync', () => resolve()));
    await stream.start();

    const first = subscriptions[0]!.stream;
    first.write(line('a', 'start', T + 100n));
    first.write(line('b', 'start', T + 99n)); // stamped earlier, published later
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a:start', 'b:start']);

    first.destroy(new Error('daemon gone'));
    await resynced;
    const replay = subscriptions[1]!;
    // Resubscribed from a second before the newest event, so a late one is not lost.
    expect(replay.query.since).toBe('1699999999.000000100');
    replay.stream.write(line('b', 'start', T + 99n));
    replay.stream.write(line('a', 'start', T + 100n));
    replay.stream.write(line('c', 'die', T + 98n)); // missed while down
    replay.stream.write(line('a', 'die', T + 200n));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a:start', 'b:start', 'c:die', 'a:die']);
    stream.stop();
  });
});
