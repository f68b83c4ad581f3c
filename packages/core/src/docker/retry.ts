// Retrying Docker calls (SPEC §4: "failed Docker calls are retried up to --retries times with
// backoff"), with cockatiel's retry policy. What is worth another try is decided on the
// adapter's typed errors (docker-client.ts translates every failure before it gets here).
import { ExponentialBackoff, handleWhen, noJitterGenerator, retry } from 'cockatiel';
import { ContainerNotFound, DockerError, DockerTlsError, UserError } from '../errors.js';

export interface DockerRetryOptions {
  /** Retries after the first attempt: up to `retries + 1` calls in all. */
  retries: number;
  /** First wait, ms, doubling up to `maxMs`. */
  initialMs?: number;
  maxMs?: number;
  /** Called before each wait: the error, the 1-based attempt that failed, the wait in ms. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Ends the waiting (listener shutdown): the promise rejects. */
  signal?: AbortSignal;
}

/**
 * Docker answers that another try cannot change:
 * - the container is gone (ContainerNotFound);
 * - 304 (already stopped/started: done), 400, 401, 403 (a bad or refused request stays so),
 *   404 for something other than the container (an image);
 * - TLS refused, and usage errors.
 * Retried: Docker unreachable (restarting), 5xx, and 409 (a conflict such as "removal already
 * in progress" usually passes).
 */
const FINAL_STATUS = new Set([304, 400, 401, 403, 404]);

export function isRetryableDockerError(error: unknown): boolean {
  if (error instanceof Error && error.name === 'AbortError') return false;
  if (error instanceof ContainerNotFound || error instanceof DockerTlsError) return false;
  // "You cannot remove a running container": it was started again after the decision, and
  // another try in a second will not find it stopped.
  if (error instanceof DockerError && error.statusCode === 409 && /running container/i.test(error.message))
    return false;
  if (error instanceof DockerError) return !FINAL_STATUS.has(error.statusCode ?? 500);
  if (error instanceof UserError) return error.exitStatus === 5;
  return false;
}

/**
 * Calls `fn(attempt)` (attempt = 1, 2, …) until it resolves, a failure is not retryable, or
 * the retries are used up; then rejects with the last error, unchanged.
 */
export async function retryDockerCall<T>(
  fn: (attempt: number) => Promise<T>,
  options: DockerRetryOptions,
): Promise<T> {
  const retries = Number.isFinite(options.retries) ? Math.max(0, Math.floor(options.retries)) : 0;
  let attempt = 0;
  if (retries === 0) return fn(1);
  const policy = retry(handleWhen(isRetryableDockerError), {
    maxAttempts: retries,
    backoff: new ExponentialBackoff({
      generator: noJitterGenerator,
      initialDelay: options.initialMs ?? 250,
      maxDelay: options.maxMs ?? 5000,
    }),
  }).dangerouslyUnref();
  const listener = policy.onRetry((event) => {
    if ('error' in event) options.onRetry?.(event.error, event.attempt, event.delay);
  });
  // cockatiel's wait between attempts does not listen to the signal: the abort ends our wait
  // instead, the timer is unref'd so it cannot hold the process, and no further call is made.
  const { signal } = options;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal?.reason ?? new Error('aborted'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    return await Promise.race([
      policy.execute(() => {
        signal?.throwIfAborted();
        attempt += 1;
        return fn(attempt);
      }, signal),
      aborted,
    ]);
  } finally {
    listener.dispose();
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
