// bench:check-paths — what one check costs the host, by the way it is run (issue 12):
//   a  one-shot sidecar: create, start, wait, logs, remove (today's `--mode sidecar`)
//   b  `docker exec` (API) into the target (today's `--mode exec`)
//   c  `docker exec` (API) into a long-lived sidecar
//   d  `runc exec` straight against the long-lived sidecar (no dockerd, no containerd)
//   e  `nsenter` into the long-lived sidecar's namespaces
//   f  a prototype of an agent in the sidecar: busybox `sh` reading commands from its stdin,
//      attached once through Docker (what a shipped agent program would cost per check)
// The long-lived sidecar is made as a monitor would make it: from the target's image id, in
// the target's network namespace, idling on the check agent (copied in with putArchive)
// under Docker's init. Every way runs the same command (`true <ip>`) from this process, in
// batches interleaved round-robin (order rotated every round) with idle batches that measure
// the background (other work on the host) to subtract.
//
// Per check: wall latency (median, p90) and CPU, from /proc: dockerd and containerd (self and
// reaped children: containerd reaps the `shim start/delete` it runs), the shim of the
// exec'd container (self and children: the `runc exec` it runs and the command itself), this
// process (process.cpuUsage) and its children (cutime/cstime: runc or nsenter and the
// command), and the host's busy time from /proc/stat. "rest" is the host's busy time net of
// the background minus all the named parts: for (a) that is mostly the per-check shims, runc
// and the kernel's namespace work, which exit before they can be read.
//
// Then: what a hung check costs to kill each way and whether anything stays running, and the
// isolation the command gets each way (capabilities, seccomp, cgroup, AppArmor).
// Needs root, the host's pid namespace and `npm run build` (the check agent is read from
// packages/core/dist). BENCH_RUNS (default 40) checks per way, in batches of BENCH_BATCH (5).
// BENCH_DAEMON=private runs it all against a dockerd and containerd of its own, whose CPU is
// then this bench's alone (the host's daemon may be serving other work meanwhile), and adds a
// table by cgroup: that daemon's whole tree (dockerd, containerd, shims, runc), this process
// with its children, and the exec'd container's own cgroup, in ns, whatever else the host runs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  BENCH_LABEL_KEY,
  containerIp,
  DOCKER_BIN,
  dockerApi,
  ensureImage,
  now,
  onCleanup,
  printTable,
  RUN_ID,
  runBench,
  runContainer,
  sleep,
  stats,
  trackContainer,
  uniquePrefix,
  untrackContainer,
} from './lib.mjs';

const RUNS = Math.max(30, Number(process.env.BENCH_RUNS ?? 40));
const BATCH = Math.max(1, Number(process.env.BENCH_BATCH ?? 5));
const HUNG_RUNS = Math.max(1, Number(process.env.BENCH_HUNG_RUNS ?? 3));
const IDLE_BATCH_MS = 1000;
/** Where dockerd 20.10 keeps runc's state when no --exec-root is given. */
/** dockerd's --exec-root: runc's state and containerd's bundles live below it */
let execRoot = '/run/docker';
let dockerdPidFile = '/var/run/docker.pid';
/** with BENCH_DAEMON=private: the cgroup holding that daemon's whole tree */
let daemonCgroup;
/** with BENCH_DAEMON=private: the cgroup holding this process and its children */
let callerCgroup;

let agentModule;
try {
  agentModule = {
    ...(await import('../packages/core/dist/health/agent-program.js')),
    ...(await import('../packages/core/dist/health/static-program.js')),
  };
} catch (e) {
  throw new Error(
    `cannot load packages/core/dist/health/agent-program.js (${e.message}): run \`npm run build\` first`,
  );
}
const { AGENT_PATH, programArchOf, agentProgramTar } = agentModule;

// ---------------------------------------------------------------- /proc

const CLK_TCK = 100; // USER_HZ on every Linux this runs on; `getconf CLK_TCK`
const tickMs = 1000 / CLK_TCK;

/** utime+stime and cutime+cstime of a process, in ms; zeros when it is gone. */
function procCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      self: (Number(f[11]) + Number(f[12])) * tickMs,
      children: (Number(f[13]) + Number(f[14])) * tickMs,
    };
  } catch {
    return { self: 0, children: 0 };
  }
}

/** The host's busy time (all CPUs, everything but idle and iowait), ms. */
function hostBusyMs() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) * tickMs;
}

