// docker-mon's health policy (SPEC §4) with this project's grace and limit (SPEC §1): restart a
// running container that Docker reports unhealthy, once it has been unhealthy for its grace,
// spacing repeated restarts of the same container with backoff, and giving up once it has used
// its hourly budget. Owns the per-container memory that needs; does no I/O and reads no clock:
// the caller passes Docker's report times and `now`, and carries out the restart itself.

import { type BackoffOptions, backoffDelay } from '../backoff.js';
import { type HealthLog, healthAsOf, unhealthySince } from './health-log.js';
import type { PolicyLabels } from './labels.js';

export type HealthStatus = 'healthy' | 'unhealthy' | 'starting' | 'none';

/** What the policy needs to know of a container: inspect's `State` (and `Config.Healthcheck`). */
export interface HealthFacts {
  id: string;
  running: boolean;
  restarting: boolean;
  paused: boolean;
  /** `State.Health.Status`; absent (or 'none') when the container has no Docker health check. */
  healthStatus?: HealthStatus | undefined;
  /** `State.StartedAt` in epoch ms: reports from before it belong to an earlier run. */
  startedAtMs?: number | undefined;
  /**
   * `State.Health.FailingStreak` and `Log` with `Config.Healthcheck.Retries`: when Docker reached
   * the status shown. Without it the status counts as reported at `now`.
   */
  health?: HealthLog | undefined;
}

/** The one-time report that the hourly budget is spent: log CRITICAL and notify. */
export interface GaveUp {
  /** `mon.checks.health.limit` */
  limit: number;
  /** Health restarts in the hour before the decision (≥ limit). */
  restartsInHour: number;
  /** Since when Docker has reported it unhealthy this time. */
  unhealthySinceMs: number;
}

export type HealthDecision =
  /**
   * Restart now, draining first: withdraw the container's record (the monitor deletes its key),
   * wait for the confirmation or 1 s, whichever comes first, then
   * `restart({ t: ceil(stopTimeoutMs / 1000) })`. Call `recordRestart` before the drain, so a
   * sweep meanwhile gets `wait` rather than a second restart.
   */
  | {
      action: 'restart';
      stopTimeoutMs: number;
      attempt: number;
      reason: string;
      /** When Docker reported it unhealthy (for the log line). */
      unhealthySinceMs: number;
    }
  /** Unhealthy, but within its grace or restarted too recently: ask again at `untilMs`. */
  | { action: 'wait'; untilMs: number; reason: string }
  /**
   * Nothing to do. `gaveUp` is set exactly once per spent budget: the caller logs CRITICAL naming
   * the container (with `reason`) and sends a `gave up` notification.
   */
  | { action: 'none'; reason: string; gaveUp?: GaveUp };

export interface HealthRestartOptions {
  /** Spacing between restarts of one container. */
  backoff?: BackoffOptions;
  /** How long a container must be seen healthy, without a break, to start over at "at once". */
  resetAfterMs?: number;
  /** The window of `mon.checks.health.limit`. */
  limitWindowMs?: number;
}

export const HEALTH_RESTART_BACKOFF: BackoffOptions = { initialMs: 10_000, maxMs: 5 * 60_000, factor: 2 };
export const HEALTH_RESET_AFTER_MS = 10 * 60_000;
export const HEALTH_LIMIT_WINDOW_MS = 60 * 60_000;

interface Memory {
  /** The newest health report applied (event or sighting) and its time. */
  status: HealthStatus;
  statusAt: number;
  /** Start of the current unhealthy report, while no other report has come since. */
  unhealthySince: number | undefined;
  /** Start of the current unbroken healthy run; undefined while not in one. */
  healthySince: number | undefined;
  /** Restarts since the backoff was last reset, and the time of the last. */
  restarts: number;
  lastRestartAt: number | undefined;
  /** Health restarts within the last limit window, oldest first. */
  restartTimes: number[];
  /** The budget was spent and `gaveUp` reported: no restart until healthy 10 min or restarted by others. */
  gaveUpAt: number | undefined;
}

