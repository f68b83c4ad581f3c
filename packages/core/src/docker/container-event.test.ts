import { describe, expect, it } from 'vitest';
import { LineSplitter, parseContainerEvent, sinceParameter } from './container-event.js';

describe('Docker container events', () => {
  it('parses an event line, splitting health_status and keeping attributes', () => {
    // As Docker writes it: timeNano is a 19-digit JSON number.
    const line =
      '{"status":"health_status: unhealthy","id":"abc","Type":"container","Action":"health_status: unhealthy",' +
      '"Actor":{"ID":"abc","Attributes":{"name":"web","mon.observe":"1"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}';
    expect(parseContainerEvent(line)).toMatchObject({
      id: 'abc',
      action: 'health_status',
      detail: 'unhealthy',
      name: 'web',
      attributes: { 'mon.observe': '1' },
      timeNano: '1700000000123456789',
    });
  });

  it('takes timeNano from the event, not from a label or attribute of that name', () => {
    const line =
      '{"status":"start","id":"abc","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":' +
      '{"timeNano":"999","note":"\\"timeNano\\":5","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}';
    expect(JSON.parse(line).Actor.Attributes.timeNano).toBe('999');
    expect(parseContainerEvent(line)).toMatchObject({ action: 'start', timeNano: '1700000000123456789' });
  });

  it('ignores other types and garbage', () => {
    expect(
      parseContainerEvent(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n' } })),
    ).toBeUndefined();
    expect(parseContainerEvent('{not json')).toBeUndefined();
  });

  it('builds `since` as seconds.nanoseconds', () => {
    expect(sinceParameter('1700000000000000001')).toBe('1700000000.000000001');
    expect(sinceParameter('1700000000123456789')).toBe('1700000000.123456789');
  });

  it('reassembles lines split across chunks', () => {
    const lines = new LineSplitter();
    expect(lines.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(lines.push(':2}\n\n{"c":3}\n')).toEqual(['{"b":2}', '{"c":3}']);
  });
});
