// When Docker's health state was reached, read from inspect's `State.Health` (FailingStreak and
// the last five probes in Log) rather than from an event: the listener needs it for containers
// that turned unhealthy while it was not listening, so the grace (mon.checks.health.grace) runs
// from Docker's report, not from the listener's first look. Pure.

export interface HealthProbe {
  /** `Log[].End` in epoch ms (see docker-time.ts). */
  endMs: number;
  /** `Log[].ExitCode`: 0 passed; anything else (1, or -1 for a probe that timed out) failed. */
  exitCode: number;
}

export interface HealthLog {
  /** `State.Health.FailingStreak`: failed probes in a row that counted (start period excluded). */
  failingStreak: number;
  /** `State.Health.Log`, in any order. Docker keeps it across restarts: see `startedAtMs`. */
  probes: HealthProbe[];
  /**
   * `Config.Healthcheck.Retries`, or 3 when the image sets a health check without it (Docker's
   * default); undefined when not known, which makes `unhealthySince` answer conservatively.
   */
  retries?: number | undefined;
}

/** Probes of the current run (ended at or after `startedAtMs`), oldest first. */
function currentProbes(log: HealthLog, startedAtMs: number | undefined): HealthProbe[] {
  return log.probes
    .filter((probe) => startedAtMs === undefined || probe.endMs >= startedAtMs)
    .sort((a, b) => a.endMs - b.endMs);
}

/** The time of the state inspect shows: the end of the latest probe of the current run. */
export function healthAsOf(log: HealthLog, startedAtMs?: number): number | undefined {
  return currentProbes(log, startedAtMs).at(-1)?.endMs;
}

/**
 * When Docker turned the container unhealthy, for a container inspect shows `unhealthy`: the end
 * of the probe that brought the failing streak to `retries`, i.e. the `failingStreak - retries`-th
 * probe before the latest. The answer never lies earlier than the truth, so a grace measured from
 * it is never cut short:
 * - that probe has left the five-probe log → the oldest failing probe still in it;
 * - `retries` unknown, or the log contradicts the status (no failing probe at its end, or a
 *   streak shorter than `retries`) → the latest failing probe;
 * - no failing probe of the current run at all → undefined (the caller uses its own time).
 */
export function unhealthySince(log: HealthLog, startedAtMs?: number): number | undefined {
  const probes = currentProbes(log, startedAtMs);
  let failing = 0;
  while (failing < probes.length && probes[probes.length - 1 - failing]!.exitCode !== 0) failing += 1;
  if (failing === 0) return undefined;
  const latest = probes.length - 1;
  const retries = log.retries;
  if (retries === undefined || retries < 1 || log.failingStreak < retries) return probes[latest]!.endMs;
  const back = log.failingStreak - retries;
  return probes[latest - Math.min(back, failing - 1)]!.endMs;
}
