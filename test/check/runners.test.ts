// How the HEALTHCHECK command runs (SPEC §1, §2, §6): its words exactly as written plus the
// container's IP, in a sidecar made from the target's image id or by docker exec; bounded by
// --timeout; and whatever happens (timeout, SIGTERM, SIGINT, the target going away) no sidecar
// and no stray process is left behind.
import { afterAll, describe, expect, it } from 'vitest';
import { killSpawnedTools, spawnTool } from '../support/cli.js';
import { docker, dockerOk, uniqueName, waitFor } from '../support/images.js';
import {
  checkJson,
  expectStatus,
  ipOn,
  Made,
  processesIn,
  shCheck,
  sidecarsOf,
  whileRunning,
} from './fixtures.js';

const made = new Made();
afterAll(async () => {
  await killSpawnedTools();
  await made.cleanup();
});

const SLOW = shCheck('sleep 30');
/** sleep as a child of the shell, not exec'd by it: killing the shell alone would orphan it */
const SLOW_CHILD = shCheck('sleep 30; true');

const noSidecarLeft = (id: string) =>
  waitFor(async () => (await sidecarsOf(id)).length === 0, {
    timeoutMs: 5_000,
    intervalMs: 250,
    what: `the sidecars of ${id.slice(0, 12)} to be removed`,
  });

const noSleepLeft = (id: string) =>
  waitFor(async () => !(await processesIn(id)).some((p) => p.includes('sleep 30')), {
    timeoutMs: 5_000,
    intervalMs: 250,
    what: `the check's sleep to end inside ${id.slice(0, 12)}`,
  });

describe.concurrent('the command', () => {
  it.each([[[]], [['--mode', 'exec']]])(
    'is run with its words as a shell splits them, nothing expanded, and the IP appended (%j)',
    async (args) => {
      const id = await made.container(['-e', 'HEALTHCHECK=echo $HOME "two  spaces" * a\\ b']);
      const { result, verdict } = await checkJson([...args, id]);
      expectStatus(result, 0);
      const ip = await ipOn(id, 'bridge');
      expect(verdict.output).toBe(`$HOME two  spaces * a b ${ip}\n`);
    },
  );

  it('gets the IP as exactly one argument after its own words', async () => {
    // The words and the IP as separate arguments: count them and show the last.
    const id = await made.container(['-e', `HEALTHCHECK=${shCheck('echo "$# $1"; test "$#" = 1')}`]);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.output.trim()).toBe(`1 ${await ipOn(id, 'bridge')}`);
  });

  it('runs in a sidecar with exactly the HEALTHCHECK words, not the image ENTRYPOINT or CMD', async () => {
    const tag = `${uniqueName('checker-test/entrypoint').toLowerCase()}:latest`;
    await made.image(
      tag,
      [
        'FROM checker-test/busybox:latest',
        'ENV HEALTHCHECK="echo exactly these words"',
        'ENTRYPOINT ["sh", "-c", "exit 7"]',
        'CMD ["cmd-word"]',
        '',
      ].join('\n'),
    );
    const id = await made.container(['--entrypoint', 'sleep'], ['600'], tag);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.output).toBe(`exactly these words ${await ipOn(id, 'bridge')}\n`);

    // and the image's own HEALTHCHECK variable is switched off by an empty one
    const off = await made.container(['--entrypoint', 'sleep', '-e', 'HEALTHCHECK='], ['600'], tag);
    const switchedOff = await checkJson([off]);
    expectStatus(switchedOff.result, 4);
  });

  it('runs from the image the target was made from, even when its tag now names another image', async () => {
    const tag = `${uniqueName('checker-test/retag').toLowerCase()}:latest`;
    const dockerfile = (code: number) =>
      [
        'FROM checker-test/busybox:latest',
        `RUN echo 'exit ${code}' > /check.sh`,
        'ENV HEALTHCHECK="sh /check.sh"',
        '',
      ].join('\n');
    await made.image(tag, dockerfile(0));
    const id = await made.container([], ['sleep', '600'], tag);
    await made.image(tag, dockerfile(9)); // the tag moves to an image whose check fails
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.status).toBe('exit 0');
  });

  it.each([
    ['short', (id: string) => id.replace(/^sha256:/, '').slice(0, 12)],
    ['full', (id: string) => id],
  ])('checks a container created from a bare image id (%s)', async (_kind, ref) => {
    const imageId = await dockerOk([
      'image',
      'inspect',
      '--format',
      '{{.Id}}',
      'checker-test/busybox:latest',
    ]);
    const id = await made.container(['-e', 'HEALTHCHECK=true'], ['sleep', '600'], ref(imageId));
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict).toMatchObject({ verdict: 'healthy', source: 'env' });
  });
});

