// Runs the HEALTHCHECK command in a throw-away container made from the target's own image
// (by image id, so a retag cannot change what runs), inside the target's network namespace.
// The sidecar is removed in every case: success, failure, timeout, interruption, and even
// when the create call's answer never arrives (it is named by us, so it is found by name).
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { sleep } from '../backoff.js';
import type { DockerClient } from '../docker/docker-client.js';
import { demultiplex, tailOf } from './command-output.js';
import {
  CheckInterrupted,
  type CommandRun,
  type CommandRunner,
  deadline,
  type RunOptions,
} from './runner.js';

export const SIDECAR_LABEL = 'checker.sidecar';

export const runInSidecar: CommandRunner = async (
  docker: DockerClient,
  target: Dockerode.ContainerInspectInfo,
  argv: string[],
  { timeoutMs, signal }: RunOptions,
): Promise<CommandRun> => {
  const name = `checker-sidecar-${target.Id.slice(0, 12)}-${randomBytes(4).toString('hex')}`;
  let created = false;
  try {
    if (signal?.aborted) throw new CheckInterrupted();
    const sidecar = await docker.api.createContainer({
      name,
      Image: target.Image,
      // Entrypoint replaces the image's own and, being set, keeps Docker from appending the
      // image's CMD: the words run exactly as given.
      Entrypoint: argv,
      Cmd: [],
      Env: target.Config?.Env ?? [],
      User: target.Config?.User || undefined,
      WorkingDir: target.Config?.WorkingDir || undefined,
      Labels: { [SIDECAR_LABEL]: '1', 'checker.target': target.Id },
      HostConfig: {
        NetworkMode: `container:${target.Id}`,
        // Output is read back through the log driver, whatever the daemon's default is.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
      },
    });
    created = true;
    try {
      await sidecar.start();
    } catch (error) {
      // Docker answered, but the command could not be started (not in the image, not
      // executable): the check failed, as `docker exec` reports it (126/127), not Docker.
      const answer = error as { statusCode?: number; json?: { message?: string }; message?: string };
      if (answer.statusCode === undefined) throw error;
      return { exitCode: 127, timedOut: false, output: answer.json?.message ?? answer.message ?? '' };
    }
    const exited = sidecar.wait() as Promise<{ StatusCode: number }>;
    exited.catch(() => {}); // the removal below can make a pending wait fail; that is expected
    const limit = deadline(timeoutMs, signal);
    const outcome = await Promise.race([exited, limit.promise]);
    limit.cancel();
    if (outcome === 'aborted') throw new CheckInterrupted();
    if (outcome === 'timeout') return { exitCode: null, timedOut: true, output: await readOutput(sidecar) };
    return { exitCode: outcome.StatusCode, timedOut: false, output: await readOutput(sidecar) };
  } catch (error) {
    throw docker.translate(error);
  } finally {
    await removeSidecar(docker, name, created);
  }
};

async function readOutput(sidecar: Dockerode.Container): Promise<string> {
  try {
    const logs = (await sidecar.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return tailOf(demultiplex(Buffer.isBuffer(logs) ? logs : Buffer.from(String(logs))));
  } catch {
    return '';
  }
}

async function removeSidecar(docker: DockerClient, name: string, created: boolean) {
  // Try even when create seemed to fail: its answer may have been lost after Docker made it.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await docker.api.getContainer(name).remove({ force: true, v: true });
      return;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return;
      if (status === 409) return; // removal already in progress
      if (!created && attempt === 0) return;
      await sleep(100 * (attempt + 1));
    }
  }
}
