// A pino destination that sends each line to the local syslog socket (/dev/log) as an
// RFC 3164 datagram, and never loses one (SPEC §5): while syslog cannot be used the lines go
// to a fallback stream (stderr), with one notice when it breaks and one when it answers again.
// Node has no unix datagram sockets, so this uses the optional native module `unix-dgram`, on
// the main thread (inside a pino worker transport it keeps the process alive forever, and
// closing one of its sockets twice aborts the process; see ENVIRONMENT.md). Its calls are
// synchronous, so each line's fate (sent, or on the fallback) is known before the next one.
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { PINO_LEVELS, type PinoLevel, SYSLOG_SEVERITY } from './levels.js';

/** LOG_DAEMON */
const FACILITY = 3;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** A broken socket is reconnected on the next line written, at most this often. */
export const RECONNECT_INTERVAL_MS = 1000;
/** unix-dgram's send result for EAGAIN/ENOBUFS: the daemon is there, its buffer is full. */
const CONGESTION = 1;
const THROTTLED = 'throttled';
const LINE_NOT_TAKEN = 'line not taken';

export interface UnixDgramSocket {
  /** set by unix-dgram once connect() succeeded; send() is only valid then */
  connected?: boolean;
  on(event: 'error', listener: (error: Error) => void): void;
  connect(path: string): void;
  send(buf: Buffer, callback?: (error?: Error) => void): void;
  close(): void;
}

export interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
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
  /**
   * Where lines go while syslog cannot be used (default: process.stderr); null when every
   * line is already written elsewhere (the logger's --stdout stream), so none is lost.
   */
  fallback?: NodeJS.WritableStream | null;
  /** how the notices name where the lines go meanwhile (default: "stderr") */
  fallbackName?: string;
  /** where the notices go (default: stderr) */
  warn?: (message: string) => void;
  /** loads unix-dgram; tests give a fake */
  loadModule?: () => UnixDgramModule;
  /** the clock that spaces reconnections (ms); tests give their own */
  now?: () => number;
}

export class SyslogStream extends Writable {
  private readonly socketPath: string;
  private readonly fallback: NodeJS.WritableStream | null;
  private readonly fallbackName: string;
  private readonly warn: (message: string) => void;
  private readonly now: () => number;
  /** undefined when the module cannot be loaded: stderr for the rest of the process */
  private readonly unix: UnixDgramModule | undefined;
  /** connected and not yet closed; set to undefined before closing, so none is closed twice */
  private socket: UnixDgramSocket | undefined;
  /** when a connection or a send last failed: reconnections wait RECONNECT_INTERVAL_MS from it */
  private lastFailure = Number.NEGATIVE_INFINITY;
  /** syslog was found unusable and "back" has not been said yet */
  private failing = false;
  /** after close(): no socket is kept open between lines (an open one keeps the process alive) */
  private afterClose = false;

  constructor(private readonly options: SyslogStreamOptions) {
    super({ decodeStrings: false });
    this.socketPath = options.path ?? '/dev/log';
    this.fallback = options.fallback === undefined ? process.stderr : options.fallback;
    this.fallbackName = options.fallbackName ?? 'stderr';
    this.warn = options.warn ?? ((message) => process.stderr.write(`${message}\n`));
    this.now = options.now ?? Date.now;
    try {
      this.unix = (options.loadModule ?? loadUnixDgram)();
    } catch (error) {
      // A missing compiler at `npm install -g` leaves the optional module out: that does not
      // heal while the process runs.
      const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      this.warn(
        `${options.tag}: syslog cannot be used: the native module unix-dgram does not load (${reason}); ` +
          `log lines go to ${this.fallbackName}${this.fallback ? '' : ' only'}`,
      );
      return;
    }
    // Connecting at once says at start-up, not at the first line, that syslog is not there.
    const failure = this.connect();
    if (failure) this.breaks(failure);
  }

  override _write(
    chunk: string | Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    const line = chunk.toString();
    if (!this.unix || !this.sendToSyslog(line)) this.fallback?.write(line);
    callback();
  }

