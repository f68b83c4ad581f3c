// Real etcd processes for integration tests: each on its own free loopback ports and temp data
// dir, optionally with TLS (a CA, server and client certificates made with openssl here) or
// with user/password auth, and with the controls a fault test needs (stop, kill, start again
// on the same data, start again on wiped data). Everything started is stopped at process exit
// even when a test forgets.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EtcdConnectionInput } from '../../packages/core/src/etcd/connection.js';

const run = promisify(execFile);

export const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? 'etcdctl';

export interface EtcdTls {
  ca: string;
  /** client certificate and key, signed by `ca` */
  cert: string;
  key: string;
}

export interface TestEtcd {
  /** `http://127.0.0.1:<port>` or `https://…` */
  endpoint: string;
  /** what --etcd-host takes */
  hosts: string;
  dir: string;
  tls?: EtcdTls;
  auth?: { user: string; password: string };
  /** everything `etcdOptionsFrom` needs to reach this etcd */
  connection: EtcdConnectionInput;
  /** run etcdctl against this etcd (with its TLS and auth); resolves stdout */
  ctl(...args: string[]): Promise<string>;
  /** SIGTERM, and wait for the exit */
  stop(): Promise<void>;
  /** SIGKILL, and wait for the exit */
  kill(): Promise<void>;
  /** start again on the same ports and data (or on an empty data dir: a new cluster) */
  start(options?: { wipe?: boolean }): Promise<void>;
  /** stop and remove the temp dir */
  cleanup(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startEtcd(options: { tls?: boolean; auth?: boolean } = {}): Promise<TestEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-etcd-'));
  let child: ChildProcess | undefined;
  try {
    const [clientPort, peerPort] = await freePorts(2);
    const tls = options.tls ? await makeTls(dir) : undefined;
    const scheme = tls ? 'https' : 'http';
    const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(dir, 'data');
    const args = [
      '--name=test',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=warn',
      ...(tls
        ? [
            `--cert-file=${join(dir, 'server.pem')}`,
            `--key-file=${join(dir, 'server.key')}`,
            `--trusted-ca-file=${tls.ca}`,
            '--client-cert-auth',
          ]
        : []),
    ];
    const auth = options.auth ? { user: 'root', password: `pw-${clientPort}` } : undefined;

    const ctlBase = [
      `--endpoints=${endpoint}`,
      '--dial-timeout=2s',
      '--command-timeout=5s',
      ...(tls ? [`--cacert=${tls.ca}`, `--cert=${tls.cert}`, `--key=${tls.key}`] : []),
    ];
    let authEnabled = false;
    const ctl = async (...ctlArgs: string[]): Promise<string> => {
      const credentials = authEnabled && auth ? [`--user=${auth.user}`, `--password=${auth.password}`] : [];
      const { stdout } = await run(ETCDCTL_BIN, [...ctlBase, ...credentials, ...ctlArgs], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      return stdout;
    };

    const launch = async () => {
      const log = openSync(join(dir, 'etcd.log'), 'a');
      const started = spawn(ETCD_BIN, args, { stdio: ['ignore', log, log] });
      closeSync(log);
      running.add(started);
      started.once('exit', () => running.delete(started));
      child = started;
      await waitReady(started, ctl, dir);
    };
    const halt = async (signal: NodeJS.Signals) => {
      const current = child;
      child = undefined;
      if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
      const exited = new Promise((resolve) => current.once('exit', resolve));
      current.kill(signal);
      await exited;
    };

    await launch();
    if (auth) {
      await ctl('user', 'add', auth.user, `--new-user-password=${auth.password}`);
      await ctl('user', 'grant-role', auth.user, 'root').catch(() => undefined);
      await ctl('auth', 'enable');
      authEnabled = true;
    }

    return {
      endpoint,
      hosts: endpoint,
      dir,
      ...(tls ? { tls } : {}),
      ...(auth ? { auth } : {}),
      connection: {
        hosts: endpoint,
        ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}),
        ...(auth ? { user: auth.user, password: auth.password } : {}),
      },
      ctl,
      stop: () => halt('SIGTERM'),
      kill: () => halt('SIGKILL'),
      start: async ({ wipe = false } = {}) => {
        await halt('SIGTERM');
        if (wipe) {
          await rm(dataDir, { recursive: true, force: true });
          // A new cluster starts without users or auth.
          authEnabled = false;
        }
        await launch();
      },
      cleanup: async () => {
        await halt('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child) {
      child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Until etcdctl gets an answer, for at most 10 s; fails at once if etcd exits. */
async function waitReady(child: ChildProcess, ctl: (...args: string[]) => Promise<string>, dir: string) {
  const deadline = Date.now() + 10_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}); see ${join(dir, 'etcd.log')}`);
    }
    try {
      // Any answer will do: with auth on, a permission error still proves etcd serves.
      await ctl('get', 'health-probe');
      return;
    } catch (error) {
      lastError = error;
      if (/permission denied|user name is empty|authentication/i.test(String((error as Error).message)))
        return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`etcd did not answer within 10 s: ${String(lastError)}`);
}

/** Ports the kernel just handed out and took back: free unless someone races us for them. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all short-lived. */
async function makeTls(dir: string): Promise<EtcdTls> {
  const file = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=checker test CA',
  ]);
  await writeFile(
    file('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await writeFile(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subject] of [
    ['server', '/CN=127.0.0.1'],
    ['client', '/CN=checker'],
  ] as const) {
    await run('openssl', [
      'req',
      ...ec,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      subject,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file(`${name}.pem`),
      '-days',
      '1',
      '-extfile',
      file(`${name}.ext`),
    ]);
  }
  return { ca: file('ca.pem'), cert: file('client.pem'), key: file('client.key') };
}
