import { describe, expect, it } from 'vitest';
import type { HealthLog } from './health-log.js';
import {
  type HealthDecision,
  type HealthFacts,
  HealthRestartPolicy,
  type HealthStatus,
} from './health-restart.js';
import { parsePolicyLabels } from './labels.js';

const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
const S = 1000;
const MIN = 60 * S;

const labels = parsePolicyLabels({
  'mon.observe': '1',
  'mon.checks.health': '1',
  'mon.checks.health.timeout': '2500',
});
const unhealthy: HealthFacts = {
  id: ID,
  running: true,
  restarting: false,
  paused: false,
  healthStatus: 'unhealthy',
};
const healthy: HealthFacts = { ...unhealthy, healthStatus: 'healthy' };

describe('HealthRestartPolicy.decide: who is restarted', () => {
  it('restarts an unhealthy container at once, with its stop timeout', () => {
    expect(new HealthRestartPolicy().decide(unhealthy, labels, 0)).toEqual({
      action: 'restart',
      stopTimeoutMs: 2500,
      attempt: 1,
      reason: 'unhealthy',
      unhealthySinceMs: 0,
    });
  });

  it('uses the default stop timeout of 10 s', () => {
    const defaults = parsePolicyLabels({ 'mon.observe': '1', 'mon.checks.health': '1' });
    expect(new HealthRestartPolicy().decide(unhealthy, defaults, 0)).toMatchObject({ stopTimeoutMs: 10_000 });
  });

  it.each([
    ['no labels', {}, /mon\.observe/],
    ['mon.checks.health=1 without mon.observe', { 'mon.checks.health': '1' }, /mon\.observe/],
    ['mon.observe=1 without mon.checks.health', { 'mon.observe': '1' }, /mon\.checks\.health/],
    ['mon.checks.health=0', { 'mon.observe': '1', 'mon.checks.health': '0' }, /mon\.checks\.health/],
    ['an unreadable switch', { 'mon.observe': '1', 'mon.checks.health': 'yes' }, /mon\.checks\.health/],
  ])('does nothing with %s', (_what, raw, reason) => {
    const decision = new HealthRestartPolicy().decide(unhealthy, parsePolicyLabels(raw), 0);
    expect(decision).toEqual({ action: 'none', reason: expect.stringMatching(reason) });
  });

  it.each<[string, Partial<HealthFacts>, RegExp]>([
    ['not running', { running: false }, /not running/],
    ['restarting (Docker reports it running too)', { restarting: true }, /restarting/],
    ['paused (Docker reports it running too)', { paused: true }, /paused/],
    ['starting', { healthStatus: 'starting' }, /starting/],
    ['healthy', { healthStatus: 'healthy' }, /healthy/],
    ["Docker's 'none'", { healthStatus: 'none' }, /none/],
    ['without a health check', { healthStatus: undefined }, /none/],
  ])('does nothing when the container is %s', (_what, change, reason) => {
    const decision = new HealthRestartPolicy().decide({ ...unhealthy, ...change }, labels, 0);
    expect(decision).toEqual({ action: 'none', reason: expect.stringMatching(reason) });
  });
});