describe.concurrent('--timeout', () => {
  it('a sidecar command that hangs is unhealthy (exit 1) after the timeout, and its sidecar is gone', async () => {
    const id = await made.container(['-e', `HEALTHCHECK=${SLOW}`]);
    const { result, verdict } = await checkJson(['--timeout', '1', id]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ verdict: 'unhealthy', source: 'env', status: 'timeout after 1s' });
    // measured by the tool itself, from inspect to verdict: a loaded host slows node's start, not this
    expect(verdict.durationMs).toBeLessThan(5_000);
    // removed before check exits: no polling
    expect(await sidecarsOf(id)).toEqual([]);
  });

  it.each([
    ['run by the shell itself', SLOW],
    ['a child of the shell', SLOW_CHILD],
  ])(
    'an exec command that hangs is unhealthy (exit 1), and its sleep (%s) is gone from the target',
    async (_kind, command) => {
      const id = await made.container(['-e', `HEALTHCHECK=${command}`]);
      const { result, verdict } = await checkJson(['--mode', 'exec', '--timeout', '1', id]);
      expectStatus(result, 1);
      expect(verdict).toMatchObject({ verdict: 'unhealthy', status: 'timeout after 1s' });
      expect(verdict.durationMs).toBeLessThan(5_000);
      await noSleepLeft(id);
    },
  );
});

describe.concurrent('interrupted', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('by %s while its sidecar runs: exit %d and the sidecar is removed', async (signal, status) => {
    const id = await made.container(['-e', `HEALTHCHECK=${SLOW}`]);
    const running = spawnTool('check', ['--json', '--timeout', '60', id]);
    await whileRunning(running, 'its sidecar appears', async () => (await sidecarsOf(id)).length > 0);
    running.child.kill(signal);
    const result = await running.exited;
    expectStatus(result, status);
    await noSidecarLeft(id);
  });

  it('by SIGTERM while an exec runs: exit 143 and the command is gone from the target', async () => {
    const id = await made.container(['-e', `HEALTHCHECK=${SLOW_CHILD}`]);
    const running = spawnTool('check', ['--mode', 'exec', '--timeout', '60', id]);
    await whileRunning(running, 'its command runs in the target', async () =>
      (await processesIn(id)).some((p) => p.includes('sleep 30')),
    );
    running.child.kill('SIGTERM');
    expectStatus(await running.exited, 143);
    await noSleepLeft(id);
  });
});

describe.concurrent('a target that goes away while its sidecar runs', () => {
  const slowPass = shCheck('sleep 10');

  it('stopped: the verdict is not healthy (exit 1) and no sidecar is left', async () => {
    const id = await made.container(['-e', `HEALTHCHECK=${slowPass}`]);
    const running = spawnTool('check', ['--json', '--timeout', '60', id], { timeoutMs: 55_000 });
    await whileRunning(running, 'its sidecar appears', async () => (await sidecarsOf(id)).length > 0);
    await dockerOk(['stop', '-t', '1', id]);
    const result = await running.exited;
    expectStatus(result, 1);
    expect(JSON.parse(result.stdout)).toMatchObject({ verdict: 'unhealthy', status: 'not running (exited)' });
    await noSidecarLeft(id);
  });

  it('removed: the verdict is not healthy (exit 1 or 3, no crash) and no sidecar is left', async () => {
    const id = await made.container(['-e', `HEALTHCHECK=${slowPass}`]);
    const running = spawnTool('check', ['--json', '--timeout', '60', id], { timeoutMs: 55_000 });
    await whileRunning(running, 'its sidecar appears', async () => (await sidecarsOf(id)).length > 0);
    await docker(['rm', '-f', id]);
    const result = await running.exited;
    expect([1, 3], `exit status; stdout: ${result.stdout} stderr: ${result.stderr}`).toContain(result.code);
    await noSidecarLeft(id);
  });
});

describe.concurrent('a command that cannot start', () => {
  it.each([[[]], [['--mode', 'exec']]])(
    'is the check failing (exit 1 with the reason in the output), in either mode (%j)',
    async (args) => {
      const id = await made.container(['-e', 'HEALTHCHECK=/nonexistent/probe']);
      const { result, verdict } = await checkJson([...args, id]);
      expectStatus(result, 1);
      expect(verdict.source).toBe('env');
      expect(verdict.output).toMatch(/nonexistent\/probe/);
      await noSidecarLeft(id);
    },
  );
});
