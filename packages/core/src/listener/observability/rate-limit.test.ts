import { describe, expect, it } from 'vitest';
import { NOTIFY_EVERY_MS, NotificationRateLimiter } from './rate-limit.js';

describe('notification rate limit: one a minute per container and kind', () => {
  it('is a minute', () => {
    expect(NOTIFY_EVERY_MS).toBe(60_000);
  });

  it('lets the first go, drops and counts the rest of the minute, and reports them with the next', () => {
    const limiter = new NotificationRateLimiter();
    expect(limiter.admit('c1', 'restart', 0)).toEqual({ send: true, dropped: 0 });
    expect(limiter.admit('c1', 'restart', 10_000)).toEqual({ send: false });
    expect(limiter.admit('c1', 'restart', 59_999)).toEqual({ send: false });
    expect(limiter.admit('c1', 'restart', 60_000)).toEqual({ send: true, dropped: 2 });
    // The minute starts again from the one that went.
    expect(limiter.admit('c1', 'restart', 119_999)).toEqual({ send: false });
    expect(limiter.admit('c1', 'restart', 120_000)).toEqual({ send: true, dropped: 1 });
  });

  it('keeps containers and kinds apart', () => {
    const limiter = new NotificationRateLimiter();
    expect(limiter.admit('c1', 'restart', 0).send).toBe(true);
    expect(limiter.admit('c2', 'restart', 1).send).toBe(true);
    expect(limiter.admit('c1', 'gave-up', 2).send).toBe(true);
    expect(limiter.admit('c1', 'crash-loop', 3).send).toBe(true);
    expect(limiter.admit('c1', 'restart', 4).send).toBe(false);
    expect(limiter.admit('c2', 'restart', 5).send).toBe(false);
  });

  it('forgets what it no longer needs: memory stays bounded over many containers', () => {
    const limiter = new NotificationRateLimiter(1_000);
    for (let i = 0; i < 10_000; i += 1) limiter.admit(`c${i}`, 'remove', i * 10);
    // Only the last window's keys (and none with drops to report) are kept.
    expect(limiter.size).toBeLessThanOrEqual(200);
  });
});
