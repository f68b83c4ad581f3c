// A second Docker daemon that a fault test owns and may stop, kill and start again without
// touching the host's daemon: its own data root, exec root, socket, pid file and its own bridge
// (never `--bridge=none`, which deletes the host's docker0), no iptables rules. The test image is
// loaded into it from the host daemon. Everything is undone by `cleanup()`, and the daemon is
// killed at process exit even when a test forgets.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DOCKER_BIN,
  type DockerOptions,
  type DockerResult,
  docker,
  ensureTestImage,
  TEST_IMAGE,
} from './images.js';

const run = promisify(execFile);

export const DOCKERD_BIN = process.env.CHECKER_TEST_DOCKERD ?? 'dockerd';

export interface SecondDockerd {
  /** path of the daemon's socket */
  socket: string;
  /** what --control / DOCKER_HOST take: `unix://<socket>` */
  control: string;
  /** the temp dir holding data root, exec root, socket, pid file and the daemon's log */
  dir: string;
  bridge: string;
  /** the Docker CLI against this daemon (never rejects on a non-zero exit) */
  docker(args: string[], opts?: DockerOptions): Promise<DockerResult>;
  /** the daemon's log so far (for failure messages) */
  log(): Promise<string>;
  /** SIGTERM, and wait for the daemon to exit (it stops its containers unless live-restore) */
  stop(): Promise<void>;
  /** SIGKILL the daemon and its containerd, and wait (the shims and containers stay) */
  kill(): Promise<void>;
  /** start again with the same configuration, and wait until it answers */
  start(): Promise<void>;
  /** remove every container, stop, unmount, delete the temp dir and the bridge */
  cleanup(): Promise<void>;
}

export interface SecondDockerdOptions {
  /** keep containers running while the daemon is down (default false) */
  liveRestore?: boolean;
  /** how long `start` waits for `docker version` (default 30 s) */
  readyTimeoutMs?: number;
}

const daemons = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of daemons) child.kill('SIGKILL');
});

/** Starts a second dockerd with the test image loaded. */
export async function startSecondDockerd(options: SecondDockerdOptions = {}): Promise<SecondDockerd> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const control = `unix://${socket}`;
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const pidFile = join(dir, 'docker.pid');
  const logFile = join(dir, 'dockerd.log');
  // Bridge names are at most 15 characters.
  const bridge = `chk${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`.slice(0, 15);
  const args = [
    `--data-root=${dataRoot}`,
    `--exec-root=${execRoot}`,
    `-H`,
    control,
    `--pidfile=${pidFile}`,
    `--bridge=${bridge}`,
    '--iptables=false',
    '--ip-masq=false',
    ...(options.liveRestore ? ['--live-restore'] : []),
  ];
  const cli = (cliArgs: string[], opts: DockerOptions = {}) => docker(['-H', control, ...cliArgs], opts);

  let child: ChildProcess | undefined;
  let bridgeMade = false;

  const launch = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    // A killed daemon leaves its pid file, and the next one refuses to start ("pid file found").
    await rm(pidFile, { force: true });
    const log = openSync(logFile, 'a');
    const started = spawn(DOCKERD_BIN, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    daemons.add(started);
    started.once('exit', () => daemons.delete(started));
    child = started;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`dockerd exited (${started.exitCode ?? started.signalCode}); see ${logFile}`);
      }
      // `docker version` answers only once the daemon serves requests, not when the socket merely accepts.
      const r = await cli(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5_000 });
      if (r.code === 0) return;
      if (Date.now() > deadline) {
        started.kill('SIGKILL');
        throw new Error(
          `dockerd did not answer within ${options.readyTimeoutMs ?? 30_000} ms; see ${logFile}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const halt = async (signal: NodeJS.Signals) => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    await exited;
  };

  const daemon: SecondDockerd = {
    socket,
    control,
    dir,
    bridge,
    docker: cli,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    stop: () => halt('SIGTERM'),
    kill: async () => {
      await halt('SIGKILL');
      // The daemon's own containerd would be left writing its log into a pipe nobody reads,
      // and the next daemon would hang connecting to it: it dies with the daemon, as in a
      // crash of the whole engine. The shims, and so the containers, live on.
      const pid = Number(
        (await readFile(join(execRoot, 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim(),
      );
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
        for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i += 1)
          await new Promise((r) => setTimeout(r, 100));
      }
    },
    start: launch,
    cleanup: async () => {
      // A running daemon removes its containers best; a killed one left containerd and the
      // shims behind, which a new start picks up again.
      try {
        await launch();
        const ids = (await cli(['ps', '-aq'], { timeoutMs: 10_000 })).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await cli(['rm', '-f', '-v', ...ids], { timeoutMs: 60_000 });
      } catch {
        // go on: what follows still frees what it can
      }
      await halt('SIGTERM');
      await killLeftovers(dir);
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (bridgeMade) await run('ip', ['link', 'delete', bridge]).catch(() => undefined);
    },
  };

  try {
    const subnet = await freeSubnet();
    await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    bridgeMade = true;
    await run('ip', ['addr', 'add', `10.199.${subnet}.1/24`, 'dev', bridge]);
    await run('ip', ['link', 'set', bridge, 'up']);
    await launch();
    await loadTestImage(control);
    return daemon;
  } catch (error) {
    const log = await daemon.log();
    await daemon.cleanup();
    throw new Error(`cannot start a second dockerd: ${(error as Error).message}\n${log.slice(-2000)}`);
  }
}

/** `docker save TEST_IMAGE | docker -H <control> load`: the daemon cannot pull. */
async function loadTestImage(control: string): Promise<void> {
  await ensureTestImage();
  await new Promise<void>((resolve, reject) => {
    const save = spawn(DOCKER_BIN, ['save', TEST_IMAGE], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn(DOCKER_BIN, ['-H', control, 'load', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const errors: Buffer[] = [];
    save.stderr.on('data', (b: Buffer) => errors.push(b));
    load.stderr.on('data', (b: Buffer) => errors.push(b));
    save.stdout.pipe(load.stdin);
    load.stdin.on('error', () => {});
    let saved: number | null = null;
    save.on('close', (code) => {
      saved = code;
    });
    save.on('error', reject);
    load.on('error', reject);
    load.on('close', (code) => {
      if (code === 0 && saved === 0) resolve();
      else
        reject(
          new Error(
            `loading ${TEST_IMAGE}: save ${saved}, load ${code}: ${Buffer.concat(errors).toString().trim()}`,
          ),
        );
    });
  });
}

/** A third octet n with 10.199.n.0/24 on no interface of this host. */
async function freeSubnet(): Promise<number> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set([...stdout.matchAll(/10\.199\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = 1 + Math.floor(Math.random() * 250);
  for (let i = 0; i < 254; i += 1) {
    const n = ((start + i) % 254) + 1;
    if (!used.has(n)) return n;
  }
  throw new Error('no free 10.199.n.0/24 subnet');
}

/** Processes (containerd, shims) whose command line names our temp dir: ours, by pid. */
async function killLeftovers(dir: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Unmounts whatever is mounted below dir (overlay layers, netns files, a bind of the data root). */
async function unmountUnder(dir: string): Promise<void> {
  if (!existsSync('/proc/self/mountinfo')) return;
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    // deepest first
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run('umount', ['-l', point]).catch(() => undefined);
}
