// bench:check — wall time of one verdict, as a shell user sees it:
//   check --mode exec <c>, check --mode sidecar <c>, against the Docker CLI doing the same
//   (`docker exec <c> <cmd> <ip>`, `docker run --rm --network container:<c> <image> <cmd> <ip>`),
//   and check --help / --version (start-up cost alone), with `node -e 0` as the host's floor.
// The target runs `sleep 600` with --init and HEALTHCHECK=true, so the command is `true <ip>`.
// The cases run round-robin (rotated every round) so that background load spreads evenly. Node
// processes are started with the node that runs this script (process.execPath), or with each of
// BENCH_NODES (comma-separated paths), all interleaved in the one run:
//   BENCH_NODES=/opt/checker-node/24/bin/node,/usr/bin/node node bench/check.mjs
// Targets (issue 10): check --mode exec ≤ 1.5× `docker exec`; check --help ≤ 2× `node -e 0`.
//
// Where a check's milliseconds go: one more case runs `check --mode exec` through a stand-in for
// bin/run.js that does what it does (compile cache, import the bundle, run it) and notes the
// time of each step in the process (performance.now(), from the process's start), the Docker API
// requests included (node:diagnostics_channel); the table after the figures gives their medians.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH_LABEL,
  binOf,
  cleanEnv,
  containerIp,
  DOCKER_BIN,
  ensureImage,
  median,
  onCleanup,
  printTable,
  runBench,
  runContainer,
  runProcess,
  stats,
  uniquePrefix,
  verdict,
} from './lib.mjs';

const RUNS = Math.max(20, Number(process.env.BENCH_RUNS ?? 20));
// Node binaries to measure, comma-separated (their cases interleaved in one run); default: this one.
const NODES = (process.env.BENCH_NODES || process.execPath).split(',');
const WARMUP = 2;

