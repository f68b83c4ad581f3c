// The contract between the health check and the ways of running a HEALTHCHECK command.
import type Dockerode from 'dockerode';
import type { DockerClient } from '../docker/docker-client.js';

export type RunMode = 'sidecar' | 'exec';

export interface CommandRun {
  /** the command's exit status; null when it did not finish (timeout, or it could not start) */
  exitCode: number | null;
  timedOut: boolean;
  /** tail of stdout+stderr */
  output: string;
  /**
   * Set when the command could not be run at all for a reason Docker gave (the sidecar's image
   * was removed, the sidecar cannot be created): the verdict is unhealthy, with this reason.
   */
  failure?: string;
}

/** A check Docker refused to run (the reason it gave): an unhealthy verdict, not a tool error. */
export function couldNotRun(failure: string): CommandRun {
  return { exitCode: null, timedOut: false, output: '', failure };
}

export interface RunOptions {
  timeoutMs: number;
  /** aborted when the tool is interrupted: the runner stops waiting and cleans up */
  signal?: AbortSignal;
}

export type CommandRunner = (
  docker: DockerClient,
  target: Dockerode.ContainerInspectInfo,
  argv: string[],
  options: RunOptions,
) => Promise<CommandRun>;

/** Resolves with 'timeout' after ms, or 'aborted' when the signal fires, whichever is first. */
export function deadline(
  ms: number,
  signal?: AbortSignal,
): { promise: Promise<'timeout' | 'aborted'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<'timeout' | 'aborted'>((resolve) => {
    if (signal?.aborted) return resolve('aborted');
    timer = setTimeout(() => resolve('timeout'), ms);
    onAbort = () => resolve('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return {
    promise,
    cancel() {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    },
  };
}

export class CheckInterrupted extends Error {
  constructor() {
    super('check interrupted');
    this.name = 'CheckInterrupted';
  }
}
