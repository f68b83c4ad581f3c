// bench:checks — what checking costs the host (issue 12): N containers (default 100), each with
// a HEALTHCHECK and HEALTHCHECKPERIOD=30, watched by the listener for BENCH_IDLE_S seconds
// (default 60) once every record is up, in each mode, side by side with the same containers and
// no checker at all:
//   host busy CPU (from /proc/stat: user + nice + system + irq + softirq + steal),
//   dockerd + containerd (their own CPU, and what they reaped),
//   the containerd shims (their own CPU and their children's: the runc invocations),
//   the tools' own processes (the listener and every process under it).
// Then the latency of one check in each mode (a monitor's `checked` durationMs, median/p90).
// Knobs: BENCH_N (100), BENCH_IDLE_S (60), BENCH_MODES (sidecar,exec), BENCH_HEALTHCHECK
// (`sh -c 'wget -q -O /dev/null http://$0:8080/'`: each container serves a file with busybox
// httpd, so a check is the kind of check the issue measured).
// Targets, default (sidecar) mode: host busy ≤ 15 s in 60 s, dockerd + containerd ≤ 6 s, a
// single check no slower than exec mode's.
import { readdirSync, readFileSync } from 'node:fs';
import {
  BENCH_LABEL_KEY,
  dockerApi,
  ensureImage,
  median,
  p90,
  pool,
  printTable,
  RUN_ID,
  runBench,
  sleep,
  startEtcd,
  startListener,
  trackContainer,
  uniquePrefix,
  untrackContainer,
  verdict,
  watchKeys,
} from './lib.mjs';

const N = Number(process.env.BENCH_N ?? 100);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const MODES = (process.env.BENCH_MODES ?? 'sidecar,exec').split(',');
// The address the monitor appends arrives as $0: the check asks the container's own server.
const HEALTHCHECK = process.env.BENCH_HEALTHCHECK ?? "sh -c 'wget -q -O /dev/null http://$0:8080/'";
const TICK = 100; // USER_HZ

