// The three images (Dockerfile.check|monitor|listener), built from this repository on the
// offline base image (scripts/make-node-image.sh), do their jobs through the host's Docker
// socket: check's verdicts come through `docker run`, the monitor and the listener register a
// test container in the test etcd and remove its key again. One file, so the three builds run
// one after the other and the second and third come from the first one's layer cache.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarsOf } from '../check/fixtures.js';
import { REPO_ROOT } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
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
const MONITOR_IMAGE = 'checker/monitor:test';
const LISTENER_IMAGE = 'checker/listener:test';
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

/** Builds one of the Dockerfiles; resolves the image id and the build stage's id. */
/** Build-stage images the builds left (untagged); removed once every build is done. */
const stageIds = new Set<string>();

afterAll(async () => {
  // Without -f: a stage image another build is using right now stays (the rmi then fails).
  for (const id of stageIds) await docker(['rmi', id]);
});

async function buildImage(dockerfile: string, tag: string): Promise<{ id: string; stageId?: string }> {
  const build = await docker(['build', '--force-rm', '-f', dockerfile, '-t', tag, '.'], {
    cwd: REPO_ROOT,
    timeoutMs: BUILD_TIMEOUT_MS - 10_000,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  if (build.code !== 0) {
    const tail = `${build.stdout}\n${build.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`docker build -f ${dockerfile} failed (exit ${build.code}):\n${tail}`);
  }
  const id = await dockerOk(['image', 'inspect', '--format', '{{.Id}}', tag]);
  const stageId = buildStageId(build.stdout);
  if (stageId) stageIds.add(stageId);
  return { id, stageId };
}

/** Removes the tag if it still names the image this test built. */
async function untag(tag: string, id: string | undefined): Promise<void> {
  if (!id) return;
  const tagged = await docker(['image', 'inspect', '--format', '{{.Id}}', tag]);
  if (tagged.code === 0 && tagged.stdout.trim() === id) await dockerOk(['rmi', tag]);
}

function expectCode(r: DockerResult, code: number): void {
  expect(
    r.code,
    `exit status of the check image\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`,
  ).toBe(code);
}

describe('the checker/check image (Dockerfile.check)', () => {
  let imageId: string | undefined;
  const containers: string[] = [];
  let healthy = '';
  let failing = '';

  beforeAll(async () => {
    await run('bash', ['scripts/make-node-image.sh'], 120_000);
    const built = await buildImage('Dockerfile.check', IMAGE);
    imageId = built.id;

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
    await untag(IMAGE, imageId);
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

/** Polls etcd until `key` is present (true) or gone (false); returns its value when present. */
async function waitForKey(
  etcd: TestEtcd,
  key: string,
  present: boolean,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = (await etcd.ctl('get', key, '--print-value-only')).trim();
    if ((value !== '') === present) return value;
    if (Date.now() > deadline)
      throw new Error(`etcd key ${key} still ${present ? 'absent' : 'present'} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the checker/monitor and checker/listener images (Dockerfile.monitor, Dockerfile.listener)', () => {
  let etcd: TestEtcd;
  const ids: Record<string, string | undefined> = {};
  const containers: string[] = [];

  beforeAll(async () => {
    await run('bash', ['scripts/make-node-image.sh'], 120_000);
    ids.monitor = (await buildImage('Dockerfile.monitor', MONITOR_IMAGE)).id;
    ids.listener = (await buildImage('Dockerfile.listener', LISTENER_IMAGE)).id;
    etcd = await startEtcd();
  }, BUILD_TIMEOUT_MS * 2);

  afterAll(async () => {
    await removeContainers(containers);
    await untag(MONITOR_IMAGE, ids.monitor);
    await untag(LISTENER_IMAGE, ids.listener);
    await etcd?.cleanup();
  });

  it('the monitor image registers a healthy container in etcd and removes the key when stopped', async () => {
    const image = await ensureTestImage();
    const target = await runContainer([
      '--name',
      uniqueName('img-mon-target'),
      '-e',
      'HEALTHCHECK=true',
      image,
      'sleep',
      '600',
    ]);
    containers.push(target);
    // Host networking: the image reaches the test etcd on the host's loopback.
    const monitor = await dockerOk([
      'run',
      '-d',
      '--init',
      '--network',
      'host',
      '-v',
      `${SOCKET}:${SOCKET}`,
      '-e',
      `MON_ETCD_HOST=${etcd.hosts}`,
      MONITOR_IMAGE,
      '--period',
      '2',
      target,
    ]);
    containers.push(monitor);
    const key = `/SERVICE/busybox/${target}`;
    const value = await waitForKey(etcd, key, true);
    expect(JSON.parse(value)).toMatchObject({ Name: expect.stringMatching(/^\/img-mon-target/), Ports: [] });
    // Logs go to stdout in the image (MON_STDOUT=true): `docker logs` shows the registration.
    expect(
      (await dockerOk(['logs', monitor])).split('\n').some((line) => line.includes('"action":"register"')),
    ).toBe(true);
    await dockerOk(['stop', monitor]);
    await waitForKey(etcd, key, false, 5_000);
  }, 90_000);

  it('the listener image registers a container started after it, and removes the key with the container', async () => {
    const image = await ensureTestImage();
    const prefix = uniqueName('img-lis');
    const listener = await dockerOk([
      'run',
      '-d',
      '--init',
      '--network',
      'host',
      '-v',
      `${SOCKET}:${SOCKET}`,
      '-e',
      `MON_ETCD_HOST=${etcd.hosts}`,
      '-e',
      `MON_PREFIX=${prefix}`,
      '-e',
      'MON_MODE=exec',
      LISTENER_IMAGE,
    ]);
    containers.push(listener);
    // The listener subscribes before it reports listening; start the container after that.
    const deadline = Date.now() + 30_000;
    while (!(await dockerOk(['logs', listener])).includes('listening to Docker events')) {
      if (Date.now() > deadline)
        throw new Error(`listener did not start:\n${await dockerOk(['logs', listener])}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const target = await runContainer([
      '--name',
      `${prefix}-web`,
      '-e',
      'HEALTHCHECK=true',
      image,
      'sleep',
      '600',
    ]);
    containers.push(target);
    const key = `/SERVICE/busybox/${target}`;
    await waitForKey(etcd, key, true);
    await dockerOk(['rm', '-f', target]);
    await waitForKey(etcd, key, false, 5_000);
    // SIGTERM: the listener ends its monitors and exits 0.
    await dockerOk(['stop', listener]);
    expect(await dockerOk(['inspect', '--format', '{{.State.ExitCode}}', listener])).toBe('0');
  }, 90_000);
});
