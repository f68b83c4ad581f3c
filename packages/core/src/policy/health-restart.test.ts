import { describe, expect, it } from 'vitest';
import { type HealthFacts, HealthRestartPolicy } from './health-restart.js';
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
