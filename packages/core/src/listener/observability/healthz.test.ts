import { describe, expect, it } from 'vitest';
import { healthOf, MIN_STALE_AFTER_MS, staleAfterMs } from './healthz.js';

const NOW = 1_000_000;
const up = { up: true, since: NOW - 60_000 };

describe('/healthz: 200 while the event stream is up and the last sweep is recent', () => {
  it('allows three sweep intervals, never less than 5 s', () => {
    expect(staleAfterMs(10_000)).toBe(30_000);
    expect(staleAfterMs(100)).toBe(MIN_STALE_AFTER_MS);
    expect(MIN_STALE_AFTER_MS).toBe(5_000);
  });

  it.each([
    {
      what: 'stream up, swept a moment ago',
      stream: up,
      sweptAgo: 1_000,
      ok: true,
      problems: [],
    },
    {
      what: 'stream up, swept exactly 3 intervals ago',
      stream: up,
      sweptAgo: 30_000,
      ok: true,
      problems: [],
    },
    {
      what: 'stream up, last sweep too old',
      stream: up,
      sweptAgo: 30_001,
      ok: false,
      problems: [/last sweep finished 30 s ago, more than 30 s/],
    },
    {
      what: 'starting: stream not connected, no sweep',
      stream: undefined,
      sweptAgo: undefined,
      ok: false,
      problems: [/not connected yet/, /no sweep has finished yet/],
    },
    {
      what: 'stream up, first sweep not finished',
      stream: up,
      sweptAgo: undefined,
      ok: false,
      problems: [/no sweep has finished yet/],
    },
    {
      what: 'stream down (Docker restarting), recent sweep',
      stream: { up: false, since: NOW - 2_500, detail: 'connect ENOENT /var/run/docker.sock' },
      sweptAgo: 1_000,
      ok: false,
      problems: [/event stream is down since 2.5 s ago: connect ENOENT/],
    },
  ])('$what → ok: $ok', ({ stream, sweptAgo, ok, problems }) => {
    const report = healthOf(
      {
        eventStream: stream,
        lastSweepAt: sweptAgo === undefined ? undefined : NOW - sweptAgo,
        staleAfterMs: 30_000,
      },
      NOW,
    );
    expect(report.ok).toBe(ok);
    expect(report.body.status).toBe(ok ? 'ok' : 'unhealthy');
    expect(report.body.eventStream).toBe(!stream ? 'connecting' : stream.up ? 'up' : 'down');
    expect(report.body.lastSweepAgoMs).toBe(sweptAgo ?? null);
    expect(report.body.problems).toHaveLength(problems.length);
    for (const [i, pattern] of problems.entries()) expect(report.body.problems[i]).toMatch(pattern);
  });
});
