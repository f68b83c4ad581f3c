// bench:listener — what the listener and its monitors cost, as an operator runs them
// (--mode exec by default, containers with HEALTHCHECK=true, the default --warm 2):
//   1. N = 1 on an idle host: one container at a time (BENCH_TRIALS of them): `start` event →
//      key put (etcd watch), and `rm -f`: `die` (and `kill`) → key delete.
//   2. The same with 25 containers already running and registered.
//   3. A burst of 30 started at once on that host: start → key, median / max.
//   4. The listener SIGKILLed: time until every child is gone; then a new listener: DELETEs of
//      the running containers' keys an etcd watch sees over more than a TTL (should be 0).
//   5. N = 20 and N = 100 started at once on an idle host: start → key (median, p90, p99, max),
//      etcd connections of the listener and its children, PSS per monitor (median, max) and in
//      all, then all removed at once: die → key gone, leaked keys and monitors.
//   6. Where one monitor child's boot goes, package by package (bench/boot-profile.mjs).
// Knobs: BENCH_SIZES (20,100), BENCH_TRIALS (10), BENCH_MODE (exec), BENCH_HEALTHCHECK (true).
// Targets (issue 8): 1 etcd connection; monitor PSS median ≤ 11 MB at N = 100 (≤ 14 at 20);
// start → key ≤ 100 ms median on a host running 25 (exec); burst of 30 ≤ 3 s median, ≤ 6 s max;
// N = 100 burst median ≤ 6 s; SIGKILL → children gone ≤ 1 s; 0 records deleted by a restart.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { bootProfile } from './boot-profile.mjs';
import {
  BENCH_LABEL_KEY,
  dockerApi,
  dockerEvents,
  ensureImage,
  fmtMb,
  median,
  pool,
  printTable,
  pssKb,
  RUN_ID,
  runBench,
  serviceKey,
  sleep,
  startEtcd,
  startListener,
  stats,
  trackContainer,
  uniquePrefix,
  untrackContainer,
  verdict,
  watchKeys,
} from './lib.mjs';

const execFileP = promisify(execFile);
const SIZES = (process.env.BENCH_SIZES ?? '20,100')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 10);
const MODE = process.env.BENCH_MODE ?? 'exec';
const HEALTHCHECK = process.env.BENCH_HEALTHCHECK ?? 'true';
/** The background containers check every 30 s (the default): TTL 61 s, which the restart test outlasts. */
const BACKGROUND_PERIOD = 30;
const fmt1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const cols = (s) => [fmt1(s.median), fmt1(s.p90), fmt1(s.p99), fmt1(s.max)];

