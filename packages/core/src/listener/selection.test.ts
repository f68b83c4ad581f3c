import { describe, expect, it } from 'vitest';
import { isIgnored, normalizePrefix } from './selection.js';

const OWN = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2';
const OTHER = 'ffffffffffff0000000000000000000000000000000000000000000000000000';

describe('normalizePrefix', () => {
  it.each([
    ['', ''],
    ['   ', ''],
    [undefined, ''],
    ['web', '/web'],
    ['/web', '/web'],
    [' web ', '/web'],
    ['/', '/'],
  ])('%j → %j', (input, expected) => {
    expect(normalizePrefix(input)).toBe(expected);
  });
});

describe('isIgnored', () => {
  const base = { name: '/web-1', id: OTHER, labels: {} };

  it.each([
    ['an ordinary container, no prefix', base, { prefix: '' }, null],
    ['a name matching the prefix given with a slash', base, { prefix: '/web' }, null],
    ['a name matching the prefix given without a slash', base, { prefix: 'web' }, null],
    ['an event name (no slash) matching the prefix', { ...base, name: 'web-1' }, { prefix: 'web' }, null],
    ['an event name (no slash) and a slashed prefix', { ...base, name: 'web-1' }, { prefix: '/web' }, null],
    ['a container without labels', { name: '/web-1', id: OTHER }, { prefix: '' }, null],
    [
      'checker.sidecar=0 is not a sidecar',
      { ...base, labels: { 'checker.sidecar': '0' } },
      { prefix: '' },
      null,
    ],
    ['another container while our id is known', base, { prefix: '', ownContainerId: OWN }, null],
    [
      'our id is too short to compare by prefix',
      { ...base, id: OWN },
      { prefix: '', ownContainerId: 'a1b2c3' },
      null,
    ],
    ['an empty own id', base, { prefix: '', ownContainerId: '' }, null],
  ])('keeps %s', (_what, container, options, expected) => {
    expect(isIgnored(container, options)).toBe(expected);
  });

  it.each([
    ['a check sidecar', { ...base, labels: { 'checker.sidecar': '1' } }, { prefix: '' }, /sidecar/],
    [
      'a sidecar even when its name matches the prefix',
      { ...base, labels: { 'checker.sidecar': '1' } },
      { prefix: 'web' },
      /sidecar/,
    ],
    ['our own container (full ids)', { ...base, id: OWN }, { prefix: '', ownContainerId: OWN }, /own/],
    [
      'our own container (upper-case id)',
      { ...base, id: OWN.toUpperCase() },
      { prefix: '', ownContainerId: OWN },
      /own/,
    ],
    [
      'our own container (event short id)',
      { ...base, id: OWN.slice(0, 12) },
      { prefix: '', ownContainerId: OWN },
      /own/,
    ],
    [
      'our own container (own id from hostname)',
      { ...base, id: OWN },
      { prefix: '', ownContainerId: OWN.slice(0, 12) },
      /own/,
    ],
    [
      'a name outside the prefix',
      { ...base, name: '/db' },
      { prefix: 'web' },
      /does not start with --prefix \/web/,
    ],
    ['a name outside the prefix (event name)', { ...base, name: 'db' }, { prefix: '/web' }, /\/db/],
    [
      'a name containing but not starting with the prefix',
      { ...base, name: '/my-web' },
      { prefix: 'web' },
      /prefix/,
    ],
  ])('ignores %s', (_what, container, options, reason) => {
    expect(isIgnored(container, options)).toMatch(reason);
  });
});
