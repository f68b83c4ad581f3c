// Who ended or started a container: the container itself, the listener, or someone else (a
// person, a script, Docker's restart policy). Fed with the container's lifecycle events (Docker's
// times) and with the calls the listener makes itself; answers, for an exit, whether it was the
// container's own (cleanup removes only those: SPEC §4) and, for a start, who caused it (the
// health limit starts over after someone else's restart: SPEC §1). Pure: no I/O, no clock.

export type LifecycleAction = 'start' | 'restart' | 'kill' | 'stop' | 'die' | 'destroy';

/** One Docker container event, reduced. */
export interface LifecycleEvent {
  /** The event's action; actions other than LifecycleAction are ignored. */
  action: string;
  /** `eventTimeMs(timeNano)` */
  atMs: number;
  /** `kill`: `Actor.Attributes.signal`, the signal number Docker sent. */
  signal?: string | undefined;
}

/** The Docker calls of the listener that stop a container. */
export type ListenerAction = 'restart' | 'stop' | 'kill';

export type Cause = 'listener' | 'other';

/** The run that ended, from inspect. */
export interface ExitFacts {
  /** `State.StartedAt` (`dockerTimeMs`): events before it belong to earlier runs. */
  startedAtMs: number;
  /**
   * Whether a `kill` event's signal ends the container (e.g. INT, QUIT, KILL, TERM or its own
   * `Config.StopSignal`; HUP or USR1 ask it to reload). Default: every signal counts, which can
   * only leave a container alone that would have been removed.
   */
  isStopping?: ((signal: string | undefined) => boolean) | undefined;
}

export type ExitCause =
  /** It exited by itself: cleanup may remove it (if the exit code and the rest agree). */
  | { cause: 'own'; reason: string }
  /** Someone stopped it (`docker stop`, or a `docker kill` the listener did not send): leave it. */
  | { cause: 'stopped'; by: 'stop' | 'kill'; signal?: string | undefined; reason: string }
  /** The listener's own restart/stop/kill ended it: leave it (a restart brings it back). */
  | { cause: 'listener'; reason: string }
  /** A `kill` or `stop` logged a few ms after the `die` may still come: ask again at `untilMs`. */
  | { cause: 'pending'; untilMs: number; reason: string }
  /**
   * No `die` event of this run is known (it exited while the listener was down). Not `replayed`
   * yet: fetch the container's past events, `replay` them, ask again. Replayed: leave it.
   */
  | { cause: 'unknown'; replayed: boolean; reason: string };

export interface LifecycleTrackerOptions {
  /**
   * How long after a `die` a `kill` may still be logged (Docker logs `kill` once the signal is
   * delivered, and a process that dies at once can be reported first). Default 100 ms.
   */
  settleMs?: number;
  /** How far Docker's clock and the listener's may disagree. Default 250 ms. */
  skewMs?: number;
  /** Events kept per container. Default 64. */
  keep?: number;
}

export const EXIT_SETTLE_MS = 100;
export const CLOCK_SKEW_MS = 250;

/** The events each of the listener's calls makes Docker log, and the one that ends it. */
const PRODUCES: Record<ListenerAction, { events: ReadonlySet<string>; last: string }> = {
  restart: { events: new Set(['kill', 'die', 'stop', 'start', 'restart']), last: 'restart' },
  stop: { events: new Set(['kill', 'die', 'stop']), last: 'stop' },
  kill: { events: new Set(['kill', 'die']), last: 'die' },
};
/** Calls remembered per container: backoff allows about 16 health restarts an hour. */
const MAX_CALLS = 16;
const TRACKED = new Set<string>(['start', 'restart', 'kill', 'stop', 'die', 'destroy']);

interface Recorded {
  action: string;
  atMs: number;
  signal: string | undefined;
  cause: Cause;
}

interface OwnCall {
  action: ListenerAction;
  issuedAt: number;
  settledAt: number | undefined;
  /** Time of the event that completed it (Docker's clock). */
  closedAt: number | undefined;
}

interface Memory {
  /** Sorted by time. */
  events: Recorded[];
  calls: OwnCall[];
  /** StartedAt of runs whose past events were replayed. */
  replayed: Set<number>;
}

