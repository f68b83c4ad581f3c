// `check`'s options and output (SPEC §2, §5, §6): where Docker is (--control, MON_CONTROL,
// DOCKER_HOST) and what the user gets when it is not there; usage errors (exit 2) with one
// message naming the problem; MON_* variables and their switch words; the human line and --json; the original
// single-dash spellings; --help and --version without the Docker client.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binOf, killSpawnedTools } from '../support/cli.js';
import { dockerOk } from '../support/images.js';
import { check, checkJson, expectStatus, Made, shCheck } from './fixtures.js';

const made = new Made();
const NO_DOCKER = 'unix:///nonexistent.sock';
const DOCKER = 'unix:///var/run/docker.sock';

/** Prints the shell's pid: 1 in a sidecar, more inside the target (exec). */
let target: string;
/** Answers every request with HTTP 500, like a Docker daemon in trouble. */
let failingDocker: Server;
let hooksDir: string;

beforeAll(async () => {
  target = await made.container(['-e', `HEALTHCHECK=${shCheck('echo "pid=$$"')}`]);
  failingDocker = createServer((_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"message":"daemon on fire"}');
  });
  await new Promise<void>((resolve) => failingDocker.listen(0, '127.0.0.1', resolve));
  // Import hooks that refuse the heavy clients: a tool that loads them fails.
  hooksDir = await mkdtemp(join(tmpdir(), 'checker-hooks-'));
  await writeFile(
    join(hooksDir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
  if (/^(dockerode|etcd3)(\\/|$)/.test(specifier)) throw new Error('forbidden import: ' + specifier);
  return next(specifier, context);
}
`,
  );
  await writeFile(
    join(hooksDir, 'register.mjs'),
    // ESM imports go through the hook; CommonJS require (how dockerode is loaded) through _load.
    `import { createRequire, register } from 'node:module';
register('./hooks.mjs', import.meta.url);
const Module = createRequire(import.meta.url)('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (/^(dockerode|etcd3)(\\/|$)/.test(request)) throw new Error('forbidden import: ' + request);
  return load.call(this, request, ...rest);
};
`,
  );
});

afterAll(async () => {
  await killSpawnedTools();
  await new Promise((resolve) => failingDocker?.close(resolve));
  if (hooksDir) await rm(hooksDir, { recursive: true, force: true });
  await made.cleanup();
});

/** The one line `check` prints on stderr for an error it could tell the user about. */
function oneLineError(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, `stderr: ${stderr}`).toHaveLength(1);
  return lines[0]!;
}

describe.concurrent('where Docker is', () => {
  it('an unreachable --control is exit 5 with one line saying how to start Docker', async () => {
    const result = await check(['--control', NO_DOCKER, target]);
    expectStatus(result, 5);
    const line = oneLineError(result.stderr);
    expect(line).toContain(NO_DOCKER);
    expect(line).toMatch(/start dockerd/);
  });

  it('DOCKER_HOST is used when there is no --control: unreachable is exit 5', async () => {
    const result = await check([target], { env: { DOCKER_HOST: NO_DOCKER } });
    expectStatus(result, 5);
    expect(oneLineError(result.stderr)).toContain(NO_DOCKER);
  });

  it('MON_CONTROL is used over DOCKER_HOST', async () => {
    const good = await check([target], { env: { DOCKER_HOST: NO_DOCKER, MON_CONTROL: DOCKER } });
    expectStatus(good, 0);
    const bad = await check([target], { env: { DOCKER_HOST: DOCKER, MON_CONTROL: NO_DOCKER } });
    expectStatus(bad, 5);
    expect(oneLineError(bad.stderr)).toContain(NO_DOCKER);
  });

  it('--control is used over MON_CONTROL', async () => {
    expectStatus(await check(['--control', DOCKER, target], { env: { MON_CONTROL: NO_DOCKER } }), 0);
  });

  it('a closed tcp:// port is exit 5', async () => {
    // Port 1 on loopback: nothing listens there.
    const result = await check(['--control', 'tcp://127.0.0.1:1', target]);
    expectStatus(result, 5);
    expect(oneLineError(result.stderr)).toContain('tcp://127.0.0.1:1');
  });

  it('Docker answering with an error (HTTP 500) is exit 5 with its message', async () => {
    const { port } = failingDocker.address() as AddressInfo;
    const result = await check(['--control', `tcp://127.0.0.1:${port}`, 'web']);
    expectStatus(result, 5);
    expect(oneLineError(result.stderr)).toMatch(/daemon on fire/);
  });

  it('a --control that is not an endpoint is a usage error (exit 2)', async () => {
    const result = await check(['--control', 'unix://relative/docker.sock', target]);
    expectStatus(result, 2);
    expect(oneLineError(result.stderr)).toMatch(/absolute path/);
  });
});

