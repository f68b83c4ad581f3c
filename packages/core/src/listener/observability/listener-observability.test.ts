import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../log/logger.js';
import type { PolicyActionReport as Reported } from '../policy-actions.js';
import { ListenerObservability, type ListenerObservabilityOptions } from './listener-observability.js';
import type { NotificationPayload } from './notifier.js';

const web = { id: 'a'.repeat(64), name: 'web-1' };
const T0 = Date.parse('2026-12-03T12:00:00.000Z');

/** A facade on a clock the test moves, with --notify answered by a recording fetch (no traffic). */
async function setup(options: Partial<ListenerObservabilityOptions> = {}) {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  const { log } = createLogger({
    tool: 'listener',
    level: 'DEBUG',
    stdout: true,
    syslog: false,
    destination: out,
    container: null,
  });
  const clock = { now: T0 };
  const posts: { url: string; body: NotificationPayload }[] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    posts.push({ url: String(url), body: JSON.parse(String(init?.body)) });
    return new Response(null, { status: 204 });
  }) as typeof globalThis.fetch;
  const observability = await ListenerObservability.create({
    log,
    intervalMs: 10_000,
    notify: ['http://127.0.0.1:9/hook'],
    host: 'host-a',
    now: () => clock.now,
    fetch,
    ...options,
  });
  const settle = async () => {
    await observability.notificationsSettled();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { observability, clock, posts, lines, settle };
}