// The stand-in for packages/check/bin/run.js (argv: bin, marks file, then check's arguments).
// Its own additions (the subscriptions, the wrapper around Module._load) cost well under 1 ms.
const INSTRUMENTED_RUN = `
const marks = { start: performance.now() };
import module from 'node:module';
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [bin, out, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], bin, ...args];
module.enableCompileCache?.();
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true';
const requests = [];
const open = new WeakMap();
subscribe('http.client.request.start', ({ request }) => {
  const entry = { what: request.method + ' ' + request.path.replace(/\\?.*/, '').replace(/\\/v[0-9.]+\\//, '/').replace(/[0-9a-f]{64}/g, ':id'), start: performance.now() };
  requests.push(entry);
  open.set(request, entry);
});
subscribe('http.client.response.finish', ({ request }) => {
  const entry = open.get(request);
  if (entry) entry.end = performance.now();
});
const load = module._load;
module._load = function (request, ...rest) {
  if (request !== 'dockerode' || marks.dockerode) return load.call(this, request, ...rest);
  const started = performance.now();
  try { return load.call(this, request, ...rest); } finally { marks.dockerode = performance.now() - started; }
};
process.on('exit', () => {
  marks.exit = performance.now();
  writeFileSync(out, JSON.stringify({ marks, requests }));
});
const bundle = await import(new URL('../dist/cli.bundle.js', pathToFileURL(bin)).href);
marks.bundle = performance.now();
const parse = bundle.default.prototype.parse;
bundle.default.prototype.parse = async function (...a) {
  const parsed = await parse.apply(this, a);
  marks.parsed = performance.now();
  return parsed;
};
await bundle.main(pathToFileURL(bin).href);
`;

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
  const check = binOf('check');
  const env = cleanEnv();
  const dir = await mkdtemp(join(tmpdir(), 'checker-bench-check-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const instrumented = join(dir, 'instrumented-run.mjs');
  await writeFile(instrumented, INSTRUMENTED_RUN);
  const nodes = await Promise.all(
    NODES.map(async (path) => {
      const r = await runProcess(path, ['-p', 'process.version'], { env });
      if (r.code !== 0) throw new Error(`cannot run ${path}: ${r.stderr.trim()}`);
      return { path, version: r.stdout.trim() };
    }),
  );
  let sidecarRuns = 0;
  let instrumentedRuns = 0;

  const nodeCases = ({ path, version }) => {
    const at = nodes.length > 1 ? ` [${version}]` : '';
    return [
      { label: `check --mode exec${at}`, cmd: path, args: () => [check, '--mode', 'exec', target] },
      { label: `check --mode sidecar${at}`, cmd: path, args: () => [check, '--mode', 'sidecar', target] },
      { label: `check --help${at}`, cmd: path, args: () => [check, '--help'] },
      { label: `check --version${at}`, cmd: path, args: () => [check, '--version'] },
      // The floor on this host now: how loaded the machine is shows here first.
      { label: `node -e 0 (baseline)${at}`, cmd: path, args: () => ['-e', '0'] },
      {
        label: `check --mode exec, instrumented${at}`,
        cmd: path,
        args: () => [
          instrumented,
          check,
          join(dir, `marks-${instrumentedRuns++}.json`),
          '--mode',
          'exec',
          target,
        ],
        breakdowns: [],
      },
    ].map((c) => ({ ...c, node: version }));
  };
  const cases = [
    ...nodes.flatMap(nodeCases),
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
  ];
  for (const c of cases) {
    c.times = [];
    c.failures = [];
  }

  console.log(
    `bench:check: ${nodes.map((n) => `node ${n.version} (${n.path})`).join(', ')}; ${RUNS} runs (+${WARMUP} warm-up) of ${cases.length} cases, round-robin; target ${target.slice(0, 12)} (${ip}), image ${image.ref}`,
  );
  for (let round = 0; round < WARMUP + RUNS; round++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + round) % cases.length];
      const args = c.args();
      const r = await runProcess(c.cmd, args, { env, timeoutMs: 60_000 });
      if (round < WARMUP) continue;
      if (r.code !== 0) {
        c.failures.push(`exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`);
        continue;
      }
      c.times.push(r.ms);
      if (c.breakdowns) c.breakdowns.push({ wall: r.ms, ...JSON.parse(await readFile(args[2], 'utf8')) });
    }
    process.stdout.write('.');
  }
  process.stdout.write('\n');

  const rows = cases.map((c) => {
    const s = stats(c.times);
    return [c.label, String(s.n), s.median, s.p90, s.min, s.max, String(c.failures.length)];
  });
  printTable(
    `check: wall time per run, ms (${RUNS} runs each, interleaved, ${new Date().toISOString()})`,
    ['<command', 'ok', 'median', 'p90', 'min', 'max', 'failed'],
    rows,
  );

  const med = (label) => stats(cases.find((c) => c.label === label).times).median;
  const targets = nodes.flatMap(({ version }) => {
    const at = nodes.length > 1 ? ` [${version}]` : '';
    const execRatio = med(`check --mode exec${at}`) / med('docker exec <c> true <ip>');
    const sidecarRatio =
      med(`check --mode sidecar${at}`) / med('docker run --rm --network container:<c> <image> true <ip>');
    const helpRatio = med(`check --help${at}`) / med(`node -e 0 (baseline)${at}`);
    return [
      [
        `check --mode exec / docker exec${at}`,
        `${execRatio.toFixed(2)}x`,
        '≤ 1.5x',
        verdict(execRatio <= 1.5),
      ],
      [`check --help / node -e 0${at}`, `${helpRatio.toFixed(2)}x`, '≤ 2x', verdict(helpRatio <= 2)],
      [`check --mode sidecar / docker run --rm${at}`, `${sidecarRatio.toFixed(2)}x`, '(informative)', ''],
    ];
  });
  printTable('targets (ratios of medians)', ['<what', 'value', '<target', '<result'], targets);

  for (const c of cases) {
    if (c.breakdowns?.length > 0) printBreakdown(c.node, c.breakdowns);
  }

  for (const c of cases) {
    if (c.failures.length > 0)
      console.log(`\n${c.label}: ${c.failures.length} failed runs, e.g. ${c.failures[0]}`);
  }
  const broken = cases.filter((c) => c.times.length === 0);
  if (broken.length > 0) throw new Error(`every run failed: ${broken.map((c) => c.label).join(', ')}`);
});

/** The medians of each step of an instrumented `check --mode exec`, in ms. */
function printBreakdown(node, runs) {
  const steps = runs.map(({ wall, marks, requests }) => {
    const first = Math.min(...requests.map((r) => r.start));
    return {
      'Node starts (bootstrap, up to the first line of bin/run.js)': marks.start,
      'bin/run.js: compile cache on, bundle imported (oclif, flags, command)': marks.bundle - marks.start,
      'oclif: config (package.json, manifest), parse, MON_* merged': marks.parsed - marks.bundle,
      'run chunk imported, dockerode required, logger made': first - marks.parsed,
      '  of which require("dockerode") (node_modules)': marks.dockerode ?? 0,
      'Docker API calls, verdict printed': marks.exit - first,
      'process start and exit as the parent sees them (spawn, teardown)': wall - marks.exit,
      total: wall,
    };
  });
  const names = Object.keys(steps[0]);
  console.log(
    `\nDocker API requests of one check --mode exec: ${runs[0].requests.map((r) => r.what).join(', ')}`,
  );
  printTable(
    `where an instrumented check --mode exec spends its time on node ${node}: medians of ${runs.length} runs, ms`,
    ['<step', 'median', 'min'],
    names.map((name) => [name, median(steps.map((s) => s[name])), Math.min(...steps.map((s) => s[name]))]),
  );
}
