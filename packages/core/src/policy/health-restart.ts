// docker-mon's health policy (SPEC §4): restart a running container that Docker reports
// unhealthy, spacing repeated restarts of the same container with backoff. Owns the
// per-container memory that spacing needs; does no I/O and reads no clock (the caller passes
// `now`), so the listener decides on events and sweeps and carries out the restart itself.

import { type BackoffOptions, backoffDelay } from '../backoff.js';
import type { PolicyLabels } from './labels.js';

export type HealthStatus = 'healthy' | 'unhealthy' | 'starting' | 'none';

/** What the policy needs to know of a container: inspect's `State`, or an event plus a sweep. */
export interface HealthFacts {
  id: string;
  running: boolean;
  restarting: boolean;
  paused: boolean;
  /** `State.Health.Status`; absent (or 'none') when the container has no Docker health check. */
  healthStatus?: HealthStatus | undefined;
}

export type HealthDecision =
  /** Restart now (`restart({ t: ceil(stopTimeoutMs / 1000) })`), then call `recordRestart`. */
  | { action: 'restart'; stopTimeoutMs: number; attempt: number; reason: string }
  /** Unhealthy, but restarted too recently: ask again at or after `untilMs`. */
  | { action: 'wait'; untilMs: number; reason: string }
  | { action: 'none'; reason: string };

export interface HealthRestartOptions {
  /** Spacing between restarts of one container. */
  backoff?: BackoffOptions;
  /** How long a container must be seen healthy, without a break, to start over at "at once". */
  resetAfterMs?: number;
}

export const HEALTH_RESTART_BACKOFF: BackoffOptions = { initialMs: 10_000, maxMs: 5 * 60_000, factor: 2 };
export const HEALTH_RESET_AFTER_MS = 10 * 60_000;

interface Memory {
  /** Restarts since the backoff was last reset (≥ 1: no entry is kept before the first). */
  restarts: number;
  lastRestartAt: number;
  /** Start of the current unbroken run of healthy sightings after the last restart. */
  healthySince: number | undefined;
}

/**
 * Semantics, exactly:
 *
 * - Eligible: labels `mon.observe=1` and `mon.checks.health=1`; the container is running, not
 *   restarting (Docker's restart policy is already at work) and not paused (its health check
 *   does not run while paused, so the status is stale); its health status is `unhealthy`.
 *   `starting`, `healthy`, `none` or no health check → no action.
 * - Spacing: the first restart of a container happens at once. After `n` restarts (n ≥ 1) the
 *   next one is due `backoffDelay(n - 1)` after the last: 10 s, 20 s, 40 s, 80 s, 160 s, then
 *   300 s for every further one. Before that the answer is `wait` with the due time; the
 *   listener may arm a timer for it or let a later sweep ask again.
 * - Reset: each call of `decide`/`observe` is a sighting. A sighting of the container running,
 *   not paused or restarting, and `healthy` starts (or continues) a healthy run; any other
 *   sighting ends it, and `recordRestart` ends it too, so a run never spans a restart. Once a
 *   run has lasted `resetAfterMs` (10 min) by the sightings' clock, the container's memory is
 *   dropped and its next restart is again immediate. Sightings are samples (events and sweeps),
 *   so the run is measured from the first healthy sighting to the latest one: a short dip
 *   between two sightings goes unseen, a long one is seen by the next sweep.
 * - `now` is any millisecond clock that does not go backwards (Date.now() or performance.now()),
 *   the same one for every call.
 * - Memory is kept only for containers restarted at least once; `forget` (on destroy) or
 *   `retainOnly` (after a reconcile) drops it. Use one id form (the full id) for every call.
 */
export class HealthRestartPolicy {
  private readonly memory = new Map<string, Memory>();
  private readonly backoff: BackoffOptions;
  private readonly resetAfterMs: number;

  constructor(options: HealthRestartOptions = {}) {
    this.backoff = options.backoff ?? HEALTH_RESTART_BACKOFF;
    this.resetAfterMs = options.resetAfterMs ?? HEALTH_RESET_AFTER_MS;
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
    const status = facts.healthStatus ?? 'none';
    if (status !== 'unhealthy') return { action: 'none', reason: `health status is ${status}` };

    const stopTimeoutMs = labels.health.stopTimeoutMs;
    const memory = this.memory.get(facts.id);
    if (memory === undefined) {
      return { action: 'restart', stopTimeoutMs, attempt: 1, reason: 'unhealthy' };
    }
    const attempt = memory.restarts + 1;
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
    };
  }

  /**
   * A sighting without a decision, e.g. a `health_status: healthy` event or a sweep over a
   * container whose labels no longer matter. `decide` calls it itself.
   */
  observe(facts: HealthFacts, now: number): void {
    const memory = this.memory.get(facts.id);
    if (memory === undefined) return;
    const healthy = facts.running && !facts.restarting && !facts.paused && facts.healthStatus === 'healthy';
    if (!healthy) {
      memory.healthySince = undefined;
      return;
    }
    memory.healthySince ??= now;
    if (now - memory.healthySince >= this.resetAfterMs) this.memory.delete(facts.id);
  }

  /**
   * A restart was carried out (call it when the restart is issued, before awaiting it, so a
   * sweep that runs meanwhile gets `wait` rather than a second restart; and also when the
   * restart finally failed, so a failing container is spaced the same way).
   */
  recordRestart(id: string, now: number): void {
    const restarts = (this.memory.get(id)?.restarts ?? 0) + 1;
    this.memory.set(id, { restarts, lastRestartAt: now, healthySince: undefined });
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

  /** Restarts since the last reset (0 when none is remembered). */
  restartsOf(id: string): number {
    return this.memory.get(id)?.restarts ?? 0;
  }
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
