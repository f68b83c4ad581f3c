// The check agent's behaviour as a process, without Docker: the shipped bytes (agent-program.ts)
// run with pipes for stdin and stdout, spoken to with the project's codec. The daemon-host's
// architecture runs natively; scripts/build-agent.sh, which regenerates the bytes, also runs
// this file for the other architecture under qemu-user (AGENT_ARCHES=x86_64,aarch64), which
// passes system calls through to this kernel, so the protocol, fork/exec, process groups,
// signals and pipes are the real ones.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PROTOCOL_VERSION, agentProgram } from '../../packages/core/src/health/agent-program.js';
import { encodeKill, encodeProbe, encodeRun } from '../../packages/core/src/health/agent-protocol.js';
import { programArchOf } from '../../packages/core/src/health/static-program.js';
import { waitFor } from '../support/images.js';
import { AgentSession, percentiles } from './agent-session.js';

const hostArch = programArchOf(process.arch);
if (!hostArch) throw new Error(`no agent is built for ${process.arch}`);
const arches = (process.env['AGENT_ARCHES'] ?? hostArch).split(',').map((name) => {
  const arch = programArchOf(name.trim());
  if (!arch) throw new Error(`AGENT_ARCHES: no agent for ${name}`);
  return arch;
});

let dir: string;
const running = new Set<ChildProcessWithoutNullStreams>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checker-test-agent-'));
  for (const arch of arches) {
    await writeFile(join(dir, `agent-${arch}`), agentProgram(arch));
    await chmod(join(dir, `agent-${arch}`), 0o755);
  }
});

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Agent {
  session: AgentSession;
  child: ChildProcessWithoutNullStreams;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** Fields of /proc/<pid>/stat after the command name: state is [0], ppid [1], pgrp [2], session [3]. */
async function statOf(pid: number): Promise<string[] | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Live (not zombie) processes in a session. */
async function sessionMembers(sid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await statOf(Number(name));
    if (stat && Number(stat[3]) === sid && stat[0] !== 'Z') members.push(Number(name));
  }
  return members;
}

