// The idle program of a long-lived check sidecar (issue 12): copied with Docker's archive API
// into a created sidecar and run under Docker's init, it idles in the busybox test image and in
// an image holding nothing but one static binary (no shell, no sleep), in the target's network
// namespace; checks exec'd into it run, their orphans are reaped, and `docker stop` is prompt.
import { copyFile, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PAUSE_PROGRAM_PATH,
  pauseArchOf,
  pauseProgramTar,
} from '../../packages/core/src/health/pause-program.js';
import { docker, dockerOk, removeContainers, uniqueName, waitFor } from '../support/images.js';
import { inspect, Made } from './fixtures.js';

const made = new Made();
const sidecars: string[] = [];
const api = new Docker({ socketPath: '/var/run/docker.sock' });

afterAll(async () => {
  await removeContainers(sidecars.splice(0));
  await made.cleanup();
});

async function daemonTar(): Promise<Buffer> {
  const { Arch } = await api.version();
  const arch = pauseArchOf(Arch);
  if (!arch) throw new Error(`no pause program for the daemon's architecture ${Arch}`);
  return pauseProgramTar(arch);
}

/** The host pid of a process inside a container, from `docker top` (ps -o pid,args). */
async function topOf(id: string): Promise<{ pid: number; args: string }[]> {
  const out = await dockerOk(['top', id, '-o', 'pid,args']);
  return out
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, pid, args] = /^\s*(\d+)\s+(.*)$/.exec(line)!;
      return { pid: Number(pid), args: args!.trim() };
    });
}

/** utime + stime of a host process, in clock ticks. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

describe('a long-lived sidecar idling on the pause program', () => {
  it('idles in the busybox image under docker-init, in the target network namespace, through putArchive', async () => {
    const target = await made.container([]);
    const image = await inspect<string>(target, '.Image');
    const sidecar = await api.createContainer({
      Image: image,
      Entrypoint: [PAUSE_PROGRAM_PATH],
      Cmd: [],
      // as a monitor labels its long-lived sidecar: the listener's sweep leaves `idle` ones alone
      Labels: {
        'checker.sidecar': '1',
        'checker.sidecar.kind': 'idle',
        'checker.target': target,
        'checker.test': '1',
      },
      HostConfig: { NetworkMode: `container:${target}`, Init: true },
    });
    sidecars.push(sidecar.id);
    await sidecar.putArchive(await daemonTar(), { path: '/' });
    await sidecar.start();

    const processes = await topOf(sidecar.id);
    expect(processes.map((p) => p.args)).toEqual([
      `/sbin/docker-init -- ${PAUSE_PROGRAM_PATH}`,
      PAUSE_PROGRAM_PATH,
    ]);
    const pause = processes[1]!.pid;
    const [targetPid, sidecarPid] = await Promise.all([
      inspect<number>(target, '.State.Pid'),
      inspect<number>(sidecar.id, '.State.Pid'),
    ]);
    expect(await readlink(`/proc/${sidecarPid}/ns/net`)).toBe(await readlink(`/proc/${targetPid}/ns/net`));
    // its own mount and pid namespaces: isolated from the target's processes and files
    expect(await readlink(`/proc/${sidecarPid}/ns/pid`)).not.toBe(
      await readlink(`/proc/${targetPid}/ns/pid`),
    );
    expect(await readlink(`/proc/${sidecarPid}/ns/mnt`)).not.toBe(
      await readlink(`/proc/${targetPid}/ns/mnt`),
    );

    // Idle means asleep in the kernel, not spinning.
    const before = await cpuTicks(pause);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await cpuTicks(pause)).toBe(before);
    expect((await readFile(`/proc/${pause}/stat`, 'utf8')).split(') ')[1]![0]).toBe('S');

    // A check exec'd into it runs; one that leaves an orphan behind has it reaped by docker-init.
    expect((await docker(['exec', sidecar.id, 'true'])).code).toBe(0);
    expect((await docker(['exec', sidecar.id, 'false'])).code).toBe(1);
    await dockerOk(['exec', sidecar.id, 'sh', '-c', 'sleep 0.3 & exit 0']);
    await waitFor(
      async () => {
        const states = await dockerOk(['exec', sidecar.id, 'ps', '-o', 'stat,args']);
        return !/sleep 0\.3/.test(states) && !/^\s*Z/m.test(states);
      },
      { timeoutMs: 5_000, intervalMs: 200, what: 'the orphaned sleep to be reaped' },
    );

    // docker stop's SIGTERM reaches the program through docker-init: no wait for the stop timeout.
    const started = Date.now();
    await dockerOk(['stop', '-t', '20', sidecar.id], { timeoutMs: 30_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await inspect<number>(sidecar.id, '.State.ExitCode')).toBe(143);
  });

  it('idles in a scratch image holding one static binary and no shell, copied with `docker cp -`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'checker-test-noshell-'));
    const tag = `${uniqueName('checker-test/noshell').toLowerCase()}:latest`;
    try {
      // busybox called `true` is `true`: the image has that one program and nothing else.
      await copyFile('/bin/busybox', join(dir, 'true'));
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY true /true\n');
      await dockerOk(['build', '-q', '-t', tag, dir], {
        timeoutMs: 60_000,
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      });
      made.images.push(await dockerOk(['image', 'inspect', '--format', '{{.Id}}', tag]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Without the program there is nothing in this image that could idle.
    const bare = await docker(['run', '--rm', '--label', 'checker.test=1', tag, 'sleep', '1']);
    expect(bare.code).not.toBe(0);

    const target = await made.container([]);
    const sidecar = await dockerOk([
      'create',
      '--init',
      '--label',
      'checker.sidecar=1',
      '--label',
      'checker.sidecar.kind=idle',
      '--label',
      `checker.target=${target}`,
      '--label',
      'checker.test=1',
      '--network',
      `container:${target}`,
      '--entrypoint',
      PAUSE_PROGRAM_PATH,
      tag,
    ]);
    sidecars.push(sidecar);
    await dockerOk(['cp', '-', `${sidecar}:/`], { input: await daemonTar() });
    await dockerOk(['start', sidecar]);
    expect(await inspect<boolean>(sidecar, '.State.Running')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await inspect<boolean>(sidecar, '.State.Running')).toBe(true);

    expect((await docker(['exec', sidecar, '/true'])).code).toBe(0);
    const shell = await docker(['exec', sidecar, 'sh', '-c', 'true']);
    expect([126, 127]).toContain(shell.code);

    await removeContainers([sidecar]);
    sidecars.splice(sidecars.indexOf(sidecar), 1);
  });
});
