import { describe, expect, it } from 'vitest';
import { parsePolicyLabels } from './labels.js';
import {
  type DependentDecision,
  type DependentFacts,
  NetworkDependents,
  networkParentOf,
  type ParentFacts,
} from './network-dependents.js';

const X = 'a'.repeat(64);
const D = 'd'.repeat(64);
const labels = parsePolicyLabels({ 'mon.observe': '1', 'mon.checks.network': '1' });

// D started at 100 (s), after X's first start at 50.
const dependent = (change: Partial<DependentFacts> = {}): DependentFacts => ({
  id: D,
  running: true,
  restarting: false,
  paused: false,
  startedAtMs: 100,
  networkMode: `container:${X}`,
  ...change,
});
const parent = (
  startedAtMs: number,
  change: Partial<Extract<ParentFacts, { found: true }>> = {},
): ParentFacts => ({
  found: true,
  id: X,
  running: true,
  restarting: false,
  startedAtMs,
  ...change,
});

describe('networkParentOf', () => {
  it.each<[string | undefined, string | undefined]>([
    [`container:${X}`, X],
    ['container:web', 'web'],
    [' container:web ', 'web'],
    ['container:', undefined],
    ['bridge', undefined],
    ['host', undefined],
    ['default', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j', (mode, expected) => {
    expect(networkParentOf(mode)).toBe(expected);
  });
});

type Step =
  | ['decide', Partial<DependentFacts>, ParentFacts | undefined, Partial<DependentDecision>]
  | ['restarting', number]
  | ['failed'];

describe('NetworkDependents.decide', () => {
  it.each<[string, Step[]]>([
    ['D started after X: already in its namespace', [['decide', {}, parent(50), { action: 'none' }]]],
    [
      'X restarted (started after D): D restarted once',
      [
        ['decide', {}, parent(200), { action: 'restart', parentId: X, parentStartedAtMs: 200 }],
        ['restarting', 200],
        // X's `restart` event right after its `start`, D's restart still under way
        [
          'decide',
          {},
          parent(200),
          { action: 'none', reason: expect.stringMatching(/already restarted once/) },
        ],
        // D restarted at 201: in X's new namespace
        [
          'decide',
          { startedAtMs: 201 },
          parent(200),
          { action: 'none', reason: expect.stringMatching(/started after/) },
        ],
      ],
    ],
    [
      'X restarted twice quickly, D restarted between the two: restarted again',
      [
        ['decide', {}, parent(200), { action: 'restart', parentStartedAtMs: 200 }],
        ['restarting', 200],
        ['decide', { startedAtMs: 201 }, parent(202), { action: 'restart', parentStartedAtMs: 202 }],
        ['restarting', 202],
        ['decide', { startedAtMs: 203 }, parent(202), { action: 'none' }],
      ],
    ],
    [
      "X restarted twice quickly, D's restart ended after the second: once is enough",
      [
        ['decide', {}, parent(200), { action: 'restart', parentStartedAtMs: 200 }],
        ['restarting', 200],
        ['decide', { startedAtMs: 205 }, parent(202), { action: 'none' }],
      ],
    ],
    [
      'X down (died, not started again yet): D waits',
      [
        [
          'decide',
          {},
          parent(50, { running: false }),
          { action: 'none', reason: expect.stringMatching(/not running/) },
        ],
      ],
    ],
    [
      'X being restarted by its restart policy: D waits',
      [
        [
          'decide',
          {},
          parent(50, { restarting: true }),
          { action: 'none', reason: expect.stringMatching(/not running/) },
        ],
      ],
    ],
    [
      'D restarting or paused: nothing',
      [
        ['decide', { restarting: true }, parent(200), { action: 'none', reason: 'restarting already' }],
        ['decide', { paused: true }, parent(200), { action: 'none', reason: 'paused' }],
      ],
    ],
    [
      'D stopped by someone: not started by the listener',
      [
        [
          'decide',
          { running: false },
          parent(200),
          { action: 'none', reason: expect.stringMatching(/not running/) },
        ],
      ],
    ],
    [
      "D's restart failed (X went down again): D restarted on X's next start, not before",
      [
        ['decide', {}, parent(200), { action: 'restart' }],
        ['restarting', 200],
        ['failed'],
        ['decide', { running: false }, parent(200, { running: false }), { action: 'none' }],
        ['decide', { running: false }, parent(200), { action: 'none' }],
        ['decide', { running: false }, parent(300), { action: 'restart', parentStartedAtMs: 300 }],
      ],
    ],
    [
      'X destroyed: a warning, once',
      [
        [
          'decide',
          {},
          { found: false },
          { action: 'warn', reason: expect.stringMatching(/network container a+ is gone/) },
        ],
        ['decide', {}, { found: false }, { action: 'none', reason: expect.stringMatching(/is gone/) }],
        ['decide', { running: false }, { found: false }, { action: 'none' }],
      ],
    ],
    [
      'X destroyed and a new X under the name: the warning comes again if it goes again',
      [
        ['decide', { networkMode: 'container:web' }, { found: false }, { action: 'warn' }],
        ['decide', { networkMode: 'container:web' }, parent(50), { action: 'none' }],
        ['decide', { networkMode: 'container:web' }, { found: false }, { action: 'warn' }],
      ],
    ],
    [
      'NetworkMode names no container: a warning, once',
      [
        [
          'decide',
          { networkMode: 'bridge' },
          undefined,
          { action: 'warn', reason: expect.stringMatching(/NetworkMode bridge/) },
        ],
        ['decide', { networkMode: 'bridge' }, undefined, { action: 'none' }],
      ],
    ],
  ])('%s', (_what, steps) => {
    const dependents = new NetworkDependents();
    for (const step of steps) {
      if (step[0] === 'decide') {
        expect(dependents.decide(dependent(step[1]), labels, step[2])).toMatchObject(step[3]);
      } else if (step[0] === 'restarting') {
        dependents.recordRestart(D, step[1]);
      } else {
        dependents.restartFailed(D);
      }
    }
  });

  it.each([
    ['no labels', {}],
    ['mon.checks.network=1 without mon.observe', { 'mon.checks.network': '1' }],
    ['mon.observe=1 without mon.checks.network', { 'mon.observe': '1' }],
    ['mon.checks.network=yes', { 'mon.observe': '1', 'mon.checks.network': 'yes' }],
  ])('leaves a stale dependent alone with %s', (_what, raw) => {
    const dependents = new NetworkDependents();
    expect(dependents.decide(dependent(), parsePolicyLabels(raw), parent(200)).action).toBe('none');
    expect(dependents.dependentsOf(X)).toEqual([]);
  });
});

describe('NetworkDependents: which dependents wait on which container', () => {
  it('knows the dependents of X once decided on, also after X is gone', () => {
    const dependents = new NetworkDependents();
    const other = 'e'.repeat(64);
    dependents.decide(dependent(), labels, parent(50));
    dependents.decide(dependent({ id: other }), labels, parent(50));
    dependents.decide(dependent({ id: 'f'.repeat(64) }), labels, {
      found: true,
      id: 'b'.repeat(64),
      running: true,
      restarting: false,
      startedAtMs: 1,
    });
    expect(dependents.dependentsOf(X).sort()).toEqual([D, other].sort());
    dependents.decide(dependent(), labels, { found: false });
    expect(dependents.dependentsOf(X)).toContain(D);
  });

  it('forget and retainOnly drop a dependent', () => {
    const dependents = new NetworkDependents();
    const other = 'e'.repeat(64);
    dependents.decide(dependent(), labels, parent(50));
    dependents.decide(dependent({ id: other }), labels, parent(50));
    dependents.forget(D);
    expect(dependents.dependentsOf(X)).toEqual([other]);
    dependents.retainOnly([X]);
    expect(dependents.dependentsOf(X)).toEqual([]);
  });

  it('forgets a restart once the dependent is gone: a new one with the id starts afresh', () => {
    const dependents = new NetworkDependents();
    dependents.recordRestart(D, 200);
    dependents.forget(D);
    expect(dependents.decide(dependent(), labels, parent(200)).action).toBe('restart');
  });
});
