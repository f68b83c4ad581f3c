// bench:listener — the listener with N = 1, 20, 100 containers (a fresh listener and name
// prefix per N, --mode exec, containers with HEALTHCHECK=true):
//   1. start the N containers at once (parallel API calls): per container, `start` event →
//      key put (etcd watch);
//   2. memory once every key is there: the listener's PSS and each monitor child's PSS;
//   3. remove them all at once (parallel `rm -f`): per container, `die` (and `kill`) event →
//      key delete;
//   4. settle (wait while the number of monitors still falls, at most BENCH_SETTLE_MS, 60 s:
//      a loaded host makes them slow, not leaked), then count leaked keys (keys of removed
//      containers still in etcd) and leaked monitor processes (children of the listener still
//      alive); after the listener's SIGTERM, monitors of these containers still alive anywhere
//      are orphans.
// Knobs: BENCH_SIZES (1,20,100), BENCH_HEALTHCHECK (true; empty for none), BENCH_SETTLE_MS.
// And where start → key time goes, from the DEBUG log lines (the monitors' stdout is the
// listener's): event → fork ("monitor started"), fork → first monitor line ("monitoring":
// node start, imports, inspect), → "checked" (first check), → "etcd lease granted",
// → "service record registered in etcd" (the put), → the watch's arrival here.
// Targets: zero leaked keys; die → key gone < 50 ms median at N = 100; monitor PSS < 20 MB.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  BENCH_LABEL_KEY,
  childPids,
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

