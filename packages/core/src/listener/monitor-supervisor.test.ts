import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../log/logger.js';
import { MonitorSupervisor, type MonitorSupervisorOptions } from './monitor-supervisor.js';

/** A stand-in for a forked monitor: records signals, exits when told. */
class FakeChild extends EventEmitter {
  static next = 1000;
  pid: number | undefined = FakeChild.next++;
  readonly signals: string[] = [];
  connected = true;
  sent: unknown[] = [];
  constructor(readonly containerId: string) {
    super();
  }
  kill(signal: string) {
    this.signals.push(signal);
    return true;
  }
  send(message: unknown) {
    this.sent.push(message);
    return true;
  }
  exit(code: number | null, signal: string | null = null) {
    this.connected = false;
    this.emit('exit', code, signal);
  }
}

const { log } = createLogger({ tool: 'listener', level: 'CRITICAL', stdout: false, syslog: false });

function setup(
  running = true,
  options: Partial<MonitorSupervisorOptions> = {},
  beforeReturn: (child: FakeChild) => void = () => {},
) {
  const children: FakeChild[] = [];
  const supervisor = new MonitorSupervisor({
    log,
    spawn: (id) => {
      const child = new FakeChild(id);
      beforeReturn(child);
      children.push(child);
      return child as unknown as ChildProcess;
    },
    isRunning: async () => running,
    killAfterMs: 5000,
    ...options,
  });
  const alive = (id: string) => children.filter((c) => c.containerId === id && c.connected);
  return { supervisor, children, alive };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('MonitorSupervisor: at most one monitor per container', () => {
  it('starts one monitor per wanted container, however often it is wanted', () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    supervisor.want('a', 'web');
    supervisor.reconcile(new Map([['a', 'web']]));
    expect(children).toHaveLength(1);
    expect(supervisor.monitoredIds).toEqual(['a']);
  });

  it('sends SIGTERM on release and forgets the container once its monitor exits', () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    supervisor.release('a');
    supervisor.release('a');
    expect(children[0]!.signals).toEqual(['SIGTERM']);
    children[0]!.exit(0);
    expect(supervisor.monitoredIds).toEqual([]);
  });

  it('on a quick restart (die then start) starts the new monitor only after the old one exited', () => {
    const { supervisor, children, alive } = setup();
    supervisor.want('a', 'web');
    supervisor.release('a');
    supervisor.want('a', 'web');
    expect(children).toHaveLength(1);
    expect(alive('a')).toHaveLength(1);
    children[0]!.exit(0);
    expect(children).toHaveLength(2);
    expect(alive('a')).toHaveLength(1);
  });

  it('kills a monitor that ignores SIGTERM', () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    supervisor.release('a');
    vi.advanceTimersByTime(5000);
    expect(children[0]!.signals).toEqual(['SIGTERM', 'SIGKILL']);
  });

  it('reconcile starts the missing and ends the extra', () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    supervisor.want('b', 'db');
    const changes = supervisor.reconcile(
      new Map([
        ['b', 'db'],
        ['c', 'cache'],
      ]),
    );
    expect(changes).toEqual({ started: 1, stopped: 1 });
    expect(children.find((c) => c.containerId === 'a')!.signals).toEqual(['SIGTERM']);
    expect(children.map((c) => c.containerId).sort()).toEqual(['a', 'b', 'c']);
  });

  it('passes events to the container monitor only', () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    supervisor.want('b', 'db');
    supervisor.forward({ id: 'b', action: 'pause', attributes: {}, timeNano: '1' });
    expect(children[0]!.sent).toEqual([]);
    expect(children[1]!.sent).toEqual([
      { type: 'docker-event', event: { id: 'b', action: 'pause', attributes: {}, timeNano: '1' } },
    ]);
  });
});

