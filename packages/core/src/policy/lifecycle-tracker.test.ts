import { describe, expect, it } from 'vitest';
import { type ExitCause, type LifecycleEvent, LifecycleTracker } from './lifecycle-tracker.js';

const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

// Times in ms from an arbitrary epoch; the run under test started at 1000.
type Step =
  | ['issued', 'restart' | 'stop' | 'kill', number]
  | ['settled', number]
  | ['event', string, number, string?];

const STARTED = 1000;
const stopsOnTermOrKill = (signal: string | undefined) => signal === '15' || signal === '9';

function play(steps: Step[], tracker = new LifecycleTracker()) {
  const causes: string[] = [];
  for (const step of steps) {
    if (step[0] === 'issued') tracker.issued(ID, step[1], step[2]);
    else if (step[0] === 'settled') tracker.settled(ID, step[1]);
    else causes.push(tracker.event(ID, { action: step[1], atMs: step[2], signal: step[3] }));
  }
  return { tracker, causes };
}

describe('LifecycleTracker.exitCause', () => {
  it.each<[string, Step[], number, Partial<ExitCause>]>([
    [
      'exits by itself',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
      ],
      5100,
      { cause: 'own' },
    ],
    [
      'docker stop of a container that exits 0 on SIGTERM: kill, die, then stop',
      [
        ['event', 'start', 1001],
        ['event', 'kill', 4900, '15'],
        ['event', 'die', 5000],
        ['event', 'stop', 5055],
      ],
      5100,
      { cause: 'stopped', by: 'kill', signal: '15' },
    ],
    [
      'docker stop, asked at the die, before the stop event',
      [
        ['event', 'start', 1001],
        ['event', 'kill', 4900, '15'],
        ['event', 'die', 5000],
      ],
      5001,
      { cause: 'stopped', by: 'kill' },
    ],
    [
      'docker kill (SIGKILL) by someone else',
      [
        ['event', 'start', 1001],
        ['event', 'kill', 4990, '9'],
        ['event', 'die', 5000],
      ],
      5001,
      { cause: 'stopped', by: 'kill', signal: '9' },
    ],
    [
      'a stop event alone (its kill not seen)',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
        ['event', 'stop', 5060],
      ],
      5100,
      { cause: 'stopped', by: 'stop' },
    ],
    [
      'kill logged 3 ms after the die: pending at the die, stopped once it came',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
        ['event', 'kill', 5003, '9'],
      ],
      5100,
      { cause: 'stopped', by: 'kill' },
    ],
    [
      'asked at the die with nothing else known: pending until die + 100 ms',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
      ],
      5001,
      { cause: 'pending', untilMs: 5100 },
    ],
    [
      'asked exactly at die + 100 ms: own',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
      ],
      5100,
      { cause: 'own' },
    ],
    [
      'a stop long after the settle window still counts when known (stop lags under load)',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
        ['event', 'stop', 6700],
      ],
      6800,
      { cause: 'stopped', by: 'stop' },
    ],
    [
      'a stop of the next run does not count for this one',
      [
        ['event', 'start', 1001],
        ['event', 'die', 5000],
        ['event', 'start', 5400],
        ['event', 'kill', 6000, '9'],
        ['event', 'stop', 6100],
      ],
      6800,
      { cause: 'own' },
    ],
    [
      'a reload signal (HUP) by someone else before an own exit',
      [
        ['event', 'start', 1001],
        ['event', 'kill', 2000, '1'],
        ['event', 'die', 5000],
      ],
      5100,
      { cause: 'own' },
    ],
    [
      'a kill of the run before (docker restart by someone) does not count for this run',
      [
        ['event', 'kill', 800, '15'],
        ['event', 'die', 900],
        ['event', 'stop', 950],
        ['event', 'start', 1001],
        ['event', 'restart', 1002],
        ['event', 'die', 5000],
      ],
      5100,
      { cause: 'own' },
    ],
    [
      "the listener's restart: its kill and die are the listener's",
      [
        ['event', 'start', 1001],
        ['issued', 'restart', 4800],
        ['event', 'kill', 4801, '15'],
        ['event', 'die', 4900],
        ['event', 'stop', 4950],
        ['settled', 5200],
      ],
      5300,
      { cause: 'listener' },
    ],
    [
      "the listener's kill",
      [
        ['event', 'start', 1001],
        ['issued', 'kill', 4800],
        ['event', 'kill', 4801, '9'],
        ['event', 'die', 4810],
        ['settled', 4811],
      ],
      4812,
      { cause: 'listener' },
    ],
    [
      "a kill by someone else after the listener's restart completed",
      [
        ['issued', 'restart', 800],
        ['event', 'kill', 801, '15'],
        ['event', 'die', 850],
        ['event', 'stop', 900],
        ['event', 'start', 1001],
        ['event', 'restart', 1002],
        ['settled', 1003],
        ['event', 'kill', 4000, '9'],
        ['event', 'die', 4001],
      ],
      4200,
      { cause: 'stopped', by: 'kill' },
    ],
    [
      'an exit after the listener settled its stop call (failed) and the skew passed is own',
      [
        ['event', 'start', 1001],
        ['issued', 'stop', 2000],
        ['settled', 2010],
        ['event', 'die', 5000],
      ],
      5100,
      { cause: 'own' },
    ],
    ['no die of this run known', [['event', 'start', 1001]], 9000, { cause: 'unknown' }],
    ['nothing known at all', [], 9000, { cause: 'unknown' }],
    ['only a die of an earlier run known', [['event', 'die', 900]], 9000, { cause: 'unknown' }],
  ])('%s', (_what, steps, now, expected) => {
    const { tracker } = play(steps);
    expect(tracker.exitCause(ID, { startedAtMs: STARTED, isStopping: stopsOnTermOrKill }, now)).toMatchObject(
      expected,
    );
  });

  it('counts every kill signal as stopping when the caller gives no rule', () => {
    const { tracker } = play([
      ['event', 'start', 1001],
      ['event', 'kill', 2000, '1'],
      ['event', 'die', 5000],
    ]);
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 5100)).toMatchObject({
      cause: 'stopped',
      signal: '1',
    });
  });

  it('takes another settle window', () => {
    const { tracker } = play([['event', 'die', 5000]], new LifecycleTracker({ settleMs: 2000 }));
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 6000)).toMatchObject({
      cause: 'pending',
      untilMs: 7000,
    });
  });

  it('keeps containers apart', () => {
    const tracker = new LifecycleTracker();
    tracker.event('other', { action: 'kill', atMs: 4000, signal: '9' });
    tracker.event(ID, { action: 'die', atMs: 5000 });
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 5100)).toMatchObject({ cause: 'own' });
  });
});