describe.concurrent('usage errors are exit 2 and name what is wrong', () => {
  // Docker is pointed at nothing: reaching it would be exit 5, not 2.
  const env = { MON_CONTROL: NO_DOCKER };
  it.each([
    ['an unknown flag', ['--nope', 'web'], {}, /--nope/],
    ['a missing container argument', [], {}, /container/i],
    ['an extra argument', ['web', 'db'], {}, /db/],
    ['a negative --timeout', ['--timeout', '-1', 'web'], {}, /--timeout/],
    ['a --timeout that is not a number', ['--timeout', 'soon', 'web'], {}, /--timeout/],
    ['an unknown --mode', ['--mode', 'foo', 'web'], {}, /--mode/],
    ['an unknown --loglevel', ['--loglevel', 'LOUD', 'web'], {}, /loglevel/],
    ['an unknown level in MON_LOGLEVEL', ['web'], { MON_LOGLEVEL: 'LOUD' }, /^check: MON_LOGLEVEL: /],
    ['a bad MON_TIMEOUT', ['web'], { MON_TIMEOUT: 'soon' }, /^check: MON_TIMEOUT: /],
    ['a bad --wait', ['--wait', '-3', 'web'], {}, /--wait/],
    ['a --wait beyond a day', ['--wait', '86401', 'web'], {}, /^check: --wait: .*from 0 to 86400/],
    ['a switch variable that is no switch word', ['web'], { MON_STDOUT: 'maybe' }, /^check: MON_STDOUT: /],
    ['a switch flag that is no switch word', ['-json=maybe', 'web'], {}, /^check: --json: /],
  ])('%s', async (_what, args, extraEnv, names) => {
    const result = await check(args, { env: { ...env, ...extraEnv } });
    expectStatus(result, 2);
    expect(result.stderr).toMatch(names);
  });
});

describe.concurrent('MON_* variables', () => {
  it('MON_MODE=exec runs the command inside the target; --mode beats it', async () => {
    const fromEnv = await checkJson([target], { env: { MON_MODE: 'exec' } });
    expectStatus(fromEnv.result, 0);
    expect(fromEnv.verdict.output.trim()).not.toBe('pid=1');
    const fromFlag = await checkJson(['--mode', 'sidecar', target], { env: { MON_MODE: 'exec' } });
    expect(fromFlag.verdict.output.trim()).toBe('pid=1');
  });

  it('MON_TIMEOUT bounds the command', async () => {
    const slow = await made.container(['-e', `HEALTHCHECK=${shCheck('sleep 30')}`]);
    const { result, verdict } = await checkJson([slow], { env: { MON_TIMEOUT: '1' } });
    expectStatus(result, 1);
    expect(verdict.status).toBe('timeout after 1s');
  });

  it('MON_STDOUT=on puts the log lines on stdout; MON_STDOUT=OFF keeps them off (switch words, any case)', async () => {
    const on = await check([target], { env: { MON_STDOUT: 'on', MON_LOGLEVEL: 'debug' } });
    expectStatus(on, 0);
    const logs = on.stdout.split('\n').filter((line) => line.startsWith('{'));
    expect(logs.length, on.stdout).toBeGreaterThan(0);
    expect(JSON.parse(logs[0]!)).toMatchObject({ tool: 'check', container: target });
    const off = await check([target], { env: { MON_STDOUT: 'OFF', MON_LOGLEVEL: 'debug' } });
    expectStatus(off, 0);
    expect(off.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/: healthy \(env: exit 0/)]);
  });

  it('MON_JSON=true prints the JSON verdict', async () => {
    const result = await check([target], { env: { MON_JSON: 'true' } });
    expectStatus(result, 0);
    expect(JSON.parse(result.stdout)).toMatchObject({ verdict: 'healthy' });
  });
});