await runBench('bench:listener', async () => {
  const image = await ensureImage();
  const etcd = await startEtcd();
  const watch = await watchKeys(etcd.endpoint);
  const events = await dockerEvents();
  const api = dockerApi();
  const ctx = { image, etcd, watch, events, api };
  console.log(
    `bench:listener on Node ${process.versions.node}, --mode ${MODE}, HEALTHCHECK=${HEALTHCHECK || '(none)'}`,
  );

  // 1–4 on one listener.
  const prefix = uniquePrefix('one');
  let listener = await start(ctx, prefix);
  await sleep(1000); // its warm monitors boot
  console.log('bench:listener: N = 1 on an idle host');
  const idle = await singles(ctx, listener, prefix, 'idle');
  console.log('bench:listener: 25 running');
  const background = await createMany(ctx, prefix, 'bg', 25, [`HEALTHCHECKPERIOD=${BACKGROUND_PERIOD}`]);
  const bgUp = await startAll(ctx, background);
  await sleep(2000);
  console.log('bench:listener: N = 1 on a host running 25');
  const busy = await singles(ctx, listener, prefix, 'busy');
  console.log('bench:listener: a burst of 30 on a host running 25');
  const burst = await createMany(ctx, prefix, 'burst', 30);
  const burstUp = await startAll(ctx, burst);
  await removeAll(ctx, burst);
  const connections25 = await etcdConnections(etcd, listener.pid);

  console.log('bench:listener: SIGKILL, and a new listener');
  const restart = await killAndRestart(ctx, listener, prefix, background);
  listener = restart.listener;
  await removeAll(ctx, background);
  await listener.stop();

  // 5: bursts on idle hosts, a fresh listener each.
  const sizes = [];
  for (const n of SIZES) {
    console.log(`bench:listener: N = ${n} at once`);
    sizes.push(await burstOf(ctx, n));
  }

  console.log('bench:listener: one child boot, profiled');
  const profile = await bootProfile();

  printTable(
    `start → key, one container at a time (${TRIALS} trials each), and bursts; ms (${new Date().toISOString()})`,
    ['host', 'n', 'median', 'p90', 'p99', 'max', 'keys'],
    [
      ['idle, N = 1', '1', ...cols(idle.up), `${idle.up.n}/${TRIALS}`],
      ['running 25, N = 1', '1', ...cols(busy.up), `${busy.up.n}/${TRIALS}`],
      ['running 25, burst', '30', ...cols(burstUp), `${burstUp.n}/30`],
      ...sizes.map((s) => ['idle, burst', String(s.n), ...cols(s.up), `${s.up.n}/${s.n}`]),
      ['(the 25 themselves)', '25', ...cols(bgUp), `${bgUp.n}/25`],
    ],
  );
  printTable(
    'removal: key gone after the event (ms; negative: gone before that event arrived here)',
    ['host', 'n', 'kill→gone med', 'die→gone med', 'die→gone p99', 'leaked keys'],
    [
      [
        'idle, N = 1',
        '1',
        fmt1(idle.down.kill.median),
        fmt1(idle.down.die.median),
        fmt1(idle.down.die.p99),
        String(idle.leaked),
      ],
      [
        'running 25, N = 1',
        '1',
        fmt1(busy.down.kill.median),
        fmt1(busy.down.die.median),
        fmt1(busy.down.die.p99),
        String(busy.leaked),
      ],
      ...sizes.map((s) => [
        'idle, burst',
        String(s.n),
        fmt1(s.down.kill.median),
        fmt1(s.down.die.median),
        fmt1(s.down.die.p99),
        String(s.leaked),
      ]),
    ],
  );
  printTable(
    'memory and connections, once every monitor is idle',
    [
      'N',
      'monitors',
      'warm',
      'monitor PSS med',
      'max',
      'total PSS (monitors)',
      'listener PSS',
      'etcd connections',
      'of which children',
    ],
    sizes.map((s) => [
      String(s.n),
      String(s.mem.monitors.length),
      String(s.mem.warm),
      fmtMb(median(s.mem.monitors)),
      fmtMb(Math.max(...s.mem.monitors)),
      fmtMb(s.mem.monitors.reduce((a, v) => a + v, 0)),
      fmtMb(s.mem.listener),
      String(s.connections.total),
      String(s.connections.children),
    ]),
  );
  printTable(
    'the listener SIGKILLed with 25 registered containers, then started again',
    ['what', 'value'],
    [
      ['children gone after the SIGKILL', `${restart.goneMs.toFixed(0)} ms`],
      [
        'keys of running containers deleted (watch, over ' + restart.watchedMs / 1000 + ' s)',
        String(restart.deletes),
      ],
      ['keys rewritten (PUTs of unchanged values)', String(restart.puts)],
      ['keys present at the end', `${restart.present}/25`],
      [
        'etcd connections with 25 (+ warm) monitors',
        `${connections25.total} (children: ${connections25.children})`,
      ],
    ],
  );
  printTable(
    `one monitor child's boot (Node ${process.versions.node}), CPU profile by package (profiler overhead included)`,
    ['part', 'CPU ms', 'kB in bundle'],
    [
      ['(unprofiled boot: wall / CPU)', `${profile.booted.wallMs.toFixed(0)} / ${profile.booted.cpuMs}`, ''],
      [
        '(its PSS / private dirty at boot, MB)',
        `${fmtMb(profile.booted.pssKb)} / ${fmtMb(profile.booted.privateDirtyKb)}`,
        '',
      ],
      ...profile.parts.slice(0, 16).map((p) => [p.part, p.ms.toFixed(1), p.kb ? p.kb.toFixed(0) : '']),
      ['(bundle, all packages)', '', profile.bundleKb.toFixed(0)],
    ],
  );

  const at100 = sizes.find((s) => s.n === 100);
  const at20 = sizes.find((s) => s.n === 20);
  const maxConnections = Math.max(connections25.total, ...sizes.map((s) => s.connections.total));
  const leaked = idle.leaked + busy.leaked + sizes.reduce((a, s) => a + s.leaked + s.leakedMonitors, 0);
  printTable(
    'targets (issue 8)',
    ['<what', 'value', '<target', '<result'],
    [
      ['etcd connections, listener + monitors', String(maxConnections), '1', verdict(maxConnections === 1)],
      ...(at100
        ? [
            [
              'monitor PSS median, N = 100',
              `${fmtMb(median(at100.mem.monitors))} MB`,
              '≤ 11 MB',
              verdict(median(at100.mem.monitors) <= 11 * 1024),
            ],
          ]
        : []),
      ...(at20
        ? [
            [
              'monitor PSS median, N = 20',
              `${fmtMb(median(at20.mem.monitors))} MB`,
              '≤ 14 MB',
              verdict(median(at20.mem.monitors) <= 14 * 1024),
            ],
          ]
        : []),
      [
        'start → key, host running 25, median',
        `${fmt1(busy.up.median)} ms`,
        MODE === 'exec' ? '≤ 100 ms' : '≤ 200 ms',
        verdict(busy.up.median <= (MODE === 'exec' ? 100 : 200)),
      ],
      [
        'burst of 30 on that host, median / max',
        `${fmt1(burstUp.median)} / ${fmt1(burstUp.max)} ms`,
        '≤ 3000 / 6000 ms',
        verdict(burstUp.median <= 3000 && burstUp.max <= 6000),
      ],
      ...(at100
        ? [
            [
              'N = 100 burst, median',
              `${fmt1(at100.up.median)} ms`,
              '≤ 6000 ms',
              verdict(at100.up.median <= 6000),
            ],
          ]
        : []),
      [
        'listener SIGKILL → children gone',
        `${restart.goneMs.toFixed(0)} ms`,
        '≤ 1000 ms',
        verdict(restart.goneMs <= 1000),
      ],
      ['records deleted by a listener restart', String(restart.deletes), '0', verdict(restart.deletes === 0)],
      ['leaked keys and monitors', String(leaked), '0', verdict(leaked === 0)],
    ],
  );
});

