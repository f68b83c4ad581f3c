import { describe, expect, it } from 'vitest';
import { type CleanupFacts, decideCleanup, type RestartPolicyName } from './cleanup.js';
import { parsePolicyLabels } from './labels.js';
import type { ExitCause } from './lifecycle-tracker.js';

const labels = parsePolicyLabels({ 'mon.observe': '1', 'mon.checks.cleanup': '1' });
const exited: CleanupFacts = {
  running: false,
  restarting: false,
  paused: false,
  dead: false,
  status: 'exited',
  exitCode: 0,
  restartPolicy: { name: 'no', maximumRetryCount: 0 },
  restartCount: 0,
  autoRemove: false,
};
const policy = (name: RestartPolicyName, maximumRetryCount = 0) => ({
  restartPolicy: { name, maximumRetryCount },
});

describe('decideCleanup', () => {
  it.each<[string, Partial<CleanupFacts>, Record<string, string>?]>([
    ['exited 0, restart policy no', {}],
    ["exited 0, restart policy '' (never set)", policy('')],
    ['exited 0 without State.Dead in the facts', { dead: undefined }],
    ['exited 0, on-failure (Docker restarts only non-zero exits)', policy('on-failure')],
    ['exited 0, on-failure:3', policy('on-failure', 3)],
    [
      'exited 1, on-failure:3 after 3 restarts (retries used up), code 1 expected',
      { exitCode: 1, restartCount: 3, ...policy('on-failure', 3) },
      { 'mon.checks.cleanup.code': '1' },
    ],
    [
      'exited 1, on-failure:3 after 4 restarts, code 1 expected',
      { exitCode: 1, restartCount: 4, ...policy('on-failure', 3) },
      { 'mon.checks.cleanup.code': '1' },
    ],
    ['exited 3 with mon.checks.cleanup.code=3', { exitCode: 3 }, { 'mon.checks.cleanup.code': '3' }],
    [
      'exited 143 (stopped by hand) with code 143 expected',
      { exitCode: 143 },
      { 'mon.checks.cleanup.code': '143' },
    ],
  ])('removes a container %s', (_what, change, extraLabels = {}) => {
    const withCode = parsePolicyLabels({ 'mon.observe': '1', 'mon.checks.cleanup': '1', ...extraLabels });
    expect(decideCleanup({ ...exited, ...change }, withCode)).toEqual({
      action: 'remove',
      reason: expect.stringContaining('exited with code'),
    });
  });

  // The fourth column is the expected exit code (default 0): rows about the restart policy set
  // it to the exit code, so that only the row's own rule can keep the container.
  it.each<[string, Partial<CleanupFacts>, RegExp, number?]>([
    ['running', { running: true, status: 'running' }, /running/],
    ['restarting', { running: true, restarting: true, status: 'restarting' }, /restarting/],
    ['restarting, as seen between two tries', { restarting: true, status: 'exited' }, /restarting/],
    ['paused', { running: true, paused: true, status: 'paused' }, /running/],
    ['created but never started (ExitCode 0 is only a default)', { status: 'created' }, /created/],
    ['dead', { status: 'dead', dead: true }, /dead/],
    ['flagged dead', { dead: true }, /exited/],
    ['being removed', { status: 'removing' }, /removing/],
    ['exited 1 when 0 is expected', { exitCode: 1 }, /exit code 1, expected 0/],
    ['exited 0 when 3 is expected', {}, /exit code 0, expected 3/, 3],
    ['exited 137 (killed) when 0 is expected', { exitCode: 137 }, /137/],
    ['AutoRemove (--rm): Docker removes it', { autoRemove: true }, /AutoRemove/],
    ['restart policy always (stopped by hand, or comes back at daemon start)', policy('always'), /always/],
    ['restart policy unless-stopped (stopped by hand)', policy('unless-stopped'), /unless-stopped/],
    ['exited 1, on-failure with no limit', { exitCode: 1, ...policy('on-failure') }, /on-failure: Docker/, 1],
    [
      'exited 1, on-failure:3 after 2 restarts',
      { exitCode: 1, restartCount: 2, ...policy('on-failure', 3) },
      /on-failure:3 with 2/,
      1,
    ],
    ['with a restart policy this code does not know', policy('sometimes' as RestartPolicyName), /unknown/],
  ])('keeps a container that is %s', (_what, change, reason, code = 0) => {
    const withCode = parsePolicyLabels({
      'mon.observe': '1',
      'mon.checks.cleanup': '1',
      'mon.checks.cleanup.code': String(code),
    });
    expect(decideCleanup({ ...exited, ...change }, withCode)).toEqual({
      action: 'none',
      reason: expect.stringMatching(reason),
    });
  });

  it.each([
    ['no labels', {}, /mon\.observe/],
    ['mon.checks.cleanup=1 without mon.observe', { 'mon.checks.cleanup': '1' }, /mon\.observe/],
    ['mon.observe=1 without mon.checks.cleanup', { 'mon.observe': '1' }, /mon\.checks\.cleanup/],
    ['mon.checks.cleanup=0', { 'mon.observe': '1', 'mon.checks.cleanup': '0' }, /mon\.checks\.cleanup/],
    ['mon.checks.health=1 only', { 'mon.observe': '1', 'mon.checks.health': '1' }, /mon\.checks\.cleanup/],
  ])('leaves a removable container alone with %s', (_what, raw, reason) => {
    expect(decideCleanup(exited, parsePolicyLabels(raw))).toEqual({
      action: 'none',
      reason: expect.stringMatching(reason),
    });
  });

  it('falls back to expecting 0 when the expected code does not parse', () => {
    const bad = parsePolicyLabels({
      'mon.observe': '1',
      'mon.checks.cleanup': '1',
      'mon.checks.cleanup.code': 'x',
    });
    expect(decideCleanup(exited, bad).action).toBe('remove');
    expect(decideCleanup({ ...exited, exitCode: 1 }, bad).action).toBe('none');
  });

  it('uses the default labels object shape', () => {
    expect(decideCleanup(exited, labels).action).toBe('remove');
  });

  it.each<[string, ExitCause, Partial<ReturnType<typeof decideCleanup>>]>([
    ['its own exit', { cause: 'own', reason: 'r' }, { action: 'remove' }],
    [
      'a docker stop (exit 0 on SIGTERM)',
      { cause: 'stopped', by: 'kill', signal: '15', reason: 'killed by someone (signal 15)' },
      { action: 'none', reason: 'exited with code 0, but not by itself: killed by someone (signal 15)' },
    ],
    ['a stop event', { cause: 'stopped', by: 'stop', reason: 'stopped by someone' }, { action: 'none' }],
    [
      "the listener's own restart",
      { cause: 'listener', reason: 'ended by the listener' },
      { action: 'none' },
    ],
    [
      'an exit not seen, past events not asked yet',
      { cause: 'unknown', replayed: false, reason: 'no die event' },
      { action: 'none', reason: expect.stringMatching(/no die event/) },
    ],
    [
      'an exit not seen, and Docker no longer has its events',
      { cause: 'unknown', replayed: true, reason: 'no longer has' },
      { action: 'none' },
    ],
    [
      'a die just now (a late kill may still come)',
      { cause: 'pending', untilMs: 5100, reason: 'a kill may still come' },
      { action: 'wait', untilMs: 5100 },
    ],
  ])('with the exit cause of %s', (_what, exit, expected) => {
    expect(decideCleanup(exited, labels, exit)).toMatchObject(expected);
  });

  it('lets the other rules speak first: a running container is not waited for', () => {
    const pending: ExitCause = { cause: 'pending', untilMs: 1, reason: 'r' };
    expect(decideCleanup({ ...exited, running: true }, labels, pending)).toEqual({
      action: 'none',
      reason: 'running',
    });
    expect(decideCleanup({ ...exited, exitCode: 1 }, labels, { cause: 'own', reason: 'r' }).action).toBe(
      'none',
    );
  });
});
