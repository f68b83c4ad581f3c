// What the listener knows of each container, for `/status` (SPEC §4: one entry a container:
// name, id, monitor pid, last verdict and its time, record key and whether it is registered,
// restarts) and for the gauges of `/metrics`. Fed by the facade's calls; does no I/O and reads
// no clock.
//
// An entry is listed while its container runs as far as the listener knows: from its monitor's
// start until that monitor ends because the container stopped (a crashed monitor's container
// stays listed, without a pid, until its next monitor starts), or until a sweep finds it no longer
// running. The policy's restart count outlives the monitors (a restart ends one monitor and starts
// another) and goes with the container: on `destroy`, or after a day unlisted (a `destroy` missed
// while the event stream was down).
import type { Verdict } from '../../health/check-health.js';

export interface ContainerRef {
  id: string;
  name: string;
}

export const VERDICTS: readonly Verdict[] = ['healthy', 'unhealthy', 'no-check'];

export type ActionKind = 'restart' | 'gave-up' | 'remove' | 'dependent-restart';

export interface CheckReport {
  verdict: Verdict;
  /** what decided it: "exit 0", "timeout after 10s", … */
  status: string;
  durationMs: number;
  /** epoch ms */
  at: number;
}

/** One container in the `/status` document; times are ISO 8601, absent facts null. */
export interface ContainerStatus {
  name: string;
  id: string;
  image: string | null;
  monitorPid: number | null;
  /** when its current monitor was handed the container */
  monitorSince: string | null;
  /** crashes of its monitors within the crash-loop window */
  monitorCrashes: number;
  crashLoop: boolean;
  lastVerdict: Verdict | null;
  lastVerdictAt: string | null;
  lastCheckStatus: string | null;
  lastCheckDurationMs: number | null;
  recordKey: string | null;
  /** its record is published in etcd by a live monitor */
  registered: boolean;
  /** restarts by the listener's policies (health and network dependents) */
  restarts: number;
  lastAction: { kind: ActionKind; reason: string; at: string } | null;
}

interface Entry {
  id: string;
  name: string;
  image: string | null;
  listed: boolean;
  /** a live monitor has the container (its pid may be unknown) */
  monitor: boolean;
  monitorPid: number | null;
  monitorSince: number | null;
  lastCheck: CheckReport | null;
  recordKey: string | null;
  registered: boolean;
  restarts: number;
  lastAction: { kind: ActionKind; reason: string; at: number } | null;
  /** last time anything about it was heard */
  touchedAt: number;
}

/** Unlisted entries are forgotten after this long: bounds what a missed `destroy` leaves. */
export const FORGET_UNLISTED_AFTER_MS = 24 * 60 * 60_000;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class StatusBook {
  private readonly entries = new Map<string, Entry>();

  /** A monitor was handed the container. */
  monitorStarted(container: ContainerRef, pid: number | undefined, at: number): void {
    const entry = this.entryOf(container, at);
    entry.listed = true;
    entry.monitor = true;
    entry.monitorPid = pid ?? null;
    entry.monitorSince = at;
  }

  /**
   * The container's monitor ended. `crashed`: it died on its own while its container runs (the
   * supervisor starts another); otherwise it was ended because the container stopped or is gone.
   */
  monitorExited(container: ContainerRef, crashed: boolean, at: number): void {
    const entry = this.entries.get(container.id);
    if (!entry) return;
    entry.touchedAt = at;
    entry.monitor = false;
    entry.monitorPid = null;
    entry.monitorSince = null;
    // The record is no longer kept by anyone: it goes with its lease, or a new monitor takes it over.
    entry.registered = false;
    if (!crashed) entry.listed = false;
  }

  checked(container: ContainerRef, check: CheckReport): void {
    const entry = this.entryOf(container, check.at);
    entry.lastCheck = check;
  }

  /** What etcd holds for the container's record now; `registered` undefined: unchanged. */
  record(container: ContainerRef, key: string, registered: boolean | undefined, at: number): void {
    const entry = this.entryOf(container, at);
    entry.recordKey = key;
    if (registered !== undefined) entry.registered = registered;
  }

  /** A policy acted on the container (or gave up on it). */
  acted(
    container: ContainerRef & { image?: string | null },
    kind: ActionKind,
    reason: string,
    at: number,
  ): void {
    const entry = this.entryOf(container, at);
    if (container.image) entry.image = container.image;
    if (kind === 'restart' || kind === 'dependent-restart') entry.restarts += 1;
    entry.lastAction = { kind, reason, at };
  }

  /** The container's image, once known (from a policy action or a lookup). */
  setImage(id: string, image: string): void {
    const entry = this.entries.get(id);
    if (entry) entry.image = image;
  }

  /**
   * A sweep listed the containers that run (`running`, ids): those without a live monitor that
   * are not among them stop being listed. Forgets what stayed unlisted too long.
   */
  swept(running: ReadonlySet<string> | undefined, at: number): void {
    for (const [id, entry] of this.entries) {
      if (running && entry.listed && !entry.monitor && !running.has(id)) {
        entry.listed = false;
        entry.touchedAt = at;
      }
      if (!entry.listed && at - entry.touchedAt >= FORGET_UNLISTED_AFTER_MS) this.entries.delete(id);
    }
  }

  /** The container is gone (`destroy`). */
  removed(id: string): void {
    this.entries.delete(id);
  }

  get(id: string): Readonly<Entry> | undefined {
    return this.entries.get(id);
  }

  /** Containers whose monitor is alive. */
  get monitors(): number {
    let n = 0;
    for (const entry of this.entries.values()) if (entry.monitor) n += 1;
    return n;
  }

  /** Records published by live monitors. */
  get registered(): number {
    let n = 0;
    for (const entry of this.entries.values()) if (entry.registered) n += 1;
    return n;
  }

  /** Entries remembered, listed or not (for tests: memory stays bounded). */
  get size(): number {
    return this.entries.size;
  }

  /** The listed containers, by name; `crashes(id)` tells their recent monitor crashes and loops. */
  containers(crashes: (id: string) => { count: number; loop: boolean }): ContainerStatus[] {
    const listed = [...this.entries.values()].filter((entry) => entry.listed);
    listed.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    return listed.map((entry) => {
      const { count, loop } = crashes(entry.id);
      const check = entry.lastCheck;
      return {
        name: entry.name,
        id: entry.id,
        image: entry.image,
        monitorPid: entry.monitorPid,
        monitorSince: iso(entry.monitorSince),
        monitorCrashes: count,
        crashLoop: loop,
        lastVerdict: check?.verdict ?? null,
        lastVerdictAt: iso(check?.at ?? null),
        lastCheckStatus: check?.status ?? null,
        lastCheckDurationMs: check ? Math.round(check.durationMs) : null,
        recordKey: entry.recordKey,
        registered: entry.registered,
        restarts: entry.restarts,
        lastAction: entry.lastAction && { ...entry.lastAction, at: iso(entry.lastAction.at)! },
      };
    });
  }

  private entryOf(container: ContainerRef, at: number): Entry {
    let entry = this.entries.get(container.id);
    if (!entry) {
      entry = {
        id: container.id,
        name: container.name,
        image: null,
        listed: false,
        monitor: false,
        monitorPid: null,
        monitorSince: null,
        lastCheck: null,
        recordKey: null,
        registered: false,
        restarts: 0,
        lastAction: null,
        touchedAt: at,
      };
      this.entries.set(container.id, entry);
    }
    if (container.name) entry.name = container.name;
    entry.touchedAt = at;
    return entry;
  }
}
