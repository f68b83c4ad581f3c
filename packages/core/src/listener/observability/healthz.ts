// `/healthz` (SPEC §4): 200 while the Docker event stream is up and the last sweep is recent,
// else 503, with a short JSON body saying why. "Recent" is three sweep intervals (a sweep runs
// every --interval after the previous one finished), and never less than MIN_STALE_AFTER_MS, so
// a slow sweep on a busy host with a short --interval does not make the listener look dead.
// Pure: the caller passes the facts and the time.

export const MIN_STALE_AFTER_MS = 5_000;

/** How old the last sweep may be while the listener counts as healthy. */
export const staleAfterMs = (intervalMs: number): number => Math.max(3 * intervalMs, MIN_STALE_AFTER_MS);

export interface EventStreamState {
  up: boolean;
  /** epoch ms of the last change */
  since: number;
  /** why it went down */
  detail?: string;
}

export interface HealthFacts {
  /** undefined until the stream first connected */
  eventStream: EventStreamState | undefined;
  /** epoch ms when the last sweep finished; undefined before the first */
  lastSweepAt: number | undefined;
  staleAfterMs: number;
}

export interface HealthReport {
  ok: boolean;
  body: {
    status: 'ok' | 'unhealthy';
    eventStream: 'up' | 'down' | 'connecting';
    lastSweepAgoMs: number | null;
    staleAfterMs: number;
    /** what is wrong, one sentence each; empty when ok */
    problems: string[];
  };
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export function healthOf(facts: HealthFacts, now: number): HealthReport {
  const problems: string[] = [];
  const stream = facts.eventStream;
  if (!stream) problems.push('the Docker event stream has not connected yet');
  else if (!stream.up)
    problems.push(
      `the Docker event stream is down since ${seconds(now - stream.since)} ago${stream.detail ? `: ${stream.detail}` : ''}`,
    );
  const ago = facts.lastSweepAt === undefined ? null : Math.max(0, now - facts.lastSweepAt);
  if (ago === null) problems.push('no sweep has finished yet');
  else if (ago > facts.staleAfterMs)
    problems.push(`the last sweep finished ${seconds(ago)} ago, more than ${seconds(facts.staleAfterMs)}`);
  const ok = problems.length === 0;
  return {
    ok,
    body: {
      status: ok ? 'ok' : 'unhealthy',
      eventStream: !stream ? 'connecting' : stream.up ? 'up' : 'down',
      lastSweepAgoMs: ago,
      staleAfterMs: facts.staleAfterMs,
      problems,
    },
  };
}
