// A real rsyslogd of a test's own: imuxsock on a socket in a temp dir (never the host's
// /dev/log), writing `facility.severity tag msg` lines to a file. It can be stopped, killed
// and started again on the same socket, as a restarted syslog daemon would be.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { waitFor } from '../support/images.js';

const SETUP = 'run `bash scripts/setup-host.sh` (as root): it installs rsyslog';

interface DgramSocket {
  connected?: boolean;
  on(event: 'error', listener: (e: Error) => void): void;
  connect(path: string): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as {
  createSocket(type: 'unix_dgram'): DgramSocket;
};

export interface Rsyslogd {
  /** the socket it reads, to be shown to a tool as /dev/log */
  socket: string;
  /** where it writes each line as `facility.severity tag msg` */
  output: string;
  pid: number;
  /** SIGTERM, and wait for the exit (rsyslogd flushes its output first) */
  stop(): Promise<void>;
  /** SIGKILL, and wait for the exit: the socket file stays, with nobody reading it */
  kill(): Promise<void>;
}

const running = new Set<Rsyslogd>();

/** Stops every rsyslogd these helpers started that still runs (for afterAll). */
export async function stopAllRsyslogd(): Promise<void> {
  await Promise.all([...running].map((daemon) => daemon.stop()));
}

/** True when a datagram socket connects to `path`: someone reads it (a stale file refuses). */
export function socketAnswers(path: string): boolean {
  const probe = unixDgram.createSocket('unix_dgram');
  let failed = false;
  probe.on('error', () => {
    failed = true;
  });
  probe.connect(path);
  probe.close();
  return !failed && probe.connected === true;
}

/**
 * Starts rsyslogd in the foreground with `home` as its dir (socket `home/log`, output
 * `home/out.log`, appended to when started again), once its socket answers. Fails with the
 * setup command when rsyslog is not installed.
 */
export async function startRsyslogd(home: string): Promise<Rsyslogd> {
  await mkdir(home, { recursive: true });
  const socket = join(home, 'log');
  const output = join(home, 'out.log');
  const conf = join(home, 'rsyslog.conf');
  await writeFile(
    conf,
    [
      `global(workDirectory="${home}")`,
      'module(load="imuxsock" SysSock.Use="off")',
      `input(type="imuxsock" Socket="${socket}")`,
      'template(name="checker" type="string" string="%syslogfacility-text%.%syslogseverity-text% %syslogtag%%msg%\\n")',
      `*.* action(type="omfile" file="${output}" template="checker")`,
      '',
    ].join('\n'),
  );
  const child = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(home, 'rsyslogd.pid')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start rsyslogd (${e.message}): ${SETUP}`)));
    child.once('exit', (code) => reject(new Error(`rsyslogd exited with ${code}: ${stderr.trim()}`)));
  });
  failed.catch(() => {});
  const end = async (signal: NodeJS.Signals) => {
    running.delete(daemon);
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const daemon: Rsyslogd = {
    socket,
    output,
    pid: child.pid ?? -1,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
  running.add(daemon);
  try {
    // After a SIGKILL the old socket file is still there: wait until the new daemon reads it.
    await Promise.race([
      failed,
      waitFor(() => socketAnswers(socket), { timeoutMs: 10_000, what: `rsyslogd reading ${socket}` }),
    ]);
  } catch (error) {
    await daemon.kill();
    throw error;
  }
  return daemon;
}