await runBench('bench:checks', async () => {
  const image = await ensureImage();
  const etcd = await startEtcd();
  const watch = await watchKeys(etcd.endpoint);
  const api = dockerApi();
  const prefix = uniquePrefix('checks');
  console.log(
    `bench:checks: ${N} containers, period 30 s, ${IDLE_S} s idle per mode, Node ${process.versions.node}`,
  );
  const ids = await pool(
    Array.from({ length: N }, (_, i) => i),
    8,
    async (i) => {
      const c = await api.createContainer({
        Image: image.ref,
        name: `${prefix}${i}`,
        // A small web server to check, as real services have.
        Cmd: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www'],
        Env: [`HEALTHCHECK=${HEALTHCHECK}`, 'HEALTHCHECKPERIOD=30'],
        Labels: { [BENCH_LABEL_KEY]: RUN_ID },
        HostConfig: { Init: true },
      });
      trackContainer(c.id);
      await api.getContainer(c.id).start();
      return c.id;
    },
  );
  await sleep(5000);

  const rows = [];
  console.log('bench:checks: no checker (baseline)');
  rows.push({ mode: 'no checker', ...(await measure(undefined)) });
  for (const mode of MODES) {
    console.log(`bench:checks: --mode ${mode}`);
    const listener = await startListener({ etcd, prefix, args: ['--mode', mode, '--loglevel', 'DEBUG'] });
    // Every record up first: boots and first checks are not what is measured.
    const deadline = Date.now() + 300_000;
    while (
      (await watch.keys(`/SERVICE/busybox/`)).filter((k) => ids.some((id) => k.endsWith(id))).length < N
    ) {
      if (Date.now() > deadline)
        throw new Error(`--mode ${mode}: not every container registered within 5 min`);
      await sleep(1000);
    }
    await sleep(5000);
    const from = listener.logs.length;
    const figures = await measure(listener.pid);
    const durations = listener.logs
      .filter((l) => l.msg === 'checked' && typeof l.durationMs === 'number', from)
      .map((l) => l.durationMs);
    rows.push({
      mode,
      ...figures,
      checks: durations.length,
      latency: { median: median(durations), p90: p90(durations) },
    });
    await listener.stop();
    await sleep(3000);
    const left = await api.listContainers({ all: true, filters: { label: ['checker.sidecar=1'] } });
    const mine = left.filter((c) => ids.includes(c.Labels?.['checker.target']));
    if (mine.length > 0)
      console.error(`--mode ${mode}: ${mine.length} sidecars left after the listener stopped`);
  }
  await Promise.all(
    ids.map((id) =>
      api
        .getContainer(id)
        .remove({ force: true, v: true })
        .then(() => untrackContainer(id))
        .catch(() => undefined),
    ),
  );

  const s = (cs) => (cs / TICK).toFixed(1);
  printTable(
    `${N} containers with a HEALTHCHECK, period 30 s, ${IDLE_S} s idle; CPU seconds (${new Date().toISOString()})`,
    [
      'mode',
      'host busy',
      'dockerd + containerd',
      'shims + runc',
      "checker's own",
      'checks',
      'check latency med',
      'p90',
    ],
    rows.map((r) => [
      r.mode,
      s(r.hostBusy),
      s(r.daemons),
      s(r.shims),
      r.tools === undefined ? '–' : s(r.tools),
      r.checks === undefined ? '–' : String(r.checks),
      r.latency ? `${r.latency.median} ms` : '–',
      r.latency ? `${r.latency.p90} ms` : '–',
    ]),
  );
  const sidecar = rows.find((r) => r.mode === 'sidecar');
  const exec = rows.find((r) => r.mode === 'exec');
  if (sidecar) {
    const scale = 60 / IDLE_S;
    printTable(
      'targets (issue 12), default sidecar mode, per 60 s',
      ['<what', 'value', '<target', '<result'],
      [
        [
          'host busy',
          `${s(sidecar.hostBusy * scale)} s`,
          '≤ 15 s',
          verdict((sidecar.hostBusy * scale) / TICK <= 15),
        ],
        [
          'dockerd + containerd',
          `${s(sidecar.daemons * scale)} s`,
          '≤ 6 s',
          verdict((sidecar.daemons * scale) / TICK <= 6),
        ],
        ...(exec
          ? [
              [
                'one check, median (sidecar vs exec)',
                `${sidecar.latency.median} vs ${exec.latency.median} ms`,
                '≤ exec',
                verdict(sidecar.latency.median <= exec.latency.median),
              ],
            ]
          : []),
      ],
    );
  }
});

/**
 * Clock ticks of the host and of the named processes over IDLE_S seconds. Per process: what it
 * used between the two snapshots (a process that ended meanwhile is counted by its parent's
 * reaped children, where its parent is one of ours: the listener reaps its monitors), plus all
 * of a process that appeared meanwhile.
 */
async function measure(toolsPid) {
  const before = snapshot();
  await sleep(IDLE_S * 1000);
  const after = snapshot();
  const used = (pid) => {
    const a = after.procs.get(pid);
    if (!a) return 0;
    const b = before.procs.get(pid);
    return b && b.start === a.start ? a.own + a.reaped - (b.own + b.reaped) : a.own + a.reaped;
  };
  let daemons = 0;
  let shims = 0;
  for (const [pid, p] of after.procs) {
    if (p.comm === 'dockerd' || p.comm === 'containerd') daemons += used(pid);
    else if (p.comm.startsWith('containerd-shim')) shims += used(pid);
  }
  let tools;
  if (toolsPid !== undefined) {
    tools = 0;
    const tree = [toolsPid];
    for (let i = 0; i < tree.length; i++)
      for (const [pid, p] of after.procs) if (p.ppid === tree[i]) tree.push(pid);
    for (const pid of tree) tools += used(pid);
  }
  return { hostBusy: after.hostBusy - before.hostBusy, daemons, shims, tools };
}

function snapshot() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const hostBusy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] ?? 0);
  const procs = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(entry), {
        comm,
        ppid: Number(f[1]),
        own: Number(f[11]) + Number(f[12]),
        reaped: Number(f[13]) + Number(f[14]),
        start: f[19],
      });
    } catch {
      // gone meanwhile
    }
  }
  return { hostBusy, procs };
}
