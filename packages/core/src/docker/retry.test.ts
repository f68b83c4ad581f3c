import { describe, expect, it } from 'vitest';
import { BadOption, ContainerNotFound, DockerError, DockerTlsError, DockerUnreachable } from '../errors.js';
import { isRetryableDockerError, retryDockerCall } from './retry.js';

const unreachable = () => new DockerUnreachable('unix:///x.sock', 'connect ECONNREFUSED');

/** fn that fails `failures` times with `error`, then resolves 'ok'. */
function flaky(failures: number, error: unknown = unreachable()) {
  const attempts: number[] = [];
  const fn = async (attempt: number) => {
    attempts.push(attempt);
    if (attempts.length <= failures) throw error;
    return 'ok';
  };
  return { attempts, fn };
}

describe('retryDockerCall', () => {
  it('returns the first success at once', async () => {
    const { attempts, fn } = flaky(0);
    await expect(retryDockerCall(fn, { retries: 3, initialMs: 1 })).resolves.toBe('ok');
    expect(attempts).toEqual([1]);
  });

  it('retries until the call succeeds, numbering the attempts, with doubling waits', async () => {
    const { attempts, fn } = flaky(3);
    const waits: number[] = [];
    await expect(
      retryDockerCall(fn, { retries: 5, initialMs: 2, maxMs: 5, onRetry: (_e, _a, ms) => waits.push(ms) }),
    ).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(waits).toEqual([2, 4, 5]);
  });

  it('gives up after `retries` retries with the last error, unchanged', async () => {
    const error = unreachable();
    const { attempts, fn } = flaky(10, error);
    await expect(retryDockerCall(fn, { retries: 2, initialMs: 1 })).rejects.toBe(error);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('makes one call with retries 0', async () => {
    const { attempts, fn } = flaky(10);
    await expect(retryDockerCall(fn, { retries: 0 })).rejects.toBeInstanceOf(DockerUnreachable);
    expect(attempts).toEqual([1]);
  });

  it('does not retry an answer another try cannot change', async () => {
    const { attempts, fn } = flaky(10, new ContainerNotFound('web'));
    await expect(retryDockerCall(fn, { retries: 5, initialMs: 1 })).rejects.toBeInstanceOf(ContainerNotFound);
    expect(attempts).toEqual([1]);
  });

  it('stops when the signal is aborted during a wait', async () => {
    const { attempts, fn } = flaky(10);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 30);
    const started = Date.now();
    await expect(
      retryDockerCall(fn, { retries: 5, initialMs: 10_000, signal: abort.signal }),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(attempts).toEqual([1]);
  });
});

describe('isRetryableDockerError', () => {
  it.each([
    ['Docker unreachable', unreachable(), true],
    ['HTTP 500', new DockerError(500, 'boom'), true],
    ['HTTP 409 conflict', new DockerError(409, 'removal in progress'), true],
    [
      'HTTP 409 for a running container',
      new DockerError(
        409,
        'You cannot remove a running container 4f0c. Stop the container before attempting removal (HTTP 409)',
      ),
      false,
    ],
    ['HTTP 304', new DockerError(304, 'not modified'), false],
    ['HTTP 400', new DockerError(400, 'bad'), false],
    ['HTTP 404 (an image)', new DockerError(404, 'no such image'), false],
    ['the container gone', new ContainerNotFound('web'), false],
    ['TLS refused', new DockerTlsError('tcp://d:2376', 'bad certificate'), false],
    ['a usage error', new BadOption('bad'), false],
    ['a bug', new TypeError('x is undefined'), false],
  ])('%s → %s', (_what, error, retryable) => {
    expect(isRetryableDockerError(error)).toBe(retryable);
  });
});