// CPU accounting by cgroup (ns, whatever the other load): the private daemon's whole tree
// (dockerd, containerd, shims, runc until its child joins the container) in one cgroup, this
// process and its children (runc, nsenter, what they run outside a container) in another, and
// a container's own processes in the cgroup Docker made for it (cgroupfs driver: /docker/<id>).
const CGROUP_V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
const CGROUP_ROOT = CGROUP_V2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/cpuacct';

function cgroupCpuMs(path) {
  try {
    if (CGROUP_V2) {
      const usec = /^usage_usec (\d+)/m.exec(readFileSync(join(CGROUP_ROOT, path, 'cpu.stat'), 'utf8'));
      return usec ? Number(usec[1]) / 1000 : 0;
    }
    return Number(readFileSync(join(CGROUP_ROOT, path, 'cpuacct.usage'), 'utf8')) / 1e6;
  } catch {
    return 0; // gone (a removed container) or none
  }
}

/** A cgroup of this run's own, removed at cleanup (after whatever is in it left). */
function makeCgroup(name) {
  const path = `checker-bench-${RUN_ID}-${name}`;
  mkdirSync(join(CGROUP_ROOT, path));
  onCleanup(async () => {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(join(CGROUP_ROOT, path));
        return;
      } catch {
        await sleep(100); // processes still leaving
      }
    }
    console.error(`cleanup: cannot remove cgroup ${join(CGROUP_ROOT, path)}`);
  });
  return { path, procs: join(CGROUP_ROOT, path, 'cgroup.procs') };
}

/** Moves this process into a cgroup (its children follow), and back at cleanup. */
function enterCgroup(cgroup) {
  const home = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find(([, controllers]) =>
      CGROUP_V2 ? controllers === '' : controllers.split(',').includes('cpuacct'),
    )?.[2];
  writeFileSync(cgroup.procs, String(process.pid));
  // registered after makeCgroup's hook, so it runs first: out of the cgroup before its rmdir
  onCleanup(() => writeFileSync(join(CGROUP_ROOT, home ?? '/', 'cgroup.procs'), String(process.pid)));
}

const containerCgroup = (id) => (id ? `docker/${id}` : undefined);

function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function processState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function allPids() {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Host pids whose command line is exactly `words`. */
function pidsRunning(words) {
  return allPids().filter((pid) => {
    const argv = cmdlineOf(pid);
    return argv.length === words.length && argv.every((w, i) => w === words[i]);
  });
}

function daemonPids() {
  const dockerd = Number(readFileSync(dockerdPidFile, 'utf8').trim());
  if (cmdlineOf(dockerd)[0]?.endsWith('dockerd') !== true)
    throw new Error(`${dockerdPidFile} (${dockerd}) is not dockerd`);
  const containerdPidFile = join(execRoot, 'containerd', 'containerd.pid');
  let containerd = existsSync(containerdPidFile) ? Number(readFileSync(containerdPidFile, 'utf8').trim()) : 0;
  if (!cmdlineOf(containerd)[0]?.endsWith('containerd')) {
    // a system containerd rather than dockerd's own
    containerd = allPids().find((pid) => cmdlineOf(pid)[0]?.endsWith('/containerd')) ?? 0;
  }
  if (!containerd) throw new Error('no containerd process found');
  return { dockerd, containerd };
}

/** The containerd-shim-runc-v2 process serving one container. */
function shimOf(containerId) {
  return allPids().find((pid) => {
    const argv = cmdlineOf(pid);
    return argv[0]?.includes('containerd-shim') && argv.includes(containerId) && !argv.includes('delete');
  });
}

// ---------------------------------------------------------------- runc: where and whether

function onPath(name) {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir || '.', name);
    if (existsSync(candidate)) return candidate;
  }
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * What a monitor would check at start before using `runc exec` on a sidecar: the runc the shim
 * uses (its options.json names the binary and the state root), the sidecar's state.json
 * readable there, and its init pid equal to Docker's State.Pid (so we share the daemon's pid
 * namespace and can kill by pid). Resolves {binary, root, version} or {why} when it cannot.
 */
