// The monitor's checks in sidecar mode (issue 12): one long-lived sidecar per monitored
// container, the check agent inside it running each check, against the real daemon and etcd.
//   - a scratch-image target (no shell, no sleep) is checked through one sidecar: one create
//     over many periods;
//   - `docker restart` of the target: the next check runs in its new network namespace (a
//     check that passes only when it reaches the target's current address);
//   - a hung check is killed at the timeout and nothing stays running in the sidecar;
//   - the sidecar goes with its monitor: SIGTERM, container removal, the listener stopping;
//     a SIGKILLed monitor's sidecar is removed (by its replacement, or the listener's sweep).
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { listenerFor } from '../listener/support.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { docker, dockerOk, uniqueName, waitFor } from '../support/images.js';
import { monitorFlags, test, whenKey } from './support.js';

/** The record key of a container of the scratch image (its IMAGENAME is the image's own). */
const scratchKey = (id: string) => `/SERVICE/${scratchImage.split('/').pop()!.split(':')[0]}/${id}`;

let etcd: TestEtcd;
/** A `FROM scratch` image holding busybox as /busybox only: no /bin/sh, no sleep on PATH. */
let scratchImage = '';

beforeAll(async () => {
  etcd = await startEtcd();
  const dir = await mkdtemp(join(tmpdir(), 'checker-test-scratch-'));
  scratchImage = `${uniqueName('checker-test/scratch').toLowerCase()}:latest`;
  try {
    await copyFile('/bin/busybox', join(dir, 'busybox'));
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY busybox /busybox\n');
    await dockerOk(['build', '-q', '-t', scratchImage, dir], {
      timeoutMs: 60_000,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

afterAll(async () => {
  await etcd?.cleanup();
  if (scratchImage) await docker(['rmi', '-f', scratchImage]);
});

/** The check sidecars (any state) of one target. */
async function sidecarsOf(target: string): Promise<string[]> {
  const out = await dockerOk(['ps', '-aq', '--no-trunc', '--filter', `label=checker.target=${target}`]);
  return out.split('\n').filter(Boolean);
}

/** Sidecar containers created for `target` since `since` (Docker's own record of creates). */
async function createsSince(target: string, since: number): Promise<number> {
  const out = await dockerOk([
    'events',
    '--since',
    String(Math.floor(since / 1000)),
    '--until',
    String(Math.ceil(Date.now() / 1000)),
    '--filter',
    'event=create',
    '--filter',
    `label=checker.target=${target}`,
    '--format',
    '{{.ID}}',
  ]);
  return out.split('\n').filter(Boolean).length;
}

/** The processes running in a container, as `docker top` shows them. */
async function processesIn(id: string): Promise<string[]> {
  const out = await dockerOk(['top', id, '-o', 'pid,args']);
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
}

/** A web server to check: busybox httpd on 8080 serving one file, from the scratch image. */
const server = (name: string) => [
  '--name',
  name,
  // The check reaches it at the address the monitor appends ($0): only the current one works.
  '-e',
  `HEALTHCHECK=/busybox sh -c '/busybox wget -q -O /dev/null http://$0:8080/ok'`,
  '-e',
  'HEALTHCHECKPERIOD=1',
  '--entrypoint',
  '/busybox',
  scratchImage,
  'sh',
  '-c',
  'echo ok > /ok && exec /busybox httpd -f -p 8080 -h /',
];

describe('monitor in sidecar mode: one long-lived sidecar per container', () => {
  test('checks a scratch-image container through one sidecar: one create over five periods', async ({
    made,
  }) => {
    const target = await made.container(server(uniqueName('idle-scratch')));
    const since = Date.now();
    const monitor = made.monitor(monitorFlags(etcd, '--loglevel', 'DEBUG', target));
    await whenKey(etcd, scratchKey(target), 'present', { monitor });
    await monitor.waitForLog((l) => l.msg === 'checks run in a long-lived sidecar, by its check agent');
    // Five more periods of passing checks.
    const checked = () =>
      monitor.lines.filter((l) => l.msg === 'checked' && l['verdict'] === 'healthy').length;
    const before = checked();
    await waitFor(() => checked() >= before + 5, { timeoutMs: 20_000, what: 'five more passing checks' });
    expect(await createsSince(target, since)).toBe(1);
    expect(await sidecarsOf(target)).toHaveLength(1);
    monitor.signal('SIGTERM');
    expect((await monitor.exited).code).toBe(0);
    expect(await sidecarsOf(target)).toEqual([]);
  });

  test('after `docker restart` of the target, the next check runs in its new network namespace', async ({
    made,
  }) => {
    const target = await made.container(server(uniqueName('idle-restart')));
    const monitor = made.monitor(monitorFlags(etcd, '--loglevel', 'DEBUG', target));
    await whenKey(etcd, scratchKey(target), 'present', { monitor });
    const [first] = await sidecarsOf(target);
    await dockerOk(['restart', '-t', '1', target], { timeoutMs: 30_000 });
    // The restart's kill removed the key; a check that passes again means the new namespace.
    await whenKey(etcd, scratchKey(target), 'absent', { monitor, timeoutMs: 10_000 });
    await whenKey(etcd, scratchKey(target), 'present', { monitor, timeoutMs: 15_000 });
    const now = await sidecarsOf(target);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(first);
  });

  test('a hung check is killed at the timeout, and nothing stays running in the sidecar', async ({
    made,
  }) => {
    const target = await made.container([
      '--name',
      uniqueName('idle-hung'),
      // What it starts escapes into the background too: the agent ends the whole group.
      '-e',
      `HEALTHCHECK=/busybox sh -c '/busybox sleep 600 & exec /busybox sleep 600'`,
      '-e',
      'HEALTHCHECKPERIOD=5',
      '--entrypoint',
      '/busybox',
      scratchImage,
      'sleep',
      '600',
    ]);
    const monitor = made.monitor(monitorFlags(etcd, '--loglevel', 'DEBUG', '--timeout', '1', target));
    const verdict = await monitor.waitForLog((l) => l.msg === 'checked', { timeoutMs: 20_000 });
    expect(verdict).toMatchObject({ verdict: 'unhealthy', status: 'timeout after 1s' });
    const [sidecar] = await sidecarsOf(target);
    // Left running: Docker's init and the agent, nothing else.
    const left = await processesIn(sidecar!);
    expect(
      left.some((p) => /sleep/.test(p)),
      left.join('\n'),
    ).toBe(false);
    expect(left).toHaveLength(2);
  });

  test('what a passing check leaves running in the background does not survive it', async ({ made }) => {
    const target = await made.container([
      '--name',
      uniqueName('idle-leftover'),
      '-e',
      `HEALTHCHECK=/busybox sh -c '/busybox sleep 600 & exit 0'`,
      '-e',
      'HEALTHCHECKPERIOD=1',
      '--entrypoint',
      '/busybox',
      scratchImage,
      'sleep',
      '600',
    ]);
    const monitor = made.monitor(monitorFlags(etcd, '--loglevel', 'DEBUG', target));
    await whenKey(etcd, scratchKey(target), 'present', { monitor });
    const passed = () =>
      monitor.lines.filter((l) => l.msg === 'checked' && l['verdict'] === 'healthy').length;
    await waitFor(() => passed() >= 3, { timeoutMs: 20_000, what: 'three passing checks' });
    const [sidecar] = await sidecarsOf(target);
    const left = await processesIn(sidecar!);
    // Docker's init and the agent: not one `sleep 600` per check.
    expect(
      left.some((p) => /sleep/.test(p)),
      left.join('\n'),
    ).toBe(false);
    expect(left).toHaveLength(2);
  });

  test('removing the container removes its sidecar (the monitor ends with exit 0)', async ({ made }) => {
    const target = await made.container(server(uniqueName('idle-rm')));
    const monitor = made.monitor(monitorFlags(etcd, target));
    await whenKey(etcd, scratchKey(target), 'present', { monitor });
    expect(await sidecarsOf(target)).toHaveLength(1);
    await dockerOk(['rm', '-f', target]);
    expect((await monitor.exited).code).toBe(0);
    expect(await sidecarsOf(target)).toEqual([]);
  });

  test('under the listener: a SIGKILLed monitor’s sidecar is replaced, a stopped target’s swept, and none is left when the listener stops', async ({
    made,
  }) => {
    const prefix = `${uniqueName('idle-lis')}-`;
    const a = await made.container(server(`${prefix}a`));
    const b = await made.container(server(`${prefix}b`));
    const listener = listenerFor({ etcd, prefix, args: ['--mode', 'sidecar', '--interval', '500'] });
    try {
      await whenKey(etcd, scratchKey(a), 'present', { timeoutMs: 30_000 });
      await whenKey(etcd, scratchKey(b), 'present', { timeoutMs: 30_000 });
      const [oldA] = await sidecarsOf(a);
      // a's monitor killed: its replacement makes a sidecar of its own and removes the old one.
      const monitorOfA = (await listener.monitors()).find((m) => m.container === a)!;
      process.kill(monitorOfA.pid, 'SIGKILL');
      await waitFor(
        async () => {
          const now = await sidecarsOf(a);
          return now.length === 1 && now[0] !== oldA;
        },
        { timeoutMs: 20_000, what: 'the replacement monitor’s own sidecar, alone' },
      );
      // b's monitor killed and b stopped before it is replaced: the sweep removes b's sidecar.
      const monitorOfB = (await listener.monitors()).find((m) => m.container === b)!;
      process.kill(monitorOfB.pid, 'SIGKILL');
      await dockerOk(['stop', '-t', '1', b], { timeoutMs: 30_000 });
      await waitFor(async () => (await sidecarsOf(b)).length === 0, {
        timeoutMs: 15_000,
        what: 'the sweep to remove the sidecar of a stopped target',
      });
      listener.tool.child.kill('SIGTERM');
      expect((await listener.exited).code).toBe(0);
      expect(await sidecarsOf(a)).toEqual([]);
    } finally {
      await listener.dispose();
    }
  }, 90_000);
});
