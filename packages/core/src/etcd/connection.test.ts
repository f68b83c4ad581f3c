import { describe, expect, it } from 'vitest';
import { BadOption } from '../errors.js';
import { etcdOptionsFrom, GRPC_OPTIONS } from './connection.js';

const files: Record<string, string> = { '/ca.pem': 'CA', '/cert.pem': 'CERT', '/key.pem': 'KEY' };
const readFile = (path: string): Buffer => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return Buffer.from(text);
};

describe('etcdOptionsFrom', () => {
  it.each<[string, Parameters<typeof etcdOptionsFrom>[0], string[]]>([
    ['a bare host:port', { hosts: '127.0.0.1:2379' }, ['http://127.0.0.1:2379']],
    ['a host without port', { hosts: 'etcd1' }, ['http://etcd1:2379']],
    ['a list with spaces', { hosts: 'a:1, b:2 ,http://c:3' }, ['http://a:1', 'http://b:2', 'http://c:3']],
    ['http URLs with a trailing slash', { hosts: 'http://a:2379/' }, ['http://a:2379']],
    ['https URLs', { hosts: 'https://a:2379,https://b' }, ['https://a:2379', 'https://b:2379']],
    ['bare hosts with a CA', { hosts: 'a:2379,b:2379', ca: '/ca.pem' }, ['https://a:2379', 'https://b:2379']],
    [
      'bare hosts with a client cert',
      { hosts: 'a:2379', cert: '/cert.pem', key: '/key.pem' },
      ['https://a:2379'],
    ],
    ['IPv6', { hosts: '[::1]:2379,[fe80::1]' }, ['http://[::1]:2379', 'http://[fe80::1]:2379']],
    [
      'empty TLS values meaning none',
      { hosts: 'a:1', ca: '', cert: '', key: '', user: '', password: '' },
      ['http://a:1'],
    ],
  ])('%s', (_what, input, hosts) => {
    expect(etcdOptionsFrom(input, readFile).hosts).toEqual(hosts);
  });

  it('reads the TLS files into credentials', () => {
    const options = etcdOptionsFrom(
      { hosts: 'a:1', ca: '/ca.pem', cert: '/cert.pem', key: '/key.pem' },
      readFile,
    );
    expect(options.credentials?.rootCertificate?.toString()).toBe('CA');
    expect(options.credentials?.certChain?.toString()).toBe('CERT');
    expect(options.credentials?.privateKey?.toString()).toBe('KEY');
  });

  it('uses the system CAs for https without --etcd-ca', () => {
    expect(etcdOptionsFrom({ hosts: 'https://a:1' }, readFile).credentials).toBeUndefined();
  });

  it('passes user and password', () => {
    expect(etcdOptionsFrom({ hosts: 'a:1', user: 'root', password: 's3cret' }, readFile).auth).toEqual({
      username: 'root',
      password: 's3cret',
    });
  });

  it('caps grpc reconnect backoff and bounds unary calls', () => {
    const options = etcdOptionsFrom({ hosts: 'a:1', callTimeoutMs: 1234 }, readFile);
    expect(options.grpcOptions).toMatchObject(GRPC_OPTIONS);
    expect(options.grpcOptions?.['grpc.max_reconnect_backoff_ms']).toBeLessThanOrEqual(1000);
    const factory = options.defaultCallOptions as (c: { isStream: boolean }) => { deadline?: number };
    expect(factory({ isStream: true })).toEqual({});
    const deadline = factory({ isStream: false }).deadline ?? 0;
    expect(deadline - Date.now()).toBeGreaterThan(1000);
    expect(deadline - Date.now()).toBeLessThanOrEqual(1234);
    expect(options.faultHandling?.host).toBeTypeOf('function');
    expect(options.faultHandling?.global).toBeDefined();
  });

  it.each<[string, Parameters<typeof etcdOptionsFrom>[0], RegExp]>([
    ['no hosts', { hosts: '' }, /--etcd-host: expected host:port, e.g. 127.0.0.1:2379, got nothing/],
    ['blank hosts', { hosts: '  ' }, /--etcd-host: expected host:port.*got nothing/],
    ['an empty endpoint', { hosts: 'a:1,,b:2' }, /empty endpoint/],
    ['a trailing comma', { hosts: 'a:1,' }, /empty endpoint/],
    [
      'another scheme',
      { hosts: 'unix:///run/etcd.sock' },
      /--etcd-host: expected host:port, http:\/\/host:port or https:\/\/host:port, got "unix:/,
    ],
    ['a path', { hosts: 'http://a:1/v3/kv' }, /expected host:port, http:/],
    ['a bad port', { hosts: 'a:port' }, /expected host:port, e\.g\. 127\.0\.0\.1:2379, got "a:port"/],
    ['a port out of range', { hosts: 'a:70000' }, /between 1 and 65535/],
    ['an empty host', { hosts: ':2379' }, /expected host:port, e\.g\./],
    ['cert without key', { hosts: 'a:1', cert: '/cert.pem' }, /give --etcd-key too/],
    ['key without cert', { hosts: 'a:1', key: '/key.pem' }, /give --etcd-cert too/],
    ['user without password', { hosts: 'a:1', user: 'root' }, /without --etcd-password/],
    ['password without user', { hosts: 'a:1', password: 'x' }, /without --etcd-user/],
    [
      'an unreadable CA',
      { hosts: 'a:1', ca: '/missing.pem' },
      /--etcd-ca \/missing.pem cannot be read \(ENOENT\)/,
    ],
    [
      'an unreadable key',
      { hosts: 'a:1', cert: '/cert.pem', key: '/nope' },
      /--etcd-key \/nope cannot be read/,
    ],
    ['http with TLS files', { hosts: 'http://a:1', ca: '/ca.pem' }, /is http:\/\/ but TLS files were given/],
    ['mixed http and https', { hosts: 'https://a:1,http://b:1' }, /other endpoints are https/],
  ])('rejects %s with a one-line BadOption', (_what, input, message) => {
    let caught: unknown;
    try {
      etcdOptionsFrom(input, readFile);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BadOption);
    expect((caught as BadOption).message).toMatch(message);
    expect((caught as BadOption).message).not.toContain('\n');
    expect((caught as BadOption).exitStatus).toBe(2);
  });
});
