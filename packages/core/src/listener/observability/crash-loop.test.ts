import { describe, expect, it } from 'vitest';
import { CRASH_LOOP, CrashLoopDetector } from './crash-loop.js';

const MIN = 60_000;

describe('crash loop: 3 crashes of a container’s monitors within 5 minutes', () => {
  it('is the documented rule', () => {
    expect(CRASH_LOOP).toEqual({ crashes: 3, windowMs: 5 * MIN });
  });

  it.each([
    {
      what: 'three crashes seconds apart (the supervisor’s 1 s, 2 s backoff)',
      times: [0, 1_000, 3_000],
      loop: true,
    },
    { what: 'three crashes just inside five minutes', times: [0, 2 * MIN, 5 * MIN - 1], loop: true },
    { what: 'three crashes just over five minutes', times: [0, 2 * MIN, 5 * MIN], loop: false },
    { what: 'two crashes', times: [0, 1_000], loop: false },
    { what: 'one crash an hour', times: [0, 60 * MIN, 120 * MIN], loop: false },
  ])('$what → loop: $loop', ({ times, loop }) => {
    const detector = new CrashLoopDetector();
    const began = times.map((at) => detector.crashed('c1', at));
    expect(began.slice(0, -1)).toEqual(times.slice(0, -1).map(() => false));
    expect(began.at(-1)).toBe(loop);
    expect(detector.inLoop('c1', times.at(-1)!)).toBe(loop);
  });

  it('reports a loop once while it lasts, and anew after it ended', () => {
    const detector = new CrashLoopDetector();
    const crashesAt = (from: number, n: number, every: number) =>
      Array.from({ length: n }, (_, i) => detector.crashed('c1', from + i * every));
    // A child that dies every 30 s (the backoff's ceiling): one report for ten minutes of it.
    const first = crashesAt(0, 20, 30_000);
    expect(first.filter(Boolean)).toHaveLength(1);
    expect(first[2]).toBe(true);
    expect(detector.inLoop('c1', 19 * 30_000)).toBe(true);
    expect(detector.loopingCount(19 * 30_000)).toBe(1);
    // Quiet for five minutes: the loop is over.
    const later = 19 * 30_000 + 5 * MIN;
    expect(detector.inLoop('c1', later)).toBe(false);
    expect(detector.loopingCount(later)).toBe(0);
    expect(detector.crashesWithin('c1', later)).toBe(0);
    // It begins again: reported again.
    expect(crashesAt(later + 1, 3, 1_000)).toEqual([false, false, true]);
  });

  it('keeps containers apart, and forgets a removed one', () => {
    const detector = new CrashLoopDetector({ crashes: 2, windowMs: MIN });
    expect(detector.crashed('a', 0)).toBe(false);
    expect(detector.crashed('b', 1)).toBe(false);
    expect(detector.crashed('a', 2)).toBe(true);
    expect(detector.inLoop('b', 2)).toBe(false);
    detector.forget('a');
    expect(detector.inLoop('a', 3)).toBe(false);
    expect(detector.crashesWithin('a', 3)).toBe(0);
    expect(detector.crashed('a', 4)).toBe(false);
  });
});