/**
 * Semantics, exactly:
 *
 * - Clock: every time is epoch milliseconds: Docker's event times (`eventTimeMs`), inspect's
 *   times (`dockerTimeMs`), and `Date.now()` for `now`. Docker and the listener read the same
 *   clock on one host; a remote daemon's clock must agree to well under a second.
 * - Reports: Docker's `health_status` events (`report`) and inspect sightings (`decide`,
 *   `observe`) carry the health status and the time Docker reached it (the event time; for a
 *   sighting the end of its latest probe, else `now`). A report older than the newest one applied
 *   is stale news (an inspect that raced an event) and is ignored, so events a few ms out of
 *   order cannot undo a newer state. A start (`started`, `recordRestart`, or a sighting whose
 *   `startedAtMs` is newer) begins a new run: status `starting`, no unhealthy or healthy run.
 * - Eligible: labels `mon.observe=1` and `mon.checks.health=1`; the container is running, not
 *   restarting (Docker's restart policy is already at work) and not paused (its health check
 *   does not run while paused, so the status is stale); its newest status is `unhealthy`.
 * - Grace (`mon.checks.health.grace`): measured from the report that turned it unhealthy (for a
 *   container found unhealthy without an event, from the probe that did it: `unhealthySince`);
 *   any other report (healthy, starting, a start, seen stopped) ends it. Until `since + grace`
 *   the answer is `wait`; grace 0 restarts at the first unhealthy report.
 * - Limit (`mon.checks.health.limit`): once the grace is over, if `limit` health restarts
 *   (`recordRestart`) lie within the last hour (sliding), the answer is `none` with `gaveUp`,
 *   once; then `none` until the latch is lifted by 10 min healthy (the hour still counts its
 *   restarts: a container that heals and fails again within the hour gives up again) or by a
 *   start by someone else (`started(…, 'other')`: a person or Docker's restart policy took over,
 *   so the hour starts over too). The limit is checked after the grace (a blip that heals within
 *   it costs nothing) and before the backoff (no point waiting 5 min to give up).
 * - Spacing: the first restart of a container happens at once. After `n` restarts (n ≥ 1) the
 *   next one is due `backoffDelay(n - 1)` after the last: 10 s, 20 s, 40 s, 80 s, 160 s, then
 *   300 s for every further one. Before that the answer is `wait` with the due time. Grace and
 *   backoff both apply: the later of the two due times wins.
 * - Reset: a healthy report, and every sighting of the container running, not paused or
 *   restarting and healthy, continues a healthy run from the first such report; any other report
 *   or sighting ends it, and so does `recordRestart`. Once a run has lasted `resetAfterMs`
 *   (10 min) at any call, the backoff starts over at "at once" and a gave-up latch is lifted.
 * - Memory is per container id (the full id, in every call); `forget` (on destroy) and
 *   `retainOnly` (after a reconcile) drop it.
 */
export class HealthRestartPolicy {
  private readonly memory = new Map<string, Memory>();
  private readonly backoff: BackoffOptions;
  private readonly resetAfterMs: number;
  private readonly limitWindowMs: number;

  constructor(options: HealthRestartOptions = {}) {
    this.backoff = options.backoff ?? HEALTH_RESTART_BACKOFF;
    this.resetAfterMs = options.resetAfterMs ?? HEALTH_RESET_AFTER_MS;
    this.limitWindowMs = options.limitWindowMs ?? HEALTH_LIMIT_WINDOW_MS;
  }

  /** Records a sighting (see `observe`) and says what to do about this container now. */
  decide(facts: HealthFacts, labels: Pick<PolicyLabels, 'observe' | 'health'>, now: number): HealthDecision {
    this.observe(facts, now);

    if (!labels.observe) return { action: 'none', reason: 'not observed (mon.observe is not 1)' };
    if (!labels.health.enabled)
      return { action: 'none', reason: 'health policy off (mon.checks.health is not 1)' };
    // Docker reports a restarting or paused container as running too, so these come first.
    if (facts.restarting) return { action: 'none', reason: 'restarting already' };
    if (facts.paused) return { action: 'none', reason: 'paused (its health status is stale)' };
    if (!facts.running) return { action: 'none', reason: 'not running' };
    const memory = this.memoryOf(facts.id);
    if (memory.status !== 'unhealthy' || memory.unhealthySince === undefined) {
      const newer = (facts.healthStatus ?? 'none') !== memory.status ? ', reported after that inspect' : '';
      return { action: 'none', reason: `health status is ${memory.status}${newer}` };
    }
    const since = memory.unhealthySince;
    const { graceMs, limit, stopTimeoutMs } = labels.health;

    if (memory.gaveUpAt !== undefined) {
      return {
        action: 'none',
        reason: `gave up at ${new Date(memory.gaveUpAt).toISOString()} (mon.checks.health.limit=${limit ?? '-'}); restarts again after 10 min healthy or a restart by someone else`,
      };
    }

    const graceDue = since + graceMs;
    if (now < graceDue) {
      return {
        action: 'wait',
        untilMs: graceDue,
        reason: `unhealthy for ${seconds(Math.max(0, now - since))} of its ${seconds(graceMs)} grace`,
      };
    }

    this.prune(memory, now);
    if (limit !== undefined && memory.restartTimes.length >= limit) {
      memory.gaveUpAt = now;
      return {
        action: 'none',
        reason: `unhealthy for ${seconds(now - since)} after ${memory.restartTimes.length} restarts in the last hour (mon.checks.health.limit=${limit}): giving up until it has been healthy for 10 min or someone else restarts it`,
        gaveUp: { limit, restartsInHour: memory.restartTimes.length, unhealthySinceMs: since },
      };
    }

    const attempt = memory.restarts + 1;
    if (memory.restarts === 0 || memory.lastRestartAt === undefined) {
      return { action: 'restart', stopTimeoutMs, attempt: 1, reason: 'unhealthy', unhealthySinceMs: since };
    }
    const gapMs = backoffDelay(memory.restarts - 1, this.backoff);
    const dueAt = memory.lastRestartAt + gapMs;
    if (now < dueAt) {
      return {
        action: 'wait',
        untilMs: dueAt,
        reason: `unhealthy; restart ${attempt} is due ${seconds(gapMs)} after restart ${memory.restarts} (backoff), in ${seconds(dueAt - now)}`,
      };
    }
    return {
      action: 'restart',
      stopTimeoutMs,
      attempt,
      reason: `unhealthy again; restart ${attempt}, ${seconds(now - memory.lastRestartAt)} after the last`,
      unhealthySinceMs: since,
    };
  }

