// bench:policies — how fast the listener applies docker-mon's policies (a listener with its own
// name prefix, a private etcd for its monitors):
//   health:  Docker's `health_status: unhealthy` event → the restart begins (the first `kill`,
//            `stop` or `die` event of the container after it), for containers labelled
//            mon.observe=1 mon.checks.health=1 mon.checks.health.timeout=0 with
//            --health-cmd 'test -f /tmp/ok' --health-interval 1s --health-retries 1, made
//            unhealthy (rm /tmp/ok) once Docker saw them healthy (the image has no /tmp: the
//            container makes it);
//   cleanup: `die` (exit 0 of `sh -c 'sleep 1; exit 0'`) → `destroy`, for containers labelled
//            mon.observe=1 mon.checks.cleanup=1.
//   drain:   the health restart of a container whose record is registered, so that the restart
//            drains first (issue 11): the same labels and --health-cmd, plus HEALTHCHECK=true,
//            which the monitor checks (it passes, so the record stays while Docker reports the
//            container unhealthy, and only the listener's drain withdraws it); a listener of its
//            own, in --mode sidecar (BENCH_DRAIN_MODE). `health_status: unhealthy` → the
//            restart's `kill` (Docker's times), with the record's DELETE as the listener logs
//            etcd's answer and as an etcd watch of this process sees it: after `unhealthy`,
//            before the `kill`;
//   network: X (`sleep 600`) and D (`--network container:X`, mon.observe=1
//            mon.checks.network=1), once the listener registered D; `docker restart -t 1 X`:
//            X's `start` → D's `start` (D running again, in X's new namespace; Docker's times).
// The listener spaces restarts of one container by backoff, so every trial has a new
// container; trials run a few at a time to keep the bench short. Both ends are Docker events:
// the figures (and targets) use the times Docker stamped on them (timeNano), which this
// process's own scheduling cannot skew; their arrival here is shown beside them. The
// listener's log line confirms that it was the one acting, and when it decided.
// Targets: restart < 50 ms median, removal < 100 ms median; restart with the drain < 76 ms
// median (issue 11: at most 50 ms more than the 26 ms measured before the drain), every DELETE
// confirmed by etcd before its `kill`.
import {
  dockerEvents,
  dockerOk,
  ensureImage,
  pool,
  printTable,
  removeContainers,
  runBench,
  runContainer,
  serviceKey,
  startEtcd,
  startListener,
  stats,
  uniquePrefix,
  untrackContainer,
  verdict,
  watchKeys,
} from './lib.mjs';

const signed = (ms) => `${ms < 0 ? '−' : '+'}${Math.abs(ms).toFixed(1)}`;

/** An event's time as Docker stamped it (timeNano), in ms: free of this process's scheduling. */
const daemonMs = (event) => event.timeNano / 1e6;

const TRIALS = Math.max(20, Number(process.env.BENCH_TRIALS ?? 20));
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 4));
/**
 * How the drain trials' monitors run their HEALTHCHECK=true. Not exec by default: each
 * `unhealthy` event makes the monitor check at once, while the listener restarts the container,
 * and an exec check whose target dies between its inspect and its /proc look refuses exec mode
 * for good, which stops the listener (seen here; reported as a product bug).
 */
const DRAIN_MODE = process.env.BENCH_DRAIN_MODE ?? 'sidecar';

/** Labels of a container the health policy restarts once Docker reports it unhealthy. */
const HEALTH_RESTART_LABELS = [
  '--label',
  'mon.observe=1',
  '--label',
  'mon.checks.health=1',
  '--label',
  'mon.checks.health.timeout=0',
];
/**
 * Docker's own health check on a file the container makes (the image has no /tmp): healthy at
 * once, unhealthy within a second of `rm /tmp/ok`.
 */
