import { describe, expect, it } from 'vitest';
import { type HealthLog, healthAsOf, unhealthySince } from './health-log.js';

// Probes one second apart, ending at 1000, 2000, ... ms; `codes` oldest first.
const log = (codes: number[], failingStreak: number, retries?: number): HealthLog => ({
  failingStreak,
  retries,
  probes: codes.map((exitCode, i) => ({ endMs: (i + 1) * 1000, exitCode })),
});

describe('unhealthySince', () => {
  it.each<[string, HealthLog, number | undefined]>([
    ['turned unhealthy at the latest probe (streak = retries)', log([0, 0, 1, 1, 1], 3, 3), 5000],
    ['two probes after turning unhealthy', log([0, 1, 1, 1, 1], 4, 3), 4000],
    ['retries 1: the first failure', log([0, 0, 0, 1, 1], 2, 1), 4000],
    ['the turning probe has left the log: the oldest failing one', log([1, 1, 1, 1, 1], 9, 2), 1000],
    ['start-period failures in the log that did not count', log([1, 1, 1, 1, 1], 3, 3), 5000],
    ['retries unknown: the latest failing probe', log([0, 1, 1, 1, 1], 4), 5000],
    ['a streak shorter than retries contradicts the status: the latest', log([0, 0, 0, 1, 1], 2, 3), 5000],
    ['the latest probe passed (status about to change): none', log([1, 1, 1, 1, 0], 0, 3), undefined],
    ['no probes', log([], 3, 3), undefined],
  ])('%s', (_what, health, expected) => {
    expect(unhealthySince(health)).toBe(expected);
  });

  it('takes probes in any order', () => {
    const health = log([0, 1, 1, 1, 1], 4, 3);
    health.probes.reverse();
    expect(unhealthySince(health)).toBe(4000);
  });

  it('ignores probes of an earlier run (Docker keeps the log across restarts)', () => {
    // Run started at 3500: the probes ending at 1000..3000 belong to the run before.
    expect(unhealthySince(log([1, 1, 1, 1, 1], 3, 1))).toBe(3000);
    expect(unhealthySince(log([1, 1, 1, 1, 1], 3, 1), 3500)).toBe(4000);
    expect(unhealthySince(log([1, 1, 1, 0, 0], 0, 2), 3500)).toBeUndefined();
  });
});

describe('healthAsOf', () => {
  it.each<[string, HealthLog, number | undefined, number | undefined]>([
    ['the latest probe end', log([0, 1, 1], 2, 3), undefined, 3000],
    ['of the current run only', log([0, 1, 1], 2, 3), 3500, undefined],
    ['no probes', log([], 0), undefined, undefined],
  ])('%s', (_what, health, startedAt, expected) => {
    expect(healthAsOf(health, startedAt)).toBe(expected);
  });
});
