// Reaching a real etcd the ways an operator configures it: TLS with a client certificate,
// user and password, and the one-line errors for options that cannot work.
import { Etcd3, EtcdAuthenticationFailedError } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BadOption } from '../../packages/core/src/errors.js';
import { etcdOptionsFrom } from '../../packages/core/src/etcd/connection.js';
import { LeasedRecord, type RegistryLog } from '../../packages/core/src/etcd/leased-record.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';

const quiet: RegistryLog = { debug() {}, info() {}, notice() {}, warning() {} };
const VALUE = '{"IP":"172.17.0.3","Name":"/server","Ports":[]}';
const OTHER = '{"IP":"172.17.0.4","Name":"/server","Ports":[]}';

const clients: Etcd3[] = [];
function clientFor(input: Parameters<typeof etcdOptionsFrom>[0]): Etcd3 {
  const client = new Etcd3(etcdOptionsFrom(input));
  clients.push(client);
  return client;
}

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

/** Publish through a LeasedRecord and read it back with etcdctl: the full path works. */
async function provePublish(etcd: TestEtcd, client: Etcd3, key: string) {
  const record = new LeasedRecord({ client, key, ttlSeconds: 5, log: quiet });
  try {
    expect(await record.publish(VALUE)).toBe('reached');
    expect((await etcd.ctl('get', '--print-value-only', key)).trim()).toBe(VALUE);
    expect(await record.close()).toBe(true);
    expect((await etcd.ctl('get', '--print-value-only', key)).trim()).toBe('');
  } finally {
    await record.close(100);
  }
}

describe('etcd over TLS with a client certificate', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd({ tls: true });
  });
  afterAll(async () => {
    await etcd?.cleanup();
  });

  it('registers through an https endpoint with --etcd-ca/--etcd-cert/--etcd-key', async () => {
    expect(etcd.endpoint).toMatch(/^https:/);
    await provePublish(etcd, clientFor(etcd.connection), '/SERVICE/tls/1');
  });

  it('turns a bare host:port into https when TLS files are given', async () => {
    const bare = etcd.endpoint.replace('https://', '');
    const options = etcdOptionsFrom({ ...etcd.connection, hosts: bare });
    expect(options.hosts).toEqual([etcd.endpoint]);
    await provePublish(etcd, clientFor({ ...etcd.connection, hosts: bare }), '/SERVICE/tls/2');
  });

  it('is refused without the client certificate', async () => {
    const client = clientFor({ hosts: etcd.hosts, ca: etcd.tls!.ca, callTimeoutMs: 2000 });
    await expect(client.get('/SERVICE/tls/1').string()).rejects.toThrow();
  });
});

describe('etcd with user and password auth', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd({ auth: true });
  });
  afterAll(async () => {
    await etcd?.cleanup();
  });

  it('registers with --etcd-user/--etcd-password', async () => {
    await provePublish(etcd, clientFor(etcd.connection), '/SERVICE/auth/1');
  });

  it('carries on after etcd restarts and forgets the auth token it handed out', async () => {
    const record = new LeasedRecord({
      client: clientFor(etcd.connection),
      key: '/SERVICE/auth/2',
      ttlSeconds: 5,
      log: quiet,
    });
    try {
      expect(await record.publish(VALUE)).toBe('reached');
      await etcd.stop();
      await etcd.start();
      await record.publish(OTHER);
      expect((await etcd.ctl('get', '--print-value-only', '/SERVICE/auth/2')).trim()).toBe(OTHER);
    } finally {
      await record.close(500);
    }
  });

  it('is refused with a wrong password, and without credentials', async () => {
    const wrong = clientFor({ hosts: etcd.hosts, user: 'root', password: 'wrong' });
    await expect(wrong.get('/SERVICE/auth/1').string()).rejects.toBeInstanceOf(EtcdAuthenticationFailedError);
    const anonymous = clientFor({ hosts: etcd.hosts });
    await expect(anonymous.put('/SERVICE/auth/1').value('x')).rejects.toThrow(
      /user name is empty|permission/i,
    );
  });
});

describe('bad connection options', () => {
  it.each<[string, Parameters<typeof etcdOptionsFrom>[0], RegExp]>([
    ['an empty host list', { hosts: '' }, /--etcd-host: expected host:port.*got nothing/],
    ['an empty endpoint', { hosts: '127.0.0.1:2379,' }, /empty endpoint/],
    [
      'a certificate without its key',
      { hosts: '127.0.0.1:2379', cert: '/etc/hostname' },
      /give --etcd-key too/,
    ],
    [
      'a CA file that is not there',
      { hosts: '127.0.0.1:2379', ca: '/nonexistent/ca.pem' },
      /--etcd-ca .* cannot be read/,
    ],
    [
      'a CA path that is a directory',
      { hosts: '127.0.0.1:2379', ca: '/tmp' },
      /--etcd-ca \/tmp cannot be read \(EISDIR\)/,
    ],
  ])('rejects %s with BadOption', (_what, input, message) => {
    expect(() => etcdOptionsFrom(input)).toThrow(BadOption);
    expect(() => etcdOptionsFrom(input)).toThrow(message);
  });
});
