// Dockerfile.check: the image built from this repository on the offline base image
// (scripts/make-node-image.sh) gives the CLI's verdicts through the host's Docker socket.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarsOf } from '../check/fixtures.js';
import { REPO_ROOT } from '../support/cli.js';
import {
  type DockerResult,
  docker,
  dockerOk,
  ensureTestImage,
  removeContainers,
  runContainer,
  uniqueName,
} from '../support/images.js';

const IMAGE = 'checker/check:test';
const SOCKET = '/var/run/docker.sock';
// The first build runs `npm install` against the registry and compiles the three packages;
// later ones mostly come from Docker's layer cache.
const BUILD_TIMEOUT_MS = 300_000;

/** Runs a command to completion; rejects with its output when it fails. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${output.trim()}`));
    });
  });
}

/** `docker run --rm -v <socket> checker/check:test …args`: the containerised check. */
function checkInImage(args: string[], runOptions: string[] = []): Promise<DockerResult> {
  return docker(['run', '--rm', '-v', `${SOCKET}:${SOCKET}`, ...runOptions, IMAGE, ...args], {
    timeoutMs: 60_000,
  });
}

/**
 * The build stage's image stays behind untagged; the classic builder's log names it as the last
 * ` ---> <id>` before the final stage's `FROM checker/node:20`, so it can be removed too.
 */
function buildStageId(log: string): string | undefined {
  // RUN steps' stderr comes wrapped in colour codes that can run into the next line.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
  const lines = log.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const finalFrom = lines.findIndex((line) => /^Step \d+\/\d+ : FROM checker\/node:20\s*$/.test(line));
  const ids = lines.slice(0, finalFrom).flatMap((line) => /^ ---> ([0-9a-f]{12,})\s*$/.exec(line)?.[1] ?? []);
  return finalFrom > 0 ? ids.at(-1) : undefined;
}

function expectCode(r: DockerResult, code: number): void {
  expect(
    r.code,
    `exit status of the check image\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`,
  ).toBe(code);
}

describe('the checker/check image (Dockerfile.check)', () => {
  let imageId: string | undefined;
  let stageId: string | undefined;
  const containers: string[] = [];
  let healthy = '';
  let failing = '';

  beforeAll(async () => {
    await run('bash', ['scripts/make-node-image.sh'], 120_000);
    const build = await docker(['build', '--force-rm', '-f', 'Dockerfile.check', '-t', IMAGE, '.'], {
      cwd: REPO_ROOT,
      timeoutMs: BUILD_TIMEOUT_MS - 10_000,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    if (build.code !== 0) {
      const tail = `${build.stdout}\n${build.stderr}`.trim().split('\n').slice(-40).join('\n');
      throw new Error(`docker build -f Dockerfile.check failed (exit ${build.code}):\n${tail}`);
    }
    imageId = await dockerOk(['image', 'inspect', '--format', '{{.Id}}', IMAGE]);
    stageId = buildStageId(build.stdout);

    const image = await ensureTestImage();
    healthy = uniqueName('img-check-healthy');
    failing = uniqueName('img-check-failing');
    containers.push(await runContainer(['--name', healthy, '-e', 'HEALTHCHECK=true', image, 'sleep', '600']));
    containers.push(
      await runContainer(['--name', failing, '-e', 'HEALTHCHECK=false', image, 'sleep', '600']),
    );
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await removeContainers(containers);
    // Untag only what this test built: another tag on the same id (a cache-identical build
    // someone else made) keeps the image.
    if (imageId) {
      const tagged = await docker(['image', 'inspect', '--format', '{{.Id}}', IMAGE]);
      if (tagged.code === 0 && tagged.stdout.trim() === imageId) await dockerOk(['rmi', IMAGE]);
    }
    // Without -f: a stage image another build is using right now stays (the rmi then fails).
    if (stageId) await docker(['rmi', stageId]);
  });

  it('exits 0 for a container whose HEALTHCHECK command passes', async () => {
    expectCode(await checkInImage([healthy]), 0);
  });

  it('exits 1 for a container whose HEALTHCHECK command fails, and leaves no sidecar behind', async () => {
    expectCode(await checkInImage([failing]), 1);
    expect(await sidecarsOf(containers[1]!)).toEqual([]);
  });

  it('exits 3 for a container that does not exist', async () => {
    expectCode(await checkInImage([uniqueName('img-check-missing')]), 3);
  });

  it('works as the unprivileged node user given the socket group (--group-add)', async () => {
    const gid = String(statSync(SOCKET).gid);
    expectCode(await checkInImage([healthy], ['--user', 'node', '--group-add', gid]), 0);
  });
});
