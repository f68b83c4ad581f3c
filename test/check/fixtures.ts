// What the `check` tests share: running the built `check` bin, reading its --json verdict,
// looking at sidecars and processes in Docker, and removing by id what a test made.
import { readdir, readlink } from 'node:fs/promises';
import { expect } from 'vitest';
import { type RunningTool, runTool, type ToolOptions, type ToolResult } from '../support/cli.js';
import { docker, dockerOk, removeContainers, runContainer, TEST_IMAGE } from '../support/images.js';

export const SIDECAR_LABEL = 'checker.sidecar=1';

/** The object `check --json` prints. */
export interface JsonVerdict {
  container: string;
  id: string;
  name: string;
  verdict: 'healthy' | 'unhealthy' | 'no-check';
  exitStatus: number;
  source: 'env' | 'docker' | 'none';
  status: string;
  output: string;
  durationMs: number;
}

/** `check …args`; on a host loaded by other suites a check can take long, hence the generous kill. */
export const check = (args: string[], opts?: ToolOptions): Promise<ToolResult> =>
  runTool('check', args, { timeoutMs: 50_000, ...opts });

/** `check --json <args>`: the exit status and the parsed verdict (stdout must be exactly one JSON line). */
export async function checkJson(
  args: string[],
  opts?: ToolOptions,
): Promise<{ result: ToolResult; verdict: JsonVerdict }> {
  const result = await check(['--json', ...args], opts);
  const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
  expect(
    lines,
    `stdout of check --json ${args.join(' ')} (exit ${result.code}, signal ${result.signal}, ${result.durationMs} ms; stderr: ${result.stderr.trim()})`,
  ).toHaveLength(1);
  return { result, verdict: JSON.parse(lines[0]!) as JsonVerdict };
}

/** Asserts the exit status, showing the tool's output when it is not the expected one. */
export function expectStatus(result: ToolResult, status: number): void {
  expect(
    result.code,
    `exit status (signal ${result.signal}, ${result.durationMs} ms)\nstdout: ${result.stdout.trim()}\nstderr: ${result.stderr.trim()}`,
  ).toBe(status);
}

/** The HEALTHCHECK value that runs `script` in sh, with the appended IP as $1. */
export const shCheck = (script: string): string => `sh -c '${script}' --`;

/** The ids of sidecars (running or not) whose target is `id`. */
export async function sidecarsOf(id: string): Promise<string[]> {
  const out = await dockerOk([
    'ps',
    '-aq',
    '--no-trunc',
    '--filter',
    `label=${SIDECAR_LABEL}`,
    '--filter',
    `label=checker.target=${id}`,
  ]);
  return out.split('\n').filter(Boolean);
}

/** The command lines of the processes running inside a container, from its own `ps`. */
export async function processesIn(id: string): Promise<string[]> {
  const out = await dockerOk(['exec', id, 'ps', '-o', 'args']);
  return out
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== 'ps -o args');
}

export async function inspect<T = unknown>(id: string, format: string): Promise<T> {
  return JSON.parse(await dockerOk(['inspect', '--format', `{{json ${format}}}`, id])) as T;
}

/** The container's address on one network, as Docker reports it. */
export async function ipOn(id: string, network: string): Promise<string> {
  const networks = await inspect<Record<string, { IPAddress: string }>>(id, '.NetworkSettings.Networks');
  const ip = networks[network]?.IPAddress;
  if (!ip) throw new Error(`container ${id} has no address on ${network}: ${JSON.stringify(networks)}`);
  return ip;
}

export const healthOf = (id: string): Promise<string | null> =>
  inspect<{ Status: string } | null>(id, '.State.Health').then((h) => h?.Status ?? null);

/**
 * Containers, networks and images a test file made, removed by id in afterAll/afterEach
 * (containers first: a network or image in use cannot go).
 */
export class Made {
  readonly containers: string[] = [];
  readonly networks: string[] = [];
  readonly images: string[] = [];

  /** A test container (`--init`, label checker.test=1) running `sleep 600` unless a command is given. */
  async container(
    options: string[],
    command: string[] = ['sleep', '600'],
    image = TEST_IMAGE,
  ): Promise<string> {
    const id = await runContainer([...options, image, ...command]);
    this.containers.push(id);
    return id;
  }

  /** `docker create` (never started): a container in state `created`. */
  async created(options: string[] = []): Promise<string> {
    const id = await dockerOk([
      'create',
      '--label',
      'checker.test=1',
      ...options,
      TEST_IMAGE,
      'sleep',
      '600',
    ]);
    this.containers.push(id);
    return id;
  }

  async network(name: string, options: string[] = []): Promise<string> {
    const id = await dockerOk(['network', 'create', '--label', 'checker.test=1', ...options, name]);
    this.networks.push(id);
    return id;
  }

  /** Builds a Dockerfile (FROM the test image, no context) and tags it; resolves with the image id. */
  async image(tag: string, dockerfile: string): Promise<string> {
    await dockerOk(['build', '-q', '-t', tag, '-'], {
      input: dockerfile,
      timeoutMs: 60_000,
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    const id = await dockerOk(['image', 'inspect', '--format', '{{.Id}}', tag]);
    this.images.push(id);
    return id;
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    const targets = new Set(this.containers.splice(0));
    // Every check has ended by now, so a sidecar of one of our targets is one `check` left
    // behind (or one a failed test SIGKILLed it out of): removed, and reported.
    const sidecars = (
      await dockerOk([
        'ps',
        '-a',
        '--filter',
        `label=${SIDECAR_LABEL}`,
        '--format',
        '{{.ID}} {{.Label "checker.target"}}',
      ])
    )
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, target]) => target !== undefined && targets.has(target))
      .map(([id]) => id);
    await removeContainers([...sidecars, ...targets]).catch((e: Error) => problems.push(e.message));
    if (sidecars.length > 0) problems.push(`sidecars left behind (now removed): ${sidecars.join(' ')}`);
    for (const id of this.networks.splice(0)) {
      const r = await docker(['network', 'rm', id]);
      if (r.code !== 0 && !/no such network|not found/i.test(r.stderr)) problems.push(r.stderr.trim());
    }
    for (const id of this.images.splice(0)) {
      const r = await docker(['rmi', '-f', id]);
      if (r.code !== 0 && !/no such image/i.test(r.stderr)) problems.push(r.stderr.trim());
    }
    if (problems.length > 0) throw new Error(`cleanup: ${problems.join('; ')}`);
  }
}

/**
 * Polls `predicate` while `tool` runs; fails at once, with the tool's output, if the tool
 * exits first (waiting on would only hide why).
 */
export async function whileRunning(
  tool: RunningTool,
  what: string,
  predicate: () => Promise<boolean>,
  { timeoutMs = 40_000, intervalMs = 250 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (tool.child.exitCode !== null || tool.child.signalCode !== null) {
      throw new Error(
        `check exited (${tool.child.exitCode ?? tool.child.signalCode}) before ${what}: ${tool.stdout} ${tool.stderr}`,
      );
    }
    if (await predicate().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * True once the tool process has a socket besides its stdio (0-2, socketpairs from spawn):
 * its connection to the Docker socket. Read from /proc, so it costs no process of its own.
 */
export async function talksToDocker(tool: RunningTool): Promise<boolean> {
  const fds = await readdir(`/proc/${tool.pid}/fd`);
  for (const fd of fds) {
    if (Number(fd) <= 2) continue;
    const target = await readlink(`/proc/${tool.pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith('socket:')) return true;
  }
  return false;
}
