// The built `monitor` CLI as a long-running child process (spawnTool from cli.ts), with what
// its tests read: its pino JSON lines, parsed and each stamped with the moment it arrived, its
// stderr, its exit, and signals to send it.
import type { ChildProcess } from 'node:child_process';
import { spawnTool } from './cli.js';

/** One pino line of the monitor; `arrivedAt` is this process's Date.now() when it was read. */
export interface LogLine {
  level: string;
  time: string;
  msg: string;
  arrivedAt: number;
  [field: string]: unknown;
}

export interface MonitorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface MonitorProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout lines that parsed as JSON, in order */
  readonly lines: LogLine[];
  /** stdout lines that did not */
  readonly otherStdout: string[];
  stderr(): string;
  /** resolves when the process has exited and its output is closed */
  readonly exited: Promise<MonitorExit>;
  running(): boolean;
  /** the first line (already read or still to come) matching `match` */
  waitForLog(
    match: (line: LogLine) => boolean,
    opts?: { timeoutMs?: number; what?: string },
  ): Promise<LogLine>;
  /** sends `signal` unless the process has exited */
  signal(signal: NodeJS.Signals): void;
  /** the last lines, for failure messages */
  tail(count?: number): string;
}

export interface MonitorOptions {
  /** merged over the environment, from which spawnTool removes every MON_* variable */
  env?: Record<string, string | undefined>;
  /** SIGKILL after this long; default 2 minutes (a monitor runs until told to stop) */
  timeoutMs?: number;
}

/** Starts `node packages/monitor/bin/run.js …args`. */
export function startMonitor(args: string[], opts: MonitorOptions = {}): MonitorProcess {
  const tool = spawnTool('monitor', args, {
    ...(opts.env ? { env: opts.env } : {}),
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  const { child } = tool;

  const lines: LogLine[] = [];
  const otherStdout: string[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const at = Date.now();
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const text of parts) {
      if (text.trim() === '') continue;
      try {
        lines.push({ ...(JSON.parse(text) as LogLine), arrivedAt: at });
      } catch {
        otherStdout.push(text);
      }
    }
    notify();
  });

  let done: MonitorExit | undefined;
  const exited = tool.exited.then(({ code, signal }) => {
    done = { code, signal };
    notify();
    return done;
  });

  const tail = (count = 15) => {
    const out = [
      ...lines.slice(-count).map(({ arrivedAt: _, ...line }) => JSON.stringify(line)),
      ...otherStdout.slice(-5),
    ];
    if (tool.stderr.trim() !== '') out.push(`stderr: ${tool.stderr.trim()}`);
    return out.join('\n');
  };

  return {
    child,
    pid: tool.pid,
    lines,
    otherStdout,
    stderr: () => tool.stderr,
    exited,
    running: () => done === undefined && child.exitCode === null && child.signalCode === null,
    signal: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    tail,
    waitForLog: (match, { timeoutMs = 20_000, what = 'a log line' } = {}) =>
      new Promise<LogLine>((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(look);
        };
        const look = () => {
          const found = lines.find(match);
          if (found) {
            finish();
            resolve(found);
          } else if (done !== undefined) {
            finish();
            reject(new Error(`monitor exited (${JSON.stringify(done)}) before ${what}:\n${tail()}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${tail()}`));
        }, timeoutMs);
        listeners.add(look);
        look();
      }),
  };
}

/** SIGKILLs the given monitors that still run, and waits for them to go. */
export async function killMonitors(monitors: Iterable<MonitorProcess>): Promise<void> {
  await Promise.all(
    [...monitors].map(async (monitor) => {
      monitor.signal('SIGKILL');
      await monitor.exited;
    }),
  );
}
