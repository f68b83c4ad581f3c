// When a monitor child counts as in a crash loop: CRASH_LOOP.crashes crashes of the monitors of
// one container within CRASH_LOOP.windowMs (3 within 5 minutes). The supervisor starts a crashed
// monitor again after 1 s, 2 s, 4 s…, so three crashes in five minutes means monitors that die
// soon after every start, while one crash now and then is not a loop. A loop is reported once,
// when it begins; it ends when the window holds fewer crashes again, and a new one is reported
// anew. Pure: the caller passes the times.

export interface CrashLoopRule {
  crashes: number;
  windowMs: number;
}

export const CRASH_LOOP: CrashLoopRule = { crashes: 3, windowMs: 5 * 60_000 };

export class CrashLoopDetector {
  /** container id → times of its monitors' crashes within the window, oldest first */
  private readonly crashes = new Map<string, number[]>();
  private readonly looping = new Set<string>();

  constructor(readonly rule: CrashLoopRule = CRASH_LOOP) {}

  /** Counts one crash at `at`; true when this crash begins a crash loop (once per loop). */
  crashed(id: string, at: number): boolean {
    const recent = this.recent(id, at);
    recent.push(at);
    this.crashes.set(id, recent);
    if (recent.length < this.rule.crashes) {
      this.looping.delete(id);
      return false;
    }
    if (this.looping.has(id)) return false;
    this.looping.add(id);
    return true;
  }

  /** Whether the container's monitors are in a crash loop at `now`. */
  inLoop(id: string, now: number): boolean {
    if (!this.looping.has(id)) return false;
    if (this.recent(id, now).length >= this.rule.crashes) return true;
    this.looping.delete(id);
    return false;
  }

  /** Crashes within the window before `now`. */
  crashesWithin(id: string, now: number): number {
    return this.recent(id, now).length;
  }

  /** Containers in a crash loop at `now`. */
  loopingCount(now: number): number {
    let n = 0;
    for (const id of [...this.looping]) if (this.inLoop(id, now)) n += 1;
    return n;
  }

  /** The container is gone. */
  forget(id: string): void {
    this.crashes.delete(id);
    this.looping.delete(id);
  }

  /** The crashes of `id` still inside the window at `now` (the map keeps no empty lists). */
  private recent(id: string, now: number): number[] {
    const times = this.crashes.get(id);
    if (!times) return [];
    const from = now - this.rule.windowMs;
    const kept = times.filter((t) => t > from);
    if (kept.length === 0) this.crashes.delete(id);
    else if (kept.length !== times.length) this.crashes.set(id, kept);
    return kept;
  }
}
