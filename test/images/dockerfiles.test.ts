// The three images (Dockerfile.check|monitor|listener), built from this repository on a base
// given as the BASE_IMAGE build argument (here the offline image scripts/make-node-image.sh makes
// from the node running the tests: Node 24 in CI), do their jobs through the host's Docker
// socket: check's verdicts come through `docker run`, the monitor and the listener register a
// test container in the test etcd and remove its key again. deploy/compose.yaml then runs the
// listener image beside an etcd image (FROM scratch + the host's etcd) with docker-compose.
// One file, so the builds run one after the other and the second and third come from the first
// one's layer cache.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
  waitFor,
} from '../support/images.js';

const IMAGE = 'checker/check:test';
const MONITOR_IMAGE = 'checker/monitor:test';
const LISTENER_IMAGE = 'checker/listener:test';
const SOCKET = '/var/run/docker.sock';
// The first build runs `npm install` against the registry and compiles the three packages;
// later ones mostly come from Docker's layer cache.
const BUILD_TIMEOUT_MS = 300_000;

/** Runs a command to completion; resolves with its stdout, rejects with its output when it fails. */
function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** `docker run --rm -v <socket> checker/check:test …args`: the containerised check. */
function checkInImage(args: string[], runOptions: string[] = []): Promise<DockerResult> {
  return docker(['run', '--rm', '-v', `${SOCKET}:${SOCKET}`, ...runOptions, IMAGE, ...args], {
    timeoutMs: 60_000,
  });
}

/**
 * The build stage's image stays behind untagged; the classic builder's log names it as the last
 * ` ---> <id>` before the final stage's FROM (the last FROM step), so it can be removed too.
 */
function buildStageId(log: string): string | undefined {
  // RUN steps' stderr comes wrapped in colour codes that can run into the next line.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
  const lines = log.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const finalFrom = lines.findLastIndex((line) => /^Step \d+\/\d+ : FROM /.test(line));
  const ids = lines.slice(0, finalFrom).flatMap((line) => /^ ---> ([0-9a-f]{12,})\s*$/.exec(line)?.[1] ?? []);
  return finalFrom > 0 ? ids.at(-1) : undefined;
}

/**
 * The base image: made offline from the node binary running this test (Node 24 under
 * scripts/ci.sh), which is then the node inside the three images. Made once per file.
 */
let baseImage: Promise<string> | undefined;
function base(): Promise<string> {
  baseImage ??= run('bash', ['scripts/make-node-image.sh', '--node', process.execPath], 120_000).then(
    (stdout) => stdout.trim().split('\n').at(-1)!,
  );
  return baseImage;
}

/** Build-stage images the builds left (untagged) and the tags they made; removed at the end. */
const stageIds = new Set<string>();
const builds = new Map<string, Promise<string>>();

afterAll(async () => {
  // Untag only what this file built: another tag on the same id (a cache-identical build
  // someone else made) keeps the image.
  for (const [tag, id] of builds) await untag(tag, await id.catch(() => undefined));
  // Without -f: a stage image another build is using right now stays (the rmi then fails).
  for (const id of stageIds) await docker(['rmi', id]);
});

/** Builds one of the Dockerfiles on base() (once per tag); resolves the image id. */
function buildImage(dockerfile: string, tag: string): Promise<string> {
  let build = builds.get(tag);
  if (!build) {
    build = buildOnBase(dockerfile, tag);
    builds.set(tag, build);
  }
  return build;
}