describe('listener observability facade', () => {
  it('notifies a crash loop once, with the image looked up, and shows it in /status', async () => {
    const lookups: string[] = [];
    const {
      observability: o,
      clock,
      posts,
      lines,
      settle,
    } = await setup({
      imageOf: async (id) => {
        lookups.push(id);
        return 'registry.example/web:1.2';
      },
    });
    o.monitorStarted(web, 100);
    for (let i = 0; i < 5; i += 1) {
      o.monitorExited(web, 1, null, true);
      clock.now += 2_000;
      o.monitorStarted(web, 101 + i);
    }
    o.monitorExited(web, null, 'SIGSEGV', true);
    await settle();
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body).toMatchObject({
      kind: 'crash-loop',
      container: { ...web, image: 'registry.example/web:1.2' },
      reason: 'its monitor crashed 3 times within 5 min (the last: exit code 1)',
      host: 'host-a',
      healthOutput: null,
    });
    expect(lookups).toEqual([web.id]);
    expect(lines.filter((l) => String(l.msg).startsWith('monitor in a crash loop'))).toHaveLength(1);
    const [entry] = o.status().containers;
    expect(entry).toMatchObject({ id: web.id, monitorPid: null, monitorCrashes: 6, crashLoop: true });
    // Crashes that stop for five minutes end the loop.
    clock.now += 5 * 60_000;
    expect(o.status().containers[0]).toMatchObject({ monitorCrashes: 0, crashLoop: false });
  });

  it('does not count a monitor ended because its container stopped', async () => {
    const { observability: o, posts, settle } = await setup();
    for (let i = 0; i < 5; i += 1) {
      o.monitorStarted(web, i);
      o.monitorExited(web, 0, null, false);
    }
    await settle();
    expect(posts).toEqual([]);
    expect(o.status().containers).toEqual([]);
  });

  it('notifies each policy action with what it is about, at most one a minute per container and kind', async () => {
    const { observability: o, clock, posts, settle } = await setup();
    const acted = { ...web, image: 'busybox:latest' };
    o.monitorStarted(web, 7);
    o.policyAction({
      kind: 'restart',
      container: acted,
      reason: 'unhealthy for 3 s',
      healthOutput: 'no /tmp/ok yet',
    });
    clock.now += 10_000;
    o.policyAction({
      kind: 'restart',
      container: acted,
      reason: 'unhealthy again',
      healthOutput: 'no /tmp/ok yet',
    });
    o.policyAction({
      kind: 'gave-up',
      container: acted,
      reason: '3 restarts in the last hour (limit 3)',
      healthOutput: '',
    });
    const job = { ...acted, id: 'b'.repeat(64), name: 'job-1' };
    o.policyAction({ kind: 'remove', container: job, reason: 'exited 0', exitCode: 0 });
    o.policyAction({
      kind: 'dependent-restart',
      container: acted,
      reason: 'its network container restarted',
    });
    await settle();
    expect(posts.map((p) => [p.body.kind, p.body.container.name])).toEqual([
      ['restart', 'web-1'],
      ['gave-up', 'web-1'],
      ['remove', 'job-1'],
      ['dependent-restart', 'web-1'],
    ]);
    expect(posts[0]!.body).toMatchObject({
      container: { id: web.id, name: 'web-1', image: 'busybox:latest' },
      reason: 'unhealthy for 3 s',
      healthOutput: 'no /tmp/ok yet',
      host: 'host-a',
      time: new Date(T0).toISOString(),
    });
    expect(posts[1]!.body).toMatchObject({ healthOutput: null });
    expect(posts[1]!.body).toMatchObject({ healthOutput: null });
    expect(posts[1]!.body).not.toHaveProperty('exitCode');
    expect(posts[2]!.body).toMatchObject({ exitCode: 0, healthOutput: null });
    expect(posts[1]!.body).not.toHaveProperty('exitCode');
    // Both restarts count for /status, though only one was notified.
    expect(o.status().containers[0]).toMatchObject({
      restarts: 3,
      lastAction: { kind: 'dependent-restart', reason: 'its network container restarted' },
    });
    clock.now += 60_000;
    o.policyAction({ kind: 'restart', container: acted, reason: 'unhealthy a third time' });
    await settle();
    expect(posts.at(-1)!.body).toMatchObject({ kind: 'restart', dropped: 1 });
  });

  it('sends nothing without --notify', async () => {
    const { observability: o, posts, settle } = await setup({ notify: [] });
    // What PolicyActions' onAction hands over fits as it is.
    const reported: Reported = {
      kind: 'restart',
      container: { ...web, image: 'busybox' },
      reason: 'unhealthy',
      healthOutput: '',
    };
    o.policyAction(reported);
    for (let i = 0; i < 3; i += 1) o.monitorExited(web, 1, null, true);
    await settle();
    expect(posts).toEqual([]);
  });

  it('keeps the last verdict and the record state, and ignores a verdict it does not know', async () => {
    const { observability: o, clock } = await setup();
    o.monitorStarted(web, 7);
    o.checked(web, { verdict: 'healthy', status: 'exit 0', durationMs: 33, at: clock.now });
    o.checked(web, { verdict: 'maybe' as never, status: 'exit 9', durationMs: 1, at: clock.now + 5 });
    const key = '/SERVICE/busybox/' + web.id;
    const registered = () => o.status().containers[0]!.registered;
    o.recordServed(web, 'publish', key, 'reached');
    expect(registered()).toBe(true);
    o.recordServed(web, 'withdraw', key, 'superseded');
    expect(registered()).toBe(true);
    o.recordServed(web, 'withdraw', key, 'reached');
    expect(registered()).toBe(false);
    o.recordServed(web, 'publish', key, 'reached');
    o.recordServed(web, 'close', key, 'closed');
    expect(registered()).toBe(false);
    expect(o.status().containers[0]).toMatchObject({
      lastVerdict: 'healthy',
      lastCheckStatus: 'exit 0',
      lastVerdictAt: new Date(T0).toISOString(),
      recordKey: key,
    });
  });

  it('is healthy while the event stream is up and the sweeps are recent', async () => {
    const { observability: o, clock } = await setup();
    expect(o.health()).toMatchObject({ ok: false, body: { eventStream: 'connecting' } });
    o.eventStream('up');
    expect(o.health().ok).toBe(false);
    o.swept(clock.now, [web.id]);
    expect(o.health()).toMatchObject({ ok: true, body: { status: 'ok', problems: [] } });
    clock.now += 30_001;
    expect(o.health()).toMatchObject({ ok: false, body: { lastSweepAgoMs: 30_001 } });
    o.swept();
    o.eventStream('down', 'connect ENOENT /var/run/docker.sock');
    o.eventStream('down', 'connect ECONNREFUSED /var/run/docker.sock');
    clock.now += 1_000;
    expect(o.health().body.problems).toEqual([
      'the Docker event stream is down since 1 s ago: connect ECONNREFUSED /var/run/docker.sock',
    ]);
    expect(o.status()).toMatchObject({
      eventStream: 'down',
      lastSweepAt: new Date(clock.now - 1_000).toISOString(),
    });
    o.eventStream('up');
    expect(o.health().ok).toBe(true);
  });

  it('start() serves nothing without --metrics', async () => {
    const { observability: o } = await setup();
    expect(await o.start()).toBeUndefined();
    await o.close();
  });
});
