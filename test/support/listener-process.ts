// The built `listener` as a real process, and its monitor children as the kernel sees them:
// which processes are children of the listener (from /proc/<pid>/stat, since this kernel has
// no /proc/<pid>/task/*/children) and which container each monitor watches (the last word of
// its argv). Every process a listener starts inherits a marker in its environment, so
// `dispose()` finds and ends even monitors that outlived their listener.
import { readdir, readFile } from 'node:fs/promises';
import { type RunningTool, spawnTool, type ToolOptions, type ToolResult } from './cli.js';

/** How a forked monitor shows in `ps` while it boots: node … …/monitor/bin/<script>.js. */
const MONITOR_BIN = /\/monitor\/bin\/[\w.-]+\.js$/;
/** …and once booted, by the title it sets: `checker-monitor <container id>` or `(idle)`. */
const MONITOR_TITLE = /^checker-monitor (\S+)/;

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** R, S, D, Z, … from /proc/<pid>/stat */
  state: string;
  argv: string[];
}

export interface MonitorProcess {
  pid: number;
  /** the container argument the listener gave the monitor (its full id) */
  container: string;
}

/** `pid (comm) state ppid …` → state and ppid; comm may hold spaces and parentheses. */
async function statOf(pid: number): Promise<{ state: string; ppid: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** One row of the process table; undefined when the process is gone. */
export async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  const stat = await statOf(pid);
  if (!stat) return undefined;
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    if (argv.at(-1) === '') argv.pop();
    return { pid, ...stat, argv };
  } catch {
    return undefined;
  }
}

/** Live (not zombie) children of `ppid`. */
export async function childrenOf(ppid: number): Promise<ProcessInfo[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const stats = await Promise.all(pids.map(async (pid) => ({ pid, stat: await statOf(pid) })));
  const mine = stats.filter(({ stat }) => stat?.ppid === ppid && stat.state !== 'Z').map(({ pid }) => pid);
  const rows = await Promise.all(mine.map((pid) => processInfo(pid)));
  return rows.filter(
    (row): row is ProcessInfo => row !== undefined && row.ppid === ppid && row.state !== 'Z',
  );
}

export function isMonitor(info: ProcessInfo): boolean {
  return MONITOR_TITLE.test(info.argv[0] ?? '') || info.argv.some((word) => MONITOR_BIN.test(word));
}

/** The container a monitor process watches; undefined while it boots or idles (a warm one). */
export function monitoredContainer(info: ProcessInfo): string | undefined {
  const id = MONITOR_TITLE.exec(info.argv[0] ?? '')?.[1];
  return id === undefined || id === '(idle)' ? undefined : id;
}

/** True while `pid` runs a monitor (a zombie or a reused pid does not count). */
export async function monitorAlive(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info !== undefined && info.state !== 'Z' && isMonitor(info);
}

/** Live processes whose environment holds `marker` (NAME=value): a listener's whole tree, orphans too. */
export async function processesMarked(marker: string): Promise<ProcessInfo[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const marked = await Promise.all(
    pids.map(async (pid) => {
      if (pid === process.pid) return undefined;
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      if (!environ.split('\0').includes(marker)) return undefined;
      const info = await processInfo(pid);
      return info && info.state !== 'Z' ? info : undefined;
    }),
  );
  return marked.filter((info): info is ProcessInfo => info !== undefined);
}

export interface ListenerProcess {
  tool: RunningTool;
  pid: number;
  exited: Promise<ToolResult>;
  /** every live child process of the listener (monitors, warm ones, and anything else it might start) */
  children(): Promise<ProcessInfo[]>;
  /** the listener's monitor children that have a container, and their containers */
  monitors(): Promise<MonitorProcess[]>;
  /** warm monitors: booting or idle, without a container yet */
  warm(): Promise<ProcessInfo[]>;
  /**
   * Every live process this listener started, directly or not, except the listener itself:
   * found by a marker in the environment the children inherit, so orphans count too.
   */
  descendants(): Promise<ProcessInfo[]>;
  /** stdout + stderr so far: the listener's and its monitors' pino lines */
  output(): string;
  /** SIGKILLs the listener and every process it started that still runs */
  dispose(): Promise<void>;
}

let started = 0;

/**
 * Starts `listener --stdout --no-syslog --loglevel DEBUG …args`. The listener lives until the
 * test ends it (the spawn helper's timeout is only a backstop).
 */
export function startListener(args: string[], opts: ToolOptions = {}): ListenerProcess {
  started += 1;
  const markerName = 'CHECKER_TEST_LISTENER';
  const markerValue = `${process.pid}-${started}-${Date.now().toString(36)}`;
  const marker = `${markerName}=${markerValue}`;
  const tool = spawnTool('listener', ['--stdout', '--no-syslog', '--loglevel', 'DEBUG', ...args], {
    timeoutMs: 300_000,
    ...opts,
    env: { ...opts.env, [markerName]: markerValue },
  });
  const children = () => childrenOf(tool.pid);
  const descendants = async () => (await processesMarked(marker)).filter((info) => info.pid !== tool.pid);
  return {
    tool,
    pid: tool.pid,
    exited: tool.exited,
    children,
    monitors: async () =>
      (await children()).flatMap((row) => {
        const container = monitoredContainer(row);
        return container === undefined ? [] : [{ pid: row.pid, container }];
      }),
    warm: async () =>
      (await children()).filter((row) => isMonitor(row) && monitoredContainer(row) === undefined),
    descendants,
    output: () => tool.stdout + tool.stderr,
    dispose: async () => {
      if (tool.child.exitCode === null && tool.child.signalCode === null) tool.child.kill('SIGKILL');
      // Orphans hold the listener's stdout open, so its `exited` waits for them too.
      for (let round = 0; round < 20; round += 1) {
        const left = await descendants().catch(() => []);
        if (left.length === 0) break;
        for (const info of left) {
          try {
            process.kill(info.pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await tool.exited.catch(() => undefined);
    },
  };
}

/** The containers that have more than one monitor in `monitors` (should be none, ever). */
export function duplicatesIn(monitors: MonitorProcess[]): string[] {
  const count = new Map<string, number>();
  for (const m of monitors) count.set(m.container, (count.get(m.container) ?? 0) + 1);
  return [...count].filter(([, n]) => n > 1).map(([container]) => container);
}

/**
 * Samples the listener's monitors every `intervalMs` until stopped, and reports every moment
 * two monitors watched the same container.
 */
export function watchForDuplicates(listener: ListenerProcess, intervalMs = 50) {
  const duplicates: { at: number; containers: string[] }[] = [];
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const dup = duplicatesIn(await listener.monitors().catch(() => []));
      samples += 1;
      if (dup.length > 0) duplicates.push({ at: Date.now(), containers: dup });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, duplicates };
    },
  };
}
