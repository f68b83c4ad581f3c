import { describe, expect, it } from 'vitest';
import { hasPolicyLabels, parsePolicyLabels, takesPart } from './labels.js';

describe('parsePolicyLabels', () => {
  it('defaults to everything off when there are no labels', () => {
    for (const labels of [undefined, {}, { 'com.example': 'x' }] as (Record<string, string> | undefined)[]) {
      expect(parsePolicyLabels(labels)).toEqual({
        observe: false,
        health: { enabled: false, stopTimeoutMs: 10_000, graceMs: 0, limit: undefined },
        cleanup: { enabled: false, exitCode: 0 },
        network: { enabled: false },
        warnings: [],
      });
    }
  });

  it('reads the docker-mon example: observe, cleanup and health on', () => {
    const parsed = parsePolicyLabels({
      'mon.observe': '1',
      'mon.checks.cleanup': '1',
      'mon.checks.health': '1',
    });
    expect(parsed).toMatchObject({ observe: true, health: { enabled: true }, cleanup: { enabled: true } });
    expect(parsed.warnings).toEqual([]);
  });

  it.each([
    ['1', true],
    ['true', true],
    ['TRUE', true],
    ['True', true],
    [' 1 ', true],
    ['0', false],
    ['false', false],
    ['FALSE', false],
    ['', false],
  ])('switch value %j means %s without a warning', (value, on) => {
    const parsed = parsePolicyLabels({
      'mon.observe': value,
      'mon.checks.health': value,
      'mon.checks.cleanup': value,
      'mon.checks.network': value,
    });
    expect([parsed.observe, parsed.health.enabled, parsed.cleanup.enabled, parsed.network.enabled]).toEqual([
      on,
      on,
      on,
      on,
    ]);
    expect(parsed.warnings).toEqual([]);
  });

  it.each(['yes', 'on', '2', 'enabled', '1.0', '-1'])(
    'switch value %j is a warning naming the label and 1, 0, true, false, and stays off',
    (value) => {
      for (const label of ['mon.observe', 'mon.checks.health', 'mon.checks.cleanup', 'mon.checks.network']) {
        const parsed = parsePolicyLabels({ [label]: value });
        expect([
          parsed.observe,
          parsed.health.enabled,
          parsed.cleanup.enabled,
          parsed.network.enabled,
        ]).toEqual([false, false, false, false]);
        expect(parsed.warnings).toEqual([
          {
            label,
            value,
            message: `${label}=${JSON.stringify(value)} is not one of 1, 0, true, false; using off`,
          },
        ]);
      }
    },
  );

  it.each([
    ['0', 0],
    ['1', 1],
    ['30000', 30_000],
    [' 500 ', 500],
    ['', 10_000],
    ['  ', 10_000],
  ])('health timeout %j → %i ms without a warning', (value, ms) => {
    const parsed = parsePolicyLabels({ 'mon.checks.health.timeout': value });
    expect(parsed.health.stopTimeoutMs).toBe(ms);
    expect(parsed.warnings).toEqual([]);
  });

  it.each(['-1', '1.5', '1e4', '0x10', '10s', 'abc', '99999999999999999999'])(
    'health timeout %j is a warning and the default 10000 applies',
    (value) => {
      const parsed = parsePolicyLabels({ 'mon.checks.health.timeout': value });
      expect(parsed.health.stopTimeoutMs).toBe(10_000);
      expect(parsed.warnings).toEqual([
        { label: 'mon.checks.health.timeout', value, message: expect.stringContaining('10000') },
      ]);
    },
  );

  it.each([
    ['0', 0],
    ['1', 1],
    ['137', 137],
    ['255', 255],
    ['', 0],
  ])('cleanup code %j → %i without a warning', (value, code) => {
    const parsed = parsePolicyLabels({ 'mon.checks.cleanup.code': value });
    expect(parsed.cleanup.exitCode).toBe(code);
    expect(parsed.warnings).toEqual([]);
  });

  it.each(['256', '-1', '1.0', 'one', '0x1'])(
    'cleanup code %j is a warning and the default 0 applies',
    (value) => {
      const parsed = parsePolicyLabels({ 'mon.checks.cleanup.code': value });
      expect(parsed.cleanup.exitCode).toBe(0);
      expect(parsed.warnings).toEqual([
        { label: 'mon.checks.cleanup.code', value, message: expect.any(String) },
      ]);
    },
  );

  it('reports every bad label, even when the container has not opted in', () => {
    const parsed = parsePolicyLabels({
      'mon.observe': 'nope',
      'mon.checks.health': '1',
      'mon.checks.health.timeout': 'soon',
      'mon.checks.cleanup.code': '300',
    });
    expect(parsed.observe).toBe(false);
    expect(parsed.health).toEqual({ enabled: true, stopTimeoutMs: 10_000, graceMs: 0, limit: undefined });
    expect(parsed.warnings.map((w) => w.label)).toEqual([
      'mon.observe',
      'mon.checks.health.timeout',
      'mon.checks.cleanup.code',
    ]);
  });

  it.each([
    ['0', 0],
    ['1', 1_000],
    ['30', 30_000],
    [' 90 ', 90_000],
    ['86400', 86_400_000],
    ['', 0],
  ])('health grace %j → %i ms without a warning', (value, ms) => {
    const parsed = parsePolicyLabels({ 'mon.checks.health.grace': value });
    expect(parsed.health.graceMs).toBe(ms);
    expect(parsed.warnings).toEqual([]);
  });

  it.each(['-1', '1.5', '30s', 'soon', '86401', '1e3'])(
    'health grace %j is a warning naming 0 to 86400, and the default 0 applies',
    (value) => {
      const parsed = parsePolicyLabels({ 'mon.checks.health.grace': value });
      expect(parsed.health.graceMs).toBe(0);
      expect(parsed.warnings).toEqual([
        {
          label: 'mon.checks.health.grace',
          value,
          message: `mon.checks.health.grace=${JSON.stringify(value)} is not an integer number of seconds from 0 to 86400; using the default 0`,
        },
      ]);
    },
  );

  it.each([
    ['1', 1],
    ['3', 3],
    [' 12 ', 12],
    ['', undefined],
  ])('health limit %j → %s without a warning', (value, limit) => {
    const parsed = parsePolicyLabels({ 'mon.checks.health.limit': value });
    expect(parsed.health.limit).toBe(limit);
    expect(parsed.warnings).toEqual([]);
  });

  it.each(['0', '-2', '2.5', 'three', '3/h'])(
    'health limit %j is a warning naming integers ≥ 1, and no limit applies',
    (value) => {
      const parsed = parsePolicyLabels({ 'mon.checks.health.limit': value });
      expect(parsed.health.limit).toBeUndefined();
      expect(parsed.warnings).toEqual([
        {
          label: 'mon.checks.health.limit',
          value,
          message: `mon.checks.health.limit=${JSON.stringify(value)} is not an integer ≥ 1 (restarts per hour); using no limit`,
        },
      ]);
    },
  );

  it('warns about an unknown mon.checks.* label, naming the known ones', () => {
    const parsed = parsePolicyLabels({ 'mon.observe': '1', 'mon.checks.heath': '1', 'mon.other': 'x' });
    expect(parsed.warnings).toEqual([
      {
        label: 'mon.checks.heath',
        value: '1',
        message: expect.stringMatching(/mon\.checks\.heath is not a label.*mon\.checks\.health\.grace/),
      },
    ]);
  });
});

