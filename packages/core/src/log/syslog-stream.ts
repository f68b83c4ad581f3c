// A pino destination that sends each line to the local syslog socket (/dev/log) as an
// RFC 3164 datagram. Node has no unix datagram sockets, so this uses the optional native
// module `unix-dgram` on the main thread (inside a pino worker transport it keeps the
// process alive forever; see ENVIRONMENT.md). If the module or the socket is missing, the
// stream says so once on stderr and drops syslog lines from then on: logging never stops a tool.
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { PINO_LEVELS, type PinoLevel, SYSLOG_SEVERITY } from './levels.js';

/** LOG_DAEMON */
const FACILITY = 3;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface UnixDgramSocket {
  on(event: 'error', listener: (error: Error) => void): void;
  connect(path: string): void;
  send(buf: Buffer, callback?: (error?: Error) => void): void;
  close(): void;
}

/** `<30>Nov 22 04:16:33 monitor[123]: {"level":"INFO",...}` */
export function formatSyslogLine(line: string, tag: string, pid: number, now: Date): Buffer {
  const level = levelOfLine(line);
  const pri = FACILITY * 8 + SYSLOG_SEVERITY[level];
  const day = String(now.getDate()).padStart(2, ' ');
  const time = [now.getHours(), now.getMinutes(), now.getSeconds()].map((n) => String(n).padStart(2, '0'));
  const stamp = `${MONTHS[now.getMonth()]} ${day} ${time.join(':')}`;
  return Buffer.from(`<${pri}>${stamp} ${tag}[${pid}]: ${line.trimEnd()}`);
}

function levelOfLine(line: string): PinoLevel {
  const match = /"level":"([A-Z]+)"/.exec(line);
  const name = match?.[1]?.toLowerCase();
  return name && name in PINO_LEVELS ? (name as PinoLevel) : 'info';
}

export interface SyslogStreamOptions {
  tag: string;
  path?: string;
  /** where the one-time "syslog unreachable" notice goes */
  warn?: (message: string) => void;
}

export class SyslogStream extends Writable {
  private socket: UnixDgramSocket | undefined;
  private broken = false;
  private socketClosed = false;
  private readonly socketPath: string;

  constructor(private readonly options: SyslogStreamOptions) {
    super({ decodeStrings: false });
    this.socketPath = options.path ?? '/dev/log';
    try {
      const require = createRequire(import.meta.url);
      const unix = require('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
      const socket = unix.createSocket('unix_dgram');
      socket.on('error', (error) => this.giveUp(error.message));
      socket.connect(this.socketPath);
      this.socket = socket;
    } catch (error) {
      this.giveUp(error instanceof Error ? error.message : String(error));
    }
  }

  override _write(
    chunk: string | Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    if (this.socket && !this.broken) {
      const payload = formatSyslogLine(chunk.toString(), this.options.tag, process.pid, new Date());
      // A full socket buffer ("congestion") drops the line rather than blocking the tool.
      this.socket.send(payload, (error) => {
        if (error && (error as { code?: unknown }).code !== 1) this.giveUp(error.message);
      });
    }
    callback();
  }

  override _final(callback: (error?: Error | null) => void) {
    this.closeSocket();
    callback();
  }

  /** Closing twice aborts the process inside unix-dgram, hence the guard. */
  closeSocket() {
    if (this.socketClosed || !this.socket) return;
    this.socketClosed = true;
    try {
      this.socket.close();
    } catch {
      // already gone
    }
  }

  private giveUp(rawReason: string) {
    // unix-dgram reports "connect -2": name the errno as the rest of Node does (ENOENT).
    const reason = rawReason.replace(/(-?\d+)$/, (n) => errnoName(Number(n)) ?? n);
    if (this.broken) return;
    this.broken = true;
    const warn = this.options.warn ?? ((message: string) => process.stderr.write(`${message}\n`));
    warn(
      `${this.options.tag}: syslog is not reachable at ${this.socketPath} (${reason}); going on without it`,
    );
    this.closeSocket();
  }
}

function errnoName(code: number): string | undefined {
  const errno = Math.abs(code);
  return Object.entries(constants.errno).find(([, value]) => value === errno)?.[0];
}