describe('HealthRestartPolicy.decide: spacing', () => {
  it('makes a second restart within 10 s wait until the last restart + 10 s', () => {
    const policy = new HealthRestartPolicy();
    policy.recordRestart(ID, 100 * S);
    expect(policy.decide(unhealthy, labels, 100 * S)).toMatchObject({ action: 'wait', untilMs: 110 * S });
    expect(policy.decide(unhealthy, labels, 109_999)).toMatchObject({ action: 'wait', untilMs: 110 * S });
    expect(policy.decide(unhealthy, labels, 110 * S)).toMatchObject({ action: 'restart', attempt: 2 });
  });

  it('spaces restarts 10, 20, 40, 80, 160, 300, 300 s apart', () => {
    const policy = new HealthRestartPolicy();
    const gaps: number[] = [];
    let now = 0;
    let last: number | undefined;
    for (let attempt = 1; attempt <= 8; attempt++) {
      // Ask every second, as a busy sweep would, until the policy says restart.
      for (;;) {
        const decision = policy.decide(unhealthy, labels, now);
        if (decision.action === 'restart') {
          expect(decision.attempt).toBe(attempt);
          break;
        }
        expect(decision.action).toBe('wait');
        now += S;
      }
      if (last !== undefined) gaps.push((now - last) / S);
      policy.recordRestart(ID, now);
      last = now;
    }
    expect(gaps).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });

  it('names the due time in the wait, so the listener can arm a timer', () => {
    const policy = new HealthRestartPolicy();
    policy.recordRestart(ID, 0);
    policy.recordRestart(ID, 10 * S);
    policy.recordRestart(ID, 30 * S);
    expect(policy.decide(unhealthy, labels, 31 * S)).toEqual({
      action: 'wait',
      untilMs: 70 * S,
      reason: expect.stringMatching(/restart 4 is due 40 s after restart 3.*in 39 s/),
    });
  });

  it('keeps each container’s spacing apart', () => {
    const policy = new HealthRestartPolicy();
    policy.recordRestart(ID, 0);
    expect(policy.decide({ ...unhealthy, id: 'other' }, labels, 1)).toMatchObject({
      action: 'restart',
      attempt: 1,
    });
    expect(policy.decide(unhealthy, labels, 1)).toMatchObject({ action: 'wait' });
  });
});

describe('HealthRestartPolicy: reset after 10 min healthy', () => {
  // Three restarts: the next would be 40 s after the last.
  const restartedThrice = () => {
    const policy = new HealthRestartPolicy();
    for (const at of [0, 10 * S, 30 * S]) policy.recordRestart(ID, at);
    return policy;
  };

  it('restarts at once again after 10 min seen healthy', () => {
    const policy = restartedThrice();
    policy.observe(healthy, 1 * MIN);
    policy.decide(healthy, labels, 6 * MIN);
    policy.observe(healthy, 11 * MIN);
    expect(policy.restartsOf(ID)).toBe(0);
    const decision = policy.decide(unhealthy, labels, 11 * MIN + S);
    expect(decision).toMatchObject({ action: 'restart', attempt: 1, reason: 'unhealthy' });
    policy.recordRestart(ID, 11 * MIN + S);
    // ...and the spacing starts over at 10 s.
    expect(policy.decide(unhealthy, labels, 11 * MIN + 2 * S)).toMatchObject({ untilMs: 11 * MIN + 11 * S });
  });

  it('does not reset after less than 10 min healthy', () => {
    const policy = restartedThrice();
    policy.observe(healthy, 1 * MIN);
    policy.observe(healthy, 11 * MIN - 1);
    expect(policy.restartsOf(ID)).toBe(3);
  });

  it('needs the 10 min unbroken: an unhealthy (or starting, stopped, paused) sighting starts over', () => {
    for (const dip of [
      unhealthy,
      { ...healthy, healthStatus: 'starting' as const },
      { ...healthy, running: false },
      { ...healthy, paused: true },
    ]) {
      const policy = restartedThrice();
      policy.observe(healthy, 1 * MIN);
      policy.observe(dip, 5 * MIN);
      policy.observe(healthy, 6 * MIN);
      policy.observe(healthy, 15 * MIN);
      expect(policy.restartsOf(ID)).toBe(3);
      policy.observe(healthy, 16 * MIN);
      expect(policy.restartsOf(ID)).toBe(0);
    }
  });

  it('counts healthy time only since the last restart', () => {
    const policy = restartedThrice();
    policy.observe(healthy, 1 * MIN);
    policy.recordRestart(ID, 5 * MIN);
    policy.observe(healthy, 11 * MIN);
    expect(policy.restartsOf(ID)).toBe(4);
    policy.observe(healthy, 21 * MIN);
    expect(policy.restartsOf(ID)).toBe(0);
  });

  it('takes healthy sightings from decide too, even for containers that have opted out since', () => {
    const policy = restartedThrice();
    policy.decide(healthy, parsePolicyLabels({}), 1 * MIN);
    policy.decide(healthy, parsePolicyLabels({}), 11 * MIN);
    expect(policy.restartsOf(ID)).toBe(0);
  });
});

