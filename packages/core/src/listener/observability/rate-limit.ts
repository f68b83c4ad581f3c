// At most one notification a minute per container and kind (SPEC §4): the first goes, later ones
// within the minute are dropped and counted, and the next one that goes says how many were
// dropped before it. Pure: the caller passes the time.

export const NOTIFY_EVERY_MS = 60_000;

/** Entries with nothing to report are forgotten once their window has passed; any after this long. */
const FORGET_AFTER_MS = 60 * 60_000;

export type Admission = { send: true; dropped: number } | { send: false };

export class NotificationRateLimiter {
  /** `${container}\n${kind}` → when the last one went, and how many were dropped since */
  private readonly last = new Map<string, { at: number; dropped: number }>();
  private prunedAt = 0;

  constructor(readonly windowMs: number = NOTIFY_EVERY_MS) {}

  /** Whether a notification about (`container`, `kind`) may go at `now`. */
  admit(container: string, kind: string, now: number): Admission {
    this.prune(now);
    const key = `${container}\n${kind}`;
    const last = this.last.get(key);
    if (last && now - last.at < this.windowMs) {
      last.dropped += 1;
      return { send: false };
    }
    this.last.set(key, { at: now, dropped: 0 });
    return { send: true, dropped: last?.dropped ?? 0 };
  }

  /** Keys remembered now (for tests: memory stays bounded). */
  get size(): number {
    return this.last.size;
  }

  private prune(now: number) {
    if (now - this.prunedAt < this.windowMs) return;
    this.prunedAt = now;
    for (const [key, entry] of this.last) {
      const age = now - entry.at;
      if ((entry.dropped === 0 && age >= this.windowMs) || age >= FORGET_AFTER_MS) this.last.delete(key);
    }
  }
}