describe('MonitorSupervisor: crashed monitors come back with backoff', () => {
  it('restarts after 1 s, 2 s, 4 s … and resets after a minute alive', async () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      children.at(-1)!.exit(null, 'SIGKILL');
      const before = children.length;
      let waited = 0;
      while (children.length === before) {
        await vi.advanceTimersByTimeAsync(100);
        waited += 100;
      }
      gaps.push(waited);
    }
    expect(gaps).toEqual([1000, 2000, 4000, 8000]);
    await vi.advanceTimersByTimeAsync(60_000);
    children.at(-1)!.exit(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(children).toHaveLength(6);
  });

  it('does not restart a monitor whose container stopped running', async () => {
    const { supervisor, children } = setup(false);
    supervisor.want('a', 'web');
    children[0]!.exit(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(children).toHaveLength(1);
    expect(supervisor.monitoredIds).toEqual([]);
  });

  it('treats exit 0 as the container removed: no restart', async () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    children[0]!.exit(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(children).toHaveLength(1);
  });

  it('stopAll ends every monitor and resolves once all exited; nothing restarts afterwards', async () => {
    const { supervisor, children } = setup();
    supervisor.want('a', 'web');
    supervisor.want('b', 'db');
    let done = false;
    const stopped = supervisor.stopAll().then(() => {
      done = true;
    });
    expect(children.every((c) => c.signals.includes('SIGTERM'))).toBe(true);
    children[0]!.exit(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    children[1]!.exit(0);
    await stopped;
    supervisor.want('c', 'late');
    expect(children).toHaveLength(2);
  });
});

describe('MonitorSupervisor: a burst starts a few monitors at a time', () => {
  it('queues launches beyond maxStarting until a monitor says ready, and drops released ones from the queue', () => {
    const { supervisor, children } = setup(true, { maxStarting: 2 });
    for (const id of ['a', 'b', 'c', 'd']) supervisor.want(id, id);
    expect(children.map((c) => c.containerId)).toEqual(['a', 'b']);
    supervisor.release('c');
    children[0]!.emit('message', { type: 'ready' });
    expect(children.map((c) => c.containerId)).toEqual(['a', 'b', 'd']);
    children[1]!.exit(1);
    expect(children).toHaveLength(3);
  });

  it('does not wait forever for a monitor that never says ready', () => {
    const { supervisor, children } = setup(true, { maxStarting: 1, readyTimeoutMs: 500 });
    supervisor.want('a', 'a');
    supervisor.want('b', 'b');
    expect(children).toHaveLength(1);
    vi.advanceTimersByTime(500);
    expect(children).toHaveLength(2);
  });
});

describe('MonitorSupervisor: what a sweep may not undo', () => {
  it('leaves containers with an event newer than the sweep list as the event decided', () => {
    const { supervisor, children } = setup();
    supervisor.want('started-meanwhile', 'new');
    supervisor.want('old', 'old');
    // The list was made before 'started-meanwhile' started and before 'died-meanwhile' died.
    supervisor.reconcile(
      new Map([['died-meanwhile', 'gone']]),
      new Set(['started-meanwhile', 'died-meanwhile']),
    );
    expect(children.find((c) => c.containerId === 'started-meanwhile')!.signals).toEqual([]);
    expect(children.some((c) => c.containerId === 'died-meanwhile')).toBe(false);
    expect(children.find((c) => c.containerId === 'old')!.signals).toEqual(['SIGTERM']);
  });

  it('counts a fork that failed without an exit event as a crash, so the container gets a monitor later', async () => {
    let failNext = true;
    const { supervisor, children } = setup(true, {}, (child) => {
      if (!failNext) return;
      failNext = false;
      child.pid = undefined;
      setImmediate(() => child.emit('error', new Error('spawn EAGAIN')));
    });
    supervisor.want('a', 'web');
    await vi.advanceTimersByTimeAsync(1100);
    expect(children).toHaveLength(2);
    expect(supervisor.monitoredIds).toEqual(['a']);
  });
});
