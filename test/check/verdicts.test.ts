// `check <container>` against the real daemon: one test per row of the exit table (SPEC §2)
// for each source of a verdict (the HEALTHCHECK variable in both runners, Docker's own health,
// none) and each container state that is not "running".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killSpawnedTools, spawnTool } from '../support/cli.js';
import { docker, dockerOk, waitFor } from '../support/images.js';
import {
  check,
  checkJson,
  expectStatus,
  healthOf,
  type JsonVerdict,
  Made,
  shCheck,
  sidecarsOf,
  talksToDocker,
  whileRunning,
} from './fixtures.js';

const made = new Made();
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Docker health that is decided within a second or two. */
const dockerHealth = (cmd: string) => [
  '--health-cmd',
  cmd,
  '--health-interval',
  '1s',
  '--health-retries',
  '1',
];
/** Docker health that stays `starting` until /ready exists (failures in the start period do not count). */
const startingHealth = [
  '--health-cmd',
  'test -f /ready',
  '--health-interval',
  '1s',
  '--health-start-period',
  '120s',
];

// $$ is the shell's pid: 1 in a sidecar (a container of its own), more inside the target.
const PASSING = shCheck('echo "pid=$$"');
const FAILING = shCheck('echo "not ready" >&2; exit 3');

const MODES = [
  { name: 'sidecar (the default)', args: [] as string[] },
  { name: 'exec', args: ['--mode', 'exec'] },
];

/** The targets the tests below share, by what they are: `docker run` options of each. */
const TARGETS = {
  dockerHealthy: dockerHealth('true'),
  dockerUnhealthy: dockerHealth('false'),
  dockerStarting: startingHealth,
  envOverDocker: ['-e', 'HEALTHCHECK=false', ...dockerHealth('true')],
  emptyOverDocker: ['-e', 'HEALTHCHECK=', ...dockerHealth('true')],
  emptyAlone: ['-e', 'HEALTHCHECK='],
  noCheck: [],
} satisfies Record<string, string[]>;
let c: Record<keyof typeof TARGETS, string>;

beforeAll(async () => {
  const ids = await Promise.all(Object.values(TARGETS).map((options) => made.container(options)));
  c = Object.fromEntries(Object.keys(TARGETS).map((name, i) => [name, ids[i]!])) as typeof c;
});

afterAll(async () => {
  await killSpawnedTools();
  await made.cleanup();
});

const settled = (id: string, status: 'healthy' | 'unhealthy') =>
  waitFor(async () => (await healthOf(id)) === status, {
    timeoutMs: 15_000,
    what: `Docker to report ${id.slice(0, 12)} ${status}`,
  });

describe.concurrent('HEALTHCHECK variable', () => {
  it.each(MODES)(
    'a passing command is healthy (exit 0) with --mode $name, and runs where the mode says',
    async ({ name, args }) => {
      const id = await made.container(['-e', `HEALTHCHECK=${PASSING}`]);
      const { result, verdict } = await checkJson([...args, id]);
      expectStatus(result, 0);
      expect(verdict).toMatchObject({ verdict: 'healthy', exitStatus: 0, source: 'env', status: 'exit 0' });
      if (name.startsWith('sidecar')) expect(verdict.output.trim()).toBe('pid=1');
      else expect(verdict.output.trim()).toMatch(/^pid=([2-9]|\d{2,})$/);
      expect(await sidecarsOf(id)).toEqual([]);
    },
  );

  it.each(MODES)(
    'a failing command is unhealthy (exit 1) with --mode $name, with its exit code and output',
    async ({ args }) => {
      const id = await made.container(['-e', `HEALTHCHECK=${FAILING}`]);
      const { result, verdict } = await checkJson([...args, id]);
      expectStatus(result, 1);
      expect(verdict).toMatchObject({ verdict: 'unhealthy', exitStatus: 1, source: 'env', status: 'exit 3' });
      expect(verdict.output).toContain('not ready');
      expect(await sidecarsOf(id)).toEqual([]);
    },
  );

  it('decides even when Docker health says otherwise (the variable comes first)', async () => {
    await settled(c.envOverDocker, 'healthy');
    const { result, verdict } = await checkJson([c.envOverDocker]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ source: 'env', status: 'exit 1' });
  });

  it('set empty (-e HEALTHCHECK=) is switched off: Docker health decides', async () => {
    await settled(c.emptyOverDocker, 'healthy');
    const { result, verdict } = await checkJson([c.emptyOverDocker]);
    expectStatus(result, 0);
    expect(verdict).toMatchObject({ verdict: 'healthy', source: 'docker', status: 'healthy' });
  });

  it('set empty with no Docker health is "no check defined" (exit 4)', async () => {
    const { result, verdict } = await checkJson([c.emptyAlone]);
    expectStatus(result, 4);
    expect(verdict).toMatchObject({ verdict: 'no-check', exitStatus: 4, source: 'none' });
  });
});

