import { describe, expect, it } from 'vitest';
import { BadOption, ContainerNotFound, DockerError, DockerUnreachable } from '../errors.js';
import { isRetryableDockerError, withRetries } from './retry.js';

const backoff = { initialMs: 1000, maxMs: 30_000 };
const dockerError = (statusCode: number) => Object.assign(new Error(`HTTP ${statusCode}`), { statusCode });

/** A fake clock: records the waits, resolves at once. */
function fakeSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

/** fn that fails `failures` times with `error`, then resolves 'ok'. */
function flaky(failures: number, error: unknown = new Error('connect ECONNREFUSED /var/run/docker.sock')) {
  const attempts: number[] = [];
  const fn = async (attempt: number) => {
    attempts.push(attempt);
    if (attempts.length <= failures) throw error;
    return 'ok';
  };
  return { attempts, fn };
}

describe('withRetries', () => {
  it('returns the first success without waiting', async () => {
    const { waits, sleep } = fakeSleep();
    const { attempts, fn } = flaky(0);
    await expect(withRetries(fn, { retries: 10, backoff, sleep })).resolves.toBe('ok');
    expect(attempts).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('retries with backoff until the call succeeds, numbering the attempts', async () => {
    const { waits, sleep } = fakeSleep();
    const { attempts, fn } = flaky(3);
    await expect(withRetries(fn, { retries: 10, backoff, sleep })).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(waits).toEqual([1000, 2000, 4000]);
  });

  it.each([
    [0, 1],
    [1, 2],
    [3, 4],
  ])('with retries=%i makes %i attempts, then rejects with the last error', async (retries, calls) => {
    const { waits, sleep } = fakeSleep();
    const last = new Error('still down');
    let n = 0;
    const fn = async () => {
      n += 1;
      throw n === calls ? last : new Error('down');
    };
    await expect(withRetries(fn, { retries, backoff, sleep })).rejects.toBe(last);
    expect(n).toBe(calls);
    expect(waits).toHaveLength(calls - 1);
  });

  it('caps the delay at maxMs', async () => {
    const { waits, sleep } = fakeSleep();
    const { fn } = flaky(7);
    await withRetries(fn, { retries: 10, backoff: { initialMs: 1000, maxMs: 5000 }, sleep });
    expect(waits).toEqual([1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  });

  it.each([
    ['404: the container is gone', dockerError(404)],
    ['304: already stopped/started', dockerError(304)],
  ])('does not retry a %s', async (_what, error) => {
    const { waits, sleep } = fakeSleep();
    const { attempts, fn } = flaky(5, error);
    await expect(withRetries(fn, { retries: 10, backoff, sleep })).rejects.toBe(error);
    expect(attempts).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('takes another notion of retryable', async () => {
    const { sleep } = fakeSleep();
    const { attempts, fn } = flaky(2, dockerError(404));
    await expect(withRetries(fn, { retries: 10, backoff, sleep, isRetryable: () => true })).resolves.toBe(
      'ok',
    );
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('tells onRetry the error, the failed attempt and the wait', async () => {
    const { sleep } = fakeSleep();
    const error = dockerError(500);
    const { fn } = flaky(2, error);
    const calls: unknown[] = [];
    await withRetries(fn, { retries: 10, backoff, sleep, onRetry: (...args) => calls.push(args) });
    expect(calls).toEqual([
      [error, 1, 1000],
      [error, 2, 2000],
    ]);
  });

  it('does not call onRetry when it gives up', async () => {
    const { sleep } = fakeSleep();
    const { fn } = flaky(5);
    const calls: number[] = [];
    await expect(
      withRetries(fn, { retries: 1, backoff, sleep, onRetry: (_e, attempt) => calls.push(attempt) }),
    ).rejects.toThrow();
    expect(calls).toEqual([1]);
  });

  it('makes no call once the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    const { attempts, fn } = flaky(0);
    await expect(withRetries(fn, { retries: 10, backoff, signal: controller.signal })).rejects.toThrow(
      'shutting down',
    );
    expect(attempts).toEqual([]);
  });

  it('stops retrying when the signal is aborted during a wait', async () => {
    const controller = new AbortController();
    const { attempts, fn } = flaky(5);
    const sleep = async () => controller.abort(new Error('shutting down'));
    await expect(withRetries(fn, { retries: 10, backoff, sleep, signal: controller.signal })).rejects.toThrow(
      'shutting down',
    );
    expect(attempts).toEqual([1]);
  });

  it('wakes the real sleep on abort instead of waiting out the delay', async () => {
    const controller = new AbortController();
    const { attempts, fn } = flaky(5);
    setTimeout(() => controller.abort(new Error('shutting down')), 20);
    const started = Date.now();
    await expect(
      withRetries(fn, {
        retries: 10,
        backoff: { initialMs: 60_000, maxMs: 60_000 },
        signal: controller.signal,
      }),
    ).rejects.toThrow('shutting down');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(attempts).toEqual([1]);
  });

  it('treats a negative or fractional retries as whole retries ≥ 0', async () => {
    const { sleep } = fakeSleep();
    for (const [retries, calls] of [
      [-1, 1],
      [1.9, 2],
      [Number.NaN, 1],
    ] as const) {
      const { attempts, fn } = flaky(10);
      await expect(withRetries(fn, { retries, backoff, sleep })).rejects.toThrow();
      expect(attempts).toHaveLength(calls);
    }
  });
});

describe('isRetryableDockerError', () => {
  it.each<[string, unknown, boolean]>([
    ['a refused socket', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), true],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true],
    ['500', dockerError(500), true],
    ['503', dockerError(503), true],
    ['409 conflict', dockerError(409), true],
    ['DockerUnreachable', new DockerUnreachable('unix:///var/run/docker.sock', 'ENOENT'), true],
    ['DockerError 500', new DockerError(500, 'server error'), true],
    ['a thrown string', 'boom', true],
    ['404', dockerError(404), false],
    ['304', dockerError(304), false],
    ['400', dockerError(400), false],
    ['401', dockerError(401), false],
    ['403', dockerError(403), false],
    ['a plain object with statusCode 404', { statusCode: 404 }, false],
    ['DockerError 404', new DockerError(404, 'no such container'), false],
    ['ContainerNotFound', new ContainerNotFound('web'), false],
    ['BadOption', new BadOption('--retries must be a number'), false],
    ['an AbortError', Object.assign(new Error('aborted'), { name: 'AbortError' }), false],
  ])('%s → %s', (_what, error, retryable) => {
    expect(isRetryableDockerError(error)).toBe(retryable);
  });
});
