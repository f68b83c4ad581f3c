// bench:child-boot — what booting one monitor child costs: wall time from fork to its `booted`
// message, CPU (user+system) and PSS at that moment, over N runs (sequential, idle host), for
// the child entry given (default: packages/monitor/bin/child.js). Run it with the node to
// measure (`/opt/checker-node/24/bin/node bench/child-boot.mjs`): children run the same one.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { MONITOR_PROTOCOL_VERSION, monitorForkOptions } = await import(
  '../packages/core/dist/monitor/protocol.js'
);

const entry = process.argv[2] ?? fileURLToPath(new URL('../packages/monitor/bin/child.js', import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 20);
const ticks = 100; // USER_HZ

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks;
}
function pssKb(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
}

const settings = {
  mode: 'exec',
  timeout: 10,
  loglevel: 'INFO',
  stdout: false,
  syslog: false,
  etcdPrefix: '/SERVICE',
};
const samples = [];
for (let i = 0; i < runs; i++) {
  const started = performance.now();
  const options = monitorForkOptions(settings);
  const child = fork(entry, [], options);
  const sample = await new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m?.type !== 'booted') return;
      resolve({ ms: performance.now() - started, cpuMs: cpuMs(child.pid), pssKb: pssKb(child.pid) });
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  samples.push(sample);
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];
console.log(
  JSON.stringify({
    entry,
    runs,
    bootMs: {
      median: Math.round(med(samples.map((s) => s.ms))),
      p90: Math.round(p90(samples.map((s) => s.ms))),
    },
    cpuMs: { median: med(samples.map((s) => s.cpuMs)), p90: p90(samples.map((s) => s.cpuMs)) },
    pssMb: { median: +(med(samples.map((s) => s.pssKb)) / 1024).toFixed(1) },
    protocol: MONITOR_PROTOCOL_VERSION,
  }),
);
