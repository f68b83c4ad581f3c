// bench:monitor — how fast a standalone monitor follows its container:
//   docker stop  → key gone     (from the `die` event, and from the `kill` event docker stop
//                                sends first: the monitor withdraws on a terminating kill, so
//                                the key can be gone before `die` arrives, a negative figure)
//   docker start → key present  (from the `start` event to the watch's put)
// for a container with an exec check (HEALTHCHECK=true, monitor --mode exec) and one with no
// check at all. Both times are arrivals in this process: Docker events through dockerode, key
// changes through an etcd3 watch on a private etcd. Monitors run standalone with --period 30.
// Target: die → key gone under 50 ms median.
import {
  dockerEvents,
  dockerOk,
  ensureImage,
  printTable,
  runBench,
  runContainer,
  serviceKey,
  sleep,
  startEtcd,
  startTool,
  stats,
  uniquePrefix,
  verdict,
  watchKeys,
} from './lib.mjs';

const TRIALS = Math.max(20, Number(process.env.BENCH_TRIALS ?? 20));
const STEP_TIMEOUT_MS = 20_000;

await runBench('bench:monitor', async () => {
  const image = await ensureImage();
  const etcd = await startEtcd();
  const watch = await watchKeys(etcd.endpoint);
  const events = await dockerEvents();
  const prefix = uniquePrefix('monitor');

  const subjects = [
    { label: 'exec check (HEALTHCHECK=true)', env: ['-e', 'HEALTHCHECK=true'], suffix: 'exec' },
    { label: 'no check', env: [], suffix: 'nocheck' },
  ];
  for (const s of subjects) {
    s.id = await runContainer([
      '--init',
      '--name',
      `${prefix}${s.suffix}`,
      ...s.env,
      image.ref,
      'sleep',
      '600',
    ]);
    s.key = serviceKey(s.id);
    s.down = { die: [], kill: [] };
    s.up = [];
    s.failures = [];
    const from = watch.timeline.length;
    s.monitor = startTool('monitor', [
      '--etcd-host',
      etcd.hostPort,
      '--stdout',
      '--no-syslog',
      '--mode',
      'exec',
      '--period',
      '30',
      s.id,
    ]);
    await watch.timeline
      .waitFor((e) => e.key === s.key && e.type === 'put', {
        from,
        timeoutMs: 30_000,
        what: `the first put of ${s.key}`,
      })
      .catch((e) => {
        throw new Error(`${e.message}; monitor said:\n${s.monitor.said()}`);
      });
  }

  console.log(`bench:monitor: ${TRIALS} stop/start trials per container, etcd ${etcd.endpoint}`);
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const s of subjects) {
      try {
        let fromE = events.timeline.length;
        let fromK = watch.timeline.length;
        const ofId = (action) => (e) => e.id === s.id && e.action === action;
        await dockerOk(['stop', '-t', '10', s.id], { timeoutMs: 30_000 });
        const die = await events.timeline.waitFor(ofId('die'), {
          from: fromE,
          timeoutMs: STEP_TIMEOUT_MS,
          what: 'die',
        });
        const kill = events.timeline.find(ofId('kill'), fromE);
        const gone = await watch.timeline.waitFor((e) => e.key === s.key && e.type === 'delete', {
          from: fromK,
          timeoutMs: STEP_TIMEOUT_MS,
          what: `delete of ${s.key}`,
        });
        s.down.die.push(gone.t - die.t);
        if (kill) s.down.kill.push(gone.t - kill.t);

        fromE = events.timeline.length;
        fromK = watch.timeline.length;
        await dockerOk(['start', s.id], { timeoutMs: 30_000 });
        const start = await events.timeline.waitFor(ofId('start'), {
          from: fromE,
          timeoutMs: STEP_TIMEOUT_MS,
          what: 'start',
        });
        const present = await watch.timeline.waitFor((e) => e.key === s.key && e.type === 'put', {
          from: fromK,
          timeoutMs: STEP_TIMEOUT_MS,
          what: `put of ${s.key}`,
        });
        s.up.push(present.t - start.t);
      } catch (error) {
        s.failures.push(error.message);
        // Back to a known state: running, key present.
        await dockerOk(['start', s.id]).catch(() => undefined);
        await sleep(2000);
      }
      if (!s.monitor.alive()) throw new Error(`the monitor of ${s.label} exited: ${s.monitor.said()}`);
    }
    process.stdout.write('.');
  }
  process.stdout.write('\n');

  // The monitors end on SIGTERM with exit 0 after deleting their keys.
  const ends = [];
  for (const s of subjects) {
    const end = await s.monitor.stop();
    const left = (await watch.keys()).includes(s.key);
    ends.push(
      `${s.label}: SIGTERM → exit ${end.code ?? end.signal}, key ${left ? 'LEFT BEHIND' : 'removed'}`,
    );
  }

  const rows = [];
  for (const s of subjects) {
    for (const [what, values] of [
      ['docker stop: die → key gone', s.down.die],
      ['docker stop: kill → key gone', s.down.kill],
      ['docker start: start → key present', s.up],
    ]) {
      const st = stats(values);
      rows.push([s.label, what, String(st.n), st.median, st.p90, st.p99, st.min, st.max]);
    }
  }
  printTable(
    `monitor (standalone, --mode exec, --period 30): event arrival → etcd watch arrival, ms (${new Date().toISOString()})`,
    ['<container', '<transition', 'n', 'median', 'p90', 'p99', 'min', 'max'],
    rows,
  );
  const worst = Math.max(...subjects.map((s) => stats(s.down.die).median));
  printTable(
    'targets',
    ['<what', 'value', '<target', '<result'],
    [
      [
        'die → key gone, median (worse of the two containers)',
        `${worst.toFixed(1)} ms`,
        '< 50 ms',
        verdict(worst < 50),
      ],
    ],
  );
  console.log(
    '\nA negative die → key gone: the key was gone before `die` arrived (docker stop sends SIGTERM first,',
  );
  console.log('and the monitor withdraws on that terminating `kill` event).');
  console.log(`\n${ends.join('\n')}`);
  for (const s of subjects) {
    if (s.failures.length > 0)
      console.log(`${s.label}: ${s.failures.length} failed trials, e.g. ${s.failures[0]}`);
  }
  if (subjects.some((s) => s.up.length === 0 || s.down.die.length === 0))
    throw new Error('no trial succeeded');
});
