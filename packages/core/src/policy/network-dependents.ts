// The network policy (SPEC §1 `mon.checks.network=1`): a container D run with
// `--network container:X` lives in X's network namespace, and when X restarts (by the listener,
// its restart policy or a person) that namespace dies with it; D keeps running with nothing but
// a dead loopback. D is restarted once X runs again, so it joins X's new namespace. Owns which
// dependents wait on which container and which were restarted for which start of X. Pure: the
// caller inspects D and X, and restarts D itself.

import type { PolicyLabels } from './labels.js';

/** D's facts, from its inspect (`State`, `HostConfig.NetworkMode`). */
export interface DependentFacts {
  /** Full id. */
  id: string;
  running: boolean;
  restarting: boolean;
  paused: boolean;
  /** `State.StartedAt` (`dockerTimeMs`). */
  startedAtMs: number;
  /** `HostConfig.NetworkMode`, e.g. `container:<X's id>`. */
  networkMode: string;
}

/** X's facts, from inspecting `networkParentOf(D.networkMode)`; `found: false` on a 404. */
export type ParentFacts =
  | { found: true; id: string; running: boolean; restarting: boolean; startedAtMs: number }
  | { found: false };

export type DependentDecision =
  /**
   * Restart D now (drain first, like a health restart: withdraw its record, wait for the
   * confirmation or 1 s), calling `recordRestart` before and `restartFailed` if it finally fails.
   */
  | { action: 'restart'; parentId: string; parentStartedAtMs: number; reason: string }
  /** Leave D alone, and log `reason` as a warning naming D (returned once per D and cause). */
  | { action: 'warn'; reason: string }
  | { action: 'none'; reason: string };

/**
 * The container whose network `HostConfig.NetworkMode` shares, as written there: Docker 20.10
 * stores X's full id even when `--network container:<name>` was given; other versions may keep
 * the name. Inspecting it by that reference works either way. Undefined when not `container:`.
 */
export function networkParentOf(networkMode: string | undefined): string | undefined {
  const match = /^container:(.+)$/.exec((networkMode ?? '').trim());
  return match?.[1]?.trim() || undefined;
}

interface Restarted {
  /** The start of X (StartedAt) this restart of D was for. */
  parentStartedAtMs: number;
  /** The restart finally failed (X gone down again: Docker then leaves D stopped). */
  failed: boolean;
}

/**
 * Semantics, exactly:
 *
 * - D takes part with `mon.observe=1` and `mon.checks.network=1`. X needs no label.
 * - A D whose NetworkMode is not `container:…`, or whose X is not found (destroyed; a name that
 *   names nothing), is left alone with a warning (once, until that changes): restarting it
 *   would fail and leave it stopped, as Docker cannot join a namespace that does not exist.
 * - D restarting or paused, or X not running (or restarting): nothing yet; X's next `start`
 *   brings the question back.
 * - D running and started at or after X's StartedAt: it joined X's current namespace (Docker
 *   cannot start D before X runs), nothing to do. Started before: stale, restart it, once per
 *   start of X (a second `start`/`restart` event or sweep for the same start of X while the
 *   first restart is under way gets `none`; a new start of X gets a new restart).
 * - D not running: not the listener's to start (someone stopped it, or it exited), except when
 *   the listener's own restart of it failed (`restartFailed`: X went down in between, and
 *   Docker's restart left D stopped): then it is restarted when X runs with a newer start.
 * - Times are Docker's (inspect's StartedAt of both), so no clock is compared with the
 *   listener's.
 * - `decide` also records that D depends on X, for `dependentsOf`. Memory is per container id;
 *   `forget` (on D's destroy) and `retainOnly` drop it. X's destroy keeps it: D still needs its
 *   warning.
 */
export class NetworkDependents {
  private readonly parentOf = new Map<string, string>();
  private readonly restarted = new Map<string, Restarted>();
  private readonly warned = new Map<string, string>();

  /** What to do about D; `parent` is X's inspect (undefined when NetworkMode names no container). */
  decide(
    dependent: DependentFacts,
    labels: Pick<PolicyLabels, 'observe' | 'network'>,
    parent: ParentFacts | undefined,
  ): DependentDecision {
    if (!labels.observe) return { action: 'none', reason: 'not observed (mon.observe is not 1)' };
    if (!labels.network.enabled)
      return { action: 'none', reason: 'network policy off (mon.checks.network is not 1)' };

    const ref = networkParentOf(dependent.networkMode);
    if (ref === undefined) {
      return this.warnOnce(
        dependent.id,
        `mon.checks.network=1, but it does not share another container's network (NetworkMode ${dependent.networkMode || 'default'}); nothing to do`,
      );
    }
    if (parent === undefined || !parent.found) {
      return this.warnOnce(
        dependent.id,
        `its network container ${ref} is gone; left alone (a restart could not join a namespace that does not exist, and would leave it stopped)`,
      );
    }
    this.warned.delete(dependent.id);
    this.parentOf.set(dependent.id, parent.id);

    if (dependent.restarting) return { action: 'none', reason: 'restarting already' };
    if (dependent.paused) return { action: 'none', reason: 'paused' };
    if (!parent.running || parent.restarting) {
      return {
        action: 'none',
        reason: `its network container ${ref} is not running; waits for its next start`,
      };
    }

    const memory = this.restarted.get(dependent.id);
    const restart: DependentDecision = {
      action: 'restart',
      parentId: parent.id,
      parentStartedAtMs: parent.startedAtMs,
      reason: `its network container ${ref} started again after it: rejoining its network namespace`,
    };
    if (!dependent.running) {
      if (memory?.failed && memory.parentStartedAtMs !== parent.startedAtMs) {
        return { ...restart, reason: `${restart.reason} (the restart for its previous start failed)` };
      }
      return { action: 'none', reason: 'not running: not the listener’s to start' };
    }
    if (dependent.startedAtMs >= parent.startedAtMs) {
      this.restarted.delete(dependent.id);
      return {
        action: 'none',
        reason: `started after its network container ${ref}: already in its namespace`,
      };
    }
    if (memory?.parentStartedAtMs === parent.startedAtMs) {
      return { action: 'none', reason: `already restarted once for this start of ${ref}` };
    }
    return restart;
  }

  /** A restart of D for X's start at `parentStartedAtMs` is being issued. */
  recordRestart(id: string, parentStartedAtMs: number): void {
    this.restarted.set(id, { parentStartedAtMs, failed: false });
  }

  /** That restart finally failed (after its retries). */
  restartFailed(id: string): void {
    const memory = this.restarted.get(id);
    if (memory) memory.failed = true;
  }

  /** The dependents known to share `parentId`'s network: to decide on when it starts or is destroyed. */
  dependentsOf(parentId: string): string[] {
    const ids: string[] = [];
    for (const [id, parent] of this.parentOf) if (parent === parentId) ids.push(id);
    return ids;
  }

  /** D is gone. */
  forget(id: string): void {
    this.parentOf.delete(id);
    this.restarted.delete(id);
    this.warned.delete(id);
  }

  /** Drops the memory of every dependent not in `ids` (after a reconcile saw the full list). */
  retainOnly(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const map of [this.parentOf, this.restarted, this.warned]) {
      for (const id of map.keys()) if (!keep.has(id)) map.delete(id);
    }
  }

  private warnOnce(id: string, reason: string): DependentDecision {
    if (this.warned.get(id) === reason) return { action: 'none', reason };
    this.warned.set(id, reason);
    return { action: 'warn', reason };
  }
}
