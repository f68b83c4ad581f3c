import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../log/logger.js';
import { MONITOR_PROTOCOL_VERSION } from '../monitor/protocol.js';
import { MonitorSupervisor, type MonitorSupervisorOptions } from './monitor-supervisor.js';

/** A stand-in for a forked monitor: boots when told, records messages and signals. */
class FakeChild extends EventEmitter {
  static next = 1000;
  pid: number | undefined = FakeChild.next++;
  readonly signals: string[] = [];
  connected = true;
  sent: { type: string; [key: string]: unknown }[] = [];
  kill(signal: string) {
    this.signals.push(signal);
    return true;
  }
  send(message: { type: string }, callback?: (error: Error | null) => void) {
    this.sent.push(message);
    callback?.(null);
    return true;
  }
  boot(protocol = MONITOR_PROTOCOL_VERSION) {
    this.emit('message', { type: 'booted', protocol });
  }
  exit(code: number | null, signal: string | null = null) {
    this.connected = false;
    this.emit('exit', code, signal);
  }
  /** the container it was given, if any */
  get container(): string | undefined {
    return this.sent.find((m) => m.type === 'assign')?.container as string | undefined;
  }
}

const { log } = createLogger({ tool: 'listener', level: 'CRITICAL', stdout: false, syslog: false });

/** Children boot at once unless `autoBoot` is false; warm 0 unless given. */
function setup(
  options: Partial<MonitorSupervisorOptions> & { running?: boolean; autoBoot?: boolean } = {},
  beforeReturn: (child: FakeChild) => void = () => {},
) {
  const { running = true, autoBoot = true, ...rest } = options;
  const children: FakeChild[] = [];
  const supervisor = new MonitorSupervisor({
    log,
    warm: 0,
    spawn: () => {
      const child = new FakeChild();
      beforeReturn(child);
      children.push(child);
      if (autoBoot) queueMicrotask(() => child.pid !== undefined && child.boot());
      return child as unknown as ChildProcess;
    },
    isRunning: async () => running,
    killAfterMs: 5000,
    ...rest,
  });
  const of = (id: string) => children.filter((c) => c.container === id);
  const alive = (id: string) => of(id).filter((c) => c.connected);
  return { supervisor, children, of, alive };
}