  /**
   * A sighting without a decision: a sweep over a container (`decide` calls it itself). The
   * sighting's status counts as reported at its latest probe's end, or at `now` without a log.
   */
  observe(facts: HealthFacts, now: number): void {
    const memory = this.memoryOf(facts.id);
    if (facts.startedAtMs !== undefined && facts.startedAtMs > memory.statusAt) {
      this.apply(memory, 'starting', facts.startedAtMs);
    }
    if (!facts.running && !facts.restarting) {
      // Stopped: whatever it reported belonged to a run that is over.
      if (now >= memory.statusAt) this.apply(memory, 'none', now);
    } else if (facts.restarting || facts.paused) {
      memory.healthySince = undefined;
    } else {
      const status = facts.healthStatus ?? 'none';
      const asOf = (facts.health && healthAsOf(facts.health, facts.startedAtMs)) ?? now;
      if (asOf >= memory.statusAt) {
        const since = facts.health && unhealthySince(facts.health, facts.startedAtMs);
        this.apply(memory, status, asOf, since);
      }
    }
    this.checkReset(memory, now);
  }

  /** Docker's `health_status` event: `status` is its detail, `atMs` its time (`eventTimeMs`). */
  report(id: string, status: HealthStatus, atMs: number): void {
    const memory = this.memoryOf(id);
    if (atMs >= memory.statusAt) this.apply(memory, status, atMs);
    this.checkReset(memory, atMs);
  }

  /**
   * The container started (Docker's `start` event, at its time): a new run of health reports.
   * `by` says who caused it (see LifecycleTracker.event): a start by anyone but the listener also
   * lifts a gave-up latch and empties the limit's hour.
   */
  started(id: string, atMs: number, by: 'listener' | 'other'): void {
    const memory = this.memoryOf(id);
    if (atMs >= memory.statusAt) this.apply(memory, 'starting', atMs);
    if (by === 'other') {
      memory.gaveUpAt = undefined;
      memory.restartTimes = [];
    }
  }

  /**
   * A health restart was carried out (call it when the restart is issued, before the drain and
   * the call, so a sweep that runs meanwhile gets `wait` rather than a second restart; and also
   * when the restart finally failed, so a failing container is spaced and counted the same way).
   */
  recordRestart(id: string, now: number): void {
    const memory = this.memoryOf(id);
    memory.restarts += 1;
    memory.lastRestartAt = now;
    memory.restartTimes.push(now);
    this.prune(memory, now);
    this.apply(memory, 'starting', Math.max(now, memory.statusAt));
  }

  /** The container was destroyed: nothing to space any more. */
  forget(id: string): void {
    this.memory.delete(id);
  }

  /** Drops the memory of every container not in `ids` (after a reconcile saw the full list). */
  retainOnly(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const id of this.memory.keys()) if (!keep.has(id)) this.memory.delete(id);
  }

  /** Restarts since the backoff was last reset (0 when none is remembered). */
  restartsOf(id: string): number {
    return this.memory.get(id)?.restarts ?? 0;
  }

  /** Whether the container's budget is spent (for /status). */
  hasGivenUp(id: string): boolean {
    return this.memory.get(id)?.gaveUpAt !== undefined;
  }

  private memoryOf(id: string): Memory {
    let memory = this.memory.get(id);
    if (memory === undefined) {
      memory = {
        status: 'none',
        statusAt: Number.NEGATIVE_INFINITY,
        unhealthySince: undefined,
        healthySince: undefined,
        restarts: 0,
        lastRestartAt: undefined,
        restartTimes: [],
        gaveUpAt: undefined,
      };
      this.memory.set(id, memory);
    }
    return memory;
  }

  /** A report of `status` reached at `at`; `since` is when an unhealthy status began, if known. */
  private apply(memory: Memory, status: HealthStatus, at: number, since?: number) {
    if (status === 'unhealthy') {
      if (memory.status !== 'unhealthy' || memory.unhealthySince === undefined) {
        memory.unhealthySince = Math.min(at, since ?? at);
      }
      memory.healthySince = undefined;
    } else if (status === 'healthy') {
      memory.unhealthySince = undefined;
      memory.healthySince ??= at;
    } else {
      memory.unhealthySince = undefined;
      memory.healthySince = undefined;
    }
    memory.status = status;
    memory.statusAt = at;
  }

  private checkReset(memory: Memory, now: number) {
    if (memory.healthySince === undefined || now - memory.healthySince < this.resetAfterMs) return;
    memory.restarts = 0;
    memory.lastRestartAt = undefined;
    memory.gaveUpAt = undefined;
  }

  private prune(memory: Memory, now: number) {
    const from = now - this.limitWindowMs;
    while (memory.restartTimes.length > 0 && memory.restartTimes[0]! <= from) memory.restartTimes.shift();
  }
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
