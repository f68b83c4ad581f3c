import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../log/logger.js';
import {
  NOTIFY_DEFAULTS,
  type Notification,
  type NotificationPayload,
  Notifier,
  redactUrl,
} from './notifier.js';

/** What the webhook server does with a request: answer with a status, or never answer. */
type Answer = number | 'hang' | { redirect: string };

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: NotificationPayload;
  at: number;
}

const servers: { close(): Promise<void> }[] = [];

/**
 * A loopback HTTP server of the test's own, answering requests with `answers` in turn (the last
 * one repeats); `answer(...)` replaces what is left.
 */
async function webhook(answers: Answer[] = [200]) {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  let queue = [...answers];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    req.on('end', () => {
      const answer = (queue.length > 1 ? queue.shift() : queue[0])!;
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text), at: Date.now() });
      if (answer === 'hang') hanging.add(res);
      else if (typeof answer === 'object') res.writeHead(302, { location: answer.redirect }).end();
      else res.writeHead(answer, { 'content-type': 'text/plain' }).end('answer body nobody reads');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    url,
    received,
    answer: (next: Answer[]) => {
      queue = [...next];
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  servers.push(handle);
  return handle;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function capturedLog() {
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
  return { log, lines, at: (level: string) => lines.filter((l) => l.level === level) };
}

const restart: Notification = {
  kind: 'restart',
  container: { id: 'c'.repeat(64), name: 'web-1', image: 'registry.example/web:1.2' },
  reason: 'unhealthy for 3 s (restart 1)',
  healthOutput: 'no /tmp/ok yet',
};

/** Fast tuning for tests; each test states what it changes. */
const FAST = { backoffMs: 20, maxBackoffMs: 40, timeoutMs: 1_000 };

function notifier(urls: string[], extra: Partial<ConstructorParameters<typeof Notifier>[0]> = {}) {
  const log = capturedLog();
  const outcomes: string[] = [];
  const n = new Notifier({
    urls,
    log: log.log,
    host: 'host-a',
    ...FAST,
    onOutcome: (kind, outcome) => outcomes.push(`${kind}:${outcome}`),
    ...extra,
  });
  return { n, log, outcomes };
}

const flushLog = () => new Promise((resolve) => setImmediate(resolve));

describe('notifier: a JSON POST per notification to every --notify URL', () => {
  it('has the documented defaults: 5 s per attempt, 3 retries, one a minute', () => {
    expect(NOTIFY_DEFAULTS).toMatchObject({ timeoutMs: 5_000, retries: 3, rateLimitMs: 60_000 });
  });

  it('posts the container’s name, id, image, the kind, reason, health output, host and time to each URL', async () => {
    const a = await webhook();
    const b = await webhook();
    const now = Date.parse('2026-12-03T12:00:00.000Z');
    const { n, outcomes } = notifier([`${a.url}/hook/secret-token`, b.url], { now: () => now });
    n.notify(restart);
    await n.settled();
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(1);
    expect(a.received[0]!.path).toBe('/hook/secret-token');
    expect(a.received[0]!.headers['content-type']).toBe('application/json');
    expect(a.received[0]!.body).toEqual({
      kind: 'restart',
      container: { id: 'c'.repeat(64), name: 'web-1', image: 'registry.example/web:1.2' },
      reason: 'unhealthy for 3 s (restart 1)',
      healthOutput: 'no /tmp/ok yet',
      host: 'host-a',
      time: '2026-12-03T12:00:00.000Z',
      dropped: 0,
      source: 'checker-listener',
      text: 'checker on host-a: restarted unhealthy container web-1 (cccccccccccc): unhealthy for 3 s (restart 1)',
    });
    expect(b.received[0]!.body).toEqual(a.received[0]!.body);
    expect(outcomes).toEqual(['restart:delivered', 'restart:delivered']);
  });

  it('returns at once, whatever the webhook does: the action is never delayed', async () => {
    const hung = await webhook(['hang']);
    const { n } = notifier([hung.url], { timeoutMs: 300, retries: 0 });
    const started = performance.now();
    n.notify(restart);
    // Waiting for the webhook would take its 300 ms timeout at least.
    expect(performance.now() - started).toBeLessThan(100);
    expect(hung.received).toHaveLength(0);
    await n.settled();
    expect(hung.received).toHaveLength(1);
  });

  it('retries a 500 with backoff and delivers on the 200', async () => {
    const hook = await webhook([500, 200]);
    const { n, log, outcomes } = notifier([hook.url]);
    n.notify(restart);
    await n.settled();
    expect(hook.received).toHaveLength(2);
    expect(hook.received[1]!.at - hook.received[0]!.at).toBeGreaterThanOrEqual(FAST.backoffMs - 2);
    expect(hook.received[1]!.body).toEqual(hook.received[0]!.body);
    expect(outcomes).toEqual(['restart:delivered']);
    await flushLog();
    expect(log.at('WARNING')).toEqual([]);
  });

  it('tries 1 + 3 times, doubling the wait, then logs the failure once', async () => {
    const hook = await webhook([503]);
    const { n, log, outcomes } = notifier([hook.url], { backoffMs: 30, maxBackoffMs: 1_000 });
    n.notify(restart);
    await n.settled();
    expect(hook.received).toHaveLength(4);
    const gaps = hook.received.slice(1).map((r, i) => r.at - hook.received[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(28);
    expect(gaps[1]).toBeGreaterThanOrEqual(58);
    expect(gaps[2]).toBeGreaterThanOrEqual(118);
    expect(outcomes).toEqual(['restart:failed']);
    await flushLog();
    const warnings = log.at('WARNING');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ attempts: 4, err: 'answered 503 Service Unavailable', notify: 1 });
  });

  it('does not retry an answer another try cannot change (400, a redirect)', async () => {
    const bad = await webhook([400]);
    const elsewhere = await webhook([200]);
    const moved = await webhook([{ redirect: `${elsewhere.url}/other` }]);
    const { n, outcomes } = notifier([bad.url, moved.url]);
    n.notify(restart);
    await n.settled();
    expect(bad.received).toHaveLength(1);
    expect(moved.received).toHaveLength(1);
    // Traffic goes only to the URLs given.
    expect(elsewhere.received).toHaveLength(0);
    expect(outcomes).toEqual(['restart:failed', 'restart:failed']);
  });

  it('gives each attempt its own timeout, and retries after it', async () => {
    const hung = await webhook(['hang', 'hang', 200]);
    const { n, outcomes } = notifier([hung.url], { timeoutMs: 200, retries: 3 });
    const started = Date.now();
    n.notify(restart);
    await n.settled();
    const took = Date.now() - started;
    expect(hung.received).toHaveLength(3);
    // two timed-out attempts of 200 ms, and the backoff between them
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(2_000);
    expect(outcomes).toEqual(['restart:delivered']);
  });

  it('logs a failure when an attempt times out every time, naming the timeout', async () => {
    const hung = await webhook(['hang']);
    const { n, log } = notifier([hung.url], { timeoutMs: 150, retries: 1 });
    n.notify(restart);
    await n.settled();
    expect(hung.received).toHaveLength(2);
    await flushLog();
    expect(log.at('WARNING')[0]).toMatchObject({ err: 'no answer within 150 ms', attempts: 2 });
  });

  it('logs a failing URL once per outage, by its origin only, and says when it answers again', async () => {
    const hook = await webhook([500]);
    const { n, log } = notifier([`${hook.url}/T000/B000/secret`], { retries: 0 });
    const other = { ...restart, container: { ...restart.container, id: 'd'.repeat(64) } };
    n.notify(restart);
    n.notify(other);
    await n.settled();
    n.notify({ ...restart, kind: 'remove' });
    await n.settled();
    await flushLog();
    expect(log.at('WARNING')).toHaveLength(1);
    expect(log.at('WARNING')[0]).toMatchObject({ target: hook.url, notify: 1 });
    expect(JSON.stringify(log.lines)).not.toContain('secret');
    // The webhook is back.
    hook.answer([200]);
    n.notify({ ...restart, kind: 'gave-up' });
    await n.settled();
    await flushLog();
    expect(log.at('INFO')).toEqual([
      expect.objectContaining({ msg: 'notifications delivered again', lost: 3 }),
    ]);
    // …and when it fails again, that is a new outage: logged again.
    hook.answer([500]);
    n.notify({ ...restart, kind: 'dependent-restart' });
    await n.settled();
    await flushLog();
    expect(log.at('WARNING')).toHaveLength(2);
  });

  it('sends at most one a minute per container and kind, counting the dropped ones', async () => {
    const hook = await webhook();
    let now = 0;
    const { n, outcomes } = notifier([hook.url], { now: () => now });
    n.notify(restart);
    now = 20_000;
    n.notify(restart);
    n.notify({ ...restart, kind: 'gave-up' });
    now = 59_999;
    n.notify(restart);
    now = 60_000;
    n.notify(restart);
    await n.settled();
    expect(hook.received.map((r) => [r.body.kind, r.body.dropped])).toEqual([
      ['restart', 0],
      ['gave-up', 0],
      ['restart', 2],
    ]);
    expect(hook.received[2]!.body.text).toMatch(/\(2 more dropped in the last minute\)$/);
    expect(outcomes.filter((o) => o === 'restart:dropped')).toHaveLength(2);
  });

  it('close() lets deliveries in flight finish within its grace, then abandons the rest', async () => {
    const slow = await webhook(['hang']);
    const { n, log, outcomes } = notifier([slow.url], { timeoutMs: 5_000, closeGraceMs: 100 });
    n.notify(restart);
    const started = Date.now();
    await n.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await n.settled();
    expect(outcomes).toEqual(['restart:failed']);
    await flushLog();
    expect(log.at('WARNING')).toEqual([
      expect.objectContaining({ msg: 'stopping: notifications still being delivered are abandoned' }),
    ]);
    // Closed: nothing more is sent.
    n.notify({ ...restart, kind: 'remove' });
    expect(slow.received).toHaveLength(1);
  });

  it('redacts URLs to their origin for log lines', () => {
    expect(redactUrl('https://user:pw@hooks.example.com/services/T0/B0/XYZ?token=1')).toBe(
      'https://hooks.example.com',
    );
  });
});