const turnsUnhealthyOnDemand = (image) => [
  '--health-cmd',
  'test -f /tmp/ok',
  '--health-interval',
  '1s',
  '--health-retries',
  '1',
  image,
  'sh',
  '-c',
  'mkdir -p /tmp && touch /tmp/ok && exec sleep 600',
];

await runBench('bench:policies', async () => {
  const image = await ensureImage();
  const etcd = await startEtcd();
  const events = await dockerEvents();
  const prefix = uniquePrefix('policies');
  const listener = await startListener({ etcd, prefix });
  const keys = await watchKeys(etcd.endpoint);
  const ev = events.timeline;
  const of =
    (id, ...actions) =>
    (e) =>
      e.id === id && actions.includes(e.action);
  /** Until Docker reports the container healthy (it must not exit first). */
  const healthy = async (id) => {
    const ready = await ev.waitFor(of(id, 'health_status: healthy', 'die'), {
      timeoutMs: 20_000,
      what: 'healthy',
    });
    if (ready.action === 'die')
      throw new Error(`the container exited (${ready.attributes.exitCode}) before it was healthy`);
  };

  const restart = { values: [], arrival: [], decided: [], byListener: 0, firstEvent: {}, failures: [] };
  console.log(`bench:policies: ${TRIALS} health-restart trials, ${CONCURRENCY} at a time`);
  await pool(
    Array.from({ length: TRIALS }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      let id;
      try {
        id = await runContainer([
          '--init',
          '--name',
          `${prefix}health-${i}`,
          ...HEALTH_RESTART_LABELS,
          ...turnsUnhealthyOnDemand(image.ref),
        ]);
        await healthy(id);
        const from = ev.length;
        await dockerOk(['exec', id, 'rm', '-f', '/tmp/ok']);
        const unhealthy = await ev.waitFor(of(id, 'health_status: unhealthy'), {
          from,
          timeoutMs: 30_000,
          what: 'unhealthy',
        });
        const begins = await ev.waitFor(of(id, 'kill', 'stop', 'die'), {
          from: unhealthy.index + 1,
          timeoutMs: 30_000,
          what: 'the restart to begin',
        });
        restart.values.push(daemonMs(begins) - daemonMs(unhealthy));
        restart.arrival.push(begins.t - unhealthy.t);
        const label = begins.action === 'kill' ? `kill (${begins.attributes.signal})` : begins.action;
        restart.firstEvent[label] = (restart.firstEvent[label] ?? 0) + 1;
        const acted = await listener.logs
          .waitFor((l) => l.msg === 'restarting unhealthy container' && l.id === id, { timeoutMs: 5000 })
          .catch(() => undefined);
        if (acted) {
          restart.byListener += 1;
          restart.decided.push(acted.t - unhealthy.t);
        }
      } catch (error) {
        restart.failures.push(error.message);
      } finally {
        if (id) await removeContainers([id]).catch((e) => restart.failures.push(e.message));
      }
      process.stdout.write('.');
    },
  );
  process.stdout.write('\n');

  const cleanup = { values: [], arrival: [], decided: [], byListener: 0, failures: [] };
  console.log(`bench:policies: ${TRIALS} cleanup trials, ${CONCURRENCY} at a time`);
  await pool(
    Array.from({ length: TRIALS }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      let id;
      try {
        id = await runContainer([
          '--init',
          '--name',
          `${prefix}cleanup-${i}`,
          '--label',
          'mon.observe=1',
          '--label',
          'mon.checks.cleanup=1',
          image.ref,
          'sh',
          '-c',
          'sleep 1; exit 0',
        ]);
        const die = await ev.waitFor(of(id, 'die'), { timeoutMs: 30_000, what: 'die' });
        if (die.attributes.exitCode !== '0') throw new Error(`exit code ${die.attributes.exitCode}, not 0`);
        const destroy = await ev.waitFor(of(id, 'destroy'), {
          from: die.index + 1,
          timeoutMs: 30_000,
          what: 'destroy',
        });
        untrackContainer(id);
        cleanup.values.push(daemonMs(destroy) - daemonMs(die));
        cleanup.arrival.push(destroy.t - die.t);
        const acted = await listener.logs
          .waitFor((l) => l.msg === 'removing exited container' && l.id === id, { timeoutMs: 5000 })
          .catch(() => undefined);
        if (acted) {
          cleanup.byListener += 1;
          cleanup.decided.push(acted.t - die.t);
        }
      } catch (error) {
        cleanup.failures.push(error.message);
        if (id) await removeContainers([id]).catch(() => undefined);
      }
      process.stdout.write('.');
    },
  );
  process.stdout.write('\n');

  const drain = {
    values: [],
    toDelete: [],
    deleteToKill: [],
    confirmedToKill: [],
    decided: [],
    byListener: 0,
    confirmedFirst: 0,
    seenFirst: 0,
    failures: [],
  };
  console.log(
    `bench:policies: ${TRIALS} health-restart trials with a registered record (drain, --mode ${DRAIN_MODE}), ${CONCURRENCY} at a time`,
  );
  // A listener of its own: these containers' monitors run their HEALTHCHECK in DRAIN_MODE.
  const drainPrefix = uniquePrefix('drain');
  const drainListener = await startListener({ etcd, prefix: drainPrefix, args: ['--mode', DRAIN_MODE] });
  await pool(
    Array.from({ length: TRIALS }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      let id;
      try {
        id = await runContainer([
          '--init',
          '--name',
          `${drainPrefix}drain-${i}`,
          ...HEALTH_RESTART_LABELS,
          // The monitor's check: passes, so the record stays until the drain withdraws it.
          '-e',
          'HEALTHCHECK=true',
          ...turnsUnhealthyOnDemand(image.ref),
        ]);
        const key = serviceKey(id);
        await healthy(id);
        // A first check that fails is tried again at the next health report or period (30 s).
        const put = await keys.timeline.waitFor((k) => k.key === key && k.type === 'put', {
          timeoutMs: 45_000,
          what: `the record ${key}`,
        });
        const from = ev.length;
        await dockerOk(['exec', id, 'rm', '-f', '/tmp/ok']);
        const unhealthy = await ev.waitFor(of(id, 'health_status: unhealthy'), {
          from,
          timeoutMs: 30_000,
          what: 'unhealthy',
        });
        const kill = await ev.waitFor(of(id, 'kill'), {
          from: unhealthy.index + 1,
          timeoutMs: 30_000,
          what: "the restart's kill",
        });
        const deleted = await keys.timeline.waitFor((k) => k.key === key && k.type === 'delete', {
          from: put.index + 1,
          timeoutMs: 5_000,
          what: `the DELETE of ${key}`,
        });
        // The listener's line once etcd answered the delete: its own time, on the clock Docker's
        // stamps use (pino's ms are floored, hence the 1 ms).
        const confirmed = await drainListener.logs.waitFor(
          (l) =>
            l.msg === 'service record removed from etcd' && l.id === id && l.at >= daemonMs(unhealthy) - 1,
          { timeoutMs: 5000, what: `the listener's line on the DELETE of ${key}` },
        );
        drain.values.push(daemonMs(kill) - daemonMs(unhealthy));
        drain.toDelete.push(deleted.t - unhealthy.t);
        drain.confirmedToKill.push(daemonMs(kill) - (confirmed.at + 1));
        if (confirmed.at + 1 <= daemonMs(kill)) drain.confirmedFirst += 1;
        // The watch's arrival (wall clock) is never earlier than etcd's delete, but may lag it.
        drain.deleteToKill.push(daemonMs(kill) - deleted.wall);
        if (deleted.wall < daemonMs(kill)) drain.seenFirst += 1;
        const acted = await drainListener.logs
          .waitFor((l) => l.msg === 'restarting unhealthy container' && l.id === id, { timeoutMs: 5000 })
          .catch(() => undefined);
        if (acted) {
          drain.byListener += 1;
          drain.decided.push(acted.t - unhealthy.t);
        }
      } catch (error) {
        drain.failures.push(error.message);
      } finally {
        if (id) await removeContainers([id]).catch((e) => drain.failures.push(e.message));
      }
      process.stdout.write('.');
    },
  );
  process.stdout.write('\n');

  if (!drainListener.alive()) throw new Error(`the drain trials' listener exited: ${drainListener.said()}`);
  const drainEnd = await drainListener.stop();

  const network = { values: [], fromKill: [], decided: [], byListener: 0, bySweep: 0, failures: [] };
  console.log(`bench:policies: ${TRIALS} network-dependent trials, ${CONCURRENCY} at a time`);
  await pool(
    Array.from({ length: TRIALS }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      let x;
      let d;
      try {
        x = await runContainer(['--init', '--name', `${prefix}x-${i}`, image.ref, 'sleep', '600']);
        d = await runContainer([
          '--init',
          '--name',
          `${prefix}dependent-${i}`,
          '--network',
          `container:${x}`,
          '--label',
          'mon.observe=1',
          '--label',
          'mon.checks.network=1',
          image.ref,
          'sleep',
          '600',
        ]);
        // The listener learns that D depends on X from D's start event, before D's monitor
        // registers it: once the record is there, a restart of X finds D.
        await listener.logs.waitFor((l) => l.msg === 'service record registered in etcd' && l.id === d, {
          timeoutMs: 20_000,
          what: `the record of ${d.slice(0, 12)}`,
        });
        const from = ev.length;
        await dockerOk(['restart', '-t', '1', x], { timeoutMs: 30_000 });
        const xKill = await ev.waitFor(of(x, 'kill'), { from, timeoutMs: 30_000, what: "X's kill" });
        const xStart = await ev.waitFor(of(x, 'start'), {
          from: xKill.index + 1,
          timeoutMs: 30_000,
          what: "X's start",
        });
        const dStart = await ev.waitFor(of(d, 'start'), {
          from: xStart.index + 1,
          timeoutMs: 30_000,
          what: "D's start",
        });
        const value = daemonMs(dStart) - daemonMs(xStart);
        network.values.push(value);
        network.fromKill.push(daemonMs(dStart) - daemonMs(xKill));
        // A sweep (every 10 s) also rejoins D: a figure this long means the event path missed it.
        if (value > 5_000) network.bySweep += 1;
        const acted = await listener.logs
          .waitFor((l) => l.msg === 'restarting a network dependent' && l.id === d && l.wall >= xKill.wall, {
            timeoutMs: 5000,
          })
          .catch(() => undefined);
        if (acted) {
          network.byListener += 1;
          // The log line's own time against Docker's stamp (one clock): the two arrive here by
          // different streams, whose delays differ under load.
          network.decided.push(acted.at - daemonMs(xStart));
        }
      } catch (error) {
        network.failures.push(error.message);
      } finally {
        await removeContainers([d, x].filter(Boolean)).catch((e) => network.failures.push(e.message));
      }
      process.stdout.write('.');
    },
  );
  process.stdout.write('\n');

  if (!listener.alive()) throw new Error(`the listener exited: ${listener.said()}`);
  const end = await listener.stop();

  const r = stats(restart.values);
  const c = stats(cleanup.values);
  const dr = stats(drain.values);
  const nw = stats(network.values);
  const row = (policy, what, st, by, failed) => [
    policy,
    what,
    String(st.n),
    st.median,
    st.p90,
    st.min,
    st.max,
    by === '' ? '' : `${by}/${st.n}`,
    String(failed),
  ];
  printTable(
    `policies (listener, ${CONCURRENCY} trials at a time), ms (${new Date().toISOString()})`,
    ['<policy', '<from → to', 'n', 'median', 'p90', 'min', 'max', 'by our listener', 'failed'],
    [
      row(
        'health restart',
        "health_status: unhealthy → first kill/stop/die (Docker's event times)",
        r,
        restart.byListener,
        restart.failures.length,
      ),
      row('', '  the same, arrival here', stats(restart.arrival), '', ''),
      row('', '  unhealthy → listener logs "restarting" (arrival here)', stats(restart.decided), '', ''),
      row(
        'cleanup',
        "die (exit 0) → destroy (Docker's event times)",
        c,
        cleanup.byListener,
        cleanup.failures.length,
      ),
      row('', '  the same, arrival here', stats(cleanup.arrival), '', ''),
      row('', '  die → listener logs "removing" (arrival here)', stats(cleanup.decided), '', ''),
      row(
        'restart with drain',
        `health_status: unhealthy → the restart's kill, record registered, --mode ${DRAIN_MODE} (Docker's event times)`,
        dr,
        drain.byListener,
        drain.failures.length,
      ),
      row('', '  unhealthy → DELETE seen by an etcd watch (arrival here)', stats(drain.toDelete), '', ''),
      row(
        '',
        "  DELETE confirmed (listener's line, its time) → Docker's kill (timeNano)",
        stats(drain.confirmedToKill),
        '',
        '',
      ),
      row(
        '',
        "  DELETE seen by the watch (wall clock) → Docker's kill (timeNano)",
        stats(drain.deleteToKill),
        '',
        '',
      ),
      row('', '  unhealthy → listener logs "restarting" (arrival here)', stats(drain.decided), '', ''),
      row(
        'network dependent',
        "X's start → D's start, D running again (Docker's event times)",
        nw,
        network.byListener,
        network.failures.length,
      ),
      row(
        '',
        "  X's kill (docker restart -t 1 X) → D's start (Docker's event times)",
        stats(network.fromKill),
        '',
        '',
      ),
      row(
        '',
        '  X\'s start → listener logs "restarting a network dependent" (its log time)',
        stats(network.decided),
        '',
        '',
      ),
    ],
  );
  printTable(
    'targets',
    ['<what', 'value', '<target', '<result'],
    [
      ['restart begins, median', `${r.median.toFixed(1)} ms`, '< 50 ms', verdict(r.median < 50)],
      ['container removed, median', `${c.median.toFixed(1)} ms`, '< 100 ms', verdict(c.median < 100)],
      [
        'restart begins with the drain, median',
        `${dr.median.toFixed(1)} ms (${signed(dr.median - r.median)} ms on the restarts above)`,
        '< 76 ms (26 + 50)',
        verdict(dr.median < 76),
      ],
      [
        "DELETE confirmed by etcd before the restart's kill",
        `${drain.confirmedFirst}/${dr.n}`,
        'all',
        verdict(dr.n > 0 && drain.confirmedFirst === dr.n),
      ],
    ],
  );
  console.log(
    `\nfirst event of the restarts: ${Object.entries(restart.firstEvent)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ')}`,
  );
  console.log(`listener: SIGTERM → exit ${end.code ?? end.signal}`);
  console.log(
    `drain trials' listener (--mode ${DRAIN_MODE}): SIGTERM → exit ${drainEnd.code ?? drainEnd.signal}`,
  );
  console.log(
    `drain: the watch of this process saw the DELETE before Docker's kill in ${drain.seenFirst}/${dr.n} trials (a watch may lag etcd's answer to the listener)`,
  );
  if (network.bySweep > 0)
    console.log(
      `network dependent: ${network.bySweep} trials over 5 s (rejoined by a sweep, not on X's start)`,
    );
  for (const [what, f] of [
    ['health restart', restart.failures],
    ['cleanup', cleanup.failures],
    ['restart with drain', drain.failures],
    ['network dependent', network.failures],
  ]) {
    if (f.length > 0) console.log(`${what}: ${f.length} failed trials, e.g. ${f[0]}`);
  }
  if (r.n === 0 || c.n === 0 || dr.n === 0 || nw.n === 0) throw new Error('no trial of a policy succeeded');
});
