// The built `listener` as a real process for the policy tests (test/policies): its stdout read
// as pino JSON lines (its own and its monitors'), waits on those lines, a SIGTERM stop, the
// Docker facts the policies change (StartedAt, Docker's own events, anonymous volumes), and an
// etcd watch of the records, as a consumer of the registry sees them.
// Every listener started here runs with a `--prefix` of the test's own, so it never touches
// containers of other tests sharing the daemon.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { etcdOptionsFrom } from '../../packages/core/src/etcd/connection.js';
import { type RunningTool, spawnTool, type ToolOptions, type ToolResult } from './cli.js';
import type { TestEtcd } from './etcd.js';
import { DOCKER_BIN, docker, dockerOk, removeContainers, TEST_IMAGE, TEST_LABEL, waitFor } from './images.js';

/** One stdout line of the listener or of one of its monitors. */
export interface LogLine {
  level: string;
  time: string;
  tool: string;
  msg: string;
  /** the container's name (listener lines) or id (monitor lines); null on host-wide lines */
  container: string | null;
  id?: string;
  [field: string]: unknown;
}

export interface PolicyListener {
  tool: RunningTool;
  /** every JSON line so far, in order */
  readonly lines: readonly LogLine[];
  /** stdout lines that were not JSON (there should be none) */
  readonly rawLines: readonly string[];
  /** the first line, past or future, that matches */
  waitForLine(
    match: (line: LogLine) => boolean,
    opts?: { timeoutMs?: number; what?: string },
  ): Promise<LogLine>;
  /** SIGTERM, and the exit (SIGKILL after `timeoutMs`) */
  stop(timeoutMs?: number): Promise<ToolResult>;
}

/** `pt-<random>-`: a --prefix (and container name start) no other test will use. */
export function testPrefix(): string {
  return `pt-${randomBytes(4).toString('hex')}-`;
}

/**
 * Starts `listener --stdout --no-syslog …args`. Log level, --prefix, --interval and the rest
 * are the caller's: the environment tests leave some of them to MON_* variables.
 */
