// bench:pss-floor — how much of a monitor child's memory is Node's own: N idle monitor children
// (booted, no container assigned) against N bare Node processes started with the same V8 flags
// (MONITOR_EXEC_ARGV) that only wait, each group alive N at a time (so shared pages are split
// the same way), measured from /proc/<pid>/smaps_rollup 2 s after the last one booted, for the
// node running this script (run it with each Node to compare: `/opt/checker-node/24/bin/node
// bench/pss-floor.mjs`). Rounds (BENCH_ROUNDS, 2) alternate the groups. N: BENCH_N (100).
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { monitorForkOptions } = await import('../packages/core/dist/monitor/protocol.js');

const N = Number(process.env.BENCH_N ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const monitorEntry = fileURLToPath(new URL('../packages/monitor/bin/child.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'checker-pss-floor-'));
const bareEntry = join(dir, 'bare.cjs');
writeFileSync(bareEntry, "process.send({ type: 'booted' }); setInterval(() => {}, 1 << 30);\n");

const settings = {
  mode: 'exec',
  timeout: 10,
  loglevel: 'INFO',
  stdout: false,
  syslog: false,
  etcdPrefix: '/S',
};

function rollup(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { pss: kb('Pss'), dirty: kb('Private_Dirty') };
}

async function group(entry) {
  const children = [];
  try {
    for (let i = 0; i < N; i += 10) {
      const batch = Array.from({ length: Math.min(10, N - i) }, () => {
        const child = fork(entry, [], monitorForkOptions(settings));
        children.push(child);
        return new Promise((resolve, reject) => {
          child.on('message', (m) => m?.type === 'booted' && resolve());
          child.once('exit', (code) => reject(new Error(`${entry}: exited ${code}`)));
        });
      });
      await Promise.all(batch);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return children.map((c) => rollup(c.pid));
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)),
    );
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (kb) => (kb / 1024).toFixed(1);
const rows = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [what, entry] of [
      ['monitor child, idle', monitorEntry],
      ['bare node, same flags', bareEntry],
    ]) {
      const got = await group(entry);
      rows.push({
        round,
        what,
        pss: median(got.map((g) => g.pss)),
        dirty: median(got.map((g) => g.dirty)),
      });
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `\nbench:pss-floor: Node ${process.versions.node}, ${N} processes alive per group, medians, MB\n`,
);
console.log('| round | processes | PSS | private dirty |');
console.log('| ---: | --- | ---: | ---: |');
for (const r of rows) console.log(`| ${r.round} | ${r.what} | ${mb(r.pss)} | ${mb(r.dirty)} |`);