describe.concurrent('output', () => {
  it('--json prints exactly one JSON object with the documented fields, logs go to stderr', async () => {
    const ref = target.slice(0, 12);
    const { result, verdict } = await checkJson(['--loglevel', 'DEBUG', ref]);
    expectStatus(result, 0);
    expect(Object.keys(verdict)).toEqual([
      'container',
      'id',
      'name',
      'verdict',
      'exitStatus',
      'source',
      'status',
      'output',
      'durationMs',
    ]);
    const name = (await dockerOk(['inspect', '--format', '{{.Name}}', target])).replace(/^\//, '');
    expect(verdict).toEqual({
      container: ref,
      id: target,
      name,
      verdict: 'healthy',
      exitStatus: 0,
      source: 'env',
      status: 'exit 0',
      output: 'pid=1\n',
      durationMs: expect.any(Number),
    });
    expect(verdict.durationMs).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/"level":"DEBUG"/);
  });

  it('--json on an error prints one JSON object with the exit status and the message', async () => {
    const name = `no-such-container-${Date.now()}`;
    const result = await check(['--json', name]);
    expectStatus(result, 3);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual({
      container: name,
      verdict: 'error',
      exitStatus: 3,
      error: expect.stringContaining(`no such container: ${name}`),
    });
    expect(oneLineError(result.stderr)).toContain(`no such container: ${name}`);
  });

  it('without --json, stdout is one human line: `<container>: <verdict> (<source>: <status>, <n> ms)`', async () => {
    const result = await check([target]);
    expectStatus(result, 0);
    expect(result.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^.+: healthy \(env: exit 0, \d+ ms\)$/),
    ]);
    expect(result.stdout.startsWith(`${target}: healthy`)).toBe(true);
  });

  it('-loglevel=DEBUG -stdout=true (the original spelling) logs JSON lines with tool, container and argv', async () => {
    const result = await check(['-loglevel=DEBUG', '-stdout=true', target]);
    expectStatus(result, 0);
    const lines = result.stdout.trimEnd().split('\n');
    const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) expect(log).toMatchObject({ level: 'DEBUG', tool: 'check', container: target });
    const run = logs.find((l) => l.msg === 'running HEALTHCHECK');
    expect(run?.argv).toEqual([
      'sh',
      '-c',
      'echo "pid=$$"',
      '--',
      expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/),
    ]);
    expect(lines).toContainEqual(expect.stringMatching(/: healthy \(env: exit 0/));
  });

  it('-stdout=false keeps log lines off stdout; the verdict line stays', async () => {
    const result = await check(['-loglevel=DEBUG', '-stdout=false', target]);
    expectStatus(result, 0);
    expect(result.stdout.trimEnd().split('\n')).toEqual([expect.stringMatching(/: healthy \(env: exit 0/)]);
  });
});

describe.concurrent('--help and --version', () => {
  // ~0.15 s of CPU on an idle host (a check that loads the clients takes ~0.4 s). CPU time,
  // not wall time, so that other suites loading the host do not decide the verdict.
  const CPU_BOUND_S = 1;
  const noHeavyClients = () => ({
    MON_CONTROL: NO_DOCKER,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(join(hooksDir, 'register.mjs')).href}`,
  });
  /** Runs check under sh, whose `times` then prints the CPU time its child used. */
  async function timedCheck(args: string[]) {
    const result = await check(args, {
      env: noHeavyClients(),
      wrapper: ['sh', '-c', '"$@"; status=$?; times >&2; exit $status', 'sh'],
    });
    const children = result.stderr.trimEnd().split('\n').at(-1) ?? '';
    const [user, sys] = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(
      ([, m, s]) => Number(m) * 60 + Number(s),
    );
    expect(sys, `the CPU times from sh's \`times\` in stderr: ${result.stderr}`).toBeDefined();
    return { result, cpuSeconds: user! + sys! };
  }

  it('the import hook used below really stops a tool that loads the Docker client', async () => {
    const result = await check([target], { env: noHeavyClients() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/forbidden import: dockerode/);
  });

  it.each([['--help'], ['-help']])(
    '%s exits 0 at once with usage and exit statuses, without dockerode or etcd3',
    async (flag) => {
      const { result, cpuSeconds } = await timedCheck([flag]);
      expectStatus(result, 0);
      expect(result.stdout).toMatch(/USAGE/);
      expect(result.stdout).toMatch(/Exit status/);
      expect(cpuSeconds).toBeLessThan(CPU_BOUND_S);
    },
  );

  it.each([['--version'], ['-version']])(
    '%s exits 0 at once with the package version, without dockerode or etcd3',
    async (flag) => {
      const pkg = join(binOf('check'), '..', '..', 'package.json');
      const { version } = JSON.parse(await readFile(pkg, 'utf8')) as { version: string };
      const { result, cpuSeconds } = await timedCheck([flag]);
      expectStatus(result, 0);
      expect(result.stdout).toContain(version);
      expect(cpuSeconds).toBeLessThan(CPU_BOUND_S);
    },
  );
});