/**
 * Semantics, exactly:
 *
 * - Times: events carry Docker's times (`eventTimeMs`); `issued`/`settled`/`now` the listener's
 *   `Date.now()`. Runs are told apart on Docker's clock alone (event times against inspect's
 *   StartedAt); only the listener's calls are matched across the two clocks, with `skewMs`.
 * - The listener's calls: `issued` just before a restart/stop/kill call, `settled` when it
 *   returned or finally failed (after its retries). An event is the listener's when that call
 *   makes Docker log it (a restart: kill, die, stop, start, restart) and its time lies between
 *   `issued - skew` and whichever comes first: the call's last event (`restart`, `stop`, `die`)
 *   or `settled + skew`. Docker logs every event of a call before it answers, so an event that
 *   reaches the listener after `settled` is still matched. Everything else is someone else's.
 * - `event` records one event and returns who caused it; feed every start, restart, kill, stop,
 *   die and destroy of every container the policies may act on, as the stream delivers them
 *   (also those replayed after a reconnect; a repeat is recognised and not counted twice).
 * - `exitCause`: the run is the one that started at `startedAtMs`; its `die` is the first `die`
 *   at or after it, and the run's events end at the next `start`. Then, in order:
 *   no such `die` → `unknown`; the `die` was the listener's → `listener`;
 *   a `stop`, or a `kill` whose signal ends the container (`isStopping`), by someone else, in
 *   the run → `stopped` (Docker logs `docker stop`'s `kill` before the `die` and its `stop`
 *   after it: measured here 55 ms after on an idle host, up to 1.7 s under load, while the
 *   `kill` came 30 ms to 1.4 s before the `die`; so the `kill` decides, the `stop` when known);
 *   `now` before `die + settleMs` → `pending` (a `kill` logged a few ms late may still come);
 *   else → `own`.
 * - Exits the listener did not see (it was down): `unknown`, until `replay` supplies Docker's
 *   past events for the container (`GET /events?since=<StartedAt>&until=<now>&filters=
 *   {"container":[id]}`). Docker keeps only its latest 256 events in memory, and every health
 *   probe logs three (exec_create, exec_start, exec_die), so on a busy host they are soon gone:
 *   a `die` still found decides as above (a `stop`'s `kill` is logged just before it, so it is
 *   found too); none found stays `unknown`, and the caller leaves the container alone with a
 *   notice. Removing is forever (its anonymous volumes too), leaving it costs the operator one
 *   `docker rm`: when in doubt the container stays.
 * - Memory is per container id (the full id): the last `keep` events and the calls still open
 *   or settled after the oldest of them; `forget` (after destroy) and `retainOnly` drop it.
 */
export class LifecycleTracker {
  private readonly memory = new Map<string, Memory>();
  private readonly settleMs: number;
  private readonly skewMs: number;
  private readonly keep: number;

  constructor(options: LifecycleTrackerOptions = {}) {
    this.settleMs = options.settleMs ?? EXIT_SETTLE_MS;
    this.skewMs = options.skewMs ?? CLOCK_SKEW_MS;
    this.keep = options.keep ?? 64;
  }

  /** The listener is about to call Docker to restart, stop or kill the container. */
  issued(id: string, action: ListenerAction, atMs: number): void {
    const { calls } = this.memoryOf(id);
    calls.push({ action, issuedAt: atMs, settledAt: undefined, closedAt: undefined });
    if (calls.length > MAX_CALLS) calls.splice(0, calls.length - MAX_CALLS);
  }

  /** The listener's latest open call on the container returned, or finally failed. */
  settled(id: string, atMs: number): void {
    const call = this.memory.get(id)?.calls.findLast((c) => c.settledAt === undefined);
    if (call) call.settledAt = atMs;
  }