async function start({ etcd }, prefix) {
  return startListener({ etcd, prefix, args: ['--mode', MODE, '--loglevel', 'INFO'] });
}

async function createMany({ image, api }, prefix, what, n, env = []) {
  return pool(
    Array.from({ length: n }, (_, i) => i),
    10,
    async (i) => {
      const c = await api.createContainer({
        Image: image.ref,
        name: `${prefix}${what}-${i}`,
        Cmd: ['sleep', '600'],
        Env: [...(HEALTHCHECK ? [`HEALTHCHECK=${HEALTHCHECK}`] : []), ...env],
        Labels: { [BENCH_LABEL_KEY]: RUN_ID },
        HostConfig: { Init: true },
      });
      trackContainer(c.id);
      return c.id;
    },
  );
}

/** Starts the containers at once; resolves the start event → key put latencies (stats). */
async function startAll({ api, events, watch }, ids) {
  const fromE = events.timeline.length;
  const fromK = watch.timeline.length;
  await Promise.all(ids.map((id) => api.getContainer(id).start()));
  const ups = await Promise.all(
    ids.map(async (id) => {
      try {
        const started = await events.timeline.waitFor((e) => e.id === id && e.action === 'start', {
          from: fromE,
          timeoutMs: 60_000,
        });
        const put = await watch.timeline.waitFor((e) => e.key === serviceKey(id) && e.type === 'put', {
          from: fromK,
          timeoutMs: 60_000 + ids.length * 500,
        });
        return put.t - started.t;
      } catch (error) {
        console.error(error.message);
        return Number.NaN;
      }
    }),
  );
  return stats(ups);
}

/** Removes the containers at once; resolves the kill/die → delete latencies and the keys left. */
async function removeAll({ api, events, watch }, ids) {
  const fromE = events.timeline.length;
  const fromK = watch.timeline.length;
  await Promise.all(
    ids.map((id) =>
      api
        .getContainer(id)
        .remove({ force: true, v: true })
        .then(() => untrackContainer(id))
        .catch((e) => console.error(`remove ${id.slice(0, 12)}: ${e.message}`)),
    ),
  );
  const downs = await Promise.all(
    ids.map(async (id) => {
      try {
        const gone = await watch.timeline.waitFor((e) => e.key === serviceKey(id) && e.type === 'delete', {
          from: fromK,
          timeoutMs: 30_000,
        });
        const die = await events.timeline.waitFor((e) => e.id === id && e.action === 'die', {
          from: fromE,
          timeoutMs: 30_000,
        });
        const kill = events.timeline.find((e) => e.id === id && e.action === 'kill', fromE);
        return { die: gone.t - die.t, kill: kill ? gone.t - kill.t : Number.NaN };
      } catch {
        return { die: Number.NaN, kill: Number.NaN };
      }
    }),
  );
  await sleep(500);
  const left = new Set(await watch.keys());
  return {
    die: stats(downs.map((d) => d.die)),
    kill: stats(downs.map((d) => d.kill)),
    leaked: ids.filter((id) => left.has(serviceKey(id))).length,
  };
}

