// The listener's --metrics HTTP server, served by the observability facade on 127.0.0.1:0 and
// scraped over loopback like Prometheus would: /metrics parsed by a Prometheus text parser with
// counts matching what the test reported, /status as JSON, /healthz 503 until the event stream is
// up and a sweep finished, and back to 503 when the stream breaks; every other path 404.
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ListenerObservability,
  type ListenerObservabilityOptions,
  MetricsUnavailable,
  type StatusDocument,
} from '../../packages/core/src/listener/observability/index.js';
import { createLogger } from '../../packages/core/src/log/logger.js';
import { get, sample, scrape } from './scrape.js';

const opened: ListenerObservability[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

async function serve(options: Partial<ListenerObservabilityOptions> = {}) {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  const { log } = createLogger({
    tool: 'listener',
    level: 'INFO',
    stdout: true,
    syslog: false,
    destination: out,
    container: null,
  });
  const observability = await ListenerObservability.create({
    log,
    metrics: { host: '127.0.0.1', port: 0 },
    intervalMs: 1_000,
    host: 'test-host',
    ...options,
  });
  opened.push(observability);
  const address = await observability.start();
  return { observability, address: address!, base: `http://${address}`, lines };
}

const web = { id: 'a'.repeat(64), name: 'web-1' };
const db = { id: 'b'.repeat(64), name: 'db-1' };

describe('--metrics server (127.0.0.1:0, real HTTP, parsed scrapes)', () => {
  it('binds any free port for port 0, and logs where', async () => {
    const { address, lines } = await serve();
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Number(address.split(':')[1])).toBeGreaterThan(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'metrics listening', address, level: 'INFO' }),
    );
  });

  it('/metrics counts what the listener reported', async () => {
    const { observability: o, base } = await serve({ notify: [] });
    let s = await scrape(base);
    expect(s.status).toBe(200);
    expect(s.contentType).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8/);
    expect(sample(s.families, 'checker_monitors_running')).toBe(0);
    expect(sample(s.families, 'checker_checks_total', { verdict: 'healthy' })).toBe(0);
    expect(sample(s.families, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    o.eventStream('up');
    o.monitorStarted(web, 101);
    o.monitorStarted(db, 102);
    for (let i = 0; i < 3; i += 1)
      o.checked(web, { verdict: 'healthy', status: 'exit 0', durationMs: 40, at: Date.now() });
    o.checked(db, { verdict: 'unhealthy', status: 'exit 1', durationMs: 60, at: Date.now() });
    o.recordServed(web, 'publish', `/SERVICE/busybox/${web.id}`, 'reached');
    o.policyAction({ kind: 'restart', container: db, reason: 'unhealthy for 1 s' });
    o.policyAction({ kind: 'remove', container: { id: 'c'.repeat(64), name: 'job' }, reason: 'exited 0' });
    o.sidecarRemoved();
    o.etcdError();
    o.eventStream('down', 'socket hang up');
    o.eventStream('up');
    o.monitorExited(db, 1, null, true);
    o.swept(Date.parse('2026-12-03T12:00:00.000Z'), [web.id, db.id]);

    s = await scrape(base);
    const f = s.families;
    expect(sample(f, 'checker_monitors_running')).toBe(1);
    expect(sample(f, 'checker_records_registered')).toBe(1);
    expect(sample(f, 'checker_checks_total', { verdict: 'healthy' })).toBe(3);
    expect(sample(f, 'checker_checks_total', { verdict: 'unhealthy' })).toBe(1);
    expect(sample(f, 'checker_checks_total', { verdict: 'no-check' })).toBe(0);
    expect(f.get('checker_check_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(sample(f, 'checker_restarts_total', { reason: 'unhealthy' })).toBe(1);
    expect(sample(f, 'checker_removals_total', { reason: 'exited' })).toBe(1);
    expect(sample(f, 'checker_removals_total', { reason: 'orphaned-sidecar' })).toBe(1);
    expect(sample(f, 'checker_etcd_errors_total')).toBe(1);
    expect(sample(f, 'checker_event_stream_reconnects_total')).toBe(1);
    expect(sample(f, 'checker_event_stream_up')).toBe(1);
    expect(sample(f, 'checker_monitor_crashes_total')).toBe(1);
    expect(sample(f, 'checker_last_sweep_timestamp_seconds')).toBe(
      Date.parse('2026-12-03T12:00:00.000Z') / 1000,
    );
  });

  it('/status lists the running containers with their monitor, verdict, record and restarts', async () => {
    const { observability: o, base } = await serve();
    o.monitorStarted(web, 101);
    o.monitorStarted(db, 102);
    o.checked(web, { verdict: 'healthy', status: 'exit 0', durationMs: 40, at: Date.now() });
    o.recordServed(web, 'publish', `/SERVICE/busybox/${web.id}`, 'reached');
    o.policyAction({ kind: 'restart', container: db, reason: 'unhealthy for 1 s' });
    o.monitorExited(db, 0, null, false); // the restart's die
    const { status, headers, body } = await get(base, '/status');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/json; charset=utf-8');
    const doc = JSON.parse(body) as StatusDocument;
    expect(doc).toMatchObject({ host: 'test-host', eventStream: 'connecting', lastSweepAt: null });
    expect(doc.containers).toEqual([
      expect.objectContaining({
        name: 'web-1',
        id: web.id,
        monitorPid: 101,
        lastVerdict: 'healthy',
        lastCheckStatus: 'exit 0',
        recordKey: `/SERVICE/busybox/${web.id}`,
        registered: true,
        restarts: 0,
      }),
    ]);
    expect(typeof doc.containers[0]!.lastVerdictAt).toBe('string');
    o.monitorStarted(db, 103);
    const again = JSON.parse((await get(base, '/status')).body) as StatusDocument;
    expect(again.containers.map((c) => [c.name, c.monitorPid, c.restarts])).toEqual([
      ['db-1', 103, 1],
      ['web-1', 101, 0],
    ]);
  });

  it('/healthz is 503 until the event stream is up and a sweep finished, and when the stream breaks', async () => {
    const { observability: o, base } = await serve();
    const health = async () => {
      const { status, body } = await get(base, '/healthz');
      return { status, body: JSON.parse(body) };
    };
    expect(await health()).toMatchObject({
      status: 503,
      body: {
        status: 'unhealthy',
        eventStream: 'connecting',
        problems: [expect.any(String), expect.any(String)],
      },
    });
    o.eventStream('up');
    o.swept();
    expect(await health()).toMatchObject({
      status: 200,
      body: { status: 'ok', eventStream: 'up', problems: [] },
    });
    o.eventStream('down', 'connect ENOENT /var/run/docker.sock');
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body.problems[0]).toMatch(/event stream is down .*ENOENT/);
    o.eventStream('up');
    expect((await health()).status).toBe(200);
  });

  it('answers HEAD without a body, 405 to other methods, 404 elsewhere', async () => {
    const { base } = await serve();
    const head = await get(base, '/metrics', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const post = await get(base, '/status', { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    for (const path of ['/', '/metrics/extra', '/favicon.ico', '/STATUS'])
      expect((await get(base, path)).status, path).toBe(404);
    // A query string does not change the path.
    expect((await get(base, '/healthz?verbose=1')).status).toBe(503);
  });

  it('two listeners in one process keep their metrics apart', async () => {
    const a = await serve();
    const b = await serve();
    a.observability.etcdError();
    expect(sample((await scrape(a.base)).families, 'checker_etcd_errors_total')).toBe(1);
    expect(sample((await scrape(b.base)).families, 'checker_etcd_errors_total')).toBe(0);
  });

  it('a taken port is a usage error naming the address and the fix; close() frees the port', async () => {
    const first = await serve();
    const port = Number(first.address.split(':')[1]);
    const second = serve({ metrics: { host: '127.0.0.1', port } });
    await expect(second).rejects.toBeInstanceOf(MetricsUnavailable);
    await expect(second).rejects.toMatchObject({
      exitStatus: 2,
      message: expect.stringMatching(
        new RegExp(`^cannot serve --metrics on 127\\.0\\.0\\.1:${port}: .*port 0`),
      ),
    });
    await first.observability.close();
    // The port is free again: something else can bind it.
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => probe.close(resolve));
  });
});
