// Docker's two time formats, as the epoch milliseconds every policy decision compares: an
// event's `timeNano` and inspect's RFC 3339 times (State.StartedAt, FinishedAt, Health.Log[].End).
// Sub-millisecond digits are kept as a fraction: a container's `start` event and its StartedAt
// are a few ms apart, and the policies tell runs apart by them. Pure.

/** An event's `timeNano` (19 decimal digits) → epoch ms, with microseconds as the fraction. */
export function eventTimeMs(timeNano: string): number {
  return Number(BigInt(timeNano) / 1000n) / 1000;
}

/**
 * An inspect time (`2026-12-03T12:02:24.585971963Z`, or with an offset) → epoch ms, or undefined
 * for Docker's zero time (`0001-01-01T00:00:00Z`: never started / never finished) and for text
 * that is not a time. `Date.parse` alone would drop everything past the milliseconds.
 */
export function dockerTimeMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  return seconds + Number(`0${match[2] ?? ''}`) * 1000;
}
