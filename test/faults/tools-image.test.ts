// SPEC §6, "a check that hangs, in either mode, in any deployment (host, or the tools in a
// container) → killed at --timeout, verdict 1, nothing left running in the target; where a mode
// cannot guarantee that, it refuses with a one-line error instead" (issue 9: `--mode exec` kills
// a hung command by its host pid, which the tools in their own container cannot see, so one
// hung process was left in the target per check). `check` runs from its own image
// (Dockerfile.check, built here on the local base image as test/images/dockerfiles.test.ts
// does) with the host's Docker socket:
//   --mode exec without --pid host  → refuses: exit 2, one line
//   --mode exec with --pid host     → the hung command is killed at the timeout: exit 1, nothing left
//   --mode sidecar                  → the same, and no sidecar left
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shCheck, sidecarsOf } from '../check/fixtures.js';
import { REPO_ROOT } from '../support/cli.js';
import {
  type DockerResult,
  docker,
  dockerOk,
  removeContainers,
  runContainer,
  TEST_IMAGE,
  uniqueName,
} from '../support/images.js';

const SOCKET = '/var/run/docker.sock';
const TAG = `checker-faults/check:${uniqueName('t').toLowerCase()}`;
const BUILD_TIMEOUT_MS = 300_000;
/** The hung command, and how it shows in the target's process list. */
const HUNG = shCheck('sleep 600');
const HUNG_PROCESS = /sleep 600/;

let imageId = '';
let stageId: string | undefined;
const containers: string[] = [];

/** Runs a command to completion; resolves with its stdout, rejects with its output when it fails. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      output += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${output.trim()}`));
    });
  });
}

/** The build stage's image, untagged: the last ` ---> <id>` before the final FROM in the classic builder's log. */
function buildStageId(log: string): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
  const lines = log.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const finalFrom = lines.findLastIndex((line) => /^Step \d+\/\d+ : FROM /.test(line));
  const ids = lines.slice(0, finalFrom).flatMap((line) => /^ ---> ([0-9a-f]{12,})\s*$/.exec(line)?.[1] ?? []);
  return finalFrom > 0 ? ids.at(-1) : undefined;
}

beforeAll(async () => {
  // The base image made offline from the node running the tests (skipped while it exists).
  const base = (await run('bash', ['scripts/make-node-image.sh', '--node', process.execPath], 120_000))
    .trim()
    .split('\n')
    .at(-1)!;
  const build = await docker(
    ['build', '--force-rm', '--build-arg', `BASE_IMAGE=${base}`, '-f', 'Dockerfile.check', '-t', TAG, '.'],
    { cwd: REPO_ROOT, timeoutMs: BUILD_TIMEOUT_MS - 10_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
  );
  stageId = buildStageId(build.stdout);
  if (build.code !== 0) {
    const tail = `${build.stdout}\n${build.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`docker build -f Dockerfile.check failed (exit ${build.code}):\n${tail}`);
  }
  imageId = await dockerOk(['image', 'inspect', '--format', '{{.Id}}', TAG]);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const id of containers) await removeContainers(await sidecarsOf(id).catch(() => []));
  await removeContainers(containers);
  // The tag is this file's own; the image goes with it unless another tag names it too.
  if (imageId) await docker(['rmi', TAG]);
  // Without -f: a stage image another build is using right now stays (the rmi then fails).
  if (stageId) await docker(['rmi', stageId]);
}, 60_000);

/** `docker run --rm -v <socket> <image> …args`: check from its image, as deployed. */
function checkInImage(args: string[], runOptions: string[] = []): Promise<DockerResult & { ms: number }> {
  const started = Date.now();
  return docker(['run', '--rm', '-v', `${SOCKET}:${SOCKET}`, ...runOptions, TAG, ...args], {
    timeoutMs: 60_000,
  }).then((r) => ({ ...r, ms: Date.now() - started }));
}

function expectCode(r: DockerResult, code: number) {
  expect(
    r.code,
    `exit status of check in its image\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`,
  ).toBe(code);
}

/** The command lines running in the container, as Docker sees them (`docker top`). */
async function processesIn(id: string): Promise<string[]> {
  const out = await dockerOk(['top', id, '-o', 'pid,args']);
  return out
    .split('\n')
    .slice(1)
    .map((line) => line.trim().replace(/^\d+\s+/, ''))
    .filter(Boolean);
}

async function hungTarget(label: string): Promise<string> {
  const id = await runContainer([
    '--name',
    uniqueName(label),
    '-e',
    `HEALTHCHECK=${HUNG}`,
    TEST_IMAGE,
    'sleep',
    '3600',
  ]);
  containers.push(id);
  return id;
}

describe('check from its own image (Dockerfile.check): a hung check', () => {
  it('--mode exec without --pid host refuses: exit 2, one line that names --pid host, nothing started in the target', async () => {
    const target = await hungTarget('faults-img-exec-refused');
    const r = await checkInImage(['--mode', 'exec', '--timeout', '2', target]);
    expectCode(r, 2);
    const lines = r.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/--pid host/);
    expect(lines[0]).toMatch(/--mode sidecar/);
    expect(await processesIn(target)).not.toContainEqual(expect.stringMatching(HUNG_PROCESS));
  }, 90_000);

  it('--mode exec with --pid host: killed at --timeout 2, exit 1, nothing left running in the target', async () => {
    const target = await hungTarget('faults-img-exec-pidhost');
    const r = await checkInImage(['--mode', 'exec', '--timeout', '2', target], ['--pid', 'host']);
    expectCode(r, 1);
    expect(r.stdout).toMatch(/timeout after 2s/);
    console.log(`exec with --pid host: verdict after ${r.ms} ms (docker run included)`);
    expect(await processesIn(target)).not.toContainEqual(expect.stringMatching(HUNG_PROCESS));
  }, 90_000);

  it('--mode sidecar: killed at --timeout 2, exit 1, no sidecar left', async () => {
    const target = await hungTarget('faults-img-sidecar');
    const r = await checkInImage(['--timeout', '2', target]);
    expectCode(r, 1);
    expect(r.stdout).toMatch(/timeout after 2s/);
    console.log(`sidecar: verdict after ${r.ms} ms (docker run included)`);
    expect(await sidecarsOf(target)).toEqual([]);
    expect(await processesIn(target)).not.toContainEqual(expect.stringMatching(HUNG_PROCESS));
  }, 90_000);
});