describe('LifecycleTracker: exits the listener did not see (replay)', () => {
  const past: LifecycleEvent[] = [
    { action: 'stop', atMs: 5060 },
    { action: 'die', atMs: 5000 },
    { action: 'kill', atMs: 4900, signal: '15' },
  ];

  it('decides from replayed past events, in any order', () => {
    const tracker = new LifecycleTracker();
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 60_000)).toMatchObject({
      cause: 'unknown',
      replayed: false,
    });
    tracker.replay(ID, STARTED, past);
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 60_000)).toMatchObject({
      cause: 'stopped',
      by: 'kill',
    });
  });

  it('a replay with the die alone: own', () => {
    const tracker = new LifecycleTracker();
    tracker.replay(ID, STARTED, [
      { action: 'exec_die', atMs: 4000 },
      { action: 'die', atMs: 5000 },
    ]);
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 60_000)).toMatchObject({ cause: 'own' });
  });

  it('a replay without the die (Docker no longer has it): still unknown', () => {
    const tracker = new LifecycleTracker();
    tracker.replay(ID, STARTED, [{ action: 'exec_die', atMs: 5000 }]);
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 60_000)).toMatchObject({
      cause: 'unknown',
      replayed: true,
      reason: expect.stringMatching(/no longer has/),
    });
    // a later run is not replayed yet
    expect(tracker.exitCause(ID, { startedAtMs: 7000 }, 60_000)).toMatchObject({ replayed: false });
  });

  it('events seen live and replayed again are counted once', () => {
    const tracker = new LifecycleTracker({ keep: 3 });
    tracker.replay(ID, STARTED, past);
    tracker.replay(ID, STARTED, past);
    // keep 3: had the repeats been stored, the kill would have been pushed out.
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 60_000)).toMatchObject({
      cause: 'stopped',
      by: 'kill',
    });
  });
});