const childrenOf = async (pid: number): Promise<number[]> =>
  (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .split(' ')
    .filter(Boolean)
    .map(Number);

describe.each(arches)('the check agent (%s) as a process', (arch) => {
  const native = arch === hostArch;

  function start(env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] }): Agent {
    const program = join(dir, `agent-${arch}`);
    const child = native
      ? spawn(program, [], { env, stdio: 'pipe' })
      : spawn(`qemu-${arch}`, [program], { env, stdio: 'pipe' });
    running.add(child);
    const session = new AgentSession((bytes) => child.stdin.write(bytes));
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => session.feed(chunk));
    child.stdout.on('end', () => session.end());
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
    return { session, child, exited, stderr: () => stderr };
  }

  it('says hello with the protocol version at start and on every P, idle and while a command runs', async () => {
    const { session } = start();
    expect(await session.hello()).toBe(AGENT_PROTOCOL_VERSION);
    session.probe();
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });
    session.send(Buffer.from('PP'));
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });

    session.send(encodeRun(['sh', '-c', 'echo a; exec sleep 600']));
    expect(await session.next()).toEqual({ type: 'output', data: Buffer.from('a\n') });
    session.probe();
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });
    session.kill();
    expect(await session.next()).toEqual({ type: 'exit', status: 137 });
  });

  it('runs commands: exit codes, stdout and stderr in one stream, argv words exactly as sent', async () => {
    const { session } = start();
    await session.hello();
    expect((await session.run(['true'])).status).toBe(0);
    expect((await session.run(['false'])).status).toBe(1);
    const both = await session.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(both).toMatchObject({ status: 3 });
    expect(both.output.toString()).toBe('out\nerr\n');
    const words = await session.run(['sh', '-c', 'printf "%s|" "$@"', '--', 'a b', '', 'é', '$HOME', "'"]);
    expect(words.output.toString()).toBe("a b||é|$HOME|'|");
    // a signal that ends it: 128 + its number
    expect((await session.run(['sh', '-c', 'kill -TERM $$'])).status).toBe(143);
    expect(await session.unread(100)).toEqual([]);
  });

  it('answers E with the errno name when the command cannot start, and no X after it', async () => {
    const { session } = start();
    await session.hello();
    const missing = await session.run(['no-such-program-here', 'x']);
    expect(missing.error).toBe('ENOENT: no such file or directory: no-such-program-here');
    expect((await session.run(['/no/such/path'])).error).toMatch(/^ENOENT: /);
    expect((await session.run(['/etc/passwd'])).error).toBe('EACCES: permission denied: /etc/passwd');
    expect((await session.run(['/etc/passwd/x'])).error).toMatch(/^ENOTDIR: /);
    expect((await session.run([''])).error).toMatch(/^ENOENT: /);
    // nothing else follows an E: the next message is the answer to the next request
    session.probe();
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });
    expect((await session.run(['true'])).status).toBe(0);
  });

  it("looks the program up in the agent's PATH, or the default one without PATH, and passes its environment", async () => {
    const bin = join(dir, `bin-${arch}`);
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'say-hi'), '#!/bin/sh\necho "hi $GREETING"\n', { mode: 0o755 });
    await writeFile(join(bin, 'not-exec'), '#!/bin/sh\n', { mode: 0o644 });
    const own = start({ PATH: `/nonexistent:${bin}:/usr/bin:/bin`, GREETING: 'there' });
    await own.session.hello();
    expect((await own.session.run(['say-hi'])).output.toString()).toBe('hi there\n');
    // found but not executable, and nothing executable later in PATH: EACCES, as execvp says
    expect((await own.session.run(['not-exec'])).error).toMatch(/^EACCES: /);
    const env = await own.session.run(['sh', '-c', 'echo "$GREETING"']);
    expect(env.output.toString()).toBe('there\n');

    const bare = start({});
    await bare.session.hello();
    expect((await bare.session.run(['true'])).status).toBe(0);
    expect((await bare.session.run(['say-hi'])).error).toMatch(/^ENOENT: /);
  });

  it('gives the command /dev/null as stdin, one pipe as stdout and stderr, nothing else, default signals', async () => {
    const { session } = start();
    await session.hello();
    // cat reads EOF at once instead of the agent's requests
    expect((await session.run(['sh', '-c', 'cat; echo done'])).output.toString()).toBe('done\n');
    const fds = await session.run([
      'sh',
      '-c',
      'readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2; for fd in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$fd ] && echo open $fd; done; true',
    ]);
    const [stdin, stdout, stderr, ...others] = fds.output.toString().trim().split('\n');
    expect(stdin).toBe('/dev/null');
    expect(stdout).toMatch(/^pipe:\[\d+\]$/);
    expect(stderr).toBe(stdout);
    expect(others).toEqual([]);
    // the agent ignores SIGPIPE and blocks SIGCHLD; its command has neither
    const signals = await session.run(['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status']);
    expect(signals.output.toString()).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  it('starts the command as a session and process-group leader, so K ends what it started too', async () => {
    const agent = start();
    const { session } = agent;
    await session.hello();
    const ids = await session.run(['sh', '-c', 'cut -d" " -f1,5,6 /proc/$$/stat']);
    const [pid, pgrp, sid] = ids.output.toString().trim().split(' ');
    expect(pgrp).toBe(pid);
    expect(sid).toBe(pid);

    // a hung check, and one whose child went to the background
    session.send(encodeRun(['sh', '-c', 'echo $$; sleep 600 & exec sleep 600']));
    const first = await session.next();
    expect(first.type).toBe('output');
    const leader = Number((first as { data: Buffer }).data.toString());
    await waitFor(async () => (await sessionMembers(leader)).length === 2, {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'both sleeps',
    });
    const killed = performance.now();
    session.kill();
    expect(await session.next()).toEqual({ type: 'exit', status: 137 });
    const ms = performance.now() - killed;
    await waitFor(async () => (await sessionMembers(leader)).length === 0, {
      timeoutMs: 2000,
      intervalMs: 20,
      what: 'the background sleep to go too',
    });
    expect(ms).toBeLessThan(1000);
    console.log(`agent (${arch}, process): K to X ${ms.toFixed(1)} ms`);
    // K while idle does nothing
    session.kill();
    expect((await session.run(['true'])).status).toBe(0);
  });

  it('takes the requests after a K once the killed command is reported: K P gives X then H', async () => {
    const { session } = start();
    await session.hello();
    // all in one write, as a client taking over a sidecar might send them
    session.send(
      Buffer.concat([encodeRun(['sleep', '600']), encodeKill(), encodeProbe(), encodeRun(['true'])]),
    );
    expect(await session.next()).toEqual({ type: 'exit', status: 137 });
    expect(await session.next()).toEqual({ type: 'hello', version: 1 });
    expect(await session.next()).toEqual({ type: 'exit', status: 0 });
    expect(await session.unread(100)).toEqual([]);
  });

  it('ends a command at its own exit even when a child left behind holds the output pipe', async () => {
    const { session } = start();
    await session.hello();
    const result = await session.run(['sh', '-c', 'sleep 3 & echo started']);
    expect(result.output.toString()).toBe('started\n');
    expect(result.status).toBe(0);
    expect(result.ms).toBeLessThan(2500);
  });

  it('forwards large output in frames of at most 64 KiB, all of it before the X', async () => {
    const { session } = start();
    await session.hello();
    const result = await session.run(['head', '-c', '300000', '/dev/zero']);
    expect(result.status).toBe(0);
    expect(result.output.length).toBe(300000);
    expect(Math.max(...result.chunks)).toBeLessThanOrEqual(65536);
  });

  it('refuses R while a command runs (E, EBUSY) and a request whose words are not NUL-terminated (EINVAL)', async () => {
    const { session } = start();
    await session.hello();
    session.send(encodeRun(['sleep', '600']));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await session.run(['true'])).error).toMatch(/^EBUSY: /);
    session.kill();
    expect(await session.next()).toEqual({ type: 'exit', status: 137 });
    session.send(Buffer.from([0x52, 0, 0, 0, 4, 0x74, 0x72, 0x75, 0x65])); // R "true" without NUL
    expect(await session.next()).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/^EINVAL: /),
    });
    session.send(Buffer.from([0x52, 0, 0, 0, 0])); // R with no words
    expect(await session.next()).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/^EINVAL: /),
    });
    // requests cut into single bytes are put together
    for (const byte of encodeRun(['sh', '-c', 'exit 7'])) session.send(Buffer.from([byte]));
    expect(await session.collect()).toMatchObject({ status: 7 });
  });

  it('exits 2 on a stream it cannot parse, saying why on stderr and killing the running command', async () => {
    for (const garbage of [Buffer.from('Z'), Buffer.from([0x52, 0, 1, 0, 1])]) {
      const agent = start();
      await agent.session.hello();
      agent.session.send(encodeRun(['sh', '-c', 'echo $$; exec sleep 600']));
      const pid = Number(((await agent.session.next()) as { data: Buffer }).data.toString());
      agent.session.send(garbage);
      expect(await agent.exited).toEqual({ code: 2, signal: null });
      expect(agent.stderr()).toMatch(/^checker-agent: protocol error: /);
      await waitFor(async () => (await sessionMembers(pid)).length === 0, {
        timeoutMs: 2000,
        intervalMs: 20,
        what: 'the command to be killed',
      });
    }
  });

  it('exits 0 at the end of its stdin, killing a running command first (and reporting it)', async () => {
    const idle = start();
    await idle.session.hello();
    idle.child.stdin.end();
    expect(await idle.exited).toEqual({ code: 0, signal: null });

    const busy = start();
    await busy.session.hello();
    busy.session.send(encodeRun(['sh', '-c', 'echo $$; exec sleep 600']));
    const pid = Number(((await busy.session.next()) as { data: Buffer }).data.toString());
    busy.child.stdin.end();
    expect(await busy.session.next()).toEqual({ type: 'exit', status: 137 });
    expect(await busy.exited).toEqual({ code: 0, signal: null });
    expect(await sessionMembers(pid)).toEqual([]);
  });

  it('is ended by SIGTERM (the default action: what tini forwards on docker stop)', async () => {
    const agent = start();
    await agent.session.hello();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('runs 200 checks in a row without leaking children or descriptors, and sleeps between them', async () => {
    const agent = start();
    const { session } = agent;
    await session.hello();
    const pid = agent.child.pid!;
    const fdsBefore = (await readdir(`/proc/${pid}/fd`)).length;
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const result = await session.run(['true']);
      expect(result.status).toBe(0);
      times.push(result.ms);
    }
    expect(await session.unread(50)).toEqual([]);
    expect(await childrenOf(pid)).toEqual([]);
    expect((await readdir(`/proc/${pid}/fd`)).length).toBe(fdsBefore);
    const { median, p90 } = percentiles(times);
    console.log(`agent (${arch}, process): 200 × true, median ${median} ms, p90 ${p90} ms`);

    // idle: asleep in the kernel, no CPU used
    const ticks = async () => {
      const stat = (await statOf(pid))!;
      return { state: stat[0], cpu: Number(stat[11]) + Number(stat[12]) };
    };
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = await ticks();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await ticks();
    expect(after.state).toBe('S');
    expect(after.cpu - before.cpu).toBeLessThanOrEqual(native ? 0 : 1);
  });
});
