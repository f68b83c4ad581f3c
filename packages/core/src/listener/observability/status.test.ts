import { describe, expect, it } from 'vitest';
import { FORGET_UNLISTED_AFTER_MS, StatusBook } from './status.js';

const web = { id: 'a'.repeat(64), name: 'web-1' };
const db = { id: 'b'.repeat(64), name: 'db-1' };
const noCrashes = () => ({ count: 0, loop: false });
const T0 = Date.parse('2026-12-03T12:00:00.000Z');

describe('status book: one entry a running container', () => {
  it('lists a container from its monitor’s start, with its last verdict and its record', () => {
    const book = new StatusBook();
    book.monitorStarted(web, 4242, T0);
    book.checked(web, { verdict: 'healthy', status: 'exit 0', durationMs: 41.6, at: T0 + 50 });
    book.record(web, '/SERVICE/busybox/aaa', true, T0 + 60);
    expect(book.containers(noCrashes)).toEqual([
      {
        name: 'web-1',
        id: web.id,
        image: null,
        monitorPid: 4242,
        monitorSince: '2026-12-03T12:00:00.000Z',
        monitorCrashes: 0,
        crashLoop: false,
        lastVerdict: 'healthy',
        lastVerdictAt: '2026-12-03T12:00:00.050Z',
        lastCheckStatus: 'exit 0',
        lastCheckDurationMs: 42,
        recordKey: '/SERVICE/busybox/aaa',
        registered: true,
        restarts: 0,
        lastAction: null,
      },
    ]);
    expect(book.monitors).toBe(1);
    expect(book.registered).toBe(1);
  });

  it('sorts by name, and a record request that did not reach etcd leaves `registered` as it was', () => {
    const book = new StatusBook();
    book.monitorStarted(web, 1, T0);
    book.monitorStarted(db, 2, T0);
    book.record(db, 'k', true, T0);
    book.record(db, 'k', undefined, T0);
    expect(book.containers(noCrashes).map((c) => [c.name, c.registered])).toEqual([
      ['db-1', true],
      ['web-1', false],
    ]);
  });

  it('keeps a container whose monitor crashed, without a pid or a record, until its next monitor', () => {
    const book = new StatusBook();
    book.monitorStarted(web, 1, T0);
    book.record(web, 'k', true, T0);
    book.monitorExited(web, true, T0 + 1);
    const [entry] = book.containers(() => ({ count: 1, loop: false }));
    expect(entry).toMatchObject({
      monitorPid: null,
      monitorSince: null,
      registered: false,
      monitorCrashes: 1,
    });
    expect(book.monitors).toBe(0);
    expect(book.registered).toBe(0);
    book.monitorStarted(web, 2, T0 + 1000);
    expect(book.containers(noCrashes)[0]).toMatchObject({ monitorPid: 2, recordKey: 'k' });
  });

  it('unlists a container whose monitor was ended (container stopped), keeping its restart count', () => {
    const book = new StatusBook();
    book.monitorStarted(web, 1, T0);
    book.acted({ ...web, image: 'busybox:latest' }, 'restart', 'unhealthy for 3 s', T0 + 10);
    // The restart ends the monitor (die) and starts another (start).
    book.monitorExited(web, false, T0 + 20);
    expect(book.containers(noCrashes)).toEqual([]);
    book.monitorStarted(web, 2, T0 + 30);
    book.acted(web, 'dependent-restart', 'its network container restarted', T0 + 40);
    book.acted(web, 'gave-up', 'limit reached', T0 + 50);
    expect(book.containers(noCrashes)[0]).toMatchObject({
      image: 'busybox:latest',
      restarts: 2,
      lastAction: { kind: 'gave-up', reason: 'limit reached', at: '2026-12-03T12:00:00.050Z' },
    });
  });

  it('a sweep unlists containers that no longer run and have no monitor, not those with one', () => {
    const book = new StatusBook();
    book.monitorStarted(web, 1, T0);
    book.monitorStarted(db, 2, T0);
    book.monitorExited(db, true, T0 + 1); // crashed; then its container stopped
    book.swept(new Set([web.id]), T0 + 2);
    expect(book.containers(noCrashes).map((c) => c.name)).toEqual(['web-1']);
    // A monitor that started after the sweep's list (a fresh start) stays.
    book.swept(new Set(), T0 + 3);
    expect(book.containers(noCrashes).map((c) => c.name)).toEqual(['web-1']);
  });

  it('forgets a removed container at once, and an unlisted one after a day', () => {
    const book = new StatusBook();
    book.monitorStarted(web, 1, T0);
    book.removed(web.id);
    expect(book.size).toBe(0);
    book.monitorStarted(db, 2, T0);
    book.monitorExited(db, false, T0);
    book.swept(undefined, T0 + FORGET_UNLISTED_AFTER_MS - 1);
    expect(book.size).toBe(1);
    book.swept(undefined, T0 + FORGET_UNLISTED_AFTER_MS);
    expect(book.size).toBe(0);
  });

  it('a late message about an unknown container does not list it', () => {
    const book = new StatusBook();
    book.checked(web, { verdict: 'unhealthy', status: 'exit 1', durationMs: 5, at: T0 });
    book.monitorExited(db, true, T0);
    expect(book.containers(noCrashes)).toEqual([]);
  });
});
