// The Docker adapter: the one door to Docker. Every call the tools make (inspect, list, events,
// the sidecar's create/start/wait/remove, exec, restart, remove) goes through a method here,
// and every failure comes out as one of our typed errors, translated in one place:
//
//   ContainerNotFound   404 for the container the call names (and only that container: a
//                       sidecar create's "no such image" is a DockerError, never "removed")
//   DockerUnreachable   socket refused/reset/missing, or no answer in time
//   DockerTlsError      the TLS handshake was refused (certificate, key, CA)
//   DockerError         Docker answered with another error status
//
// dockerode itself stays private to this module, so no caller can bypass the translation.
import { Readable, Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import { ContainerNotFound, DockerError, DockerTlsError, DockerUnreachable } from '../errors.js';
import { type DockerConnection, dockerConnectionFrom } from './connection.js';
import { loadDockerode } from './load-dockerode.js';

/** Socket-level failures: Docker is down, restarting, or the socket path is wrong. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** Node's codes for a TLS handshake refused on either side (OpenSSL's, and Node's ERR_TLS_*). */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/;

interface DockerodeError {
  statusCode?: number;
  code?: string;
  reason?: string;
  json?: { message?: string } | null;
  message?: string;
  name?: string;
}

/** The container named by the call is gone (or never was): the one meaning of "not found". */
export function isNotFound(error: unknown): error is ContainerNotFound {
  return error instanceof ContainerNotFound;
}

export function isUnreachable(error: unknown): boolean {
  return error instanceof DockerUnreachable;
}

/** Worth trying again later: Docker down or failing on its side (5xx). A 4xx stays so. */
export function isTransient(error: unknown): boolean {
  return (
    error instanceof DockerUnreachable || (error instanceof DockerError && (error.statusCode ?? 500) >= 500)
  );
}

/** What a container-creating call takes (Docker's create body, as dockerode types it). */
export type ContainerSpec = Dockerode.ContainerCreateOptions;

export interface ExecHandle {
  /** resolves once the command has exited (or the stream broke) */
  finished: Promise<void>;
  /** exit code, running state and host pid of the exec'd process */
  inspect(): Promise<{ exitCode: number | null; running: boolean; pid: number }>;
  /** stops reading its output */
  close(): void;
}

/** The variables docker-modem reads for defaults of its own (see the constructor). */
const MODEM_ENV = [
  'DOCKER_HOST',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
  'DOCKER_CLIENT_TIMEOUT',
  'DOCKER_PATH_PREFIX',
];

/** A hijacked attach stream: write to the container's stdin, read its stdout+stderr. */
export interface AttachHandle {
  write(data: Buffer): boolean;
  /** ends when the stream ends or breaks */
  closed: Promise<void>;
  close(): void;
}

export class DockerClient {
  readonly control: string;
  readonly #api: Dockerode;

  constructor(connection: DockerConnection) {
    this.control = connection.control;
    const { control: _control, ...options } = connection;
    const DockerodeClass = loadDockerode();
    // docker-modem always merges defaults read from DOCKER_HOST, DOCKER_CERT_PATH and the like
    // into what it is given, and a host from DOCKER_HOST beats our socket path: the endpoint
    // chosen by --control (connection.ts, which read those variables already) must be the
    // only one. So it is built with them out of sight.
    const hidden = MODEM_ENV.map((name) => [name, process.env[name]] as const);
    for (const [name] of hidden) delete process.env[name];
    try {
      this.#api = new DockerodeClass(options);
    } catch (error) {
      throw new DockerTlsError(this.control, (error as Error).message, { cause: error });
    } finally {
      for (const [name, value] of hidden) if (value !== undefined) process.env[name] = value;
    }
  }

  /** `source`: where `control` came from, for messages (`--control`, `DOCKER_HOST`). */
  static fromControl(
    control: string,
    env?: Record<string, string | undefined>,
    source?: string,
  ): DockerClient {
    return new DockerClient(dockerConnectionFrom(control, env, source));
  }

  /**
   * Turns a dockerode failure into one of our typed errors. `container` is the container the
   * call names: only its 404 becomes ContainerNotFound.
   */
  translate(error: unknown, container?: string): Error {
    if (
      error instanceof DockerUnreachable ||
      error instanceof ContainerNotFound ||
      error instanceof DockerError ||
      error instanceof DockerTlsError
    ) {
      return error;
    }
    const e = (error ?? {}) as DockerodeError;
    if (e.code !== undefined && TLS_CODE.test(e.code))
      return new DockerTlsError(this.control, `${e.code}: ${e.message ?? ''}`.trim(), { cause: error });
    if (e.code !== undefined && UNREACHABLE_CODES.has(e.code))
      return new DockerUnreachable(this.control, e.message ?? e.code, { cause: error });
    if (e.name === 'AbortError' || e.name === 'TimeoutError')
      return new DockerUnreachable(this.control, 'no answer in time', { cause: error });
    if (e.statusCode === 404 && container !== undefined) return new ContainerNotFound(container);
    if (e.statusCode !== undefined) {
      const detail = (e.json?.message ?? e.reason ?? e.message ?? `status ${e.statusCode}`).trim();
      return new DockerError(e.statusCode, `${detail} (HTTP ${e.statusCode})`, { cause: error });
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  private async call<T>(fn: () => Promise<T>, container?: string): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.translate(error, container);
    }
  }

  inspectContainer(ref: string, signal?: AbortSignal): Promise<Dockerode.ContainerInspectInfo> {
    return this.call(() => this.#api.getContainer(ref).inspect({ abortSignal: signal } as object), ref);
  }

  /** undefined when the image is gone (removed after the container was created). */
  async inspectImage(id: string): Promise<Dockerode.ImageInspectInfo | undefined> {
    try {
      return await this.call(() => this.#api.getImage(id).inspect());
    } catch (error) {
      if (error instanceof DockerError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  listContainers(options: { all?: boolean; filters?: Record<string, string[]> } = {}) {
    return this.call(() => this.#api.listContainers(options));
  }

  /** Resolves when Docker answers a ping within `timeoutMs`; a starting daemon accepts
   *  connections before it can serve requests, so the timeout matters. */
  async ping(timeoutMs = 2000): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await (this.#api.ping as (options: object) => Promise<unknown>).call(this.#api, {
        abortSignal: signal,
      });
    } catch (error) {
      if (signal.aborted) throw new DockerUnreachable(this.control, `no answer within ${timeoutMs} ms`);
      throw this.translate(error);
    }
  }

  /** Docker's event stream (JSON lines) for the query: `filters`, `since`, `until`. */
  events(query: { filters: Record<string, string[]>; since?: string; until?: string }) {
    // `since` is "seconds.nanoseconds" text, which Docker takes and dockerode's types do not know.
    return this.call(() => this.#api.getEvents(query as unknown as Dockerode.GetEventsOptions));
  }

  /** Past events only: the stream ends at `until`. Resolves with the raw JSON lines. */
  async pastEvents(query: { filters: Record<string, string[]>; since: string; until: string }) {
    const stream = await this.events(query);
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', (error) => reject(this.translate(error)));
    });
    return Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean);
  }

  /**
   * Creates a container; resolves with its id. A missing image is a DockerError (404), not
   * ContainerNotFound: the container that would not be created was never "removed".
   */
  async createContainer(spec: ContainerSpec): Promise<string> {
    const container = await this.call(() => this.#api.createContainer(spec));
    return container.id;
  }

  startContainer(id: string): Promise<void> {
    return this.call(() => this.#api.getContainer(id).start(), id);
  }

  /** Resolves with the exit status once the container has stopped. */
  async waitContainer(id: string): Promise<number> {
    const result = (await this.call(() => this.#api.getContainer(id).wait(), id)) as { StatusCode: number };
    return result.StatusCode;
  }

  /** stdout and stderr of a container (not followed), demultiplexed, as one buffer. */
  async containerOutput(id: string): Promise<Buffer> {
    const raw = (await this.call(
      () => this.#api.getContainer(id).logs({ stdout: true, stderr: true, follow: false }),
      id,
    )) as unknown as Buffer | string;
    const source = Readable.from([Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))]);
    return this.demultiplexed(source);
  }

  /**
   * Removes a container (and its anonymous volumes). 'gone' when it was not there (or its
   * removal was already under way: Docker finishes it), so a caller's retry is idempotent.
   */
  async removeContainer(id: string, options: { force?: boolean } = {}): Promise<'removed' | 'gone'> {
    try {
      await this.call(
        () => this.#api.getContainer(id).remove({ force: options.force ?? false, v: true }),
        id,
      );
      return 'removed';
    } catch (error) {
      if (error instanceof ContainerNotFound) return 'gone';
      if (error instanceof DockerError && error.statusCode === 409 && /in progress/i.test(error.message))
        return 'gone';
      throw error;
    }
  }

  /** Stops (with `timeoutSeconds` before SIGKILL) and starts the container again. */
  restartContainer(id: string, timeoutSeconds: number): Promise<void> {
    return this.call(() => this.#api.getContainer(id).restart({ t: timeoutSeconds }), id);
  }

  killContainer(id: string, signal = 'SIGKILL'): Promise<void> {
    return this.call(() => this.#api.getContainer(id).kill({ signal }), id);
  }

  /** Unpacks a tar archive into the container at `path` (works before it is started). */
  putArchive(id: string, tar: Buffer, path: string): Promise<void> {
    return this.call(async () => {
      await this.#api.getContainer(id).putArchive(tar, { path });
    }, id);
  }

  /**
   * Starts `argv` inside a running container with `docker exec`; its output (stdout and
   * stderr, demultiplexed) goes to `sink`.
   */
  async exec(id: string, argv: string[], sink: (chunk: Buffer) => void): Promise<ExecHandle> {
    const exec = await this.call(
      () => this.#api.getContainer(id).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true }),
      id,
    );
    const stream = (await this.call(
      () => exec.start({ hijack: true, stdin: false }),
      id,
    )) as unknown as NodeJS.ReadWriteStream & { destroy(): void };
    this.#api.modem.demuxStream(stream, writableOf(sink), writableOf(sink));
    const finished = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    return {
      finished,
      inspect: async () => {
        const info = (await this.call(() => exec.inspect(), id)) as {
          ExitCode?: number | null;
          Running?: boolean;
          Pid?: number;
        };
        return { exitCode: info.ExitCode ?? null, running: Boolean(info.Running), pid: info.Pid ?? 0 };
      },
      close: () => stream.destroy(),
    };
  }

  /** The daemon's CPU architecture, as Docker says it (`amd64`, `arm64`, …). */
  async daemonArch(): Promise<string> {
    const version = await this.call(() => this.#api.version());
    return version.Arch;
  }

  /**
   * Attaches to a container's stdin, stdout and stderr (one hijacked connection); its stdout
   * goes to `sink`, its stderr to `errors` (demultiplexed).
   */
  async attach(
    id: string,
    sink: (chunk: Buffer) => void,
    errors: (chunk: Buffer) => void,
  ): Promise<AttachHandle> {
    const stream = (await this.call(
      () =>
        this.#api
          .getContainer(id)
          .attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
      id,
    )) as unknown as NodeJS.ReadWriteStream & { destroy(): void; writable: boolean };
    this.#api.modem.demuxStream(stream, writableOf(sink), writableOf(errors));
    const closed = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    return {
      write: (data) => stream.writable && stream.write(data),
      closed,
      close: () => stream.destroy(),
    };
  }

  private demultiplexed(source: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const sink = writableOf((chunk) => chunks.push(chunk));
    return new Promise((resolve) => {
      source.on('end', () => setImmediate(() => resolve(Buffer.concat(chunks))));
      source.on('error', () => resolve(Buffer.concat(chunks)));
      this.#api.modem.demuxStream(source, sink, sink);
    });
  }
}

function writableOf(sink: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      sink(chunk);
      callback();
    },
  });
}