/** One container at a time, TRIALS times: start → key, then removal. */
async function singles(ctx, listener, prefix, what) {
  const ups = [];
  const downs = { die: [], kill: [] };
  let leaked = 0;
  for (let i = 0; i < TRIALS; i++) {
    const [id] = await createMany(ctx, prefix, `${what}${i}`, 1);
    const up = await startAll(ctx, [id]);
    ups.push(up.median);
    await sleep(300);
    const down = await removeAll(ctx, [id]);
    downs.die.push(down.die.median);
    downs.kill.push(down.kill.median);
    leaked += down.leaked;
    // The warm pool refills in the background: give it its moment, as between real starts.
    await sleep(700);
  }
  if (!listener.alive()) throw new Error(`the listener exited: ${listener.said()}`);
  return { up: stats(ups), down: { die: stats(downs.die), kill: stats(downs.kill) }, leaked };
}

/** Every process in the tree under `pid` (itself included). */
async function treeOf(pid) {
  const { stdout } = await execFileP('ps', ['-eo', 'pid=,ppid=']);
  const children = new Map();
  for (const line of stdout.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (!p) continue;
    if (!children.has(pp)) children.set(pp, []);
    children.get(pp).push(p);
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}

/** Established TCP connections to etcd's client port, by the listener's tree. */
async function etcdConnections(etcd, listenerPid) {
  const port = new URL(etcd.endpoint).port;
  const { stdout } = await execFileP('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`]);
  const tree = new Set(await treeOf(listenerPid));
  let total = 0;
  let children = 0;
  for (const line of stdout.split('\n')) {
    for (const m of line.matchAll(/pid=(\d+)/g)) {
      const pid = Number(m[1]);
      if (!tree.has(pid)) continue;
      total += 1;
      if (pid !== listenerPid) children += 1;
      break;
    }
  }
  return { total, children };
}

async function killAndRestart(ctx, listener, prefix, running) {
  const tree = await treeOf(listener.pid);
  const fromK = ctx.watch.timeline.length;
  const killedAt = performance.now();
  listener.child.kill('SIGKILL');
  let goneMs = Number.NaN;
  for (;;) {
    // A zombie is gone (this sandbox's init reaps orphans late).
    const alive = tree.filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
      } catch {
        return false;
      }
    });
    if (alive.length === 0) {
      goneMs = performance.now() - killedAt;
      break;
    }
    if (performance.now() - killedAt > 10_000) break;
    await sleep(5);
  }
  const next = await start(ctx, prefix);
  // More than a TTL (period 30 s → 61 s): the takeover must renew the leases it found.
  const watchedMs = (BACKGROUND_PERIOD * 2 + 1) * 1000 + 4000;
  await sleep(watchedMs);
  const keys = new Set(running.map((id) => serviceKey(id)));
  const after = ctx.watch.timeline.filter((e) => keys.has(e.key), fromK);
  const present = new Set(await ctx.watch.keys());
  return {
    listener: next,
    goneMs,
    watchedMs,
    deletes: after.filter((e) => e.type === 'delete').length,
    puts: after.filter((e) => e.type === 'put').length,
    present: running.filter((id) => present.has(serviceKey(id))).length,
  };
}

async function burstOf(ctx, n) {
  const prefix = uniquePrefix(`b${n}`);
  const listener = await start(ctx, prefix);
  await sleep(1000);
  const ids = await createMany(ctx, prefix, 'c', n);
  const up = await startAll(ctx, ids);
  await sleep(3000); // every monitor idle
  const monitorsPids = [];
  let warm = 0;
  for (const pid of (await treeOf(listener.pid)).slice(1)) {
    const title = await readTitle(pid);
    if (/^checker-monitor [0-9a-f]{64}/.test(title)) monitorsPids.push(pid);
    else if (title.startsWith('checker-monitor')) warm += 1;
  }
  const mem = {
    monitors: monitorsPids.map(pssKb).filter((kb) => kb !== undefined),
    warm,
    listener: pssKb(listener.pid),
  };
  const connections = await etcdConnections(ctx.etcd, listener.pid);
  const down = await removeAll(ctx, ids);
  await sleep(2000);
  let leakedMonitors = 0;
  for (const pid of (await treeOf(listener.pid)).slice(1)) {
    if (/^checker-monitor [0-9a-f]{64}/.test(await readTitle(pid))) leakedMonitors += 1;
  }
  await listener.stop();
  return { n, up, mem, connections, down, leaked: down.leaked, leakedMonitors };
}

async function readTitle(pid) {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0];
}
