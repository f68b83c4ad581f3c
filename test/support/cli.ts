// The built tools as real processes: `node packages/<tool>/bin/run.js …args`, with their exit
// status, signal, output and wall time. Tests that interrupt a tool use spawnTool and signal
// the child; killSpawnedTools (afterEach) makes sure no tool outlives its test.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Tool = 'check' | 'monitor' | 'listener';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const binOf = (tool: Tool): string => join(REPO_ROOT, 'packages', tool, 'bin', 'run.js');

export interface ToolOptions {
  /**
   * Merged over the test process's environment, from which every MON_* variable is removed
   * first (so a developer's shell cannot change a verdict). An undefined value removes a variable.
   */
  env?: Record<string, string | undefined>;
  /** SIGKILLs the tool after this long (default 30 s); the result then has timedOut: true. */
  timeoutMs?: number;
  /** written to the tool's stdin, which is then closed */
  input?: string | Buffer;
  cwd?: string;
  /**
   * A command the tool runs under, e.g. `['unshare', '-m', …]`: spawns
   * `wrapper[0] …wrapper[1..] node packages/<tool>/bin/run.js …args`.
   */
  wrapper?: string[];
}

export interface ToolResult {
  /** the exit status; null when the process was ended by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** from spawn to exit */
  durationMs: number;
  timedOut: boolean;
}

export interface RunningTool {
  child: ChildProcess;
  pid: number;
  /** everything written so far */
  readonly stdout: string;
  readonly stderr: string;
  /** resolves when the process has exited and its output is closed */
  exited: Promise<ToolResult>;
  /** resolves once `pattern` appears in the given stream's output (stdout by default) */
  waitForOutput(
    pattern: RegExp,
    opts?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number },
  ): Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const running = new Set<ChildProcess>();

function environment(extra: ToolOptions['env'] = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('MON_')) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts `node packages/<tool>/bin/run.js …args` and collects its output. */
export function spawnTool(tool: Tool, args: string[], opts: ToolOptions = {}): RunningTool {
  const started = performance.now();
  const [command, ...rest] = [...(opts.wrapper ?? []), process.execPath, binOf(tool), ...args];
  const child = spawn(command!, rest, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: environment(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', (b: Buffer) => {
    out.push(b);
    notify();
  });
  child.stderr!.on('data', (b: Buffer) => {
    err.push(b);
    notify();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');

  const exited = new Promise<ToolResult>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new Error(`cannot start ${tool}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      notify();
      resolve({
        code,
        signal,
        stdout: text(out),
        stderr: text(err),
        durationMs: Math.round(performance.now() - started),
        timedOut,
      });
    });
  });
  // A tool that exits before reading stdin makes the write fail with EPIPE: the exit status says more.
  child.stdin!.on('error', () => {});
  child.stdin!.end(opts.input);

  const handle: RunningTool = {
    child,
    pid: child.pid ?? -1,
    get stdout() {
      return text(out);
    },
    get stderr() {
      return text(err);
    },
    exited,
    waitForOutput(pattern, { stream = 'stdout', timeoutMs = 10_000 } = {}) {
      return new Promise<string>((resolve, reject) => {
        const done = () => {
          listeners.delete(check);
          clearTimeout(limit);
        };
        const check = () => {
          const seen = stream === 'stdout' ? handle.stdout : handle.stderr;
          const match = pattern.exec(seen);
          if (match) {
            done();
            resolve(match[0]);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${tool} exited before printing ${pattern} on ${stream}: ${seen.trim()}`));
          }
        };
        const limit = setTimeout(() => {
          done();
          reject(new Error(`${tool} did not print ${pattern} on ${stream} within ${timeoutMs} ms`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
  return handle;
}

/** Runs a tool to its end. Never rejects on a non-zero exit: tests assert on `code`. */
export function runTool(tool: Tool, args: string[], opts: ToolOptions = {}): Promise<ToolResult> {
  return spawnTool(tool, args, opts).exited;
}

/** SIGKILLs every tool process still running (for afterEach), and waits for them to go. */
export async function killSpawnedTools(): Promise<void> {
  const left = [...running];
  await Promise.all(
    left.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** The CLI tests spawn the built bins: build them once when a fresh checkout has none. */
export async function buildToolsIfMissing(): Promise<void> {
  if (existsSync(join(REPO_ROOT, 'packages', 'check', 'dist', 'index.js'))) return;
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  const build = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(npx, ['tsc', '-b', 'packages/check', 'packages/monitor', 'packages/listener'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
  if (build.code !== 0) {
    throw new Error(`building the tools failed (npx tsc -b …, exit ${build.code}): ${build.output.trim()}`);
  }
}