describe('HealthRestartPolicy: memory', () => {
  it('remembers nothing for containers it never restarted', () => {
    const policy = new HealthRestartPolicy();
    policy.observe(healthy, 0);
    policy.decide(unhealthy, labels, 0);
    expect(policy.restartsOf(ID)).toBe(0);
  });

  it('forgets a destroyed container: a new one with the same id starts at once', () => {
    const policy = new HealthRestartPolicy();
    policy.recordRestart(ID, 0);
    policy.forget(ID);
    expect(policy.decide(unhealthy, labels, 1)).toMatchObject({ action: 'restart', attempt: 1 });
  });

  it('retainOnly drops containers a reconcile no longer sees', () => {
    const policy = new HealthRestartPolicy();
    policy.recordRestart('a', 0);
    policy.recordRestart('b', 0);
    policy.retainOnly(['b', 'c']);
    expect([policy.restartsOf('a'), policy.restartsOf('b'), policy.restartsOf('c')]).toEqual([0, 1, 0]);
  });

  it('takes other spacing and reset windows', () => {
    const policy = new HealthRestartPolicy({ backoff: { initialMs: 1, maxMs: 4 }, resetAfterMs: 100 });
    policy.recordRestart(ID, 0);
    expect(policy.decide(unhealthy, labels, 0)).toMatchObject({ action: 'wait', untilMs: 1 });
    policy.observe(healthy, 10);
    policy.observe(healthy, 110);
    expect(policy.restartsOf(ID)).toBe(0);
  });
});

// Scenarios as steps on one container, each row a story told in seconds from an arbitrary epoch.
type Step =
  /** Docker's health_status event at `at` s */
  | ['event', HealthStatus, number]
  /** an inspect sighting at `at` s (the status without a log counts as reported then) */
  | ['sight', Partial<HealthFacts>, number]
  /** the listener restarted it at `at` s */
  | ['restarted', number]
  /** a start event at `at` s, and who caused it */
  | ['started', number, 'listener' | 'other']
  /**
   * decide at `at` s; expect this. The inspect shows it unhealthy, with a log that ended at the
   * given second (or no log), or as the given facts say.
   */
  | ['decide', number, Partial<HealthDecision> & { untilS?: number }, (number | Partial<HealthFacts>)?];

const withLabels = (extra: Record<string, string>) =>
  parsePolicyLabels({ 'mon.observe': '1', 'mon.checks.health': '1', ...extra });

// One failing probe ending at `asOfS`, turning the container unhealthy then (retries 1).
const logEndingAt = (asOfS: number): HealthLog => ({
  failingStreak: 1,
  retries: 1,
  probes: [{ endMs: asOfS * S, exitCode: 1 }],
});

function play(steps: Step[], extraLabels: Record<string, string>) {
  const policy = new HealthRestartPolicy();
  const parsed = withLabels(extraLabels);
  const decisions: HealthDecision[] = [];
  for (const step of steps) {
    switch (step[0]) {
      case 'event':
        policy.report(ID, step[1], step[2] * S);
        break;
      case 'sight':
        policy.observe({ ...unhealthy, ...step[1] }, step[2] * S);
        break;
      case 'restarted':
        policy.recordRestart(ID, step[1] * S);
        break;
      case 'started':
        policy.started(ID, step[1] * S, step[2]);
        break;
      case 'decide': {
        const [, at, expected, seen] = step;
        const facts =
          typeof seen === 'number' ? { ...unhealthy, health: logEndingAt(seen) } : { ...unhealthy, ...seen };
        const decision = policy.decide(facts, parsed, at * S);
        decisions.push(decision);
        const { untilS, ...rest } = expected;
        expect(decision, `decision at ${at} s`).toMatchObject(
          untilS === undefined ? rest : { ...rest, untilMs: untilS * S },
        );
        if (expected.action === 'none' && !('gaveUp' in expected)) {
          expect(decision, `decision at ${at} s gives up only once`).not.toHaveProperty('gaveUp');
        }
        break;
      }
    }
  }
  return decisions;
}

