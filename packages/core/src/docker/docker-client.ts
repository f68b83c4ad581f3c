// The Docker adapter: one dockerode client per tool process, and the translation of its
// failures into the errors a user can act on (ContainerNotFound, DockerUnreachable,
// DockerError). Everything in core that talks to Docker goes through here.
import type Dockerode from 'dockerode';
import { ContainerNotFound, DockerError, DockerUnreachable } from '../errors.js';
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

interface DockerodeError {
  statusCode?: number;
  code?: string;
  reason?: string;
  json?: { message?: string } | null;
  message?: string;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ContainerNotFound || (error as DockerodeError | undefined)?.statusCode === 404;
}

export function isUnreachable(error: unknown): boolean {
  if (error instanceof DockerUnreachable) return true;
  const code = (error as DockerodeError | undefined)?.code;
  return code !== undefined && UNREACHABLE_CODES.has(code);
}

export class DockerClient {
  readonly api: Dockerode;
  readonly control: string;

  constructor(connection: DockerConnection) {
    this.control = connection.control;
    const { control: _control, ...options } = connection;
    const DockerodeClass = loadDockerode();
    this.api = new DockerodeClass(options);
  }

  static fromControl(control: string, env?: Record<string, string | undefined>): DockerClient {
    return new DockerClient(dockerConnectionFrom(control, env));
  }

  /** Turns a dockerode failure into one of our typed errors; `subject` names the container for 404s. */
  translate(error: unknown, subject?: string): Error {
    if (
      error instanceof DockerUnreachable ||
      error instanceof ContainerNotFound ||
      error instanceof DockerError
    ) {
      return error;
    }
    const e = (error ?? {}) as DockerodeError;
    if (isUnreachable(e))
      return new DockerUnreachable(this.control, e.message ?? String(e.code), { cause: error });
    if (e.statusCode === 404 && subject !== undefined) return new ContainerNotFound(subject);
    if (e.statusCode !== undefined) {
      const detail = e.json?.message ?? e.reason ?? e.message ?? `status ${e.statusCode}`;
      return new DockerError(e.statusCode, `${detail} (HTTP ${e.statusCode})`, { cause: error });
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  async inspectContainer(ref: string, signal?: AbortSignal): Promise<Dockerode.ContainerInspectInfo> {
    try {
      return await this.api.getContainer(ref).inspect({ abortSignal: signal } as object);
    } catch (error) {
      throw this.translate(error, ref);
    }
  }

  /** undefined when the image is gone (removed after the container was created). */
  async inspectImage(id: string): Promise<Dockerode.ImageInspectInfo | undefined> {
    try {
      return await this.api.getImage(id).inspect();
    } catch (error) {
      if ((error as DockerodeError).statusCode === 404) return undefined;
      throw this.translate(error);
    }
  }

  async listRunningContainers(): Promise<Dockerode.ContainerInfo[]> {
    try {
      return await this.api.listContainers({ filters: { status: ['running'] } });
    } catch (error) {
      throw this.translate(error);
    }
  }

  /** Resolves when Docker answers a ping within `timeoutMs`; a starting daemon accepts
   *  connections before it can serve requests, so the timeout matters. */
  async ping(timeoutMs = 2000): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await (this.api.ping as (options: object) => Promise<unknown>).call(this.api, { abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw new DockerUnreachable(this.control, `no answer within ${timeoutMs} ms`);
      throw this.translate(error);
    }
  }
}
