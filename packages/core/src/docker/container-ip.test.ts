import { describe, expect, it } from 'vitest';
import { containerIpOf } from './container-ip.js';

describe('containerIpOf: the address given to the check and written to the record', () => {
  it.each([
    [
      'default bridge first',
      { Networks: { bridge: { IPAddress: '172.17.0.3' }, alpha: { IPAddress: '10.0.0.2' } } },
      '172.17.0.3',
    ],
    [
      'else the alphabetically first network',
      { Networks: { zeta: { IPAddress: '10.9.0.2' }, beta: { IPAddress: '10.1.0.2' } } },
      '10.1.0.2',
    ],
    [
      'skips networks without an address',
      { Networks: { alpha: { IPAddress: '' }, beta: { IPAddress: '10.1.0.2' } } },
      '10.1.0.2',
    ],
    ['host networking', { Networks: { host: { IPAddress: '' } } }, '127.0.0.1'],
    ['no network', { Networks: { none: { IPAddress: '' } } }, '127.0.0.1'],
    ['nothing at all', {}, '127.0.0.1'],
  ])('%s', (_name, settings, ip) => {
    expect(containerIpOf({ NetworkSettings: settings })).toBe(ip);
  });
});