async function detectRunc(sidecarId, sidecarPid) {
  let binaryName = 'runc';
  // what dockerd 20.10 gives the shim when no runtime options say otherwise
  let root = join(execRoot, 'runtime-runc', 'moby');
  const bundles = join(execRoot, 'containerd', 'daemon', 'io.containerd.runtime.v2.task', 'moby');
  try {
    const options = JSON.parse(readFileSync(join(bundles, sidecarId, 'options.json'), 'utf8'));
    if (options.binary_name) binaryName = options.binary_name;
    if (options.root) root = join(options.root, 'moby');
  } catch {
    // no shim options (another exec root, another shim): try the defaults
  }
  const binary = onPath(binaryName);
  if (!binary) return { why: `${binaryName} not found on PATH` };
  let state;
  try {
    state = JSON.parse(readFileSync(join(root, sidecarId, 'state.json'), 'utf8'));
  } catch (e) {
    return { why: `cannot read ${join(root, sidecarId, 'state.json')}: ${e.code ?? e.message}` };
  }
  if (state.init_process_pid !== sidecarPid) {
    return {
      why: `runc's pid ${state.init_process_pid} is not Docker's ${sidecarPid} (another pid namespace)`,
    };
  }
  const version = await collect(spawn(binary, ['--version'])).then((r) => r.stdout.split('\n')[0]);
  return { binary, root, version, systemdCgroup: state.config?.cgroups?.systemd === true };
}

// ---------------------------------------------------------------- a private daemon

const run = (cmd, args, opts) =>
  collect(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })).then((r) => {
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  });

/**
 * BENCH_DAEMON=private: a dockerd (with its own containerd) that only this bench talks to, so
 * its CPU is this bench's alone; the host's daemon may be busy with other work. Own data and
 * exec roots, socket, pid file and bridge (never --bridge=none: that deletes docker0), the
 * test image loaded into it; everything goes at cleanup. Points DOCKER_HOST at it.
 */
