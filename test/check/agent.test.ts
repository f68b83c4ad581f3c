// The check agent in a long-lived sidecar on the real daemon (issue 12): copied in with
// putArchive, run under Docker's init with an open stdin, driven over one hijacked attach
// stream (stdout and stderr multiplexed, no TTY) with the project's codec. It runs checks in
// the busybox test image and in an image with no shell at all, kills hung ones with what they
// started, survives its monitor's stream going away (and is adopted by the next one), costs
// about a millisecond a check, and ends promptly on `docker stop`.
import { copyFile, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_PATH, agentProgramTar } from '../../packages/core/src/health/agent-program.js';
import { encodeRun } from '../../packages/core/src/health/agent-protocol.js';
import { programArchOf } from '../../packages/core/src/health/static-program.js';
import { dockerOk, removeContainers, uniqueName, waitFor } from '../support/images.js';
import { AgentSession, percentiles } from './agent-session.js';
import { inspect, Made } from './fixtures.js';

const made = new Made();
const sidecars: string[] = [];
const api = new Docker({ socketPath: '/var/run/docker.sock' });

afterAll(async () => {
  await removeContainers(sidecars.splice(0));
  await made.cleanup();
});

interface Attached {
  session: AgentSession;
  stream: NodeJS.ReadWriteStream & { destroy(): void };
  /** what came on the stream's stderr */
  stderr: () => string;
  ended: Promise<void>;
}

/** One hijacked attach to the sidecar, demultiplexed into a session (stderr kept apart). */
async function attach(id: string): Promise<Attached> {
  const stream = (await api.getContainer(id).attach({
    stream: true,
    stdin: true,
    stdout: true,
    stderr: true,
    hijack: true,
  })) as unknown as Attached['stream'];
  const session = new AgentSession((bytes) => stream.write(bytes));
  let stderr = '';
  const sink = (onChunk: (chunk: Buffer) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        onChunk(chunk);
        callback();
      },
    });
  api.modem.demuxStream(
    stream,
    sink((chunk) => session.feed(chunk)),
    sink((chunk) => {
      stderr += chunk.toString();
    }),
  );
  const ended = new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  void ended.then(() => session.end());
  return { session, stream, stderr: () => stderr, ended };
}

/** A sidecar as the monitor makes one, attached before it starts so its hello is not missed. */
async function startSidecar(
  target: string,
  image: string,
  extra: Partial<Docker.ContainerCreateOptions> = {},
): Promise<{ id: string } & Attached> {
  const { Arch } = await api.version();
  const arch = programArchOf(Arch);
  if (!arch) throw new Error(`no agent for the daemon's architecture ${Arch}`);
  const sidecar = await api.createContainer({
    Image: image,
    Entrypoint: [AGENT_PATH],
    Cmd: [],
    OpenStdin: true,
    StdinOnce: false,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Labels: {
      'checker.sidecar': '1',
      'checker.sidecar.kind': 'idle',
      'checker.target': target,
      'checker.test': '1',
    },
    HostConfig: { NetworkMode: `container:${target}`, Init: true, LogConfig: { Type: 'none', Config: {} } },
    ...extra,
  });
  sidecars.push(sidecar.id);
  await sidecar.putArchive(agentProgramTar(arch), { path: '/' });
  const attached = await attach(sidecar.id);
  await sidecar.start();
  return { id: sidecar.id, ...attached };
}

/** `docker top`: host pid, state and command line of each process in the container. */
async function topOf(id: string): Promise<{ pid: number; stat: string; args: string }[]> {
  const out = await dockerOk(['top', id, '-o', 'pid,stat,args']);
  return out
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, pid, stat, args] = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line)!;
      return { pid: Number(pid), stat: stat!, args: args!.trim() };
    });
}