describe('HealthRestartPolicy: grace (mon.checks.health.grace)', () => {
  it.each<[string, Record<string, string>, Step[]]>([
    [
      'grace 0 restarts at the first unhealthy report',
      { 'mon.checks.health.grace': '0' },
      [
        ['event', 'unhealthy', 100],
        ['decide', 100, { action: 'restart', attempt: 1, unhealthySinceMs: 100 * S }],
      ],
    ],
    [
      'grace 30: waits until 30 s after the unhealthy event, then restarts',
      { 'mon.checks.health.grace': '30' },
      [
        ['event', 'unhealthy', 100],
        ['decide', 100, { action: 'wait', untilS: 130 }],
        ['decide', 129.999, { action: 'wait', untilS: 130 }],
        ['decide', 130, { action: 'restart', attempt: 1 }],
      ],
    ],
    [
      'heals within the grace: never restarted',
      { 'mon.checks.health.grace': '30' },
      [
        ['event', 'unhealthy', 100],
        ['decide', 100, { action: 'wait', untilS: 130 }],
        ['event', 'healthy', 110],
        ['decide', 130, { action: 'none', reason: 'health status is healthy' }, { healthStatus: 'healthy' }],
        // an inspect taken before the healthy report, handled after it, does not undo it
        [
          'decide',
          200,
          { action: 'none', reason: 'health status is healthy, reported after that inspect' },
          105,
        ],
      ],
    ],
    [
      'unhealthy again after healing: the grace starts over',
      { 'mon.checks.health.grace': '30' },
      [
        ['event', 'unhealthy', 100],
        ['event', 'healthy', 110],
        ['event', 'unhealthy', 120],
        ['decide', 130, { action: 'wait', untilS: 150 }],
        ['decide', 150, { action: 'restart' }],
      ],
    ],
    [
      'a start in between ends the unhealthy run (its reports belong to the run before)',
      { 'mon.checks.health.grace': '30' },
      [
        ['event', 'unhealthy', 100],
        ['started', 105, 'other'],
        ['event', 'unhealthy', 140],
        ['decide', 140, { action: 'wait', untilS: 170 }],
      ],
    ],
    [
      'a sighting of it stopped ends the unhealthy run',
      { 'mon.checks.health.grace': '30' },
      [
        ['event', 'unhealthy', 100],
        ['sight', { running: false }, 110],
        ['event', 'unhealthy', 120],
        ['decide', 130, { action: 'wait', untilS: 150 }],
      ],
    ],
    [
      'found unhealthy without an event: the grace runs from the probe that did it',
      { 'mon.checks.health.grace': '30' },
      [
        ['decide', 125, { action: 'wait', untilS: 150 }, 120],
        ['decide', 150, { action: 'restart', unhealthySinceMs: 120 * S }, 140],
      ],
    ],
    [
      'found unhealthy without a log: from the first look',
      { 'mon.checks.health.grace': '30' },
      [
        ['decide', 125, { action: 'wait', untilS: 155 }],
        ['decide', 140, { action: 'wait', untilS: 155 }],
        ['decide', 155, { action: 'restart' }],
      ],
    ],
    [
      'an inspect older than the healthy event does not undo it',
      { 'mon.checks.health.grace': '0' },
      [
        ['event', 'unhealthy', 100],
        ['event', 'healthy', 100.005],
        // inspected before the healthy probe: its log ends at 100.003 s
        ['decide', 100.01, { action: 'none', reason: expect.stringMatching(/healthy/) }, 100.003],
      ],
    ],
    [
      'an unhealthy event arriving after a newer healthy one is ignored',
      { 'mon.checks.health.grace': '0' },
      [
        ['event', 'healthy', 100.005],
        ['event', 'unhealthy', 100.002],
        ['sight', { healthStatus: 'healthy' }, 100.004],
        ['event', 'unhealthy', 100.003],
        ['decide', 100.01, { action: 'none', reason: expect.stringMatching(/healthy/) }, 100.003],
        // a newer unhealthy event does count
        ['event', 'unhealthy', 100.02],
        ['decide', 100.02, { action: 'restart', unhealthySinceMs: 100.02 * S }, 100.019],
      ],
    ],
    [
      'grace and backoff both apply: the later due time wins',
      { 'mon.checks.health.grace': '5' },
      [
        ['restarted', 0],
        ['event', 'unhealthy', 2],
        ['decide', 7, { action: 'wait', untilS: 10 }],
        ['restarted', 10],
        ['event', 'unhealthy', 28],
        ['decide', 30, { action: 'wait', untilS: 33 }],
        ['decide', 33, { action: 'restart', attempt: 3 }],
      ],
    ],
  ])('%s', (_what, labels, steps) => {
    play(steps, labels);
  });
});

