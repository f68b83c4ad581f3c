// Exponential backoff shared by every retry loop (Docker calls, etcd writes, child restarts,
// event-stream reconnects, policy restarts). Pure: the caller owns the clock and the timers.

export interface BackoffOptions {
  /** first delay, ms */
  initialMs: number;
  /** ceiling, ms */
  maxMs: number;
  /** growth per failure; 2 = doubling */
  factor?: number;
}

/** Delay before attempt `failures + 1`, after `failures` consecutive failures (0 → initialMs). */
export function backoffDelay(failures: number, { initialMs, maxMs, factor = 2 }: BackoffOptions): number {
  if (failures <= 0) return initialMs;
  return Math.min(maxMs, initialMs * factor ** failures);
}

/**
 * Counts consecutive failures and turns them into delays. `reset()` after a success (or after
 * the thing stayed healthy long enough, which the caller decides).
 */
export class Backoff {
  private failures = 0;
  constructor(private readonly options: BackoffOptions) {}

  /** The delay to wait now, and count one more failure. */
  next(): number {
    const delay = backoffDelay(this.failures, this.options);
    this.failures += 1;
    return delay;
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