const SIZES = (process.env.BENCH_SIZES ?? '1,20,100').split(',').map(Number);
const HEALTHCHECK = process.env.BENCH_HEALTHCHECK ?? 'true';
/** How long after the removal the monitors may take to end before the rest count as leaked. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 60_000);

await runBench('bench:listener', async () => {
  const image = await ensureImage();
  const etcd = await startEtcd();
  const watch = await watchKeys(etcd.endpoint);
  const events = await dockerEvents();
  const api = dockerApi();
  const ctx = { image, etcd, watch, events, api };
  const results = [];
  for (const n of SIZES) {
    console.log(`bench:listener: N = ${n}`);
    results.push(await runSize(n, ctx));
  }

  printTable(
    `listener, --mode exec, N containers started / removed at once; latencies in ms, memory in MB PSS (${new Date().toISOString()})`,
    [
      'N',
      'start→key med',
      'p99',
      'keys up',
      'listener PSS',
      'monitors',
      'monitor PSS med',
      'max',
      'total PSS',
      'die→key gone med',
      'p99',
      'leaked keys',
      'monitors gone after',
      'leaked monitors',
      'orphans',
    ],
    results.map((r) => [
      String(r.n),
      r.up.median,
      r.up.p99,
      `${r.up.n}/${r.n}`,
      fmtMb(r.mem.listener),
      String(r.mem.monitors.length),
      fmtMb(median(r.mem.monitors)),
      fmtMb(Math.max(...r.mem.monitors)),
      fmtMb(r.mem.total),
      r.down.die.median,
      r.down.die.p99,
      String(r.leakedKeys),
      Number.isNaN(r.monitorsGoneMs) ? '–' : `${(r.monitorsGoneMs / 1000).toFixed(1)} s`,
      String(r.leakedMonitors),
      String(r.orphans),
    ]),
  );

  printTable(
    'removal in detail (ms; negative: the key was gone before that event arrived here)',
    [
      'N',
      'kill→gone med',
      'p99',
      'die→gone med',
      'p99',
      'destroy→gone med',
      'gone before die',
      'deletes seen',
    ],
    results.map((r) => [
      String(r.n),
      r.down.kill.median,
      r.down.kill.p99,
      r.down.die.median,
      r.down.die.p99,
      r.down.destroy.median,
      `${r.goneBeforeDie}/${r.down.die.n}`,
      `${r.down.die.n}/${r.n}`,
    ]),
  );

  printTable(
    'where start → key goes (medians over the containers, ms; log times have ms resolution)',
    [
      'N',
      'event→fork',
      'fork→"monitoring"',
      '→"checked"',
      'check durationMs',
      '→lease granted',
      '→registered (put)',
      '→watch arrival',
      'sum',
      'total (median)',
    ],
    results.map((r) => {
      const b = r.breakdown;
      const parts = ['fork', 'boot', 'check', 'lease', 'put', 'watch'].map((k) => median(b[k]));
      return [
        String(r.n),
        ...parts.slice(0, 3),
        median(b.checkDuration),
        ...parts.slice(3),
        parts.reduce((a, v) => a + v, 0),
        median(b.total),
      ];
    }),
  );

  const last = results.find((r) => r.n === 100) ?? results.at(-1);
  const leaked = results.reduce((a, r) => a + r.leakedKeys, 0);
  const maxMonitor = Math.max(...results.flatMap((r) => r.mem.monitors));
  const leakedMonitors = results.reduce((a, r) => a + r.leakedMonitors, 0);
  const orphans = results.reduce((a, r) => a + r.orphans, 0);
  printTable(
    'targets',
    ['<what', 'value', '<target', '<result'],
    [
      ['leaked keys (all N)', String(leaked), '0', verdict(leaked === 0)],
      [
        `die → key gone, median at N = ${last.n}`,
        `${last.down.die.median.toFixed(1)} ms`,
        '< 50 ms',
        verdict(last.down.die.median < 50),
      ],
      [
        `kill → key gone, median at N = ${last.n} (rm -f sends SIGKILL before die)`,
        `${last.down.kill.median.toFixed(1)} ms`,
        '(informative)',
        '',
      ],
      [
        'monitor PSS, max (all N)',
        `${fmtMb(maxMonitor)} MB`,
        '< 20 MB each',
        verdict(maxMonitor < 20 * 1024),
      ],
      [
        'leaked monitors / orphans (all N)',
        `${leakedMonitors} / ${orphans}`,
        '0',
        verdict(leakedMonitors + orphans === 0),
      ],
    ],
  );
  console.log(
    '\nNegative "→watch arrival": the put reached this watch before the monitor got the CPU to log it.',
  );
  for (const r of results) for (const p of r.problems) console.log(`N = ${r.n}: ${p}`);
  if (results.some((r) => r.up.n === 0)) throw new Error('no container got its key');
});

async function runSize(n, { image, etcd, watch, events, api }) {
  const prefix = uniquePrefix(`l${n}`);
  const problems = [];
  const listener = await startListener({ etcd, prefix, args: ['--loglevel', 'DEBUG'] });
  const logs = listener.logs;
  await sleep(300); // its first sweep

  // Created beforehand (not timed), started all at once.
  const ids = await pool(
    Array.from({ length: n }, (_, i) => i),
    10,
    async (i) => {
      const c = await api.createContainer({
        Image: image.ref,
        name: `${prefix}${i}`,
        Cmd: ['sleep', '600'],
        Env: HEALTHCHECK ? [`HEALTHCHECK=${HEALTHCHECK}`] : [],
        Labels: { [BENCH_LABEL_KEY]: RUN_ID },
        HostConfig: { Init: true },
      });
      trackContainer(c.id);
      return c.id;
    },
  );
  const keyOf = new Map(ids.map((id) => [id, serviceKey(id)]));
  let fromE = events.timeline.length;
  let fromK = watch.timeline.length;
  await Promise.all(ids.map((id) => api.getContainer(id).start()));
  const upTimeout = 30_000 + n * 1000;
  const ups = await Promise.all(
    ids.map(async (id) => {
      try {
        const start = await events.timeline.waitFor((e) => e.id === id && e.action === 'start', {
          from: fromE,
          timeoutMs: 30_000,
          what: `start of ${id.slice(0, 12)}`,
        });
        const put = await watch.timeline.waitFor((e) => e.key === keyOf.get(id) && e.type === 'put', {
          from: fromK,
          timeoutMs: upTimeout,
          what: `put of ${keyOf.get(id)}`,
        });
        return { id, start, put };
      } catch (error) {
        problems.push(error.message);
        return { id };
      }
    }),
  );
  const up = stats(ups.filter((u) => u.put).map((u) => u.put.t - u.start.t));

  // Memory, once every monitor is idle (and every log line of the start is in).
  await sleep(2000);
  const breakdown = breakdownOf(ups, logs);
  const children = await childPids(listener.pid);
  const monitors = children.map(pssKb).filter((kb) => kb !== undefined);
  const listenerPss = pssKb(listener.pid);
  const mem = { listener: listenerPss, monitors, total: listenerPss + monitors.reduce((a, v) => a + v, 0) };
  if (children.length !== n) problems.push(`${children.length} monitor processes for ${n} containers`);

  // Remove them all at once.
  fromE = events.timeline.length;
  fromK = watch.timeline.length;
  const removedAt = Date.now();
  await Promise.all(
    ids.map((id) =>
      api
        .getContainer(id)
        .remove({ force: true, v: true })
        .then(() => untrackContainer(id))
        .catch((e) => problems.push(`remove ${id.slice(0, 12)}: ${e.message}`)),
    ),
  );
  const downs = await Promise.all(
    ids.map(async (id) => {
      const of = (action) => (e) => e.id === id && e.action === action;
      try {
        const gone = await watch.timeline.waitFor((e) => e.key === keyOf.get(id) && e.type === 'delete', {
          from: fromK,
          timeoutMs: 20_000,
          what: `delete of ${keyOf.get(id)}`,
        });
        const die = await events.timeline.waitFor(of('die'), { from: fromE, timeoutMs: 20_000, what: 'die' });
        const destroy = await events.timeline.waitFor(of('destroy'), {
          from: fromE,
          timeoutMs: 20_000,
          what: 'destroy',
        });
        const kill = events.timeline.find(of('kill'), fromE);
        return { gone, die, destroy, kill };
      } catch (error) {
        problems.push(error.message);
        return {};
      }
    }),
  );
  const seen = downs.filter((d) => d.gone);
  const down = {
    die: stats(seen.map((d) => d.gone.t - d.die.t)),
    destroy: stats(seen.map((d) => d.gone.t - d.destroy.t)),
    kill: stats(seen.filter((d) => d.kill).map((d) => d.gone.t - d.kill.t)),
  };
  const goneBeforeDie = seen.filter((d) => d.gone.t < d.die.t).length;

  // Settle: every monitor should end. A loaded host makes them slow, not leaked: wait while
  // their number still falls (at most SETTLE_MS), then count what is left.
  let count = (await childPids(listener.pid)).length;
  let lastChange = Date.now();
  while (count > 0 && Date.now() - removedAt < SETTLE_MS && Date.now() - lastChange < 10_000) {
    await sleep(200);
    const c = (await childPids(listener.pid)).length;
    if (c !== count) {
      count = c;
      lastChange = Date.now();
    }
  }
  const monitorsGoneMs = count === 0 ? lastChange - removedAt : Number.NaN;
  await sleep(1000);
  const left = new Set(await watch.keys());
  const leakedKeys = ids.filter((id) => left.has(keyOf.get(id))).length;
  const leakedMonitors = (await childPids(listener.pid)).length;
  if (!listener.alive()) problems.push(`the listener exited early: ${listener.said()}`);

  const end = await listener.stop();
  if (end.code !== 0) problems.push(`listener: SIGTERM → exit ${end.code ?? end.signal}`);
  // No monitor of these containers may outlive the listener.
  const { stdout } = await execFileP('ps', ['-eo', 'pid=,args=']);
  const orphans = stdout
    .split('\n')
    .filter((l) => l.includes('monitor/bin/run.js') && ids.some((id) => l.includes(id)));
  if (orphans.length > 0)
    problems.push(`${orphans.length} monitors outlived the listener: ${orphans[0].trim()}`);
  return {
    n,
    up,
    mem,
    down,
    goneBeforeDie,
    leakedKeys,
    leakedMonitors,
    monitorsGoneMs,
    orphans: orphans.length,
    breakdown,
    problems,
  };
}

/** Per container, the phases of start → key from the log lines' times (ms). */
function breakdownOf(ups, logs) {
  const b = { fork: [], boot: [], check: [], checkDuration: [], lease: [], put: [], watch: [], total: [] };
  const first = new Map();
  for (const l of logs.entries) {
    let id;
    let what;
    if (l.tool === 'listener' && l.msg === 'monitor started') {
      id = l.id;
      what = 'fork';
    } else if (l.tool === 'monitor') {
      id = l.container;
      what = {
        monitoring: 'boot',
        checked: 'check',
        'etcd lease granted': 'lease',
        'service record registered in etcd': 'put',
      }[l.msg];
    }
    if (!id || !what) continue;
    const k = `${id} ${what}`;
    if (!first.has(k)) first.set(k, l);
  }
  for (const u of ups) {
    if (!u.put) continue;
    const at = (what) => first.get(`${u.id} ${what}`);
    const fork = at('fork');
    const boot = at('boot');
    const check = at('check');
    const lease = at('lease');
    const put = at('put');
    if (!fork || !boot || !check || !lease || !put) continue;
    b.fork.push(fork.at - u.start.wall);
    b.boot.push(boot.at - fork.at);
    b.check.push(check.at - boot.at);
    b.checkDuration.push(check.durationMs);
    b.lease.push(lease.at - check.at);
    b.put.push(put.at - lease.at);
    b.watch.push(u.put.wall - put.at);
    b.total.push(u.put.t - u.start.t);
  }
  return b;
}
