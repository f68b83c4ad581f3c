// How the tools reach etcd: --etcd-host/-ca/-cert/-key/-user/-password turned into the etcd3
// client's options, with the reconnection tuned so a registry outage ends for us within about
// a second of etcd answering again. Reads the certificate files; creates no client.
import { readFileSync } from 'node:fs';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  retry,
} from 'cockatiel';
import { type IOptions, isRecoverableError } from 'etcd3';
import { BadOption } from '../errors.js';
import { parseEtcdEndpoints } from './endpoints.js';

export { DEFAULT_ETCD_PORT } from './endpoints.js';

export interface EtcdConnectionInput {
  /** comma-separated endpoints: `h:p`, `h`, `http://h:p`, `https://h:p` */
  hosts: string;
  /** PEM files */
  ca?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  /** bound on every unary call, ms (streams are not bounded); default 5000 */
  callTimeoutMs?: number;
}

/**
 * grpc-js backs a failed connection off up to 120 s, so a client that saw etcd go away could
 * sit out two minutes after etcd came back. Capped at 1 s: an etcd on loopback or a LAN costs
 * nothing to knock on once a second.
 */
export const GRPC_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // Notice a connection that died silently (host gone, no RST) while a call waits on it.
  // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time) and pings
  // without a call in flight, so: 10 s, and only with calls.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
} as const;

/**
 * etcd3 1.1.2 guards each host with a circuit breaker that opens for 5 s after 3 failures, and
 * retries each call 3 times at once. With one etcd, an open breaker only delays noticing its
 * return, so it opens for 0.5 s (enough to skip a dead member of a cluster); the global retry
 * tries each member once more, and our own loops own the backoff. Watch streams (used to see
 * records change) reconnect within 1 s instead of the 30 s default.
 */
function faultHandling(hostCount: number): NonNullable<IOptions['faultHandling']> {
  return {
    host: () =>
      circuitBreaker(handleWhen(isRecoverableError), {
        halfOpenAfter: 500,
        breaker: new ConsecutiveBreaker(3),
      }),
    global: retry(handleWhen(isRecoverableError), { maxAttempts: hostCount }),
    // etcd3 types this as a backoff instance but uses it as a factory (`.next()` per
    // reconnect), and its own default is `new ExponentialBackoff()`: the same here.
    watchBackoff: new ExponentialBackoff({
      initialDelay: 100,
      maxDelay: 1000,
    }) as unknown as IBackoff<unknown>,
  };
}

/** etcd3 client options from the tools' flags; throws `BadOption` naming the flag to fix. */
export function etcdOptionsFrom(
  input: EtcdConnectionInput,
  readFile: (path: string) => Buffer = readFileSync,
): IOptions {
  // An empty MON_ETCD_CA= and the like mean "none", as an unset variable does.
  const [ca, cert, key, user, password] = [input.ca, input.cert, input.key, input.user, input.password].map(
    (value) => (value === '' ? undefined : value),
  );
  if (cert !== undefined && key === undefined) {
    throw new BadOption(`--etcd-cert ${cert} needs its private key: give --etcd-key too`);
  }
  if (key !== undefined && cert === undefined) {
    throw new BadOption(`--etcd-key ${key} needs its certificate: give --etcd-cert too`);
  }
  if ((user === undefined) !== (password === undefined)) {
    throw new BadOption(
      user === undefined
        ? '--etcd-password was given without --etcd-user: give both, or neither'
        : `--etcd-user ${user} was given without --etcd-password: give both, or neither`,
    );
  }

  let endpoints: ReturnType<typeof parseEtcdEndpoints>;
  try {
    endpoints = parseEtcdEndpoints(input.hosts);
  } catch (error) {
    throw new BadOption(`--etcd-host: ${(error as Error).message}`);
  }
  const tlsMaterial = ca !== undefined || cert !== undefined;
  const tls = tlsMaterial || endpoints.some((e) => e.scheme === 'https');
  const plain = endpoints.find((e) => e.scheme === 'http');
  if (tls && plain) {
    throw new BadOption(
      `--etcd-host ${plain.text} is http:// but ${tlsMaterial ? 'TLS files were given' : 'other endpoints are https://'}: use https:// for every endpoint, or drop the TLS options`,
    );
  }

  const options: IOptions = {
    hosts: endpoints.map((e) => `${tls ? 'https' : 'http'}://${e.address}`),
    grpcOptions: { ...GRPC_OPTIONS },
    faultHandling: faultHandling(endpoints.length),
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + (input.callTimeoutMs ?? 5000) },
  };
  if (tlsMaterial) {
    options.credentials = {
      // Without --etcd-ca grpc-js verifies the server against the system's CAs; etcd3's type
      // insists on a root, its code does not.
      rootCertificate: (ca === undefined ? undefined : readPem(readFile, '--etcd-ca', ca)) as Buffer,
      ...(cert !== undefined && key !== undefined
        ? {
            certChain: readPem(readFile, '--etcd-cert', cert),
            privateKey: readPem(readFile, '--etcd-key', key),
          }
        : {}),
    };
  }
  if (user !== undefined && password !== undefined) {
    options.auth = { username: user, password };
  }
  return options;
}

function readPem(readFile: (path: string) => Buffer, flag: string, path: string): Buffer {
  try {
    return readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new BadOption(`${flag} ${path} cannot be read (${reason}): give the path of a readable PEM file`);
  }
}