describe('hasPolicyLabels', () => {
  it.each<[string, Record<string, string> | undefined, boolean]>([
    ['no labels at all', undefined, false],
    ['no labels', {}, false],
    ['unrelated labels', { 'com.example': '1', 'monitor.team': 'x' }, false],
    ['mon.observe=yes (not opted in, but a typo to report)', { 'mon.observe': 'yes' }, true],
    ['mon.observe=0', { 'mon.observe': '0' }, true],
    ['a policy label without mon.observe', { 'mon.checks.health.grace': 'x' }, true],
    ['a misspelt mon.checks.* label', { 'mon.checks.clenup': '1' }, true],
  ])('%s → %s', (_what, labels, expected) => {
    expect(hasPolicyLabels(labels)).toBe(expected);
  });
});

describe('takesPart', () => {
  it.each<[string, Record<string, string>, boolean]>([
    ['observe and health', { 'mon.observe': '1', 'mon.checks.health': '1' }, true],
    ['observe and cleanup', { 'mon.observe': '1', 'mon.checks.cleanup': 'true' }, true],
    ['observe and network', { 'mon.observe': '1', 'mon.checks.network': '1' }, true],
    ['observe alone', { 'mon.observe': '1' }, false],
    ['policies without observe', { 'mon.checks.health': '1', 'mon.checks.network': '1' }, false],
    ['observe=yes with a policy', { 'mon.observe': 'yes', 'mon.checks.health': '1' }, false],
  ])('%s → %s', (_what, labels, expected) => {
    expect(takesPart(parsePolicyLabels(labels))).toBe(expected);
  });
});
