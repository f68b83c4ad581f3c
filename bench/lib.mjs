// Shared helpers of the benchmark scripts (plain Node ESM, run after `npm run build`):
// statistics and tables, the Docker CLI as a function, the tiny busybox image, a private etcd,
// the built CLIs as child processes, Docker events and etcd watches as timelines of arrivals,
// PSS from /proc, and the cleanup of everything a bench made (by id, also on error and signals).
//
// Every timestamp a bench compares is taken in this process on arrival: `t` is
// performance.now() (monotonic, fractional ms) for latencies between two arrivals, `wall` is
// Date.now() for comparing with the tools' log lines (pino isoTime, ms resolution).
import { execFile, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { Etcd3 } from 'etcd3';

const execFileP = promisify(execFile);

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The Debian CLI matches the 20.10 engine; a newer one may be first on PATH. */
export const DOCKER_BIN = process.env.CHECKER_BENCH_DOCKER ?? '/usr/bin/docker';
export const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? 'etcdctl';
/** Built by the integration tests' setup; reused when present, never removed by a bench. */
export const TEST_IMAGE = 'checker-test/busybox:latest';
const BUSYBOX = '/bin/busybox';

/** This run: in container names, the bench label and the image tag a bench builds itself. */
export const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
export const BENCH_LABEL_KEY = 'checker.bench';
export const BENCH_LABEL = `${BENCH_LABEL_KEY}=${RUN_ID}`;

/** A container-name prefix no other run picks (the listener's --prefix takes it too). */
export function uniquePrefix(what) {
  return `bench-${what}-${RUN_ID}-${Math.random().toString(36).slice(2, 6)}-`;
}

export const now = () => performance.now();
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- statistics and tables

function sorted(values) {
  return values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

export function median(values) {
  const s = sorted(values);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100): with 20 values p90 is the 18th, p99 the 20th. */
export function percentile(values, p) {
  const s = sorted(values);
  if (s.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1];
}

export const p90 = (values) => percentile(values, 90);
export const p99 = (values) => percentile(values, 99);

export function stats(values) {
  const s = sorted(values);
  return {
    n: s.length,
    median: median(s),
    p90: p90(s),
    p99: p99(s),
    min: s.length ? s[0] : Number.NaN,
    max: s.length ? s[s.length - 1] : Number.NaN,
  };
}

export function fmt(value, digits = 1) {
  if (value === undefined || value === null || Number.isNaN(value)) return '–';
  if (typeof value !== 'number') return String(value);
  return value.toFixed(digits);
}

export const fmtMb = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '–');

/**
 * Prints a table: columns are headers (a leading '<' aligns the column left, else right);
 * rows are arrays of cells (numbers are formatted with one decimal; pass counts as strings).
 */
export function printTable(title, columns, rows) {
  const heads = columns.map((c) => c.replace(/^</, ''));
  const left = columns.map((c) => c.startsWith('<'));
  const cells = rows.map((row) =>
    row.map((cell) => (typeof cell === 'number' ? fmt(cell) : String(cell ?? '–'))),
  );
  const widths = heads.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r) =>
    `| ${r.map((cell, i) => (left[i] ? (cell ?? '').padEnd(widths[i]) : (cell ?? '').padStart(widths[i]))).join(' | ')} |`;
  const out = [];
  if (title) out.push('', title, '');
  out.push(line(heads));
  out.push(
    `|${widths.map((w, i) => (left[i] ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
  );
  for (const r of cells) out.push(line(r));
  console.log(out.join('\n'));
}

export const verdict = (ok) => (ok ? 'met' : 'NOT met');

// ---------------------------------------------------------------- cleanup of what a bench made

const made = {
  /** child processes, stopped in reverse order of start */
  processes: [],
  containers: new Set(),
  images: new Set(),
  dirs: new Set(),
  /** async functions run first (close clients, stop streams), in reverse order */
  hooks: [],
};

export function onCleanup(fn) {
  made.hooks.push(fn);
}

export function trackContainer(id) {
  made.containers.add(id);
}

export function untrackContainer(id) {
  made.containers.delete(id);
}

/** graceMs: how long SIGTERM may take before SIGKILL (the listener waits for its monitors). */
export function trackProcess(child, { graceMs = 5000 } = {}) {
  const entry = { child, graceMs };
  made.processes.push(entry);
  child.once('exit', () => {
    const i = made.processes.indexOf(entry);
    if (i >= 0) made.processes.splice(i, 1);
  });
  return child;
}

const alive = (child) => child.exitCode === null && child.signalCode === null;

/** SIGTERM, then SIGKILL after graceMs; resolves with {code, signal} once it exited. */
export function stopProcess(child, graceMs = 5000) {
  if (!alive(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      console.error(`pid ${child.pid} did not end ${graceMs} ms after SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
    child.kill('SIGTERM');
  });
}

