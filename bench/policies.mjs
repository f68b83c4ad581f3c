// bench:policies — how fast the listener applies docker-mon's policies (one listener, its own
// name prefix, a private etcd for its monitors):
//   health:  Docker's `health_status: unhealthy` event → the restart begins (the first `kill`,
//            `stop` or `die` event of the container after it), for containers labelled
//            mon.observe=1 mon.checks.health=1 mon.checks.health.timeout=0 with
//            --health-cmd 'test -f /tmp/ok' --health-interval 1s --health-retries 1, made
//            unhealthy (rm /tmp/ok) once Docker saw them healthy (the image has no /tmp: the
//            container makes it);
//   cleanup: `die` (exit 0 of `sh -c 'sleep 1; exit 0'`) → `destroy`, for containers labelled
//            mon.observe=1 mon.checks.cleanup=1.
// The listener spaces restarts of one container by backoff, so every trial has a new
// container; trials run a few at a time to keep the bench short. Both ends are Docker events:
// the figures (and targets) use the times Docker stamped on them (timeNano), which this
// process's own scheduling cannot skew; their arrival here is shown beside them. The
// listener's log line confirms that it was the one acting, and when it decided.
// Targets: restart < 50 ms median, removal < 100 ms median.
import {
  dockerEvents,
  dockerOk,
  ensureImage,
  pool,
  printTable,
  removeContainers,
  runBench,
  runContainer,
  startEtcd,
  startListener,
  stats,
  uniquePrefix,
  untrackContainer,
  verdict,
} from './lib.mjs';

/** An event's time as Docker stamped it (timeNano), in ms: free of this process's scheduling. */
const daemonMs = (event) => event.timeNano / 1e6;

const TRIALS = Math.max(20, Number(process.env.BENCH_TRIALS ?? 20));
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 4));

await runBench('bench:policies', async () => {
  const image = await ensureImage();
  const etcd = await startEtcd();
  const events = await dockerEvents();
  const prefix = uniquePrefix('policies');
  const listener = await startListener({ etcd, prefix });
  const ev = events.timeline;
  const of =
    (id, ...actions) =>
    (e) =>
      e.id === id && actions.includes(e.action);

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
          '--label',
          'mon.observe=1',
          '--label',
          'mon.checks.health=1',
          '--label',
          'mon.checks.health.timeout=0',
          '--health-cmd',
          'test -f /tmp/ok',
          '--health-interval',
          '1s',
          '--health-retries',
          '1',
          image.ref,
          'sh',
          '-c',
          'mkdir -p /tmp && touch /tmp/ok && exec sleep 600',
        ]);
        const ready = await ev.waitFor(of(id, 'health_status: healthy', 'die'), {
          timeoutMs: 20_000,
          what: 'healthy',
        });
        if (ready.action === 'die')
          throw new Error(`the container exited (${ready.attributes.exitCode}) before it was healthy`);
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

  if (!listener.alive()) throw new Error(`the listener exited: ${listener.said()}`);
  const end = await listener.stop();

  const r = stats(restart.values);
  const c = stats(cleanup.values);
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
    ],
  );
  printTable(
    'targets',
    ['<what', 'value', '<target', '<result'],
    [
      ['restart begins, median', `${r.median.toFixed(1)} ms`, '< 50 ms', verdict(r.median < 50)],
      ['container removed, median', `${c.median.toFixed(1)} ms`, '< 100 ms', verdict(c.median < 100)],
    ],
  );
  console.log(
    `\nfirst event of the restarts: ${Object.entries(restart.firstEvent)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ')}`,
  );
  console.log(`listener: SIGTERM → exit ${end.code ?? end.signal}`);
  for (const [what, f] of [
    ['health restart', restart.failures],
    ['cleanup', cleanup.failures],
  ]) {
    if (f.length > 0) console.log(`${what}: ${f.length} failed trials, e.g. ${f[0]}`);
  }
  if (r.n === 0 || c.n === 0) throw new Error('no trial of a policy succeeded');
});
