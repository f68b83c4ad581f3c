import { describe, expect, it } from 'vitest';
import { dockerTimeMs, eventTimeMs } from './docker-time.js';

describe('eventTimeMs', () => {
  it.each([
    ['1796299240400579135', 1796299240400.579],
    ['1796299240000000000', 1796299240000],
    ['1000000', 1],
  ])('%s ns → %d ms', (ns, ms) => {
    expect(eventTimeMs(ns)).toBeCloseTo(ms, 3);
  });
});

describe('dockerTimeMs', () => {
  it.each<[string, number | undefined]>([
    ['2026-12-03T12:00:40.377992983Z', Date.UTC(2026, 11, 3, 12, 0, 40) + 377.992983],
    ['2026-12-03T12:00:40Z', Date.UTC(2026, 11, 3, 12, 0, 40)],
    ['2026-12-03T12:00:40.5Z', Date.UTC(2026, 11, 3, 12, 0, 40) + 500],
    ['2026-12-03T14:00:40.25+02:00', Date.UTC(2026, 11, 3, 12, 0, 40) + 250],
    ['0001-01-01T00:00:00Z', undefined],
    ['', undefined],
    ['yesterday', undefined],
  ])('%j → %s', (text, ms) => {
    const parsed = dockerTimeMs(text);
    if (ms === undefined) expect(parsed).toBeUndefined();
    else expect(parsed).toBeCloseTo(ms, 3);
  });

  it('keeps the order of two times less than a millisecond apart', () => {
    const a = dockerTimeMs('2026-12-03T12:00:40.377100000Z')!;
    const b = dockerTimeMs('2026-12-03T12:00:40.377900000Z')!;
    expect(b).toBeGreaterThan(a);
  });

  it('agrees with the event time of the same instant', () => {
    expect(dockerTimeMs('2026-12-03T12:00:40.400579135Z')).toBeCloseTo(eventTimeMs('1796299240400579135'), 3);
  });

  it('reads undefined as undefined', () => {
    expect(dockerTimeMs(undefined)).toBeUndefined();
  });
});