  /** Records one event of the container; returns who caused it. */
  event(id: string, event: LifecycleEvent): Cause {
    if (!TRACKED.has(event.action)) return 'other';
    const memory = this.memoryOf(id);
    const same = memory.events.find(
      (e) => e.action === event.action && e.atMs === event.atMs && e.signal === event.signal,
    );
    if (same) return same.cause;
    const call = this.callFor(memory, event);
    if (call && PRODUCES[call.action].last === event.action) call.closedAt = event.atMs;
    const recorded: Recorded = {
      action: event.action,
      atMs: event.atMs,
      signal: event.signal,
      cause: call ? 'listener' : 'other',
    };
    const at = memory.events.findLastIndex((e) => e.atMs <= event.atMs);
    memory.events.splice(at + 1, 0, recorded);
    this.trim(memory);
    return recorded.cause;
  }

  /**
   * Docker's past events of the container (in any order), fetched for the run that started at
   * `startedAtMs` because `exitCause` said `unknown`; marks that run as replayed, so `exitCause`
   * says whether asking Docker again could help.
   */
  replay(id: string, startedAtMs: number, events: readonly LifecycleEvent[]): void {
    for (const event of [...events].sort((a, b) => a.atMs - b.atMs)) this.event(id, event);
    const { replayed } = this.memoryOf(id);
    replayed.add(startedAtMs);
    if (replayed.size > 4) replayed.delete(replayed.values().next().value!);
  }

  /** Whose exit ended the run that started at `exit.startedAtMs` (see the class notes). */
  exitCause(id: string, exit: ExitFacts, now: number): ExitCause {
    const memory = this.memory.get(id);
    const events = (memory?.events ?? []).filter((e) => e.atMs >= exit.startedAtMs);
    const die = events.find((e) => e.action === 'die');
    if (die === undefined) {
      const replayed = memory?.replayed.has(exit.startedAtMs) ?? false;
      return {
        cause: 'unknown',
        replayed,
        reason: replayed
          ? "it exited while the listener was not watching, and Docker no longer has that run's events"
          : 'no die event of this run is known (it exited while the listener was not watching)',
      };
    }
    if (die.cause === 'listener') return { cause: 'listener', reason: "ended by the listener's own call" };

    const isStopping = exit.isStopping ?? (() => true);
    const until = die.atMs + this.settleMs;
    for (const e of events) {
      if (e.action === 'start' && e.atMs > die.atMs) break; // the next run
      if (e.cause !== 'other') continue;
      if (e.action === 'stop')
        return { cause: 'stopped', by: 'stop', reason: 'stopped by someone (docker stop)' };
      if (e.action === 'kill' && isStopping(e.signal)) {
        return {
          cause: 'stopped',
          by: 'kill',
          signal: e.signal,
          reason: `killed by someone (signal ${e.signal ?? 'unknown'}, not sent by the listener)`,
        };
      }
    }
    if (now < until) {
      return { cause: 'pending', untilMs: until, reason: 'a kill logged just after the die may still come' };
    }
    return { cause: 'own', reason: 'exited by itself (no stop or kill by anyone before it)' };
  }

  /** The container is gone (after its destroy event). */
  forget(id: string): void {
    this.memory.delete(id);
  }

  /** Drops the memory of every container not in `ids` (after a reconcile saw the full list). */
  retainOnly(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const id of this.memory.keys()) if (!keep.has(id)) this.memory.delete(id);
  }

  private memoryOf(id: string): Memory {
    let memory = this.memory.get(id);
    if (memory === undefined) {
      memory = { events: [], calls: [], replayed: new Set() };
      this.memory.set(id, memory);
    }
    return memory;
  }

  private callFor(memory: Memory, event: LifecycleEvent): OwnCall | undefined {
    return memory.calls.find(
      (call) =>
        PRODUCES[call.action].events.has(event.action) &&
        event.atMs >= call.issuedAt - this.skewMs &&
        (call.closedAt === undefined || event.atMs <= call.closedAt) &&
        (call.settledAt === undefined || event.atMs <= call.settledAt + this.skewMs),
    );
  }

  private trim(memory: Memory) {
    if (memory.events.length > this.keep) memory.events.splice(0, memory.events.length - this.keep);
    const oldest = memory.events[0]?.atMs ?? Number.NEGATIVE_INFINITY;
    memory.calls = memory.calls.filter(
      (call) => call.settledAt === undefined || call.settledAt + this.skewMs >= oldest,
    );
  }
}