async function buildOnBase(dockerfile: string, tag: string): Promise<string> {
  const from = await base();
  const build = await docker(
    ['build', '--force-rm', '--build-arg', `BASE_IMAGE=${from}`, '-f', dockerfile, '-t', tag, '.'],
    { cwd: REPO_ROOT, timeoutMs: BUILD_TIMEOUT_MS - 10_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
  );
  const stageId = buildStageId(build.stdout);
  if (stageId) stageIds.add(stageId);
  if (build.code !== 0) {
    const tail = `${build.stdout}\n${build.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`docker build -f ${dockerfile} failed (exit ${build.code}):\n${tail}`);
  }
  return dockerOk(['image', 'inspect', '--format', '{{.Id}}', tag]);
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

const DOCKERFILES = ['Dockerfile.check', 'Dockerfile.monitor', 'Dockerfile.listener'];
// biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfiles' own syntax, not a template
const FROM_BASE = 'FROM ${BASE_IMAGE}';

describe('the Dockerfiles', () => {
  it.each(DOCKERFILES)(
    '%s builds both stages on the BASE_IMAGE build argument, an official slim Node LTS image by default',
    (file) => {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      const def = /^ARG BASE_IMAGE=(\S+)$/m.exec(text)?.[1];
      // The maintained LTS lines are the even majors from 22 on.
      const major = Number(/^node:(\d+)-slim$/.exec(def ?? '')?.[1]);
      expect({ def, lts: major >= 22 && major % 2 === 0 }).toEqual({ def, lts: true });
      expect(text.match(/^FROM .*$/gm)).toEqual([`${FROM_BASE} AS build`, FROM_BASE]);
    },
  );
});

describe('the checker/check image (Dockerfile.check)', () => {
  const containers: string[] = [];
  let healthy = '';
  let failing = '';

  beforeAll(async () => {
    await buildImage('Dockerfile.check', IMAGE);

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
  });

  it('runs on the node of the base image given as BASE_IMAGE', async () => {
    const version = await dockerOk(['run', '--rm', '--entrypoint', 'node', IMAGE, '--version']);
    expect(version).toBe(process.version);
    const env = await dockerOk(['image', 'inspect', '--format', '{{json .Config.Env}}', await base()]);
    expect(JSON.parse(env)).toContain(`NODE_VERSION=${process.versions.node}`);
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
  const containers: string[] = [];

  beforeAll(async () => {
    await buildImage('Dockerfile.monitor', MONITOR_IMAGE);
    await buildImage('Dockerfile.listener', LISTENER_IMAGE);
    etcd = await startEtcd();
  }, BUILD_TIMEOUT_MS * 2);

  afterAll(async () => {
    await removeContainers(containers);
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

  it('the listener image registers a container started after it, removes the key with the container, and is healthy by its /healthz', async () => {
    const image = await ensureTestImage();
    const prefix = uniqueName('img-lis');
    const port = await freePort();
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
      // Host networking shares the host's ports: a port of the test's own for /metrics, and the
      // image's HEALTHCHECK (which asks /healthz there) every second instead of every 30 s.
      '-e',
      `MON_METRICS=127.0.0.1:${port}`,
      '--health-interval',
      '1s',
      '--health-start-period',
      '0s',
      // The default sidecar mode: exec mode refuses to run from a container (it could not end a
      // hung check there), unless the container shares the host's pid namespace.
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
    // Docker's health check of the image asks the listener's /healthz.
    const healthDeadline = Date.now() + 20_000;
    for (;;) {
      const health = await dockerOk(['inspect', '--format', '{{.State.Health.Status}}', listener]);
      if (health === 'healthy') break;
      if (Date.now() > healthDeadline) throw new Error(`the listener image is ${health}, not healthy`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
      containers: { id: string }[];
    };
    expect(status.containers.map((c) => c.id)).toEqual([target]);
    await dockerOk(['rm', '-f', target]);
    await waitForKey(etcd, key, false, 5_000);
    // SIGTERM: the listener ends its monitors and exits 0.
    await dockerOk(['stop', listener]);
    expect(await dockerOk(['inspect', '--format', '{{.State.ExitCode}}', listener])).toBe('0');
  }, 90_000);
});

const COMPOSE_FILE = join(REPO_ROOT, 'deploy', 'compose.yaml');
const COMPOSE_BIN = process.env['CHECKER_TEST_COMPOSE'] ?? 'docker-compose';
const ETCDCTL = process.env['ETCDCTL_BIN'] ?? 'etcdctl';

/** A loopback port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The shared libraries a dynamically linked binary loads (the loader among them), per ldd. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run('ldd', [binary], 10_000);
  return out
    .split('\n')
    .flatMap((line) => /=> (\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)/.exec(line)?.[1] ?? []);
}

/**
 * An etcd image made offline like the official one (etcd and etcdctl in /usr/local/bin), FROM
 * scratch with Debian's etcd binaries and the libc they link.
 */
async function buildEtcdImage(tag: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-etcd-image-'));
  try {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'usr/local/bin'), { recursive: true });
    for (const name of ['etcd', 'etcdctl']) {
      const binary = (await run('sh', ['-c', `readlink -f "$(command -v ${name})"`], 5_000)).trim();
      await copyFile(binary, join(root, 'usr/local/bin', name));
      for (const lib of await sharedLibraries(binary)) {
        await mkdir(join(root, dirname(lib)), { recursive: true });
        await copyFile(lib, join(root, lib)); // copyFile follows symlinks: the real library
      }
    }
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nCMD ["/usr/local/bin/etcd"]\n');
    await run('/usr/bin/docker', ['build', '-q', '--force-rm', '-t', tag, dir], 120_000, {
      ...process.env,
      DOCKER_BUILDKIT: '0',
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('deploy/compose.yaml: etcd and the listener image together (docker-compose)', () => {
  const project = uniqueName('checkercompose')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
  const etcdImage = `checker-test/etcd:${project}`;
  const prefix = uniqueName('img-compose');
  const containers: string[] = [];
  let composeEnv: NodeJS.ProcessEnv = {};
  let endpoint = '';

  /** docker-compose on this file and project; rejects on a non-zero exit. */
  const compose = (...args: string[]): Promise<string> =>
    run(COMPOSE_BIN, ['-p', project, '-f', COMPOSE_FILE, ...args], 180_000, composeEnv);

  /** etcdctl get of one key in the compose file's etcd: its value, or '' when absent. */
  const getKey = async (key: string): Promise<string> =>
    (
      await run(ETCDCTL, ['--endpoints', endpoint, 'get', key, '--print-value-only'], 10_000, {
        ...process.env,
        ETCDCTL_API: '3',
      })
    ).trim();

  /** Everything of the project that Docker still has: containers, networks, volumes. */
  const leftovers = async (): Promise<string[]> => {
    const label = `label=com.docker.compose.project=${project}`;
    const lists = await Promise.all(
      [
        ['ps', '-aq', '--filter', label],
        ['network', 'ls', '-q', '--filter', label],
        ['volume', 'ls', '-q', '--filter', label],
      ].map((args) => dockerOk(args)),
    );
    return lists.flatMap((list) => list.split('\n').filter((line) => line.trim() !== ''));
  };

  beforeAll(async () => {
    await buildImage('Dockerfile.listener', LISTENER_IMAGE);
    await buildEtcdImage(etcdImage);
    const [etcdPort, metricsPort] = [await freePort(), await freePort()];
    endpoint = `127.0.0.1:${etcdPort}`;
    // The caller's MON_* must not reach the listener through the file's pass-through variables.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MON_')));
    composeEnv = {
      ...env,
      CHECKER_ETCD_IMAGE: etcdImage,
      CHECKER_LISTENER_IMAGE: LISTENER_IMAGE,
      CHECKER_ETCD_PORT: String(etcdPort),
      CHECKER_METRICS: `127.0.0.1:${metricsPort}`,
      MON_PREFIX: prefix,
    };
  }, BUILD_TIMEOUT_MS * 2);

  afterAll(async () => {
    await removeContainers(containers);
    // After a failed test: whatever `down` has not removed yet.
    if (composeEnv['CHECKER_ETCD_IMAGE']) await compose('down', '-v', '--timeout', '5').catch(() => {});
    await docker(['rmi', etcdImage]);
  });

  it('`up` starts etcd and the listener, which registers a container in that etcd; `down -v` leaves nothing', async () => {
    await compose('up', '-d', '--no-build');
    const listener = (await compose('ps', '-q', 'listener')).trim();
    const logs = () => dockerOk(['logs', listener]);
    const deadline = Date.now() + 30_000;
    while (!(await logs()).includes('listening to Docker events')) {
      if (Date.now() > deadline) throw new Error(`listener did not start:\n${await logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const target = await runContainer([
      '--name',
      `${prefix}-web`,
      '-e',
      'HEALTHCHECK=true',
      await ensureTestImage(),
      'sleep',
      '600',
    ]);
    containers.push(target);
    const key = `/SERVICE/busybox/${target}`;
    const value = await waitFor(getKey.bind(null, key), { timeoutMs: 30_000, what: `${key} in etcd` });
    expect(JSON.parse(value)).toMatchObject({ Name: `/${prefix}-web`, Ports: [] });

    // `stop` sends SIGTERM through the init process: the listener's monitors withdraw their records.
    await compose('stop', 'listener');
    expect(await getKey(key)).toBe('');
    expect(await dockerOk(['inspect', '--format', '{{.State.ExitCode}}', listener])).toBe('0');

    await compose('down', '-v', '--timeout', '10');
    expect(await leftovers()).toEqual([]);
  }, 180_000);
});
