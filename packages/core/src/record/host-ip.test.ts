import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultHostIp, firstExternalIpv4 } from './host-ip.js';

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: `${address}/24`,
});
const v6 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: 'ffff:ffff:ffff:ffff::',
  family: 'IPv6',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: `${address}/64`,
  scopeid: 0,
});

describe('firstExternalIpv4', () => {
  it.each<[string, NodeJS.Dict<NetworkInterfaceInfo[]>, string | undefined]>([
    ['nothing at all', {}, undefined],
    ['loopback only', { lo: [v4('127.0.0.1', true), v6('::1', true)] }, undefined],
    ['IPv6 only', { lo: [v4('127.0.0.1', true)], eth0: [v6('fe80::1')] }, undefined],
    [
      'one interface',
      { lo: [v4('127.0.0.1', true)], eth0: [v6('fe80::1'), v4('10.10.14.35')] },
      '10.10.14.35',
    ],
    ['the first of several', { eth0: [v4('10.0.0.2')], eth1: [v4('192.168.1.2')] }, '10.0.0.2'],
    ['an entry without addresses', { eth0: undefined, eth1: [v4('192.168.1.2')] }, '192.168.1.2'],
    ['docker0 listed first', { docker0: [v4('172.17.0.1')], eth0: [v4('10.0.0.2')] }, '10.0.0.2'],
    ['bridges only', { 'br-1a2b': [v4('172.18.0.1')], docker0: [v4('172.17.0.1')] }, '172.18.0.1'],
  ])('%s', (_what, interfaces, expected) => {
    expect(firstExternalIpv4(interfaces)).toBe(expected);
  });

  it('accepts the numeric family of older Node', () => {
    const info = { ...v4('10.1.1.1'), family: 4 } as unknown as NetworkInterfaceInfo;
    expect(firstExternalIpv4({ eth0: [info] })).toBe('10.1.1.1');
  });
});

describe('defaultHostIp', () => {
  it('gives an IPv4 address of this host', () => {
    expect(defaultHostIp()).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });
});