let cleaning;

/** Undoes everything tracked: hooks, processes, containers (also any with this run's label), images, dirs. */
export function cleanupAll() {
  cleaning ??= (async () => {
    for (const hook of made.hooks.splice(0).reverse()) {
      await Promise.resolve()
        .then(hook)
        .catch((e) => console.error(`cleanup: ${e.message}`));
    }
    for (const { child, graceMs } of made.processes.splice(0).reverse()) await stopProcess(child, graceMs);
    // Containers made by this run but not yet tracked (a `docker run` cut short) carry the label.
    const labelled = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${BENCH_LABEL}`]).catch(
      () => undefined,
    );
    for (const id of labelled?.stdout.split('\n') ?? []) if (id.trim()) made.containers.add(id.trim());
    const ids = [...made.containers];
    if (ids.length > 0) {
      const r = await docker(['rm', '-f', '-v', ...ids], { timeoutMs: 120_000 });
      const problems = r.stderr
        .split('\n')
        .filter((l) => l.trim() && !/no such container|already in progress/i.test(l));
      if (problems.length > 0) console.error(`cleanup: docker rm: ${problems.join('; ')}`);
      made.containers.clear();
    }
    for (const ref of made.images) {
      const r = await docker(['rmi', ref]);
      if (r.code !== 0) console.error(`cleanup: docker rmi ${ref}: ${r.stderr.trim()}`);
    }
    made.images.clear();
    for (const dir of made.dirs) await rm(dir, { recursive: true, force: true });
    made.dirs.clear();
  })();
  return cleaning;
}

/** Last resort at process exit (synchronous): what cleanupAll did not get to. */
function cleanupAtExit() {
  for (const { child } of made.processes) if (alive(child)) child.kill('SIGKILL');
  if (made.containers.size > 0)
    spawnSync(DOCKER_BIN, ['rm', '-f', '-v', ...made.containers], { stdio: 'ignore' });
  for (const ref of made.images) spawnSync(DOCKER_BIN, ['rmi', ref], { stdio: 'ignore' });
  for (const dir of made.dirs) rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs a bench: cleanup in every case (return, throw, SIGINT/SIGTERM/SIGHUP, process exit),
 * then exits 0, or 1 when main threw (130/143 on a signal).
 */
export async function runBench(name, main) {
  let signalled = false;
  const onSignal = (signal) => {
    if (signalled) {
      process.exit(128 + constants.signals[signal]); // a second signal: the exit handler kills what is left
    }
    signalled = true;
    console.error(`\n${name}: ${signal}: cleaning up`);
    cleanupAll().finally(() => process.exit(128 + constants.signals[signal]));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);
  process.on('exit', cleanupAtExit);
  process.on('unhandledRejection', (e) => {
    console.error(`${name}: unhandled rejection: ${e?.stack ?? e}`);
  });
  let code = 0;
  try {
    await main();
  } catch (error) {
    console.error(`\n${name}: FAILED: ${error?.stack ?? error}`);
    code = 1;
  } finally {
    await cleanupAll();
  }
  process.exit(code);
}

// ---------------------------------------------------------------- Docker CLI

/** Runs the Docker CLI; never rejects on a non-zero exit. Resolves {stdout, stderr, code, ms, timedOut}. */
export function docker(args, { input, timeoutMs, env } = {}) {
  return runProcess(DOCKER_BIN, args, { input, timeoutMs, env });
}

/** Like docker(), but a non-zero exit is an error with the command and its stderr. */
export async function dockerOk(args, opts = {}) {
  const r = await docker(args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exit ${r.code}`;
    throw new Error(`docker ${args.join(' ')}: ${why}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout.trim();
}

/**
 * Spawns a command, collects its output and times it (wall ms from spawn to close, as a shell
 * user sees it). Tracked while it runs so that an interrupted bench stops it.
 */
export function runProcess(cmd, args, { input, timeoutMs, env } = {}) {
  return new Promise((resolve, reject) => {
    const started = now();
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    trackProcess(child, { graceMs: 15_000 });
    const out = [];
    const err = [];
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, timeoutMs);
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        ms: now() - started,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? 128 + (constants.signals[signal] ?? 0),
        timedOut,
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** `docker run -d --label checker.bench=<run> …args`; resolves with the full id, tracked for cleanup. */
export async function runContainer(args) {
  const out = await dockerOk(['run', '-d', '--label', BENCH_LABEL, ...args], { timeoutMs: 60_000 });
  const id = out.split('\n').at(-1).trim();
  trackContainer(id);
  return id;
}

/** `docker rm -f -v` by id; containers already gone are fine. */
export async function removeContainers(ids) {
  const list = [...ids].filter(Boolean);
  if (list.length === 0) return;
  const r = await docker(['rm', '-f', '-v', ...list], { timeoutMs: 120_000 });
  const problems = r.stderr
    .split('\n')
    .filter((l) => l.trim() && !/no such container|already in progress/i.test(l));
  if (r.code !== 0 && problems.length > 0) throw new Error(`docker rm -f -v: ${problems.join('; ')}`);
  for (const id of list) untrackContainer(id);
}

export function dockerApi() {
  const host = process.env.DOCKER_HOST;
  const socketPath = host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
  return new Docker({ socketPath });
}

/**
 * The busybox image: TEST_IMAGE when it exists (left alone), else built under a tag of this
 * run (FROM scratch + the host's static busybox) and removed at cleanup. Resolves {ref, id}.
 */
export async function ensureImage() {
  const inspect = async (ref) => {
    const r = await docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  };
  const existing = await inspect(TEST_IMAGE);
  if (existing) return { ref: TEST_IMAGE, id: existing };
  const ref = `checker-bench/busybox:${RUN_ID}`;
  const dir = await mkdtemp(join(tmpdir(), 'checker-bench-image-'));
  try {
    await copyFile(BUSYBOX, join(dir, 'busybox')).catch((e) => {
      throw new Error(`cannot read ${BUSYBOX} (${e.message}): apt-get install busybox-static`);
    });
    await writeFile(
      join(dir, 'Dockerfile'),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n',
    );
    made.images.add(ref);
    await dockerOk(['build', '-q', '-t', ref, dir], {
      timeoutMs: 120_000,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { ref, id: await inspect(ref) };
}

/** The container's address on the default bridge, else on its first network. */
export async function containerIp(id) {
  const out = await dockerOk(['inspect', '--format', '{{json .NetworkSettings}}', id]);
  const settings = JSON.parse(out);
  if (settings.IPAddress) return settings.IPAddress;
  const names = Object.keys(settings.Networks ?? {}).sort();
  for (const n of names) if (settings.Networks[n].IPAddress) return settings.Networks[n].IPAddress;
  return '127.0.0.1';
}

// ---------------------------------------------------------------- timelines of arrivals

/** Entries in arrival order, each with its index; waits that also look at what already arrived. */
export class Timeline {
  entries = [];
  waiters = new Set();

  get length() {
    return this.entries.length;
  }

  push(entry) {
    entry.index = this.entries.length;
    this.entries.push(entry);
    for (const w of [...this.waiters]) {
      if (entry.index >= w.from && w.pred(entry)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(entry);
      }
    }
  }

  find(pred, from = 0) {
    for (let i = from; i < this.entries.length; i++) if (pred(this.entries[i])) return this.entries[i];
    return undefined;
  }

  filter(pred, from = 0) {
    return this.entries.slice(from).filter(pred);
  }

  /** The first entry from index `from` on that matches, already arrived or not. */
  waitFor(pred, { from = 0, timeoutMs = 10_000, what = 'an entry' } = {}) {
    const hit = this.find(pred, from);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { pred, from, resolve };
      w.timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }
}

/**
 * Docker's container events (of this run's containers only, by label) as a Timeline of
 * {id, action, name, attributes, timeNano, t, wall}. `action` is Docker's, e.g. `die`,
 * `health_status: unhealthy`.
 */
export async function dockerEvents({ label = BENCH_LABEL } = {}) {
  const api = dockerApi();
  const timeline = new Timeline();
  const stream = await api.getEvents({ filters: { type: ['container'], label: [label] } });
  let buffer = '';
  stream.on('data', (chunk) => {
    const t = now();
    const wall = Date.now();
    buffer += chunk.toString('utf8');
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
      if (!line) continue;
      try {
        const e = JSON.parse(line);
        const attributes = e.Actor?.Attributes ?? {};
        timeline.push({
          id: e.Actor?.ID ?? e.id,
          action: e.Action ?? e.status,
          name: attributes.name,
          attributes,
          timeNano: e.timeNano,
          t,
          wall,
        });
      } catch {
        // not JSON: ignore
      }
    }
  });
  stream.on('error', (e) => console.error(`Docker event stream: ${e.message}`));
  const close = () => stream.destroy();
  onCleanup(close);
  return { timeline, close };
}

/**
 * Watches an etcd prefix: a Timeline of {type: 'put'|'delete', key, value, t, wall}, plus the
 * client for reads. Closed at cleanup.
 */
export async function watchKeys(endpoint, prefix = '/SERVICE/') {
  const client = new Etcd3({ hosts: endpoint });
  const timeline = new Timeline();
  const watcher = await client.watch().prefix(prefix).create();
  watcher.on('put', (kv) =>
    timeline.push({
      type: 'put',
      key: kv.key.toString(),
      value: kv.value.toString(),
      t: now(),
      wall: Date.now(),
    }),
  );
  watcher.on('delete', (kv) =>
    timeline.push({ type: 'delete', key: kv.key.toString(), t: now(), wall: Date.now() }),
  );
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await watcher.cancel().catch(() => undefined);
    client.close();
  };
  onCleanup(close);
  return {
    timeline,
    client,
    /** the keys under `under` now */
    keys: async (under = prefix) => Object.keys(await client.getAll().prefix(under).strings()),
    close,
  };
}

export const serviceKey = (id, imageName = 'busybox', prefix = '/SERVICE') => `${prefix}/${imageName}/${id}`;

// ---------------------------------------------------------------- etcd

async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * A private etcd on free loopback ports with a temp data dir; stopped and its dir removed at
 * cleanup (or by `stop()`). Resolves {endpoint, hostPort, dir, stop}.
 */
export async function startEtcd() {
  const dir = await mkdtemp(join(tmpdir(), 'checker-bench-etcd-'));
  made.dirs.add(dir);
  const [clientPort, peerPort] = await freePorts(2);
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const log = openSync(join(dir, 'etcd.log'), 'a');
  const child = spawn(
    ETCD_BIN,
    [
      '--name=bench',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=bench=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=warn',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  trackProcess(child, { graceMs: 5000 });
  const deadline = Date.now() + 15_000;
  let lastError;
  for (;;) {
    if (!alive(child)) {
      let tail = '';
      try {
        tail = readFileSync(join(dir, 'etcd.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
      } catch {}
      throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}):\n${tail}`);
    }
    try {
      await execFileP(ETCDCTL_BIN, [`--endpoints=${endpoint}`, '--dial-timeout=1s', 'get', 'bench-probe'], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      break;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`etcd did not answer within 15 s: ${lastError?.message}`);
    await sleep(50);
  }
  return {
    endpoint,
    hostPort: `127.0.0.1:${clientPort}`,
    dir,
    stop: async () => {
      await stopProcess(child, 5000);
      await rm(dir, { recursive: true, force: true });
      made.dirs.delete(dir);
    },
  };
}

// ---------------------------------------------------------------- the built CLIs

export const binOf = (tool) => join(ROOT, 'packages', tool, 'bin', 'run.js');

/** The environment without MON_* variables, so only the bench's flags count. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MON_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `node packages/<tool>/bin/run.js …args` with its stdout parsed as JSON lines into a
 * Timeline ({...line, t, wall, at: Date.parse(line.time)}); the last stderr lines are kept for
 * error messages. Stopped (SIGTERM, then SIGKILL after graceMs) at cleanup.
 */
export function startTool(tool, args, { graceMs = 15_000, env } = {}) {
  const child = spawn(process.execPath, [binOf(tool), ...args], {
    env: env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackProcess(child, { graceMs });
  const logs = new Timeline();
  const stderr = [];
  const other = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const t = now();
    const wall = Date.now();
    let parsed;
    try {
      parsed = JSON.parse(line);
    } catch {
      other.push(line);
      if (other.length > 50) other.shift();
      return;
    }
    logs.push({ ...parsed, at: Date.parse(parsed.time), t, wall });
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 50) stderr.shift();
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    pid: child.pid,
    logs,
    exited,
    alive: () => alive(child),
    /** what it said on stderr (and non-JSON stdout), for error messages */
    said: () => [...stderr, ...other].slice(-20).join('\n'),
    stop: () => stopProcess(child, graceMs),
  };
}

/**
 * Starts the listener as the benchmarks run it (exec checks, JSON lines on stdout, sweeps every
 * 10 s, only containers named `prefix…`) and waits until it listens to Docker's events.
 */
export async function startListener({ etcd, prefix, args = [] }) {
  const listener = startTool(
    'listener',
    [
      '--etcd-host',
      etcd.hostPort,
      '--stdout',
      '--no-syslog',
      '--prefix',
      prefix,
      // exec unless the bench asks for another mode
      ...(args.includes('--mode') ? [] : ['--mode', 'exec']),
      '--interval',
      '10000',
      ...args,
    ],
    { graceMs: 30_000 },
  );
  await listener.logs
    .waitFor((l) => l.msg === 'listening to Docker events', {
      timeoutMs: 30_000,
      what: 'the listener to listen',
    })
    .catch((e) => {
      throw new Error(`${e.message}: ${listener.said()}`);
    });
  return listener;
}

// ---------------------------------------------------------------- memory and processes

/** Proportional set size of a process in kB (the `Pss:` line of smaps_rollup); undefined when gone. */
export function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Pids of a process's children (`ps --ppid <pid> -o pid=`). */
export async function childPids(pid) {
  try {
    const { stdout } = await execFileP('ps', ['--ppid', String(pid), '-o', 'pid=']);
    return stdout
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch (e) {
    if (e.code === 1) return []; // ps: no such process
    throw e;
  }
}

/** Runs fn over items with at most `limit` at a time; resolves with the results in order. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}