async function startPrivateDaemon(imageRef) {
  const dir = mkdtempSync(join(tmpdir(), 'checker-bench-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const control = `unix://${socket}`;
  const bridge = `chkb${Math.random().toString(36).slice(2, 10)}`;
  const used = await run('ip', ['-4', '-o', 'addr', 'show']);
  let subnet = 1 + Math.floor(Math.random() * 250);
  while (used.includes(`10.198.${subnet}.`)) subnet = (subnet % 254) + 1;
  let child;
  // made first so that its removal, a cleanup hook, runs after the daemon's (hooks run in reverse)
  const cgroup = makeCgroup('docker');
  daemonCgroup = cgroup.path;
  onCleanup(async () => {
    // runs before lib's container cleanup: this daemon removes its own containers, then goes
    const cli = (args) => collect(spawn(DOCKER_BIN, ['-H', control, ...args]));
    const ids = (await cli(['ps', '-aq', '--no-trunc']).catch(() => ({ stdout: '' }))).stdout
      .split('\n')
      .filter(Boolean);
    if (ids.length > 0) await cli(['rm', '-f', '-v', ...ids]).catch(() => {});
    for (const id of ids) untrackContainer(id);
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    for (const pid of allPids()) {
      if (pid !== process.pid && cmdlineOf(pid).join(' ').includes(dir)) process.kill(pid, 'SIGKILL');
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point === dir || point.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const point of mounts) await run('umount', ['-l', point]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    await run('ip', ['link', 'delete', bridge]).catch(() => {});
    delete process.env.DOCKER_HOST;
  });
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `10.198.${subnet}.1/24`, 'dev', bridge]);
  await run('ip', ['link', 'set', bridge, 'up']);
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  child = spawn(
    'sh',
    [
      '-c',
      'echo $$ > "$0" && exec dockerd "$@"',
      cgroup.procs,
      `--data-root=${join(dir, 'data')}`,
      `--exec-root=${join(dir, 'exec')}`,
      '-H',
      control,
      `--pidfile=${join(dir, 'docker.pid')}`,
      `--bridge=${bridge}`,
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  for (let waited = 0; ; waited += 100) {
    const r = await collect(spawn(DOCKER_BIN, ['-H', control, 'version']));
    if (r.code === 0) break;
    if (child.exitCode !== null || waited > 30_000) {
      throw new Error(
        `the private dockerd did not answer: ${readFileSync(join(dir, 'dockerd.log'), 'utf8').slice(-1500)}`,
      );
    }
    await sleep(100);
  }
  await run('sh', ['-c', `${DOCKER_BIN} save "$1" | ${DOCKER_BIN} -H "$2" load -q`, '--', imageRef, control]);
  execRoot = join(dir, 'exec');
  dockerdPidFile = join(dir, 'docker.pid');
  const caller = makeCgroup('caller');
  enterCgroup(caller);
  callerCgroup = caller.path;
  process.env.DOCKER_HOST = control;
}

// ---------------------------------------------------------------- the five ways

/** Resolves with {stdout, stderr, code, signal} once a child closed. */
function collect(child) {
  return new Promise((resolve, reject) => {
    const out = [];
    const err = [];
    child.stdout?.on('data', (b) => out.push(b));
    child.stderr?.on('data', (b) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        signal,
      }),
    );
  });
}

function demuxTail(api, stream) {
  const sink = new PassThrough();
  const chunks = [];
  sink.on('data', (c) => chunks.push(c));
  api.modem.demuxStream(stream, sink, sink);
  const finished = new Promise((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', resolve);
  });
  return { finished, output: () => Buffer.concat(chunks).toString('utf8') };
}

/**
 * (f) What an agent inside the sidecar would cost: the sidecar's program reads one command a
 * line from its stdin, attached once through Docker (a long-lived hijacked connection), runs
 * it and writes its output and exit status to stdout. Here busybox `sh` stands in for the
 * agent a scratch image would need us to ship; per check Docker only copies a few bytes
 * (dockerd → shim → pipe and back), no process is made outside the container.
 */
async function startShellAgent(api, target) {
  let agents = 0;
  let requests = 0;
  const quote = (word) => `'${word.replace(/'/g, `'\\''`)}'`;

  async function start() {
    const container = await api.createContainer({
      name: `${target.prefix}agent-${agents++}`,
      Image: target.image,
      Entrypoint: ['sh'],
      Cmd: [],
      Env: target.env,
      OpenStdin: true,
      StdinOnce: false,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Labels: {
        [BENCH_LABEL_KEY]: RUN_ID,
        'checker.sidecar': '1',
        'checker.target': target.id,
        'checker.sidecar.kind': 'idle',
      },
      HostConfig: {
        NetworkMode: `container:${target.id}`,
        Init: true,
        // no log driver: check output is not worth keeping in the container's log
        LogConfig: { Type: 'none', Config: {} },
      },
    });
    trackContainer(container.id);
    const stream = await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    });
    const sink = new PassThrough();
    api.modem.demuxStream(stream, sink, sink);
    const state = { id: container.id, stream, buffered: '', waiter: undefined, shellPid: 0 };
    sink.on('data', (chunk) => {
      state.buffered += chunk.toString('utf8');
      state.waiter?.();
    });
    onCleanup(() => stream.destroy());
    await container.start();
    // the shell under docker-init: its CPU (and that of the commands it reaps) is the agent's
    const init = (await container.inspect()).State.Pid;
    state.shellPid = Number(readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(' ')[0]);
    return state;
  }

  let current = await start();
  return {
    get id() {
      return current.id;
    },
    /** the processes whose CPU is this way's own: the shim and the shell */
    pids: () => [shimOf(current.id), current.shellPid],
    async run(argv, { hung } = {}) {
      const agent = current;
      const nonce = `__checker_${RUN_ID.replace(/\W/g, '')}_${requests++}__`;
      const done = new RegExp(`${nonce} (\\d+)\n`);
      agent.buffered = '';
      const finished = new Promise((resolve) => {
        agent.waiter = () => {
          const m = done.exec(agent.buffered);
          if (m) resolve({ code: Number(m[1]), output: agent.buffered.slice(0, m.index) });
        };
      });
      agent.stream.write(`${argv.map(quote).join(' ')} </dev/null 2>&1; echo "${nonce} $?"\n`);
      if (hung) {
        // A simple agent cannot be told to stop: the sidecar goes, and a new one takes its place.
        await hung();
        const t = now();
        await api.getContainer(agent.id).remove({ force: true, v: true });
        const killMs = now() - t;
        agent.stream.destroy();
        current = await start();
        return { killMs };
      }
      return finished;
    },
  };
}

function makeWays({ api, target, sidecar, runc, pidDir, env, agent }) {
  let oneShots = 0;
  let pidFiles = 0;

  /** (a) today's sidecar mode, call for call as packages/core/src/health/sidecar-runner.ts */
  async function oneShot(argv, { hung } = {}) {
    const name = `${target.prefix}oneshot-${oneShots++}`;
    const container = await api.createContainer({
      name,
      Image: target.image,
      Entrypoint: argv,
      Cmd: [],
      Env: target.env,
      Labels: {
        [BENCH_LABEL_KEY]: RUN_ID,
        'checker.sidecar': '1',
        'checker.target': target.id,
        'checker.timeout-ms': '10000',
        'checker.sidecar.kind': 'oneshot',
      },
      HostConfig: {
        NetworkMode: `container:${target.id}`,
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
      },
    });
    trackContainer(container.id);
    try {
      try {
        await container.start();
      } catch (error) {
        // the command could not be started: the runner's 127, as docker exec reports it
        if (error.statusCode === undefined) throw error;
        return { code: 127, output: error.message };
      }
      if (hung) {
        await hung();
        const t = now();
        await container.remove({ force: true, v: true });
        return { killMs: now() - t, removed: true };
      }
      const { StatusCode } = await container.wait();
      const logs = await container.logs({ stdout: true, stderr: true, follow: false });
      return { code: StatusCode, output: demuxBuffer(logs) };
    } finally {
      await container.remove({ force: true, v: true }).catch(() => {});
    }
  }

  /** (b), (c): exec as packages/core/src/health/exec-runner.ts does; a hung one is killed by host pid */
  async function dockerExec(containerId, argv, { hung } = {}) {
    const exec = await api
      .getContainer(containerId)
      .exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const { finished, output } = demuxTail(api, stream);
    try {
      if (hung) {
        await hung();
        const t = now();
        const info = await exec.inspect();
        process.kill(-info.Pid, 'SIGKILL');
        await finished;
        return { killMs: now() - t, pid: info.Pid };
      }
      await finished;
      const info = await exec.inspect();
      return { code: info.ExitCode, output: output() };
    } finally {
      stream.destroy?.();
    }
  }

  /**
   * (d) runc exec: the command becomes runc's child (a session leader, in the sidecar's
   * namespaces, cgroup, capabilities, seccomp and AppArmor profile); --pid-file gives its host
   * pid, which is what a timeout kills (its process group), leaving runc to reap it and exit.
   */
  async function runcExec(argv, { hung, killRuncOnly } = {}) {
    const pidFile = join(pidDir, `check-${pidFiles++}.pid`);
    const child = spawn(
      runc.binary,
      ['--root', runc.root, 'exec', '--pid-file', pidFile, sidecar.id, ...argv],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const done = collect(child);
    const exited = once(child, 'exit');
    try {
      if (hung) {
        await hung();
        // runc writes the file just after the command started: it may be a moment behind
        for (let waited = 0; !existsSync(pidFile) && waited < 5000; waited += 10) await sleep(10);
        const pid = Number(readFileSync(pidFile, 'utf8'));
        const t = now();
        if (killRuncOnly) child.kill('SIGKILL');
        else process.kill(-pid, 'SIGKILL');
        // 'exit', not 'close': a command left running would hold the output pipes open
        const [code, signal] = await exited;
        return { killMs: now() - t, pid, runcExit: code ?? signal };
      }
      const r = await done;
      // runc's own failure to start the command (not found, not executable) is its exit 255
      const code =
        r.code === 255 && /exec failed/.test(r.stderr) ? (/not found/.test(r.stderr) ? 127 : 126) : r.code;
      return { code, output: r.stdout + r.stderr };
    } finally {
      rmSync(pidFile, { force: true });
    }
  }

  /** (e) nsenter: the sidecar's namespaces only; in its own process group so a timeout can kill both */
  async function nsenterExec(argv, { hung, killNsenterOnly } = {}) {
    const child = spawn(
      'nsenter',
      ['-t', String(sidecar.pid), '-m', '-u', '-i', '-n', '-p', '-r', '-w', '--', ...argv],
      { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true },
    );
    const done = collect(child);
    const exited = once(child, 'exit');
    if (hung) {
      await hung();
      const t = now();
      if (killNsenterOnly) child.kill('SIGKILL');
      else process.kill(-child.pid, 'SIGKILL');
      const [code, signal] = await exited;
      return { killMs: now() - t, nsenterExit: code ?? signal };
    }
    const r = await done;
    return { code: r.code, output: r.stdout + r.stderr };
  }

  return [
    {
      key: 'a',
      label: '(a) one-shot sidecar (create/start/wait/remove)',
      run: (argv, o) => oneShot(argv, o),
    },
    { key: 'b', label: '(b) docker exec into the target', run: (argv, o) => dockerExec(target.id, argv, o) },
    {
      key: 'c',
      label: '(c) docker exec into the long-lived sidecar',
      run: (argv, o) => dockerExec(sidecar.id, argv, o),
    },
    ...(runc.binary ? [{ key: 'd', label: '(d) runc exec into the long-lived sidecar', run: runcExec }] : []),
    { key: 'e', label: '(e) nsenter into the long-lived sidecar', run: nsenterExec },
    {
      key: 'f',
      label: '(f) prototype: a shell in a sidecar, fed over attach',
      run: (argv, o) => agent.run(argv, o),
    },
  ];
}

function demuxBuffer(buffer) {
  const parts = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

// ---------------------------------------------------------------- measuring

function snapshot(pids, shims, container) {
  const d = procCpu(pids.dockerd);
  const c = procCpu(pids.containerd);
  const self = process.cpuUsage();
  const kids = procCpu(process.pid);
  const shimMs = shims.reduce((sum, pid) => {
    const s = procCpu(pid);
    return sum + s.self + s.children;
  }, 0);
  return {
    t: now(),
    host: hostBusyMs(),
    dockerd: d.self + d.children,
    containerd: c.self + c.children,
    shims: shimMs,
    self: (self.user + self.system) / 1000,
    children: kids.children,
    daemonTree: daemonCgroup ? cgroupCpuMs(daemonCgroup) : 0,
    callerTree: callerCgroup ? cgroupCpuMs(callerCgroup) : 0,
    container: container ? cgroupCpuMs(container) : 0,
  };
}

function diff(a, b) {
  const out = {};
  for (const k of Object.keys(a)) out[k] = b[k] - a[k];
  return out;
}

function add(total, d) {
  for (const [k, v] of Object.entries(d)) total[k] = (total[k] ?? 0) + v;
}

await runBench('bench:check-paths', async () => {
  if (process.getuid?.() !== 0)
    throw new Error('run as root: runc, nsenter and /proc of the daemons need it');
  const image = await ensureImage();
  // the image id survives save/load: the same image in the private daemon
  if (process.env.BENCH_DAEMON === 'private') await startPrivateDaemon(image.ref);
  const api = dockerApi();
  const { Arch } = await api.version();
  const arch = programArchOf(Arch);
  if (!arch) throw new Error(`no check agent for the daemon's architecture ${Arch}`);
  const prefix = uniquePrefix('paths');
  const targetId = await runContainer(['--init', '--name', `${prefix}target`, image.ref, 'sleep', '600']);
  const targetInfo = await api.getContainer(targetId).inspect();
  const ip = await containerIp(targetId);

  // The long-lived sidecar, as the monitor will make it.
  const created = await api.createContainer({
    name: `${prefix}sidecar`,
    Image: targetInfo.Image,
    // It idles on the check agent, as a monitor's does (its stdin kept open, nobody attached).
    Entrypoint: [AGENT_PATH],
    Cmd: [],
    OpenStdin: true,
    StdinOnce: false,
    Env: targetInfo.Config.Env ?? [],
    User: targetInfo.Config.User || undefined,
    WorkingDir: targetInfo.Config.WorkingDir || undefined,
    Labels: {
      [BENCH_LABEL_KEY]: RUN_ID,
      'checker.sidecar': '1',
      'checker.target': targetId,
      'checker.sidecar.kind': 'idle',
    },
    HostConfig: { NetworkMode: `container:${targetId}`, Init: true },
  });
  trackContainer(created.id);
  await created.putArchive(agentProgramTar(arch), { path: '/' });
  await created.start();
  const sidecarInfo = await created.inspect();
  const sidecar = { id: created.id, pid: sidecarInfo.State.Pid };

  const runc = await detectRunc(sidecar.id, sidecar.pid);
  const pidDir = mkdtempSync(join(tmpdir(), 'checker-bench-paths-'));
  onCleanup(() => rmSync(pidDir, { recursive: true, force: true }));
  // nsenter passes our environment on: give the command the container's, as the other ways do
  const env = Object.fromEntries(
    (targetInfo.Config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const target = { id: targetId, image: targetInfo.Image, env: targetInfo.Config.Env ?? [], prefix };
  const agent = await startShellAgent(api, target);
  const ways = makeWays({ api, target, sidecar, runc, pidDir, env, agent });
  const pids = daemonPids();
  const shims = {
    b: [shimOf(targetId)],
    c: [shimOf(sidecar.id)],
    f: agent.pids(),
    a: [],
    d: [],
    e: [],
  };
  /** where each way's command runs, for the container column: (a)'s cgroups go with each sidecar */
  const inContainer = { b: () => targetId, c: () => sidecar.id, d: () => sidecar.id, f: () => agent.id };

  console.log(
    `bench:check-paths: ${RUNS} checks a way in batches of ${BATCH}, interleaved; command \`true ${ip}\`; ` +
      `daemon ${Arch}${process.env.BENCH_DAEMON === 'private' ? ' (private)' : ''}, agent ${arch}; ` +
      `dockerd ${pids.dockerd}, containerd ${pids.containerd}; ` +
      `load average ${readFileSync('/proc/loadavg', 'utf8').trim()}; ` +
      (runc.binary
        ? `runc ${runc.binary} --root ${runc.root} (${runc.version}${runc.systemdCgroup ? ', systemd cgroups' : ''})`
        : `runc unusable: ${runc.why}`),
  );

  // Each way must give the command's exit status and output before it is timed.
  for (const way of ways) {
    const r = await way.run(['sh', '-c', 'echo "out $1"; exit 3', '--', ip]);
    if (r.code !== 3 || r.output.trim() !== `out ${ip}`) {
      throw new Error(
        `${way.label}: expected exit 3 and "out ${ip}", got ${r.code} ${JSON.stringify(r.output)}`,
      );
    }
    const missing = await way.run(['/no/such/check']);
    if (missing.code !== 126 && missing.code !== 127)
      throw new Error(`${way.label}: a missing command gave ${missing.code}`);
    await way.run(['true', ip]); // warm-up
  }

  // ------------------------------------------------ per-check latency and CPU, interleaved
  const results = new Map(ways.map((w) => [w.key, { way: w, times: [], cpu: {}, failures: 0 }]));
  const idle = { cpu: {} };
  const rounds = Math.ceil(RUNS / BATCH);
  for (let round = 0; round < rounds; round++) {
    const order = [...ways.slice(round % ways.length), ...ways.slice(0, round % ways.length)];
    for (const way of order) {
      const r = results.get(way.key);
      const container = containerCgroup(inContainer[way.key]?.());
      const before = snapshot(pids, shims[way.key], container);
      for (let i = 0; i < BATCH; i++) {
        const t = now();
        const out = await way.run(['true', ip]);
        r.times.push(now() - t);
        if (out.code !== 0) r.failures++;
      }
      add(r.cpu, diff(before, snapshot(pids, shims[way.key], container)));
    }
    const before = snapshot(pids, []);
    await sleep(IDLE_BATCH_MS);
    add(idle.cpu, diff(before, snapshot(pids, [])));
  }

  // background rates (ms of CPU per ms of wall) while nothing of ours ran
  const rate = (k) => idle.cpu[k] / idle.cpu.t;
  const rows = [];
  for (const { way, times, cpu, failures } of results.values()) {
    const n = times.length;
    const per = (v) => v / n;
    const background = (k) => rate(k) * cpu.t;
    const dockerd = per(cpu.dockerd - background('dockerd'));
    const containerd = per(cpu.containerd - background('containerd'));
    const shimRunc = per(cpu.shims + cpu.children);
    const self = per(cpu.self);
    const host = per(cpu.host - background('host'));
    const s = stats(times);
    rows.push([
      way.label,
      String(n) + (failures ? ` (${failures} failed)` : ''),
      s.median,
      s.p90,
      dockerd,
      containerd,
      shimRunc,
      self,
      host - dockerd - containerd - shimRunc - self,
      host,
      per(cpu.host),
    ]);
  }
  printTable(
    `Per check (${RUNS} each; CPU in ms per check; dockerd, containerd and host net of the background measured in idle batches: ` +
      `host ${(rate('host') * 1000).toFixed(0)} ms/s, dockerd ${(rate('dockerd') * 1000).toFixed(1)} ms/s, containerd ${(rate('containerd') * 1000).toFixed(1)} ms/s)`,
    [
      '<way',
      'n',
      'wall median ms',
      'wall p90 ms',
      'dockerd',
      'containerd',
      'shim + runc + cmd',
      'caller (node)',
      'rest',
      'host busy (net)',
      'host busy (raw)',
    ],
    rows,
  );

  if (daemonCgroup) {
    const cgroupRows = [...results.values()].map(({ way, times, cpu }) => {
      const per = (k) => (cpu[k] - rate(k) * cpu.t) / times.length;
      const total = per('daemonTree') + per('callerTree') + per('container');
      return [
        way.label,
        per('daemonTree'),
        per('callerTree'),
        inContainer[way.key] ? per('container') : '–',
        total,
      ];
    });
    printTable(
      "Per check, by cgroup (the private daemon's; ms of CPU per check, net of its idle use " +
        `${(rate('daemonTree') * 1000).toFixed(1)} ms/s; unaffected by other load)`,
      [
        '<way',
        'dockerd + containerd + shims + runc',
        'caller + children (runc, nsenter)',
        "in the container's cgroup",
        'total',
      ],
      cgroupRows,
    );
  }

  const busyShare = rate('host') / cpus().length;
  if (busyShare > 0.3) {
    console.log(
      `\nWARNING: other work kept the host ${(busyShare * 100).toFixed(0)}% busy while this bench idled: ` +
        (daemonCgroup
          ? 'the host columns carry its noise; the cgroup table and the dockerd and containerd columns do not.'
          : 'the dockerd, containerd and host columns carry its noise; the shim/runc/command and caller columns are per process and hold (BENCH_DAEMON=private measures Docker alone).'),
    );
  }

  // ------------------------------------------------ a hung check: the cost of killing it, what stays
  const hungCases = [
    { key: 'a', how: 'remove the sidecar (force)' },
    { key: 'b', how: 'kill -KILL -<exec pid> (exec inspect)' },
    { key: 'c', how: 'kill -KILL -<exec pid> (exec inspect)' },
    { key: 'd', how: 'kill -KILL -<pid from --pid-file>' },
    { key: 'd', how: 'kill -KILL <runc> only', opts: { killRuncOnly: true } },
    { key: 'e', how: 'kill -KILL -<nsenter pgid>' },
    { key: 'e', how: 'kill -KILL <nsenter> only', opts: { killNsenterOnly: true } },
    { key: 'f', how: 'remove the sidecar (force), start a new one' },
  ].filter((c) => results.has(c.key));
  const hungRows = [];
  let marker = 7000;
  for (const c of hungCases) {
    const way = results.get(c.key).way;
    const killTimes = [];
    const left = [];
    for (let i = 0; i < HUNG_RUNS; i++) {
      const words = ['sleep', String(marker++)];
      // its host pid while it runs: a zombie left behind no longer shows its command line
      let seen = [];
      const hung = async () => {
        for (let waited = 0; seen.length === 0; waited += 10) {
          if (waited > 10_000) throw new Error(`${way.label}: the hung command never showed up`);
          await sleep(10);
          seen = pidsRunning(words);
        }
        await sleep(300);
      };
      const run = way.run(words, { hung, ...c.opts });
      const r = await run;
      killTimes.push(r.killMs);
      await sleep(300);
      const still = seen.filter((pid) => processState(pid) !== undefined);
      for (const pid of still) {
        const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
        const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
        const inSidecarCgroup = cgroup.includes(sidecar.id);
        const top = await api.getContainer(sidecar.id).top({ ps_args: '-o pid,args' });
        const inTop = top.Processes.some((p) => Number(p[0]) === pid);
        left.push(
          `pid ${pid} ${processState(pid)}, parent ${parent === 1 ? 'host init' : parent}, ` +
            `${inSidecarCgroup ? "in the sidecar's cgroup" : 'outside its cgroup'}, ${inTop ? 'in' : 'not in'} docker top`,
        );
        process.kill(pid, 'SIGKILL'); // the way a runner would end it, by pid from the host pid namespace
      }
      if (still.length > 0) await sleep(100);
    }
    const s = stats(killTimes);
    hungRows.push([
      results.get(c.key).way.label,
      c.how,
      s.median,
      s.max,
      left.length ? `${left.length}/${HUNG_RUNS}: ${left[0]}` : 'nothing',
    ]);
  }
  printTable(
    `A hung check (\`sleep N\`), killed 300 ms after it showed up (${HUNG_RUNS} each): ms from the kill to the way's end; what was left 300 ms later`,
    ['<way', '<kill', 'median ms', 'max ms', '<left running'],
    hungRows,
  );

  // ------------------------------------------------ what the command runs with, each way
  const isolationRows = [];
  for (const { way } of results.values()) {
    const r = await way.run([
      'sh',
      '-c',
      'grep -E "^(CapEff|Seccomp|NoNewPrivs):" /proc/self/status | tr "\\n\\t" "  "; echo; head -1 /proc/self/cgroup; cat /proc/self/attr/current 2>/dev/null || echo "(no LSM)"; id -u',
    ]);
    const [status, cgroup, lsm, uid] = r.output.split('\n');
    const field = (name) => new RegExp(`${name}:\\s*(\\S+)`).exec(status)?.[1] ?? '?';
    isolationRows.push([
      way.label,
      field('CapEff'),
      field('Seccomp') === '2' ? 'filter' : field('Seccomp') === '0' ? 'none' : field('Seccomp'),
      field('NoNewPrivs'),
      /docker[/-]/.test(cgroup ?? '') ? 'container' : `host (${cgroup?.split(':').pop()})`,
      (lsm ?? '').trim() || '–',
      (uid ?? '').trim(),
    ]);
  }
  console.log(`\nload average at the end: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  printTable(
    'What the command runs with',
    ['<way', 'CapEff', 'seccomp', 'NoNewPrivs', '<cgroup', '<AppArmor', 'uid'],
    isolationRows,
  );
});
