import { describe, expect, it } from 'vitest';
import { parsePolicyLabels } from './labels.js';

describe('parsePolicyLabels', () => {
  it('defaults to everything off when there are no labels', () => {
    for (const labels of [undefined, {}, { 'com.example': 'x' }] as (Record<string, string> | undefined)[]) {
      expect(parsePolicyLabels(labels)).toEqual({
        observe: false,
        health: { enabled: false, stopTimeoutMs: 10_000 },
        cleanup: { enabled: false, exitCode: 0 },
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
    });
    expect([parsed.observe, parsed.health.enabled, parsed.cleanup.enabled]).toEqual([on, on, on]);
    expect(parsed.warnings).toEqual([]);
  });

  it.each(['yes', 'on', '2', 'enabled', '1.0', '-1'])(
    'switch value %j is a warning and stays off',
    (value) => {
      const parsed = parsePolicyLabels({ 'mon.observe': value });
      expect(parsed.observe).toBe(false);
      expect(parsed.warnings).toEqual([
        { label: 'mon.observe', value, message: expect.stringContaining('mon.observe') },
      ]);
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
    expect(parsed.health).toEqual({ enabled: true, stopTimeoutMs: 10_000 });
    expect(parsed.warnings.map((w) => w.label)).toEqual([
      'mon.observe',
      'mon.checks.health.timeout',
      'mon.checks.cleanup.code',
    ]);
  });
});
