// Runs the HEALTHCHECK command inside the target with `docker exec`. Faster than a sidecar,
// but Docker's API cannot stop an exec: on timeout the process is killed by its host pid,
// which works when this tool runs in the host's pid namespace (as root). Where it cannot,
// the verdict is still 1 and the sidecar mode (the default) is the one that leaves nothing.
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import type { DockerClient } from '../docker/docker-client.js';
import { OutputTail } from './command-output.js';
import {
  CheckInterrupted,
  type CommandRun,
  type CommandRunner,
  deadline,
  type RunOptions,
} from './runner.js';

export const runWithExec: CommandRunner = async (
  docker: DockerClient,
  target: Dockerode.ContainerInspectInfo,
  argv: string[],
  { timeoutMs, signal }: RunOptions,
): Promise<CommandRun> => {
  if (signal?.aborted) throw new CheckInterrupted();
  let exec: Dockerode.Exec | undefined;
  let stream: NodeJS.ReadWriteStream | undefined;
  const tail = new OutputTail();
  try {
    exec = await docker.api
      .getContainer(target.Id)
      .exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
    stream = (await exec.start({ hijack: true, stdin: false })) as unknown as NodeJS.ReadWriteStream;
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => tail.push(chunk));
    docker.api.modem.demuxStream(stream, sink, sink);
    const finished = new Promise<'done'>((resolve) => {
      stream!.on('end', () => resolve('done'));
      stream!.on('close', () => resolve('done'));
      stream!.on('error', () => resolve('done'));
    });
    const limit = deadline(timeoutMs, signal);
    const outcome = await Promise.race([finished, limit.promise]);
    limit.cancel();
    if (outcome !== 'done') {
      await killExec(exec);
      if (outcome === 'aborted') throw new CheckInterrupted();
      return { exitCode: null, timedOut: true, output: tail.toString() };
    }
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? null, timedOut: false, output: tail.toString() };
  } catch (error) {
    throw docker.translate(error);
  } finally {
    (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }
};

async function killExec(exec: Dockerode.Exec) {
  try {
    const info = (await exec.inspect()) as { Running?: boolean; Pid?: number };
    // The exec leads its own process group (runc makes it a session leader): killing the group
    // also ends what it started, e.g. the children of an `sh -c '…; …'` check.
    if (info.Running && info.Pid && info.Pid > 0) process.kill(-info.Pid, 'SIGKILL');
  } catch {
    // not ours to see (another pid namespace) or already gone
  }
}