const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('MonitorSupervisor: at most one monitor per container', () => {
  it('gives each wanted container one booted child, however often it is wanted', async () => {
    const { supervisor, children, of } = setup();
    supervisor.want('a', 'web');
    supervisor.want('a', 'web');
    supervisor.reconcile(new Map([['a', 'web']]));
    await settle();
    expect(children).toHaveLength(1);
    expect(of('a')).toHaveLength(1);
    expect(children[0]!.sent[0]).toEqual({ type: 'assign', container: 'a', name: 'web' });
    expect(supervisor.monitoredIds).toEqual(['a']);
  });

  it('says whether the container had a monitor already (which alone is told of the event)', async () => {
    const { supervisor } = setup();
    expect(supervisor.want('a', 'web')).toBe(false);
    await settle();
    expect(supervisor.want('a', 'web')).toBe(true);
  });

  it('sends SIGTERM on release and forgets the container once its monitor exits', async () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    await settle();
    supervisor.release('a');
    supervisor.release('a');
    expect(children[0]!.signals).toEqual(['SIGTERM']);
    children[0]!.exit(0);
    expect(supervisor.monitoredIds).toEqual([]);
  });

  it('on a quick restart (die then start) assigns the new monitor only after the old one exited', async () => {
    const { supervisor, alive, of } = setup();
    supervisor.want('a', 'web');
    await settle();
    supervisor.release('a');
    supervisor.want('a', 'web');
    await settle();
    expect(of('a')).toHaveLength(1);
    of('a')[0]!.exit(0);
    await settle();
    expect(of('a')).toHaveLength(2);
    expect(alive('a')).toHaveLength(1);
  });

  it('kills a monitor that ignores SIGTERM', async () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    await settle();
    supervisor.release('a');
    vi.advanceTimersByTime(5000);
    expect(children[0]!.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('reconcile starts the missing and ends the extra', async () => {
    const { supervisor, children, of } = setup();
    supervisor.want('a', 'web');
    supervisor.want('b', 'db');
    await settle();
    const changes = supervisor.reconcile(
      new Map([
        ['b', 'db'],
        ['c', 'cache'],
      ]),
    );
    await settle();
    expect(changes).toEqual({ started: 1, stopped: 1 });
    expect(of('a')[0]!.signals).toEqual(['SIGTERM']);
    expect(children.map((c) => c.container).sort()).toEqual(['a', 'b', 'c']);
  });

  it('passes events to the container monitor only', async () => {
    const { supervisor, of } = setup();
    supervisor.want('a', 'web');
    supervisor.want('b', 'db');
    await settle();
    supervisor.forward({ id: 'b', action: 'pause', attributes: {}, timeNano: '1' });
    expect(of('a')[0]!.sent.map((m) => m.type)).toEqual(['assign']);
    expect(of('b')[0]!.sent.at(-1)).toEqual({
      type: 'docker-event',
      event: { id: 'b', action: 'pause', attributes: {}, timeNano: '1' },
    });
  });
});

describe('MonitorSupervisor: warm monitors', () => {
  it('keeps `warm` children booted and idle, hands one to a start at once, and refills the pool', async () => {
    const { supervisor, children } = setup({ warm: 2 });
    supervisor.start();
    await settle();
    expect(children).toHaveLength(2);
    expect(supervisor.warmCount).toBe(2);
    const first = children[0]!;
    supervisor.want('a', 'web');
    // No fork in between: the container went to a child that was already running.
    expect(first.container).toBe('a');
    expect(children).toHaveLength(3);
    await settle();
    expect(supervisor.warmCount).toBe(2);
  });

  it('with --warm 0 boots a child only when a container needs one', async () => {
    const { supervisor, children } = setup({ warm: 0 });
    supervisor.start();
    await settle();
    expect(children).toHaveLength(0);
    supervisor.want('a', 'web');
    await settle();
    expect(children.map((c) => c.container)).toEqual(['a']);
  });

  it('in a burst, the pool goes first, then at most maxStarting children boot at a time', async () => {
    const { supervisor, children } = setup({ warm: 2, maxStarting: 2, autoBoot: false });
    supervisor.start();
    for (const child of children) child.boot();
    await settle();
    for (const id of ['a', 'b', 'c', 'd', 'e']) supervisor.want(id, id);
    expect(children.slice(0, 2).map((c) => c.container)).toEqual(['a', 'b']);
    // c, d, e wait: only two children boot at once.
    expect(children).toHaveLength(4);
    supervisor.release('d');
    children[2]!.boot();
    expect(children[2]!.container).toBe('c');
    children[3]!.boot();
    expect(children[3]!.container).toBe('e');
  });

  it('kills a child that never boots, and a child speaking another protocol version', async () => {
    const { supervisor, children } = setup({ warm: 1, autoBoot: false, bootTimeoutMs: 500 });
    supervisor.start();
    vi.advanceTimersByTime(500);
    expect(children[0]!.signals).toEqual(['SIGKILL']);
    children[0]!.exit(null, 'SIGKILL');
    await vi.advanceTimersByTimeAsync(1000);
    children[1]!.boot(MONITOR_PROTOCOL_VERSION + 1);
    expect(children[1]!.signals).toEqual(['SIGKILL']);
  });

  it('backs off re-forking children that die before they boot (a broken install)', async () => {
    const { supervisor, children } = setup({ warm: 1, autoBoot: false });
    supervisor.start();
    children[0]!.exit(78);
    expect(children).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(children).toHaveLength(2);
    children[1]!.exit(78);
    await vi.advanceTimersByTimeAsync(1000);
    expect(children).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(children).toHaveLength(3);
  });
});

describe('MonitorSupervisor: crashed monitors come back with backoff', () => {
  it('restarts after 1 s, 2 s, 4 s … and resets after a minute alive', async () => {
    const { supervisor, of } = setup();
    supervisor.want('a', 'web');
    await settle();
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      of('a').at(-1)!.exit(null, 'SIGKILL');
      const before = of('a').length;
      let waited = 0;
      while (of('a').length === before) {
        await vi.advanceTimersByTimeAsync(100);
        waited += 100;
      }
      gaps.push(waited);
    }
    expect(gaps).toEqual([1000, 2000, 4000, 8000]);
    await vi.advanceTimersByTimeAsync(60_000);
    of('a').at(-1)!.exit(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(of('a')).toHaveLength(6);
  });

  it('does not restart a monitor whose container stopped running', async () => {
    const { supervisor, of } = setup({ running: false });
    supervisor.want('a', 'web');
    await settle();
    of('a')[0]!.exit(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(of('a')).toHaveLength(1);
    expect(supervisor.monitoredIds).toEqual([]);
  });

  it('treats exit 0 as the container removed: no restart', async () => {
    const { supervisor, of } = setup();
    supervisor.want('a', 'web');
    await settle();
    of('a')[0]!.exit(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(of('a')).toHaveLength(1);
  });

  it('stopAll ends every monitor and the warm ones, and resolves once all exited; nothing starts afterwards', async () => {
    const { supervisor, children } = setup({ warm: 1 });
    supervisor.start();
    supervisor.want('a', 'web');
    supervisor.want('b', 'db');
    await settle();
    let done = false;
    const stopped = supervisor.stopAll().then(() => {
      done = true;
    });
    expect(children.every((c) => c.signals.includes('SIGTERM'))).toBe(true);
    const count = children.length;
    children[0]!.exit(0);
    await settle();
    expect(done).toBe(false);
    for (const child of children.slice(1)) child.exit(0);
    await stopped;
    supervisor.want('c', 'late');
    await settle();
    expect(children).toHaveLength(count);
  });

  it('survives a child emitting "error" twice, and counts a fork that failed without an exit as a crash', async () => {
    let failNext = true;
    const { supervisor, of, children } = setup({}, (child) => {
      if (!failNext) return;
      failNext = false;
      child.pid = undefined;
      setImmediate(() => {
        child.emit('error', new Error('spawn EAGAIN'));
        child.emit('error', new Error('spawn EAGAIN again'));
      });
    });
    supervisor.want('a', 'web');
    await vi.advanceTimersByTimeAsync(1100);
    expect(children.length).toBeGreaterThanOrEqual(2);
    expect(of('a')).toHaveLength(1);
    expect(supervisor.monitoredIds).toEqual(['a']);
  });
});

describe('MonitorSupervisor: drain and messages', () => {
  it('asks the monitor to drain and resolves with its answer, or false after the timeout', async () => {
    const { supervisor, of } = setup();
    supervisor.want('a', 'web');
    await settle();
    const child = of('a')[0]!;
    const answered = supervisor.drain('a', 10_000, 1000);
    const request = child.sent.at(-1)!;
    expect(request).toMatchObject({ type: 'drain', holdMs: 10_000 });
    child.emit('message', { type: 'drained', requestId: request.requestId, outcome: 'reached' });
    await expect(answered).resolves.toBe(true);
    const silent = supervisor.drain('a', 10_000, 1000);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(silent).resolves.toBe(false);
    await expect(supervisor.drain('nobody', 1, 1)).resolves.toBe(false);
  });

  it('passes record requests of assigned children on, with a way to answer', async () => {
    const seen: unknown[] = [];
    const { supervisor, of } = setup({
      onMessage: (owner, message, reply) => {
        seen.push([owner.container, message.type]);
        reply({ type: 'record-done', requestId: 7, outcome: 'reached' });
      },
    });
    supervisor.want('a', 'web');
    await settle();
    const child = of('a')[0]!;
    child.emit('message', {
      type: 'record',
      requestId: 7,
      op: 'publish',
      key: '/k',
      ttlSeconds: 3,
      value: 'v',
    });
    expect(seen).toEqual([['a', 'record']]);
    expect(child.sent.at(-1)).toEqual({ type: 'record-done', requestId: 7, outcome: 'reached' });
  });
});

describe('MonitorSupervisor: what a sweep may not undo', () => {
  it('leaves containers with an event newer than the sweep list as the event decided', async () => {
    const { supervisor, children, of } = setup();
    supervisor.want('started-meanwhile', 'new');
    supervisor.want('old', 'old');
    await settle();
    // The list was made before 'started-meanwhile' started and before 'died-meanwhile' died.
    supervisor.reconcile(
      new Map([['died-meanwhile', 'gone']]),
      new Set(['started-meanwhile', 'died-meanwhile']),
    );
    await settle();
    expect(of('started-meanwhile')[0]!.signals).toEqual([]);
    expect(children.some((c) => c.container === 'died-meanwhile')).toBe(false);
    expect(of('old')[0]!.signals).toEqual(['SIGTERM']);
  });
});
