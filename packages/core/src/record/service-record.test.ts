import { describe, expect, it } from 'vitest';
import { type RecordContainer, serviceKeyOf, servicePortsOf, serviceRecordOf } from './service-record.js';

const ID = 'f2a1c3e4b5d6f2a1c3e4b5d6f2a1c3e4b5d6f2a1c3e4b5d6f2a1c3e4b5d6abcd';
const HOST = '10.10.14.35';

const container = (
  exposed: string[],
  ports: NonNullable<NonNullable<RecordContainer['NetworkSettings']>['Ports']>,
): RecordContainer => ({
  Id: ID,
  Name: '/server',
  Config: { ExposedPorts: Object.fromEntries(exposed.map((p) => [p, {}])) },
  NetworkSettings: { Ports: ports },
});

describe('serviceRecordOf value', () => {
  it.each<[string, RecordContainer, string]>([
    [
      'no ports',
      { Id: ID, Name: '/server', Config: { ExposedPorts: null }, NetworkSettings: { Ports: {} } },
      '{"IP":"172.17.0.3","Name":"/server","Ports":[]}',
    ],
    ['no port facts at all', { Id: ID, Name: '/server' }, '{"IP":"172.17.0.3","Name":"/server","Ports":[]}'],
    [
      'exposed only (Config.ExposedPorts, no Ports entry)',
      container(['9000/tcp'], {}),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"","PrivatePort":0,"PublicPort":9000,"Type":"tcp"}]}',
    ],
    [
      'exposed only (Ports entry null)',
      container(['9000/tcp'], { '9000/tcp': null }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"","PrivatePort":0,"PublicPort":9000,"Type":"tcp"}]}',
    ],
    [
      'exposed only (Ports entry empty)',
      container([], { '9000/tcp': [] }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"","PrivatePort":0,"PublicPort":9000,"Type":"tcp"}]}',
    ],
    [
      'published on 0.0.0.0',
      container(['9000/tcp'], { '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '49153' }] }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"10.10.14.35","PrivatePort":9000,"PublicPort":49153,"Type":"tcp"}]}',
    ],
    [
      'published on an empty HostIp (older Docker)',
      container(['9000/tcp'], { '9000/tcp': [{ HostIp: '', HostPort: '49153' }] }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"10.10.14.35","PrivatePort":9000,"PublicPort":49153,"Type":"tcp"}]}',
    ],
    [
      'published on 127.0.0.1',
      container(['9000/tcp'], { '9000/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"127.0.0.1","PrivatePort":9000,"PublicPort":8080,"Type":"tcp"}]}',
    ],
    [
      'published on both IPv4 and IPv6 wildcards: counted once',
      container(['9000/tcp'], {
        '9000/tcp': [
          { HostIp: '0.0.0.0', HostPort: '49153' },
          { HostIp: '::', HostPort: '49153' },
        ],
      }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"10.10.14.35","PrivatePort":9000,"PublicPort":49153,"Type":"tcp"}]}',
    ],
    [
      'published on two explicit addresses: one entry each',
      container(['9000/tcp'], {
        '9000/tcp': [
          { HostIp: '127.0.0.1', HostPort: '9000' },
          { HostIp: '::1', HostPort: '9000' },
        ],
      }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"127.0.0.1","PrivatePort":9000,"PublicPort":9000,"Type":"tcp"},{"IP":"::1","PrivatePort":9000,"PublicPort":9000,"Type":"tcp"}]}',
    ],
    [
      'published twice on different host ports',
      container(['80/tcp'], {
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '8081' },
          { HostIp: '0.0.0.0', HostPort: '8080' },
        ],
      }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"10.10.14.35","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"IP":"10.10.14.35","PrivatePort":80,"PublicPort":8081,"Type":"tcp"}]}',
    ],
    [
      'udp, published',
      container(['53/udp'], { '53/udp': [{ HostIp: '0.0.0.0', HostPort: '5353' }] }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"10.10.14.35","PrivatePort":53,"PublicPort":5353,"Type":"udp"}]}',
    ],
    [
      'several ports, sorted by container port then type, mixing published and exposed',
      container(['9000/tcp', '53/udp', '53/tcp', '443/tcp', '132/sctp'], {
        '9000/tcp': [
          { HostIp: '0.0.0.0', HostPort: '49153' },
          { HostIp: '::', HostPort: '49153' },
        ],
        '53/udp': null,
        '53/tcp': [{ HostIp: '127.0.0.1', HostPort: '53' }],
        '443/tcp': [{ HostIp: '0.0.0.0', HostPort: '49154' }],
      }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[' +
        '{"IP":"127.0.0.1","PrivatePort":53,"PublicPort":53,"Type":"tcp"},' +
        '{"IP":"","PrivatePort":0,"PublicPort":53,"Type":"udp"},' +
        '{"IP":"","PrivatePort":0,"PublicPort":132,"Type":"sctp"},' +
        '{"IP":"10.10.14.35","PrivatePort":443,"PublicPort":49154,"Type":"tcp"},' +
        '{"IP":"10.10.14.35","PrivatePort":9000,"PublicPort":49153,"Type":"tcp"}]}',
    ],
    [
      'a binding without a host port yet counts as unpublished',
      container(['9000/tcp'], { '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '' }] }),
      '{"IP":"172.17.0.3","Name":"/server","Ports":[{"IP":"","PrivatePort":0,"PublicPort":9000,"Type":"tcp"}]}',
    ],
  ])('%s', (_what, input, expected) => {
    const { value } = serviceRecordOf({
      container: input,
      imageName: 'server',
      containerIp: '172.17.0.3',
      hostIp: HOST,
    });
    expect(value).toBe(expected);
    expect(JSON.parse(value)).toEqual(JSON.parse(expected));
  });

  it('escapes names and addresses as JSON strings', () => {
    const { value } = serviceRecordOf({
      container: { Id: ID, Name: '/we"ird\\name' },
      imageName: 'x',
      containerIp: '',
      hostIp: HOST,
    });
    expect(value).toBe('{"IP":"","Name":"/we\\"ird\\\\name","Ports":[]}');
    expect(JSON.parse(value).Name).toBe('/we"ird\\name');
  });

  it('ignores port specs it cannot read', () => {
    expect(servicePortsOf(container(['abc/tcp', '70000/tcp', '/tcp'], {}), HOST)).toEqual([]);
  });

  it('reads a bare port as tcp', () => {
    expect(servicePortsOf(container(['8080'], {}), HOST)).toEqual([
      { IP: '', PrivatePort: 0, PublicPort: 8080, Type: 'tcp' },
    ]);
  });
});

describe('serviceKeyOf', () => {
  it.each([
    ['/SERVICE', `/SERVICE/server/${ID}`],
    ['/SERVICE/', `/SERVICE/server/${ID}`],
    ['SERVICE', `/SERVICE/server/${ID}`],
    ['//SERVICE//', `/SERVICE/server/${ID}`],
    ['/a/b', `/a/b/server/${ID}`],
    ['/', `/server/${ID}`],
    ['', `/server/${ID}`],
  ])('prefix %j → %s', (prefix, key) => {
    expect(serviceKeyOf(prefix, 'server', ID)).toBe(key);
  });

  it('defaults the prefix to /SERVICE', () => {
    const { key } = serviceRecordOf({
      container: { Id: ID, Name: '/server' },
      imageName: 'scheduler',
      containerIp: '172.17.0.3',
      hostIp: HOST,
    });
    expect(key).toBe(`/SERVICE/scheduler/${ID}`);
  });
});