/** utime + stime of a process and of the children it waited for, in ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

const IDLE = [`/sbin/docker-init -- ${AGENT_PATH}`, AGENT_PATH];
const idleProcesses = async (id: string) => (await topOf(id)).map((p) => p.args);

describe('the check agent in a long-lived sidecar, over one attach stream', () => {
  it('runs checks in the busybox image, kills hung ones with their children, runs 200 in a row, stops promptly', async () => {
    const target = await made.container([]);
    const image = await inspect<string>(target, '.Image');
    const { id, session, stderr } = await startSidecar(target, image);
    expect(await session.hello()).toBe(1);
    expect(await idleProcesses(id)).toEqual(IDLE);

    expect((await session.run(['true'])).status).toBe(0);
    const both = await session.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(both.output.toString()).toBe('out\nerr\n');
    expect(both.status).toBe(3);
    const missing = await session.run(['no-such-program']);
    expect(missing.error).toBe('ENOENT: no such file or directory: no-such-program');
    expect(missing.status).toBeUndefined();
    // nothing follows the E: the next answer is the probe's
    session.probe();
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });

    // in the target's network namespace, not in its pid namespace
    const [targetPid, sidecarPid] = await Promise.all([
      inspect<number>(target, '.State.Pid'),
      inspect<number>(id, '.State.Pid'),
    ]);
    const ns = await session.run(['sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/pid']);
    expect(ns.output.toString()).toBe(
      `${await readlink(`/proc/${targetPid}/ns/net`)}\n${await readlink(`/proc/${sidecarPid}/ns/pid`)}\n`,
    );

    // a hung check: K ends it (137), and nothing but docker-init and the agent is left
    session.send(encodeRun(['sleep', '600']));
    await waitFor(async () => (await idleProcesses(id)).includes('sleep 600'), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'sleep 600 in the sidecar',
    });
    session.probe(); // alive while a command runs
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });
    let killed = performance.now();
    session.kill();
    expect(await session.next()).toEqual({ type: 'exit', status: 137 });
    const killMs = performance.now() - killed;
    expect(await idleProcesses(id)).toEqual(IDLE);

    // a hung check whose child went to the background: the same process group, both go
    session.send(encodeRun(['sh', '-c', 'sleep 600 & exec sleep 600']));
    await waitFor(async () => (await idleProcesses(id)).filter((args) => args === 'sleep 600').length === 2, {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'two sleeps in the sidecar',
    });
    killed = performance.now();
    session.kill();
    expect(await session.next()).toEqual({ type: 'exit', status: 137 });
    const escapedKillMs = performance.now() - killed;
    await waitFor(async () => JSON.stringify(await idleProcesses(id)) === JSON.stringify(IDLE), {
      timeoutMs: 2000,
      intervalMs: 20,
      what: 'only docker-init and the agent (the background sleep killed and reaped)',
    });
    expect(killMs).toBeLessThan(500);
    expect(escapedKillMs).toBeLessThan(500);

    // 200 checks in a row: every one answered, no process or zombie left over
    const agentPid = (await topOf(id))[1]!.pid;
    const cpuBefore = await cpuMs(agentPid);
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const result = await session.run(['true']);
      expect(result.status).toBe(0);
      times.push(result.ms);
    }
    const cpuPerCheck = ((await cpuMs(agentPid)) - cpuBefore) / 200;
    expect(await session.unread(100)).toEqual([]);
    const processes = await topOf(id);
    expect(processes.map((p) => p.args)).toEqual(IDLE);
    expect(processes.filter((p) => p.stat.startsWith('Z'))).toEqual([]);
    expect(processes[1]!.pid).toBe(agentPid);

    // 20 more hung checks killed: K → X 137 is about a check's round trip, not a Docker call
    const kills: number[] = [];
    for (let i = 0; i < 20; i++) {
      session.send(encodeRun(['sleep', '600']));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const sent = performance.now();
      session.kill();
      expect(await session.next()).toEqual({ type: 'exit', status: 137 });
      kills.push(performance.now() - sent);
    }
    expect(percentiles(kills).median).toBeLessThan(100);
    expect(await idleProcesses(id)).toEqual(IDLE);

    const status = await readFile(`/proc/${agentPid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)![1];
    const checks = percentiles(times);
    const killStats = percentiles(kills);
    console.log(
      `agent over attach (busybox image): 200 × true, median ${checks.median} ms, p90 ${checks.p90} ms, ` +
        `CPU in the sidecar (agent + its children) ${cpuPerCheck.toFixed(2)} ms a check; ` +
        `K → X 137: first ${killMs.toFixed(1)} ms (with a background child ${escapedKillMs.toFixed(1)} ms), ` +
        `20 more median ${killStats.median} ms, p90 ${killStats.p90} ms; agent VmRSS ${rss} kB`,
    );
    expect(stderr()).toBe('');

    // docker stop: tini forwards SIGTERM, the agent's default action ends it
    const stopping = Date.now();
    await dockerOk(['stop', '-t', '20', id], { timeoutMs: 30_000 });
    expect(Date.now() - stopping).toBeLessThan(5000);
    expect(await inspect<number>(id, '.State.ExitCode')).toBe(143);
  });

  it('runs checks in an image with no shell: only static programs, default PATH, a non-root user', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'checker-test-agent-noshell-'));
    const tag = `${uniqueName('checker-test/agent-noshell').toLowerCase()}:latest`;
    try {
      // busybox under an applet's name is that applet: `true` and `id`, nothing else
      await copyFile('/bin/busybox', join(dir, 'true'));
      await copyFile('/bin/busybox', join(dir, 'id'));
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY true id /bin/\n');
      await dockerOk(['build', '-q', '-t', tag, dir], {
        timeoutMs: 60_000,
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      });
      made.images.push(await dockerOk(['image', 'inspect', '--format', '{{.Id}}', tag]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const target = await made.container([]);
    const { id, session } = await startSidecar(target, tag, { User: '65534:65534' });
    expect(await session.hello()).toBe(1);
    expect((await session.run(['true'])).status).toBe(0);
    expect((await session.run(['/bin/true'])).status).toBe(0);
    expect((await session.run(['id', '-u'])).output.toString()).toBe('65534\n');
    expect((await session.run(['sh', '-c', 'true'])).error).toBe('ENOENT: no such file or directory: sh');
    expect((await session.run(['wget', '-q', 'http://127.0.0.1/'])).error).toMatch(/^ENOENT: /);
    expect(await idleProcesses(id)).toEqual(IDLE);
    await removeContainers([id]);
    sidecars.splice(sidecars.indexOf(id), 1);
  });

  it('outlives its attach stream: the container keeps its stdin open, and a new attach adopts the agent with K then P', async () => {
    const target = await made.container([]);
    const image = await inspect<string>(target, '.Image');
    const first = await startSidecar(target, image);
    await first.session.hello();

    // Ending the attach with its stdin half closed: dockerd ends the attach (stdout too), but
    // with StdinOnce false it does not close the container's stdin, so the agent sees no EOF.
    first.stream.end();
    await first.ended;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await inspect<boolean>(first.id, '.State.Running')).toBe(true);
    expect(await idleProcesses(first.id)).toEqual(IDLE);

    // A second stream: the agent answers at once.
    const second = await attach(first.id);
    second.session.probe();
    expect(await second.session.next()).toEqual({ type: 'hello', version: 1 });

    // Its monitor dies mid-check (the socket just goes) while the command writes a lot: with
    // nobody attached dockerd drops the output, so the agent is not stuck in a write.
    second.session.send(encodeRun(['sh', '-c', 'sleep 0.5; head -c 5000000 /dev/zero; exec sleep 600']));
    await new Promise((resolve) => setTimeout(resolve, 100));
    second.stream.destroy();
    await second.ended;
    // Its 5 MB go nowhere, and it gets to its `sleep 600`. (Attached before that, a new stream
    // could begin in the middle of an output frame; the monitor never adopts a sidecar whose
    // stream broke, it makes a new one: this is the agent's own robustness.)
    await waitFor(async () => (await idleProcesses(first.id)).some((args) => args === 'sleep 600'), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'the check to get past its output to its sleep',
    });

    // The next monitor adopts it: K, then P, skipping whatever comes before the H.
    const third = await attach(first.id);
    third.session.kill();
    third.session.probe();
    const before: string[] = [];
    for (;;) {
      const message = await third.session.next();
      if (message.type === 'hello') break;
      before.push(message.type === 'exit' ? `exit ${message.status}` : message.type);
    }
    expect(before.filter((m) => m !== 'output')).toEqual(['exit 137']);
    expect(await idleProcesses(first.id)).toEqual(IDLE);
    expect((await third.session.run(['true'])).status).toBe(0);

    // With every stream gone the sidecar idles until it is removed.
    third.stream.destroy();
    await third.ended;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const agent = (await topOf(first.id))[1]!;
    const stat = await readFile(`/proc/${agent.pid}/stat`, 'utf8');
    expect(stat.split(') ')[1]![0]).toBe('S');
    await removeContainers([first.id]);
    sidecars.splice(sidecars.indexOf(first.id), 1);
  });
});
