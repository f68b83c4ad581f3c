// Where Docker is: --control / MON_CONTROL, else DOCKER_HOST, else the local socket; TLS as
// the Docker CLI does it (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, port 2376). Pure apart from
// reading the certificate files it is pointed at.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BadOption, DockerTlsError } from '../errors.js';

export const DEFAULT_DOCKER_CONTROL = 'unix:///var/run/docker.sock';

export interface DockerConnection {
  /** the endpoint as the user gave it, for messages */
  control: string;
  socketPath?: string;
  host?: string;
  port?: number;
  protocol?: 'http' | 'https';
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

type Env = Record<string, string | undefined>;

/** The endpoint chosen by precedence: flag (already merged with MON_CONTROL by oclif), DOCKER_HOST, default. */
export function dockerControlFrom(flag: string | undefined, env: Env = process.env): string {
  return flag?.trim() || env.DOCKER_HOST?.trim() || DEFAULT_DOCKER_CONTROL;
}

/** Where the endpoint came from, for messages: the flag (or MON_CONTROL), or DOCKER_HOST. */
export function dockerControlSource(flag: string | undefined, env: Env = process.env): string {
  if (flag?.trim()) return '--control';
  return env.DOCKER_HOST?.trim() ? 'DOCKER_HOST' : '--control';
}

type Endpoint = { socketPath: string } | { scheme: 'tcp' | 'http' | 'https'; host: string; port?: number };

/** The endpoint's shape, checked; throws an Error saying what is wrong (the caller names the source). */
export function parseDockerEndpoint(control: string): Endpoint {
  if (control.startsWith('unix://')) {
    const socketPath = control.slice('unix://'.length);
    if (!socketPath.startsWith('/'))
      throw new Error(
        `a unix socket needs an absolute path, e.g. unix:///var/run/docker.sock, got "${control}"`,
      );
    return { socketPath };
  }
  if (control.startsWith('/')) return { socketPath: control };
  const match = /^(tcp|http|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(control);
  if (!match) throw new Error(`expected unix:///path/to/docker.sock or tcp://host:port, got "${control}"`);
  const [, scheme, host, port] = match;
  return {
    scheme: scheme as 'tcp' | 'http' | 'https',
    host: host!.replace(/^\[|\]$/g, ''),
    port: port ? Number(port) : undefined,
  };
}

export function dockerConnectionFrom(
  control: string,
  env: Env = process.env,
  source = '--control',
): DockerConnection {
  let endpoint: Endpoint;
  try {
    endpoint = parseDockerEndpoint(control);
  } catch (error) {
    throw new BadOption(`${source}: ${(error as Error).message}`);
  }
  if ('socketPath' in endpoint) return { control, socketPath: endpoint.socketPath };
  const { scheme, host, port: givenPort } = endpoint;
  const rawPort = givenPort;
  const port = rawPort ?? (scheme === 'https' ? 2376 : 2375);
  const tls = scheme === 'https' || Boolean(env.DOCKER_TLS_VERIFY) || port === 2376;
  if (!tls) return { control, host, port, protocol: 'http' };
  const certPath = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  // The Docker CLI refuses to go on without its certificate files; so do we, naming the file.
  const read = (file: string) => {
    const path = join(certPath, file);
    try {
      return readFileSync(path);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new DockerTlsError(control, `cannot read ${path} (${reason})`, { cause: error });
    }
  };
  return {
    control,
    host,
    port,
    protocol: 'https',
    ca: read('ca.pem'),
    cert: read('cert.pem'),
    key: read('key.pem'),
  };
}
