// Facts about processes that only the kernel knows: the TCP connections each process holds to
// a port (from `ss`, which names the owning pids), and when a process started, on the same
// clock as "now" (/proc/<pid>/stat's starttime and /proc/uptime, both in clock ticks since
// boot: comparable to 10 ms, where the wall clock of a process start is only known to 1 s).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** USER_HZ: /proc's clock ticks per second (100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/**
 * Established TCP connections to `port` (any local address), counted by owning pid: a socket
 * shared by several processes counts once for each.
 */
export async function connectionsTo(port: number): Promise<Map<number, number>> {
  const { stdout } = await run('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`]);
  const byPid = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    for (const match of line.matchAll(/pid=(\d+)/g)) {
      const pid = Number(match[1]);
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    }
  }
  return byPid;
}

/** Clock ticks since boot when `pid` started; undefined when it is gone. */
export async function startTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after `(comm)` start at field 3 (state); starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[22 - 3]);
  } catch {
    return undefined;
  }
}

/** Clock ticks since boot now, on the clock `startTicks` uses. */
export async function nowTicks(): Promise<number> {
  const uptime = await readFile('/proc/uptime', 'utf8');
  return Math.floor(Number(uptime.split(' ')[0]) * TICKS_PER_SECOND);
}
