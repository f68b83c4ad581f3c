// Runs the HEALTHCHECK command inside the target with `docker exec`. Docker's API cannot stop
// an exec, so a command that hangs past --timeout is killed, with its process group, by its
// host pid. That needs this process to see the host's pids (the tools on the host, or in a
// container run with --pid host): `execKillReach` tells, and where it cannot the mode refuses
// with ExecModeUnsupported rather than leave a hung process behind every period.
import { readFile } from 'node:fs/promises';
import type Dockerode from 'dockerode';
import type { DockerClient, ExecHandle } from '../docker/docker-client.js';
import { ExecModeUnsupported } from '../errors.js';
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
  const unreachable = await execKillReach(target, () => docker.inspectContainer(target.Id));
  if (unreachable) throw new ExecModeUnsupported(unreachable);
  const tail = new OutputTail();
  let exec: ExecHandle | undefined;
  try {
    exec = await docker.exec(target.Id, argv, (chunk) => tail.push(chunk));
    const limit = deadline(timeoutMs, signal);
    const outcome = await Promise.race([exec.finished.then(() => 'done' as const), limit.promise]);
    limit.cancel();
    if (outcome !== 'done') {
      await killExec(exec, target.Id);
      if (outcome === 'aborted') throw new CheckInterrupted();
      return { exitCode: null, timedOut: true, output: tail.toString() };
    }
    const info = await exec.inspect();
    return { exitCode: info.exitCode, timedOut: false, output: tail.toString() };
  } finally {
    exec?.close();
  }
};

/**
 * Why this process could not kill a process of the target by its host pid, or undefined when
 * it can: the target's main process must show under its host pid in our /proc, in the target's
 * cgroup (a pid of our own namespace that merely has the same number does not count). A target
 * that stopped meanwhile (its pid gone, or another one: `again` inspects it anew) tells
 * nothing: the check finds it not running.
 */
export async function execKillReach(
  target: Dockerode.ContainerInspectInfo,
  again: () => Promise<Dockerode.ContainerInspectInfo>,
): Promise<string | undefined> {
  const pid = target.State?.Pid;
  if (!pid) return undefined; // not running: the check ends before any exec
  if (await inContainerCgroup(pid, target.Id)) return undefined;
  const now = await again().catch(() => undefined);
  if (!now?.State?.Running || now.State.Pid !== pid) return undefined;
  return `the target's process ${pid} is not visible in this pid namespace`;
}

async function inContainerCgroup(pid: number, containerId: string): Promise<boolean> {
  const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
  return cgroup.includes(containerId);
}

async function killExec(exec: ExecHandle, containerId: string) {
  try {
    const info = await exec.inspect();
    // The exec leads its own process group (runc makes it a session leader): killing the group
    // also ends what it started, e.g. the children of an `sh -c '…; …'` check. The pid is
    // checked to be the container's before anything is signalled.
    if (info.running && info.pid > 0 && (await inContainerCgroup(info.pid, containerId)))
      process.kill(-info.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