export function startPolicyListener(args: string[], opts: ToolOptions = {}): PolicyListener {
  const tool = spawnTool('listener', ['--stdout', '--no-syslog', ...args], { timeoutMs: 300_000, ...opts });
  const lines: LogLine[] = [];
  const rawLines: string[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  tool.child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      if (part.trim() === '') continue;
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        rawLines.push(part);
      }
    }
    for (const waiter of waiters) waiter();
  });
  tool.child.once('close', () => {
    for (const waiter of waiters) waiter();
  });

  return {
    tool,
    lines,
    rawLines,
    waitForLine(match, { timeoutMs = 15_000, what = 'a matching log line' } = {}) {
      return new Promise<LogLine>((resolve, reject) => {
        let scanned = 0;
        const done = () => {
          waiters.delete(check);
          clearTimeout(limit);
        };
        const check = () => {
          for (; scanned < lines.length; scanned++) {
            const line = lines[scanned]!;
            if (match(line)) {
              done();
              resolve(line);
              return;
            }
          }
          if (tool.child.exitCode !== null || tool.child.signalCode !== null) {
            done();
            reject(new Error(`listener exited before logging ${what}; stderr: ${tool.stderr.trim()}`));
          }
        };
        const limit = setTimeout(() => {
          done();
          const tail = lines
            .slice(-15)
            .map((l) => JSON.stringify(l))
            .join('\n');
          reject(new Error(`listener did not log ${what} within ${timeoutMs} ms; last lines:\n${tail}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(timeoutMs = 20_000) {
      if (tool.child.exitCode === null && tool.child.signalCode === null) {
        tool.child.kill('SIGTERM');
        const killer = setTimeout(() => tool.child.kill('SIGKILL'), timeoutMs);
        try {
          return await tool.exited;
        } finally {
          clearTimeout(killer);
        }
      }
      return tool.exited;
    },
  };
}

/** The listener's own line saying it subscribed and is about to run its first sweep. */
export const isListening = (line: LogLine): boolean =>
  line.tool === 'listener' && line.msg === 'listening to Docker events';

/** A listener NOTICE line about an action (`restart`, `remove`) on the container with this id. */
export const isAction =
  (action: 'restart' | 'remove', id: string) =>
  (line: LogLine): boolean =>
    line.tool === 'listener' && line.level === 'NOTICE' && line['action'] === action && line.id === id;

export const timeOf = (line: LogLine): number => Date.parse(line.time);

/**
 * `docker create --label checker.test=1 --init …args`, then returns the id without starting it,
 * so a test can read what the container owns (its anonymous volumes) before it runs and exits.
 */
export async function createContainer(args: string[]): Promise<string> {
  const out = await dockerOk(['create', '--label', TEST_LABEL, '--init', ...args], { timeoutMs: 60_000 });
  return out.split('\n').at(-1)!.trim();
}

export async function startContainer(id: string): Promise<void> {
  await dockerOk(['start', id], { timeoutMs: 60_000 });
}

/** `docker create` + start, for a container that exits with `code` after `afterSeconds`. */
export async function runExiting(
  name: string,
  code: number,
  labels: string[],
  extra: string[] = [],
  afterSeconds = 0,
) {
  const script = afterSeconds > 0 ? `sleep ${afterSeconds}; exit ${code}` : `exit ${code}`;
  const id = await createContainer([
    '--name',
    name,
    ...labelArgs(labels),
    ...extra,
    TEST_IMAGE,
    'sh',
    '-c',
    script,
  ]);
  await startContainer(id);
  return id;
}

/** ['a=1', 'b=2'] → ['--label', 'a=1', '--label', 'b=2'] */
export function labelArgs(labels: string[]): string[] {
  return labels.flatMap((label) => ['--label', label]);
}

export interface ContainerFacts {
  exists: boolean;
  status?: string;
  startedAt?: string;
  restartCount?: number;
  health?: string;
  exitCode?: number;
}

export async function containerFacts(id: string): Promise<ContainerFacts> {
  const r = await docker([
    'inspect',
    '--format',
    '{{json .State.Status}} {{json .State.StartedAt}} {{json .RestartCount}} {{if .State.Health}}{{json .State.Health.Status}}{{else}}""{{end}} {{json .State.ExitCode}}',
    id,
  ]);
  if (r.code !== 0) {
    if (/no such (object|container)/i.test(r.stderr)) return { exists: false };
    throw new Error(`docker inspect ${id}: ${r.stderr.trim()}`);
  }
  const [status, startedAt, restartCount, health, exitCode] = r.stdout
    .trim()
    .split(' ')
    .map((w) => JSON.parse(w));
  return { exists: true, status, startedAt, restartCount, health, exitCode };
}

export async function volumeExists(name: string): Promise<boolean> {
  const r = await docker(['volume', 'inspect', name]);
  if (r.code === 0) return true;
  if (/no such volume/i.test(r.stderr)) return false;
  throw new Error(`docker volume inspect ${name}: ${r.stderr.trim()}`);
}

/** The names of the container's anonymous (and named) volumes. */
export async function volumesOf(id: string): Promise<string[]> {
  const out = await dockerOk([
    'inspect',
    '--format',
    '{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}',
    id,
  ]);
  return out.split(/\s+/).filter(Boolean);
}

export interface DockerEvent {
  id: string;
  /** `start`, `die`, `restart`, `health_status: unhealthy`, … */
  action: string;
  timeMs: number;
}

export interface DockerEventRecorder {
  /** every container event of the labelled containers so far */
  readonly events: readonly DockerEvent[];
  of(id: string, actions?: string[]): DockerEvent[];
  stop(): Promise<void>;
}

/**
 * Records Docker's own container events for containers carrying `label` (key=value), from now
 * on. Live rather than asked for afterwards: the daemon keeps only its last 256 events, and
 * health checks every second (3 exec events each) push older ones out within seconds.
 */
export function recordDockerEvents(label: string): DockerEventRecorder {
  const events: DockerEvent[] = [];
  const child = spawn(
    DOCKER_BIN,
    [
      'events',
      // Replays from this moment, so nothing is lost while the CLI connects.
      '--since',
      (Date.now() / 1000).toFixed(3),
      '--filter',
      'type=container',
      '--filter',
      `label=${label}`,
      '--format',
      '{{json .}}',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      if (part.trim() === '') continue;
      const e = JSON.parse(part) as {
        id?: string;
        Actor?: { ID?: string };
        Action: string;
        timeNano: number;
      };
      events.push({ id: e.Actor?.ID ?? e.id ?? '', action: e.Action, timeMs: e.timeNano / 1e6 });
    }
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    events,
    of: (id, actions) =>
      events.filter((e) => e.id === id && (actions === undefined || actions.includes(e.action))),
    async stop() {
      child.kill('SIGTERM');
      await closed;
    },
  };
}

/** Removes the containers, then whatever of their volumes is left. */
export async function removeAll(
  ids: Iterable<string | undefined>,
  volumes: Iterable<string> = [],
): Promise<void> {
  await removeContainers(ids);
  const left = [...volumes];
  if (left.length > 0) await docker(['volume', 'rm', '-f', ...left], { timeoutMs: 30_000 });
}

export interface DockerProxy {
  /** what --control / MON_CONTROL takes */
  control: string;
  /** every request seen, in order */
  readonly requests: readonly { method: string; path: string; failed: boolean }[];
  close(): Promise<void>;
}

/**
 * A Docker API socket of the test's own in front of the real one: it passes every request
 * through (event streams included) except those `failWhen` picks, which get a 500 as from a
 * daemon in trouble. That makes a Docker call fail for real, for one container only.
 */
export async function startDockerProxy(
  failWhen: (method: string, path: string) => boolean,
  upstreamSocket = '/var/run/docker.sock',
): Promise<DockerProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'pt-docker-proxy-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: { method: string; path: string; failed: boolean }[] = [];
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const failed = failWhen(method, path);
    requests.push({ method, path, failed });
    if (failed) {
      req.resume();
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'fault injected by the test proxy' }));
      return;
    }
    const upstream = request({ socketPath: upstreamSocket, method, path, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // Pass the headers on now, as dockerd does: Node holds them back until the first body
      // byte, and an /events answer has no body until an event happens.
      res.flushHeaders();
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end(error.message);
    });
    // A client that hangs up (an event stream ended) ends the upstream request too.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    control: `unix://${socketPath}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- for the healing tests (issue 11)

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Resolves at the wall-clock time `atMs` (Date.now()), at once when it has passed. */
export const sleepUntil = (atMs: number): Promise<void> => sleep(atMs - Date.now());

/** `docker exec <id> …command`; never rejects on a non-zero exit (callers assert on `code`). */
export function dockerExec(id: string, command: string[], timeoutMs = 20_000) {
  return docker(['exec', id, ...command], { timeoutMs });
}

/**
 * The first event of the container with one of `actions`, stamped by Docker after `afterMs`
 * (exclusive), as soon as the recorder has it.
 */
export function waitForDockerEvent(
  recorder: DockerEventRecorder,
  id: string,
  actions: string[],
  {
    afterMs = Number.NEGATIVE_INFINITY,
    timeoutMs = 15_000,
    what = `${actions.join('/')} of ${id.slice(0, 12)}`,
  } = {},
): Promise<DockerEvent> {
  return waitFor(() => recorder.of(id, actions).find((e) => e.timeMs > afterMs), {
    timeoutMs,
    intervalMs: 50,
    what,
  });
}

export interface KeyChange {
  type: 'put' | 'delete';
  key: string;
  /** Date.now() when the watch delivered it: never earlier than etcd made the change */
  at: number;
  /** etcd's mod_revision of the change: the order etcd made the changes in */
  revision: number;
}

export interface KeyWatch {
  readonly changes: readonly KeyChange[];
  of(key: string): KeyChange[];
  stop(): Promise<void>;
}

/**
 * Every PUT and DELETE under `prefix` as an etcd watch (an Etcd3 client of the test's own) sees
 * them, from now on: what a consumer of the registry sees.
 */
export async function watchKeys(etcd: TestEtcd, prefix: string): Promise<KeyWatch> {
  const client = new Etcd3(etcdOptionsFrom(etcd.connection));
  const changes: KeyChange[] = [];
  const watcher = await client.watch().prefix(prefix).create();
  const push = (type: KeyChange['type']) => (kv: { key: Buffer; mod_revision: string }) =>
    changes.push({ type, key: kv.key.toString(), at: Date.now(), revision: Number(kv.mod_revision) });
  watcher.on('put', push('put'));
  watcher.on('delete', push('delete'));
  return {
    changes,
    of: (key) => changes.filter((c) => c.key === key),
    async stop() {
      await watcher.cancel().catch(() => undefined);
      client.close();
    },
  };
}