describe.concurrent("Docker's own health (--health-cmd)", () => {
  it('healthy is exit 0', async () => {
    await settled(c.dockerHealthy, 'healthy');
    const { result, verdict } = await checkJson([c.dockerHealthy]);
    expectStatus(result, 0);
    expect(verdict).toMatchObject({ verdict: 'healthy', source: 'docker', status: 'healthy' });
  });

  it('unhealthy is exit 1', async () => {
    await settled(c.dockerUnhealthy, 'unhealthy');
    const { result, verdict } = await checkJson([c.dockerUnhealthy]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ verdict: 'unhealthy', source: 'docker', status: 'unhealthy' });
  });

  it('starting is exit 1 at once without --wait', async () => {
    const { result, verdict } = await checkJson([c.dockerStarting]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ verdict: 'unhealthy', source: 'docker', status: 'starting' });
    // measured by the tool itself: a loaded host slows node's start, not the verdict
    expect(verdict.durationMs).toBeLessThan(3_000);
  });

  it('starting for longer than --wait is exit 1 once the wait is over', async () => {
    const { result, verdict } = await checkJson(['--wait', '1', c.dockerStarting]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ source: 'docker', status: 'starting' });
    expect(verdict.durationMs).toBeGreaterThanOrEqual(700);
    expect(verdict.durationMs).toBeLessThan(5_000);
  });

  it('--wait waits out `starting` and answers 0 as soon as Docker says healthy', async () => {
    const id = await made.container(startingHealth);
    expect(await healthOf(id)).toBe('starting');
    const waiting = spawnTool('check', ['--json', '--wait', '30', id]);
    // Once it talks to Docker it has seen `starting` (/ready does not exist yet); a little later
    // it must still be there, waiting.
    await whileRunning(waiting, 'check to talk to Docker', () => talksToDocker(waiting), { intervalMs: 10 });
    await delay(1_000);
    expect(waiting.child.exitCode, `check ended early: ${waiting.stdout} ${waiting.stderr}`).toBeNull();
    await dockerOk(['exec', id, 'touch', '/ready']);
    const result = await waiting.exited;
    expectStatus(result, 0);
    const verdict = JSON.parse(result.stdout) as JsonVerdict;
    expect(verdict).toMatchObject({ verdict: 'healthy', source: 'docker', status: 'healthy' });
    // It answered on the next probe after /ready (1 s interval), not at the end of the 30 s wait.
    expect(verdict.durationMs).toBeGreaterThanOrEqual(1_000);
    expect(verdict.durationMs).toBeLessThan(25_000);
  });
});

describe.concurrent('no check and containers that are not running', () => {
  it('a running container with neither source is "no check defined" (exit 4)', async () => {
    const { result, verdict } = await checkJson([c.noCheck]);
    expectStatus(result, 4);
    expect(verdict).toMatchObject({ verdict: 'no-check', source: 'none', status: 'no health check defined' });
  });

  it('a created, never started container is unhealthy (exit 1), its check not run', async () => {
    const id = await made.created(['-e', 'HEALTHCHECK=true']);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ verdict: 'unhealthy', status: 'not running (created)' });
  });

  it('an exited container is unhealthy (exit 1), its check not run', async () => {
    const id = await made.container(['-e', 'HEALTHCHECK=true'], ['true']);
    await dockerOk(['wait', id], { timeoutMs: 10_000 });
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 1);
    expect(verdict).toMatchObject({ verdict: 'unhealthy', status: 'not running (exited)' });
  });

  it('a paused container is unhealthy (exit 1), its check not run', async () => {
    const id = await made.container(['-e', 'HEALTHCHECK=true']);
    await dockerOk(['pause', id]);
    try {
      const { result, verdict } = await checkJson([id]);
      expectStatus(result, 1);
      expect(verdict).toMatchObject({ verdict: 'unhealthy', status: 'not running (paused)' });
      expect(await sidecarsOf(id)).toEqual([]);
    } finally {
      await docker(['unpause', id]);
    }
  });

  it('an unknown container is exit 3 with a one-line message on stderr', async () => {
    const name = `no-such-container-${Date.now()}`;
    const result = await check([name]);
    expectStatus(result, 3);
    const stderr = result.stderr.trimEnd();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toContain(`no such container: ${name}`);
  });
});
