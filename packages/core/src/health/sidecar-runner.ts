// Runs the HEALTHCHECK command in a throw-away container made from the target's own image
// (by image id, so a retag cannot change what runs), inside the target's network namespace.
// The sidecar is removed in every case: success, failure, timeout, interruption, and even
// when the create call's answer never arrives (it is named by us, so it is found by name).
// A removal that fails is retried; one that still fails is left to the listener's sweep,
// which removes sidecars older than their timeout (the labels say which and when).
import type Dockerode from 'dockerode';
import type { DockerClient } from '../docker/docker-client.js';
import { isTransient } from '../docker/docker-client.js';
import { retryDockerCall } from '../docker/retry.js';
import { DockerError } from '../errors.js';
import { tailOf } from './command-output.js';
import {
  CheckInterrupted,
  type CommandRun,
  type CommandRunner,
  couldNotRun,
  deadline,
  type RunOptions,
} from './runner.js';
import { sidecarLabels, uniqueSuffix } from './sidecar-labels.js';

export const runInSidecar: CommandRunner = async (
  docker: DockerClient,
  target: Dockerode.ContainerInspectInfo,
  argv: string[],
  { timeoutMs, signal }: RunOptions,
): Promise<CommandRun> => {
  const name = `checker-sidecar-${target.Id.slice(0, 12)}-${uniqueSuffix()}`;
  let created = false;
  try {
    if (signal?.aborted) throw new CheckInterrupted();
    try {
      await docker.createContainer({
        name,
        Image: target.Image,
        // Entrypoint replaces the image's own and, being set, keeps Docker from appending the
        // image's CMD: the words run exactly as given.
        Entrypoint: argv,
        Cmd: [],
        Env: target.Config?.Env ?? [],
        User: target.Config?.User || undefined,
        WorkingDir: target.Config?.WorkingDir || undefined,
        Labels: sidecarLabels(target.Id, timeoutMs, 'oneshot'),
        // Not the image's HEALTHCHECK instruction: dockerd would run it in the sidecar too.
        Healthcheck: { Test: ['NONE'] },
        HostConfig: {
          NetworkMode: `container:${target.Id}`,
          // Output is read back through the log driver, whatever the daemon's default is.
          LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
        },
      });
    } catch (error) {
      // Docker answered (the image was removed, a name clash, a bad spec): the check could
      // not run, which is an unhealthy verdict with the reason, not an error of the tool.
      if (error instanceof DockerError && !isTransient(error))
        return couldNotRun(`sidecar cannot be created: ${error.message}`);
      throw error;
    }
    created = true;
    try {
      await docker.startContainer(name);
    } catch (error) {
      // Docker answered, but the command could not be started (not in the image, not
      // executable): the check failed, as `docker exec` reports it (126/127), not Docker.
      if (error instanceof DockerError && !isTransient(error))
        return { exitCode: 127, timedOut: false, output: error.message };
      throw error;
    }
    const exited = docker.waitContainer(name);
    exited.catch(() => {}); // the removal below can make a pending wait fail; that is expected
    const limit = deadline(timeoutMs, signal);
    const outcome = await Promise.race([exited, limit.promise]);
    limit.cancel();
    if (outcome === 'aborted') throw new CheckInterrupted();
    const output = tailOf(await docker.containerOutput(name).catch(() => Buffer.alloc(0)));
    if (outcome === 'timeout') return { exitCode: null, timedOut: true, output };
    return { exitCode: outcome, timedOut: false, output };
  } finally {
    await removeSidecar(docker, name, created);
  }
};

/** Removes the sidecar, retrying while Docker is out of reach or failing; never throws. */
export async function removeSidecar(docker: DockerClient, name: string, created: boolean): Promise<boolean> {
  try {
    // Tried even when create seemed to fail: its answer may have been lost after Docker made it.
    await retryDockerCall(() => docker.removeContainer(name, { force: true }), {
      retries: created ? 5 : 1,
      initialMs: 200,
      maxMs: 2000,
    });
    return true;
  } catch {
    return false;
  }
}
