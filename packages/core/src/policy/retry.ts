// Retrying the Docker calls the policies make (restart, remove) with backoff (SPEC §4: "failed
// Docker calls are retried up to --retries times"). Knows which Docker answers are final; the
// clock is injectable (`sleep`) so tests run without waiting.

import { type BackoffOptions, backoffDelay, sleep as defaultSleep } from '../backoff.js';
import { BadOption, ContainerNotFound } from '../errors.js';

export interface RetryOptions {
  /** Retries after the first attempt: up to `retries + 1` calls in all. */
  retries: number;
  /** Delay before retry n is `backoffDelay(n - 1, backoff)`: the first waits `initialMs`. */
  backoff: BackoffOptions;
  /** Whether a failure is worth another try; default `isRetryableDockerError`. */
  isRetryable?: (error: unknown) => boolean;
  /** Called before each wait: the error, the 1-based attempt that failed, the wait in ms. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Ends the waiting (listener shutdown): the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Docker answers that another try cannot change:
 * - 404: the container is gone (removed meanwhile, or `--rm`), nothing left to act on;
 * - 304: not modified, the container is already stopped/started: the action is done;
 * - 400, 401, 403: a bad request or one an authorization plugin refuses stays so.
 * Everything else is retried: no status at all (socket refused or reset while dockerd
 * restarts), 5xx, and 409 (a conflict such as "removal already in progress" usually passes).
 */
const FINAL_STATUS = new Set([304, 400, 401, 403, 404]);

export function isRetryableDockerError(error: unknown): boolean {
  if (error instanceof ContainerNotFound || error instanceof BadOption) return false;
  if (error instanceof Error && error.name === 'AbortError') return false;
  const status =
    typeof error === 'object' && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  return !(typeof status === 'number' && FINAL_STATUS.has(status));
}

/**
 * Calls `fn(attempt)` (attempt = 1, 2, …) until it resolves, a failure is not retryable, or
 * `retries` retries are used up; then rejects with the last error, unchanged, so the caller
 * can still tell a 404 from an outage.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { backoff, onRetry, signal } = options;
  const retries = Number.isNaN(options.retries) ? 0 : Math.max(0, Math.floor(options.retries));
  const isRetryable = options.isRetryable ?? isRetryableDockerError;
  const sleep = options.sleep ?? defaultSleep;

  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt > retries || signal?.aborted || !isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt - 1, backoff);
      onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, signal);
    }
  }
}
