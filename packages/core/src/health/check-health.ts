// One health verdict for one container (SPEC §2), shared by `check` and `monitor`:
//   not running                    → unhealthy
//   HEALTHCHECK env (non-empty)    → run it (sidecar or exec) with the container's IP appended
//   Docker's own health status     → healthy / unhealthy / starting (optionally waited out)
//   neither                        → no check defined
import type Dockerode from 'dockerode';
import { sleep } from '../backoff.js';
import { containerIpOf } from '../docker/container-ip.js';
import { type DockerClient, isNotFound } from '../docker/docker-client.js';
import { ContainerNotFound, ExitStatus, UserError } from '../errors.js';
import { envValue, healthCommandOf, shellSyntaxWarning } from './container-env.js';
import { runWithExec } from './exec-runner.js';
import { CheckInterrupted, type CommandRunner, type RunMode } from './runner.js';
import { runInSidecar } from './sidecar-runner.js';

export type HealthSource = 'env' | 'docker' | 'none';
export type Verdict = 'healthy' | 'unhealthy' | 'no-check';

export interface HealthResult {
  container: { id: string; name: string };
  verdict: Verdict;
  source: HealthSource;
  /** what decided it: "exit 0", "timeout after 10s", "unhealthy", "starting", "not running (exited)" */
  status: string;
  /** tail of the command's output, or Docker's last health log entry */
  output: string;
  durationMs: number;
  /** the container as inspected for this check (the monitor builds its record from it) */
  inspected: Dockerode.ContainerInspectInfo;
}

export interface HealthCheckOptions {
  mode: RunMode;
  timeoutMs: number;
  /** how long to wait while Docker's health status is `starting`; 0 = do not wait */
  waitMs?: number;
  signal?: AbortSignal;
  /** called before the command runs, for debug logs */
  onRun?: (argv: string[]) => void;
  /** runs the command instead of the mode's default runner (the monitor's long-lived sidecar) */
  runner?: CommandRunner;
  /** told what is wrong with the container's HEALTHCHECK that it still runs (shell syntax) */
  onWarning?: (message: string) => void;
}

const RUNNERS: Record<RunMode, CommandRunner> = { sidecar: runInSidecar, exec: runWithExec };
const WAIT_POLL_MS = 250;

export const exitStatusOfVerdict = (verdict: Verdict): number =>
  verdict === 'healthy'
    ? ExitStatus.healthy
    : verdict === 'unhealthy'
      ? ExitStatus.unhealthy
      : ExitStatus.noCheckDefined;

