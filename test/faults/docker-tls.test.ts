// SPEC §6, "Docker TLS files missing or refused → exit 5, one line naming the file or the TLS
// error" (issue 9: a missing cert dir was skipped silently and the TLS failure ended as exit
// 70, "a bug", with a stack trace). `check` is pointed at a tcp:// endpoint with TLS, as the
// Docker CLI would be: with DOCKER_CERT_PATH at a dir that does not exist, at a dir missing one
// of the three files, and at an endpoint of the test's own (a loopback TLS server, openssl
// s_server) where the handshake fails either way: its self-signed certificate not trusted by
// the client, or the client's certificate refused by it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildToolsIfMissing, runTool, type ToolResult } from '../support/cli.js';
import { waitFor } from '../support/images.js';

const openssl = promisify(execFile);

let dir = '';
/** server.pem: a self-signed certificate for 127.0.0.1, the TLS server's, trusted by nobody else */
let serverPem = '';
/** DOCKER_CERT_PATH with a CA, and a client certificate signed by it, that the server does not know */
let strangerCerts = '';
/** DOCKER_CERT_PATH trusting the server (its own certificate as ca.pem), with the stranger's client pair */
let trustingCerts = '';

async function selfSigned(prefix: string, subject: string, extra: string[] = []) {
  const key = join(dir, `${prefix}.key`);
  const cert = join(dir, `${prefix}.pem`);
  await openssl('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    subject,
    ...extra,
  ]);
  return { key, cert };
}

beforeAll(async () => {
  await buildToolsIfMissing();
  dir = await mkdtemp(join(tmpdir(), 'checker-faults-tls-'));
  const server = await selfSigned('server', '/CN=127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1']);
  serverPem = await readFile(server.cert, 'utf8');

  // A CA of the client's own and a client certificate it signed.
  const ca = await selfSigned('client-ca', '/CN=checker faults client CA');
  const clientKey = join(dir, 'client.key');
  const clientCsr = join(dir, 'client.csr');
  const clientCert = join(dir, 'client.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('openssl', ['req', ...ec, '-keyout', clientKey, '-out', clientCsr, '-subj', '/CN=checker']);
  await openssl('openssl', [
    'x509',
    '-req',
    '-in',
    clientCsr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    clientCert,
    '-days',
    '1',
  ]);
  const certDir = async (name: string, caPem: string) => {
    const path = join(dir, name);
    await mkdir(path);
    await writeFile(join(path, 'ca.pem'), caPem);
    await writeFile(join(path, 'cert.pem'), await readFile(clientCert));
    await writeFile(join(path, 'key.pem'), await readFile(clientKey));
    return path;
  };
  strangerCerts = await certDir('stranger', await readFile(ca.cert, 'utf8'));
  trustingCerts = await certDir('trusting', serverPem);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `check` against a TLS endpoint, the certificates taken from DOCKER_CERT_PATH as the Docker CLI does. */
const checkOverTls = (control: string, certPath: string): Promise<ToolResult> =>
  runTool('check', ['--control', control, 'any-container'], {
    timeoutMs: 30_000,
    env: { DOCKER_HOST: undefined, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath },
  });

/** Exit 5, nothing on stdout, and exactly one line on stderr: no stack trace, no "bug". */
function expectOneLineExit5(r: ToolResult): string {
  const shown = `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.code, shown).toBe(5);
  const lines = r.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, shown).toHaveLength(1);
  expect(r.stdout.trim(), shown).toBe('');
  expect(lines[0], shown).not.toMatch(/a bug in checker|\bat .*\.js:\d+/);
  console.log(`stderr: ${lines[0]}`);
  return lines[0]!;
}

describe('check: Docker over TLS with certificate files missing', () => {
  it('DOCKER_CERT_PATH names a dir that does not exist: exit 5, one line naming the file', async () => {
    const missing = join(dir, 'no-such-dir');
    const line = expectOneLineExit5(await checkOverTls('tcp://127.0.0.1:2376', missing));
    expect(line).toContain(join(missing, 'ca.pem'));
  });

  it('DOCKER_CERT_PATH lacks cert.pem: exit 5, one line naming that file', async () => {
    const partial = join(dir, 'partial');
    await mkdir(partial);
    await writeFile(join(partial, 'ca.pem'), serverPem);
    await writeFile(join(partial, 'key.pem'), await readFile(join(strangerCerts, 'key.pem')));
    const line = expectOneLineExit5(await checkOverTls('tcp://127.0.0.1:2376', partial));
    expect(line).toContain(join(partial, 'cert.pem'));
  });
});

describe('check: a TLS endpoint that refuses the handshake', () => {
  let server: ChildProcess | undefined;
  let control = '';

  beforeAll(async () => {
    // OpenSSL's own server, as strict as dockerd with --tlsverify: it trusts only itself, so a
    // client certificate from any other CA is refused in the handshake with an alert, as Go's
    // TLS stack does it. (Node's TLS server resets the connection instead of alerting, which is
    // not what a daemon does.)
    const port = await freePort();
    server = spawn(
      'openssl',
      [
        's_server',
        '-accept',
        `127.0.0.1:${port}`,
        '-cert',
        join(dir, 'server.pem'),
        '-key',
        join(dir, 'server.key'),
        '-CAfile',
        join(dir, 'server.pem'),
        '-Verify',
        '1',
        '-verify_return_error',
        '-www',
        '-quiet',
      ],
      { stdio: 'ignore' },
    );
    control = `tcp://127.0.0.1:${port}`;
    await waitFor(() => canConnect(port), { timeoutMs: 10_000, what: 'openssl s_server to listen' });
  });

  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
  });

  it("the server's self-signed certificate is not trusted by the client: exit 5, one line naming the TLS error", async () => {
    const line = expectOneLineExit5(await checkOverTls(control, strangerCerts));
    expect(line).toMatch(/TLS/);
    expect(line).toMatch(/self[- ]signed|SELF_SIGNED/i);
  });

  it("the client's certificate is not trusted by the server: exit 5, one line naming the TLS error", async () => {
    const line = expectOneLineExit5(await checkOverTls(control, trustingCerts));
    expect(line).toMatch(/TLS/);
    // The server's alert: "unknown ca" (OpenSSL), "bad certificate" (Go).
    expect(line).toMatch(/ALERT|alert/);
  });
});

/** A loopback port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