describe('LifecycleTracker.event: who caused it', () => {
  it.each<[string, Step[], string[]]>([
    ['a start by someone else', [['event', 'start', 1000]], ['other']],
    [
      "the listener's restart: kill, die, stop, start, restart",
      [
        ['issued', 'restart', 1000],
        ['event', 'kill', 1001, '15'],
        ['event', 'die', 1100],
        ['event', 'stop', 1150],
        ['event', 'start', 1400],
        ['event', 'restart', 1401],
        ['settled', 1402],
      ],
      ['listener', 'listener', 'listener', 'listener', 'listener'],
    ],
    [
      "events delivered after the listener's call returned are still its own",
      [
        ['issued', 'restart', 1000],
        ['settled', 1402],
        ['event', 'start', 1400],
        ['event', 'restart', 1401],
      ],
      ['listener', 'listener'],
    ],
    [
      "the restart event closes the listener's call: a restart just after is someone else's",
      [
        ['issued', 'restart', 1000],
        ['event', 'start', 1400],
        ['event', 'restart', 1401],
        ['event', 'kill', 1450, '15'],
        ['event', 'start', 1600],
        ['event', 'restart', 1601],
      ],
      ['listener', 'listener', 'other', 'other', 'other'],
    ],
    [
      'Docker clock up to 250 ms behind the listener',
      [
        ['issued', 'restart', 1000],
        ['event', 'start', 760],
        ['event', 'restart', 800],
      ],
      ['listener', 'listener'],
    ],
    [
      'an event long before the call is someone else’s',
      [
        ['issued', 'restart', 1000],
        ['event', 'start', 700],
      ],
      ['other'],
    ],
    [
      'a start after the listener settled a failed call, beyond the skew',
      [
        ['issued', 'restart', 1000],
        ['settled', 1010],
        ['event', 'start', 1300],
      ],
      ['other'],
    ],
    [
      "a stop call's events do not include a start",
      [
        ['issued', 'stop', 1000],
        ['event', 'kill', 1001, '15'],
        ['event', 'die', 1002],
        ['event', 'start', 1003],
      ],
      ['listener', 'listener', 'other'],
    ],
    [
      'Docker restart policy: die then start, no call of the listener',
      [
        ['event', 'die', 1000],
        ['event', 'start', 1100],
      ],
      ['other', 'other'],
    ],
    ['actions that are not lifecycle ones are ignored', [['event', 'exec_start', 1000]], ['other']],
  ])('%s', (_what, steps, expected) => {
    expect(play(steps).causes).toEqual(expected);
  });
});

describe('LifecycleTracker: memory', () => {
  it('forget and retainOnly drop what is known of a container', () => {
    const tracker = new LifecycleTracker();
    for (const id of ['a', 'b']) tracker.event(id, { action: 'die', atMs: 5000 });
    tracker.forget('a');
    tracker.retainOnly(['c']);
    for (const id of ['a', 'b']) {
      expect(tracker.exitCause(id, { startedAtMs: STARTED }, 9000)).toMatchObject({ cause: 'unknown' });
    }
  });

  it('keeps the last events only', () => {
    const tracker = new LifecycleTracker({ keep: 2 });
    tracker.event(ID, { action: 'kill', atMs: 2000, signal: '9' });
    tracker.event(ID, { action: 'start', atMs: 3000 });
    tracker.event(ID, { action: 'die', atMs: 5000 });
    expect(tracker.exitCause(ID, { startedAtMs: STARTED }, 9000)).toMatchObject({ cause: 'own' });
  });
});