  override _final(callback: (error?: Error | null) => void) {
    this.closeSocket();
    callback();
  }

  /**
   * Closes the socket (the tools call this before exiting). A line logged later still goes
   * out, through a socket opened and closed for it.
   */
  closeSocket() {
    this.afterClose = true;
    this.dropSocket();
  }

  /** true when syslog took the line; false when it belongs on the fallback */
  private sendToSyslog(line: string): boolean {
    const payload = formatSyslogLine(line, this.options.tag, process.pid, new Date());
    try {
      const hadSocket = this.socket !== undefined;
      let failure = hadSocket ? this.send(payload) : (this.connect() ?? this.send(payload));
      if (failure && failure !== LINE_NOT_TAKEN && hadSocket) {
        // The daemon went away; a restarted one has a new socket at the same path, which a
        // fresh connection reaches at once.
        this.dropSocket();
        const retried = this.connect() ?? this.send(payload);
        if (retried !== THROTTLED) failure = retried;
      }
      if (failure === LINE_NOT_TAKEN) return false;
      if (failure === THROTTLED) return false;
      if (failure) {
        this.dropSocket();
        this.lastFailure = this.now();
        this.breaks(failure);
        return false;
      }
      if (this.failing) {
        this.failing = false;
        this.warn(
          `${this.options.tag}: syslog at ${this.socketPath} answers again; log lines go there again`,
        );
      }
      return true;
    } finally {
      if (this.afterClose) this.dropSocket();
    }
  }

  /** undefined when connected, else why not (THROTTLED within a second of the last failure) */
  private connect(): string | undefined {
    const now = this.now();
    if (now - this.lastFailure < RECONNECT_INTERVAL_MS) return THROTTLED;
    let socket: UnixDgramSocket;
    try {
      socket = this.unix!.createSocket('unix_dgram');
    } catch (error) {
      this.lastFailure = now;
      return describe(error);
    }
    let failure: string | undefined;
    // unix-dgram reports a failed connect as an 'error' event, synchronously.
    socket.on('error', (error) => {
      failure ??= describe(error);
    });
    socket.connect(this.socketPath);
    if (!failure && !socket.connected) failure = 'not connected';
    if (failure) {
      // A created socket holds a poll handle that keeps the process alive until closed.
      closeQuietly(socket);
      this.lastFailure = now;
      return failure;
    }
    this.socket = socket;
    return undefined;
  }

  /**
   * undefined when sent; LINE_NOT_TAKEN when the daemon is there but cannot take this line
   * (its buffer is full, or the line is larger than a datagram may be); else why not.
   */
  private send(payload: Buffer): string | undefined {
    let failure: string | undefined;
    // unix-dgram calls back synchronously when given a callback (and emits nothing).
    this.socket!.send(payload, (error) => {
      if (!error) return;
      const code = (error as { code?: unknown }).code;
      failure = code === CONGESTION || code === -constants.errno.EMSGSIZE ? LINE_NOT_TAKEN : describe(error);
    });
    return failure;
  }

  private breaks(reason: string) {
    if (this.failing) return;
    this.failing = true;
    this.warn(
      `${this.options.tag}: syslog is not reachable at ${this.socketPath} (${reason}); ` +
        `log lines go to ${this.fallbackName}${this.fallback ? '' : ' only'} until it answers`,
    );
  }

  private dropSocket() {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) closeQuietly(socket);
  }
}

function loadUnixDgram(): UnixDgramModule {
  return createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
}

function closeQuietly(socket: UnixDgramSocket) {
  try {
    socket.close();
  } catch {
    // the descriptor is gone either way
  }
}

/** unix-dgram says "connect -2": name the errno as the rest of Node does ("connect ENOENT"). */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/(-?\d+)$/, (n) => errnoName(Number(n)) ?? n);
}

function errnoName(code: number): string | undefined {
  const errno = Math.abs(code);
  return Object.entries(constants.errno).find(([, value]) => value === errno)?.[0];
}