describe('HealthRestartPolicy: limit (mon.checks.health.limit)', () => {
  it.each<[string, Record<string, string>, Step[]]>([
    [
      'limit reached exactly: 3 restarts, then gave up once, then nothing',
      { 'mon.checks.health.limit': '3' },
      [
        ['decide', 0, { action: 'restart', attempt: 1 }],
        ['restarted', 0],
        ['decide', 10, { action: 'restart', attempt: 2 }],
        ['restarted', 10],
        ['decide', 30, { action: 'restart', attempt: 3 }],
        ['restarted', 30],
        [
          'decide',
          70,
          {
            action: 'none',
            reason: expect.stringMatching(/3 restarts in the last hour.*limit=3.*giving up/),
            gaveUp: { limit: 3, restartsInHour: 3, unhealthySinceMs: 70 * S },
          },
        ],
        ['decide', 71, { action: 'none', reason: expect.stringMatching(/gave up/) }],
        ['decide', 2000, { action: 'none', reason: expect.stringMatching(/gave up/) }],
        ['decide', 9000, { action: 'none', reason: expect.stringMatching(/gave up/) }],
      ],
    ],
    [
      'gives up as soon as the grace is over, without waiting out the backoff',
      { 'mon.checks.health.limit': '1' },
      [
        ['restarted', 0],
        ['decide', 1, { action: 'none', gaveUp: expect.objectContaining({ restartsInHour: 1 }) }],
      ],
    ],
    [
      'a blip healed within the grace does not give up',
      {
        'mon.checks.health.limit': '1',
        'mon.checks.health.grace': '20',
      },
      [
        ['restarted', 0],
        ['event', 'unhealthy', 30],
        ['decide', 30, { action: 'wait', untilS: 50 }],
        ['event', 'healthy', 40],
        ['decide', 50, { action: 'none', reason: 'health status is healthy' }, { healthStatus: 'healthy' }],
      ],
    ],
    [
      'the window slides: a restart an hour old no longer counts',
      { 'mon.checks.health.limit': '2' },
      [
        ['restarted', 0],
        ['event', 'healthy', 10],
        ['event', 'unhealthy', 500], // healthy 8 min 10 s: not long enough to reset the backoff
        ['decide', 500, { action: 'restart', attempt: 2 }],
        ['restarted', 500],
        ['event', 'healthy', 510],
        ['event', 'unhealthy', 1000],
        ['decide', 3599, { action: 'none', gaveUp: expect.objectContaining({ restartsInHour: 2 }) }],
      ],
    ],
    [
      'the window slides: the third restart after the first left the hour',
      { 'mon.checks.health.limit': '2' },
      [
        ['restarted', 0],
        ['event', 'healthy', 10],
        ['event', 'unhealthy', 500],
        ['restarted', 500],
        ['event', 'healthy', 510],
        ['event', 'unhealthy', 3600],
        ['decide', 3600, { action: 'restart', attempt: 3 }],
      ],
    ],
    [
      'healthy 10 min lifts the latch; the hour still counts, so failing again gives up again',
      {
        'mon.checks.health.limit': '2',
      },
      [
        ['restarted', 0],
        ['restarted', 10],
        ['decide', 30, { action: 'none', gaveUp: expect.anything() }],
        ['event', 'healthy', 40],
        ['sight', { healthStatus: 'healthy' }, 640],
        ['event', 'unhealthy', 700],
        ['decide', 700, { action: 'none', gaveUp: expect.objectContaining({ restartsInHour: 2 }) }],
      ],
    ],
    [
      'healthy 10 min lifts the latch: restarts again once the hour has passed',
      {
        'mon.checks.health.limit': '2',
      },
      [
        ['restarted', 0],
        ['restarted', 10],
        ['decide', 30, { action: 'none', gaveUp: expect.anything() }],
        ['event', 'healthy', 40],
        ['sight', { healthStatus: 'healthy' }, 3000],
        ['event', 'unhealthy', 3700],
        ['decide', 3700, { action: 'restart', attempt: 1 }],
      ],
    ],
    [
      'healthy less than 10 min keeps the latch',
      { 'mon.checks.health.limit': '2' },
      [
        ['restarted', 0],
        ['restarted', 10],
        ['decide', 30, { action: 'none', gaveUp: expect.anything() }],
        ['event', 'healthy', 40],
        ['sight', { healthStatus: 'healthy' }, 639],
        ['event', 'unhealthy', 639.5],
        ['decide', 4000, { action: 'none', reason: expect.stringMatching(/gave up/) }],
      ],
    ],
    [
      "someone else's restart lifts the latch and starts the hour over",
      { 'mon.checks.health.limit': '2' },
      [
        ['restarted', 0],
        ['restarted', 10],
        ['decide', 30, { action: 'none', gaveUp: expect.anything() }],
        ['started', 60, 'other'],
        ['event', 'unhealthy', 90],
        ['decide', 90, { action: 'restart', attempt: 3 }],
        ['restarted', 90],
        ['decide', 200, { action: 'restart', attempt: 4 }],
        ['restarted', 200],
        ['decide', 400, { action: 'none', gaveUp: expect.objectContaining({ restartsInHour: 2 }) }],
      ],
    ],
    [
      'the start of its own restart lifts nothing',
      { 'mon.checks.health.limit': '2' },
      [
        ['restarted', 0],
        ['restarted', 10],
        ['decide', 30, { action: 'none', gaveUp: expect.anything() }],
        ['started', 60, 'listener'],
        ['event', 'unhealthy', 90],
        ['decide', 90, { action: 'none', reason: expect.stringMatching(/gave up/) }],
      ],
    ],
    [
      'no limit: backoff alone, restarting forever',
      {},
      [
        ['restarted', 0],
        ['restarted', 10],
        ['restarted', 30],
        ['restarted', 70],
        ['decide', 230, { action: 'restart', attempt: 5 }],
      ],
    ],
  ])('%s', (_what, labels, steps) => {
    play(steps, labels);
  });

  it('counts restarts that failed too (recordRestart is called for every attempt)', () => {
    const policy = new HealthRestartPolicy();
    const parsed = withLabels({ 'mon.checks.health.limit': '1' });
    policy.recordRestart(ID, 0);
    expect(policy.hasGivenUp(ID)).toBe(false);
    expect(policy.decide(unhealthy, parsed, 5 * S)).toMatchObject({ action: 'none', gaveUp: { limit: 1 } });
    expect(policy.hasGivenUp(ID)).toBe(true);
  });

  it('takes another window', () => {
    const policy = new HealthRestartPolicy({ limitWindowMs: 100 * S });
    const parsed = withLabels({ 'mon.checks.health.limit': '1' });
    policy.recordRestart(ID, 0);
    expect(policy.decide(unhealthy, parsed, 100 * S)).toMatchObject({ action: 'restart', attempt: 2 });
  });
});

describe('HealthRestartPolicy: reports', () => {
  it('a healthy event starts the 10 min run at its own time', () => {
    const policy = new HealthRestartPolicy();
    policy.recordRestart(ID, 0);
    policy.report(ID, 'healthy', 20 * S);
    policy.observe(healthy, 10 * MIN + 19 * S);
    expect(policy.restartsOf(ID)).toBe(1);
    policy.observe(healthy, 10 * MIN + 20 * S);
    expect(policy.restartsOf(ID)).toBe(0);
  });

  it('a sighting after a newer start begins a new run, dropping the old unhealthy report', () => {
    const policy = new HealthRestartPolicy();
    const parsed = withLabels({ 'mon.checks.health.grace': '30' });
    policy.report(ID, 'unhealthy', 100 * S);
    // Started again at 110 s (the event was missed), unhealthy again at 150 s per its log.
    const facts = { ...unhealthy, startedAtMs: 110 * S, health: logEndingAt(150) };
    expect(policy.decide(facts, parsed, 151 * S)).toMatchObject({ action: 'wait', untilMs: 180 * S });
  });
});
