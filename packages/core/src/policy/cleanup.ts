// docker-mon's cleanup policy (SPEC §4): remove a container, with its anonymous volumes, once it
// has exited by itself with the expected code and Docker will not bring it back. Pure: inspect
// facts, parsed labels and the exit's cause (LifecycleTracker.exitCause) in, a decision out; the
// listener calls it on `die` and on every sweep and carries out `remove({ v: true })` itself.

import type { PolicyLabels } from './labels.js';
import type { ExitCause } from './lifecycle-tracker.js';

export type RestartPolicyName = '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';

/** From inspect: `State` and `HostConfig`, plus the top-level `RestartCount`. */
export interface CleanupFacts {
  running: boolean;
  restarting: boolean;
  paused: boolean;
  /** `State.Dead` */
  dead?: boolean | undefined;
  /** `State.Status`: created, running, paused, restarting, removing, exited or dead. */
  status: string;
  exitCode: number;
  restartPolicy: { name: RestartPolicyName; maximumRetryCount: number };
  restartCount: number;
  /** `HostConfig.AutoRemove` (`docker run --rm`). */
  autoRemove: boolean;
}

export type CleanupDecision =
  | { action: 'remove'; reason: string }
  /** Removable, but a `kill` logged just after the `die` may still come: decide again at `untilMs`. */
  | { action: 'wait'; untilMs: number; reason: string }
  | { action: 'none'; reason: string };

/**
 * `exit` is `LifecycleTracker.exitCause` for the run that ended (inspect's StartedAt). The caller
 * asks the tracker only once the rest allows removal (`decideCleanup(facts, labels)` without it
 * returns `remove`), then decides again with it:
 *
 *     let exit = tracker.exitCause(id, { startedAtMs, isStopping }, now);
 *     if (exit.cause === 'unknown' && !exit.replayed) {
 *       tracker.replay(id, startedAtMs, await pastEvents(id, since: StartedAt, until: now));
 *       exit = tracker.exitCause(id, { startedAtMs, isStopping }, now);
 *     }
 *     decideCleanup(facts, labels, exit)
 *
 * Without `exit` the exit's cause is not considered (docker-mon's rule, kept for callers with no
 * tracker); with it, only `own` removes: `pending` waits, and `stopped`, `listener` and `unknown`
 * leave the container alone (SPEC §4: only exits of its own are cleaned; when the events that
 * would tell are gone, removing could undo a person's stop, for ever: it stays).
 *
 * Remove only when every one of these holds:
 * - labels `mon.observe=1` and `mon.checks.cleanup=1`;
 * - not `AutoRemove`: Docker removes such a container itself, and removing it too races that
 *   removal into 404/409 errors for nothing;
 * - not running, restarting or paused;
 * - `State.Status` is `exited`. Not `created`: it never ran, and its ExitCode of 0 is only a
 *   default, so `docker create` would be undone behind the user's back. Not `dead`: Docker
 *   already failed to stop or remove it, its exit code means nothing, and a repeated remove
 *   would fail the same way; that needs the operator. Not `removing`: already under way;
 * - the exit code is the expected one (`mon.checks.cleanup.code`, default 0);
 * - Docker will not restart it (`willDockerRestart`);
 * - it exited by itself (`exit`, when given, is `own`).
 */
export function decideCleanup(
  facts: CleanupFacts,
  labels: Pick<PolicyLabels, 'observe' | 'cleanup'>,
  exit?: ExitCause,
): CleanupDecision {
  if (!labels.observe) return none('not observed (mon.observe is not 1)');
  if (!labels.cleanup.enabled) return none('cleanup policy off (mon.checks.cleanup is not 1)');
  if (facts.autoRemove) return none('AutoRemove is set: Docker removes it itself');
  if (facts.restarting) return none('restarting');
  if (facts.running || facts.paused) return none('running');
  if (facts.dead === true || facts.status !== 'exited') return none(`status is ${facts.status}, not exited`);
  const expected = labels.cleanup.exitCode;
  if (facts.exitCode !== expected) return none(`exit code ${facts.exitCode}, expected ${expected}`);
  const restart = willDockerRestart(facts);
  if (restart !== undefined) return none(restart);
  if (exit === undefined || exit.cause === 'own') {
    return { action: 'remove', reason: `exited with code ${facts.exitCode}` };
  }
  switch (exit.cause) {
    case 'pending':
      return {
        action: 'wait',
        untilMs: exit.untilMs,
        reason: `exited with code ${facts.exitCode}; ${exit.reason}`,
      };
    default:
      return none(`exited with code ${facts.exitCode}, but not by itself: ${exit.reason}`);
  }
}

/**
 * Why Docker may start this exited container again by its restart policy, or undefined when it
 * will not. Mirrors the daemon's restart manager (`restartmanager.ShouldRestart`).
 */
function willDockerRestart(facts: CleanupFacts): string | undefined {
  const { name, maximumRetryCount: max } = facts.restartPolicy;
  switch (name) {
    case '':
    case 'no':
      return undefined;
    case 'always':
    case 'unless-stopped':
      // Docker restarts these whenever they exit on their own (State.Restarting is set while it
      // waits), so seeing one exited and not restarting means someone stopped it by hand, and
      // `always` comes back at the next daemon start anyway. Inspect does not say whether it
      // was stopped by hand, so removing it could delete what the user only meant to pause.
      return `restart policy ${name}: Docker may start it again`;
    case 'on-failure':
      // Restarted on a non-zero exit, unless a retry limit is set (0 = unlimited) and used up.
      if (facts.exitCode === 0) return undefined;
      if (max > 0 && facts.restartCount >= max) return undefined;
      return max > 0
        ? `restart policy on-failure:${max} with ${facts.restartCount} restarts so far: Docker restarts it`
        : 'restart policy on-failure: Docker restarts it';
    default:
      // A policy this code does not know: leave the container rather than guess.
      return `unknown restart policy ${JSON.stringify(name)}`;
  }
}

const none = (reason: string): CleanupDecision => ({ action: 'none', reason });
