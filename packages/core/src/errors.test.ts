import { describe, expect, it } from 'vitest';
import {
  BadOption,
  ContainerNotFound,
  DockerError,
  DockerUnreachable,
  ExitStatus,
  exitStatusOf,
  messageOf,
} from './errors.js';

describe('the exit status table (SPEC §2)', () => {
  it.each([
    ['a bad option', new BadOption('--timeout must be positive'), 2],
    ['no such container', new ContainerNotFound('web'), 3],
    ['Docker unreachable', new DockerUnreachable('unix:///x.sock', 'connect ENOENT'), 5],
    ['Docker answering with an error', new DockerError(500, 'daemon on fire'), 5],
    ['anything else: a bug', new TypeError('x is undefined'), 70],
    ['not even an Error', 'a string', 70],
  ])('%s → %d', (_what, error, status) => {
    expect(exitStatusOf(error)).toBe(status);
  });

  it('keeps the statuses SPEC §2 names', () => {
    expect(ExitStatus).toMatchObject({
      healthy: 0,
      unhealthy: 1,
      usage: 2,
      noSuchContainer: 3,
      noCheckDefined: 4,
      dockerUnreachable: 5,
    });
  });

  it('says what to do in one line for what a user can fix, and calls the rest a bug', () => {
    expect(messageOf(new ContainerNotFound('web'))).toBe(
      'no such container: web (see `docker ps -a` for names and ids)',
    );
    expect(messageOf(new DockerUnreachable('unix:///x.sock', 'connect ENOENT'))).toMatch(
      /^cannot reach Docker at unix:\/\/\/x\.sock: connect ENOENT \(start dockerd/,
    );
    for (const error of [new ContainerNotFound('web'), new DockerUnreachable('u', 'd'), new BadOption('b')]) {
      expect(messageOf(error)).not.toContain('\n');
    }
    expect(messageOf(new Error('boom'))).toMatch(
      /^unexpected error \(a bug in checker, please report it\): Error: boom/,
    );
  });
});