/** `ref` is a name, id or unique id prefix, or an already inspected container. */
export async function checkHealth(
  docker: DockerClient,
  ref: string | Dockerode.ContainerInspectInfo,
  options: HealthCheckOptions,
): Promise<HealthResult> {
  const started = performance.now();
  const inspected = typeof ref === 'string' ? await docker.inspectContainer(ref, options.signal) : ref;
  const result = (
    partial: Omit<HealthResult, 'container' | 'durationMs' | 'inspected'>,
    info = inspected,
  ) => ({
    container: { id: info.Id, name: info.Name },
    durationMs: Math.round(performance.now() - started),
    inspected: info,
    ...partial,
  });

  const notRunning = notRunningStatus(inspected);
  if (notRunning)
    return result({ verdict: 'unhealthy', source: sourceOf(inspected), status: notRunning, output: '' });

  const words = healthCommandOf(inspected.Config?.Env);
  if (words) {
    const shellSyntax = shellSyntaxWarning(envValue(inspected.Config?.Env, 'HEALTHCHECK') ?? '');
    if (shellSyntax) options.onWarning?.(shellSyntax);
    const argv = [...words, containerIpOf(inspected)];
    options.onRun?.(argv);
    try {
      const run = await (options.runner ?? RUNNERS[options.mode])(docker, inspected, argv, options);
      // A sidecar lives on in the namespace of a target that stopped (or was removed) while
      // the command ran: its answer says nothing about a container that is gone. (An exec'd
      // command dies with its container, so exec needs no second look.)
      if (options.mode === 'sidecar') {
        const after = await reinspect(docker, inspected.Id, undefined);
        const stoppedMeanwhile = notRunningStatus(after);
        if (stoppedMeanwhile) {
          return result(
            { verdict: 'unhealthy', source: 'env', status: stoppedMeanwhile, output: run.output },
            after,
          );
        }
      }
      if (run.failure !== undefined) {
        return result({ verdict: 'unhealthy', source: 'env', status: run.failure, output: run.output });
      }
      if (run.timedOut) {
        return result({
          verdict: 'unhealthy',
          source: 'env',
          status: `timeout after ${options.timeoutMs / 1000}s`,
          output: run.output,
        });
      }
      return result({
        verdict: run.exitCode === 0 ? 'healthy' : 'unhealthy',
        source: 'env',
        status: `exit ${run.exitCode}`,
        output: run.output,
      });
    } catch (error) {
      if (
        error instanceof CheckInterrupted ||
        (error instanceof UserError &&
          !(error instanceof ContainerNotFound) &&
          error.exitStatus === ExitStatus.usage)
      )
        throw error;
      // The container may have stopped or vanished while the command was being set up.
      const now = await reinspect(docker, inspected.Id, error);
      const stopped = notRunningStatus(now);
      if (stopped) return result({ verdict: 'unhealthy', source: 'env', status: stopped, output: '' }, now);
      // Something else than the target went missing (a sidecar removed under the check): the
      // check did not run, which is unhealthy, never "the container was removed".
      if (error instanceof ContainerNotFound)
        return result(
          { verdict: 'unhealthy', source: 'env', status: `check did not run: ${error.message}`, output: '' },
          now,
        );
      throw error;
    }
  }

  let health = inspected.State?.Health;
  let latest = inspected;
  if (health?.Status) {
    const deadlineAt = started + (options.waitMs ?? 0);
    while (
      health?.Status === 'starting' &&
      performance.now() + WAIT_POLL_MS <= deadlineAt &&
      !options.signal?.aborted
    ) {
      await sleep(WAIT_POLL_MS, options.signal);
      latest = await docker.inspectContainer(inspected.Id, options.signal);
      const stopped = notRunningStatus(latest);
      if (stopped)
        return result({ verdict: 'unhealthy', source: 'docker', status: stopped, output: '' }, latest);
      health = latest.State?.Health;
    }
    const status = health?.Status ?? 'none';
    const lastLog = health?.Log?.at(-1)?.Output?.trim() ?? '';
    return result(
      { verdict: status === 'healthy' ? 'healthy' : 'unhealthy', source: 'docker', status, output: lastLog },
      latest,
    );
  }

  return result({ verdict: 'no-check', source: 'none', status: 'no health check defined', output: '' });
}

function sourceOf(info: Dockerode.ContainerInspectInfo): HealthSource {
  if (healthCommandOf(info.Config?.Env)) return 'env';
  return info.State?.Health?.Status ? 'docker' : 'none';
}

/** undefined while the container runs; otherwise why it does not count as running. */
export function notRunningStatus(info: Dockerode.ContainerInspectInfo): string | undefined {
  const state = info.State;
  if (!state?.Running) return `not running (${state?.Status ?? 'unknown'})`;
  if (state.Paused) return 'not running (paused)';
  if (state.Restarting) return 'not running (restarting)';
  return undefined;
}

/** The container now; a removed one is ContainerNotFound. `cause`, when given, is rethrown for other failures. */
async function reinspect(docker: DockerClient, id: string, cause: unknown) {
  try {
    return await docker.inspectContainer(id);
  } catch (error) {
    if (isNotFound(error)) throw new ContainerNotFound(id);
    throw cause ?? error;
  }
}
