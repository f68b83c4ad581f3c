// bench:check — wall time of one verdict, as a shell user sees it:
//   check --mode exec <c>, check --mode sidecar <c>, against the Docker CLI doing the same
//   (`docker exec <c> <cmd> <ip>`, `docker run --rm --network container:<c> <image> <cmd> <ip>`),
//   and check --help / --version (start-up cost alone).
// The target runs `sleep 600` with --init and HEALTHCHECK=true, so the command is `true <ip>`.
// The cases run round-robin (rotated every round) so that background load spreads evenly.
// `node -e 0` runs alongside as the host's floor (about 50 ms on an idle machine of this kind).
// Targets: check --mode exec within 1.5x of `docker exec`; check --help under 150 ms.
import {
  BENCH_LABEL,
  binOf,
  cleanEnv,
  containerIp,
  DOCKER_BIN,
  ensureImage,
  printTable,
  runBench,
  runContainer,
  runProcess,
  stats,
  uniquePrefix,
  verdict,
} from './lib.mjs';

const RUNS = Math.max(20, Number(process.env.BENCH_RUNS ?? 20));
const WARMUP = 2;

await runBench('bench:check', async () => {
  const image = await ensureImage();
  const prefix = uniquePrefix('check');
  const target = await runContainer([
    '--init',
    '--name',
    `${prefix}target`,
    '-e',
    'HEALTHCHECK=true',
    image.ref,
    'sleep',
    '600',
  ]);
  const ip = await containerIp(target);
  const node = process.execPath;
  const check = binOf('check');
  const env = cleanEnv();
  let sidecarRuns = 0;

  const cases = [
    { label: 'check --mode exec', cmd: node, args: () => [check, '--mode', 'exec', target] },
    { label: 'check --mode sidecar', cmd: node, args: () => [check, '--mode', 'sidecar', target] },
    { label: `docker exec <c> true <ip>`, cmd: DOCKER_BIN, args: () => ['exec', target, 'true', ip] },
    {
      label: 'docker run --rm --network container:<c> <image> true <ip>',
      cmd: DOCKER_BIN,
      args: () => [
        'run',
        '--rm',
        '--label',
        BENCH_LABEL,
        '--label',
        'checker.sidecar=1',
        '--name',
        `${prefix}cli-${sidecarRuns++}`,
        '--network',
        `container:${target}`,
        image.id,
        'true',
        ip,
      ],
    },
    { label: 'check --help', cmd: node, args: () => [check, '--help'] },
    { label: 'check --version', cmd: node, args: () => [check, '--version'] },
    // The floor on this host now: how loaded the machine is shows here first.
    { label: 'node -e 0 (baseline)', cmd: node, args: () => ['-e', '0'] },
  ];
  for (const c of cases) {
    c.times = [];
    c.failures = [];
  }

  console.log(
    `bench:check: ${RUNS} runs (+${WARMUP} warm-up) of ${cases.length} cases, round-robin; target ${target.slice(0, 12)} (${ip}), image ${image.ref}`,
  );
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + round) % cases.length];
      const r = await runProcess(c.cmd, c.args(), { env, timeoutMs: 60_000 });
      if (round < WARMUP) continue;
      if (r.code === 0) c.times.push(r.ms);
      else c.failures.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`);
    }
    process.stdout.write('.');
  }
  process.stdout.write('\n');

  const rows = cases.map((c) => {
    const s = stats(c.times);
    return [c.label, String(s.n), s.median, s.p90, s.min, s.max, String(c.failures.length)];
  });
  printTable(
    `check: wall time per run, ms (${RUNS} runs each, ${new Date().toISOString()})`,
    ['<command', 'ok', 'median', 'p90', 'min', 'max', 'failed'],
    rows,
  );

  const med = (label) => stats(cases.find((c) => c.label.startsWith(label)).times).median;
  const execRatio = med('check --mode exec') / med('docker exec');
  const sidecarRatio = med('check --mode sidecar') / med('docker run');
  const help = med('check --help');
  printTable(
    'targets',
    ['<what', 'value', '<target', '<result'],
    [
      [
        'check --mode exec / docker exec (median)',
        `${execRatio.toFixed(2)}x`,
        '≤ 1.5x',
        verdict(execRatio <= 1.5),
      ],
      ['check --mode sidecar / docker run --rm (median)', `${sidecarRatio.toFixed(2)}x`, '(informative)', ''],
      ['check --help (median)', `${help.toFixed(1)} ms`, '< 150 ms', verdict(help < 150)],
    ],
  );

  for (const c of cases) {
    if (c.failures.length > 0)
      console.log(`\n${c.label}: ${c.failures.length} failed runs, e.g. ${c.failures[0]}`);
  }
  const broken = cases.filter((c) => c.times.length === 0);
  if (broken.length > 0) throw new Error(`every run failed: ${broken.map((c) => c.label).join(', ')}`);
});
