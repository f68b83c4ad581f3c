import { constants } from 'node:os';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  RECONNECT_INTERVAL_MS,
  SyslogStream,
  type SyslogStreamOptions,
  type UnixDgramModule,
  type UnixDgramSocket,
} from './syslog-stream.js';

/**
 * A stand-in for unix-dgram and the daemon behind /dev/log, with the module's synchronous
 * calls and result codes: connect emits 'error' ("connect -111"), send calls back with
 * "send -111" or code 1 ("congestion"), and a second close() fails the test as it would
 * abort the process.
 */
class FakeSyslog implements UnixDgramModule {
  /** whether a daemon reads the socket (connect succeeds) */
  listening = true;
  /** connections are taken, lines refused */
  refuseSends = false;
  /** the daemon's buffer is full */
  congested = false;
  /** the daemon's generation: a restart leaves connected sockets talking to the old one */
  generation = 0;
  received: string[] = [];
  sockets: FakeSocket[] = [];
  doubleCloses = 0;

  createSocket(): UnixDgramSocket {
    const socket = new FakeSocket(this);
    this.sockets.push(socket);
    return socket;
  }

  restart() {
    this.generation++;
    this.listening = true;
  }

  get openSockets() {
    return this.sockets.filter((s) => !s.closed).length;
  }
}

class FakeSocket implements UnixDgramSocket {
  connected?: boolean;
  closed = false;
  private peer = -1;
  private onError: ((error: Error) => void) | undefined;
  constructor(private readonly daemon: FakeSyslog) {}

  on(_event: 'error', listener: (error: Error) => void) {
    this.onError = listener;
  }

  connect() {
    if (!this.daemon.listening) {
      this.onError?.(Object.assign(new Error(`connect -${constants.errno.ECONNREFUSED}`), { code: -111 }));
      return;
    }
    this.connected = true;
    this.peer = this.daemon.generation;
  }

  send(buf: Buffer, callback?: (error?: Error) => void) {
    if (!this.connected) throw new Error('send on an unconnected socket (unix-dgram would call sendto)');
    if (!this.daemon.listening || this.daemon.refuseSends || this.peer !== this.daemon.generation) {
      callback?.(Object.assign(new Error(`send -${constants.errno.ECONNREFUSED}`), { code: -111 }));
    } else if (buf.length > 4096) {
      callback?.(Object.assign(new Error(`send -${constants.errno.EMSGSIZE}`), { code: -90 }));
    } else if (this.daemon.congested) {
      callback?.(Object.assign(new Error('congestion'), { code: 1 }));
    } else {
      this.daemon.received.push(buf.toString().replace(/^.*?: /, ''));
      callback?.();
    }
  }

  close() {
    if (this.closed) this.daemon.doubleCloses++;
    this.closed = true;
  }
}

function setup(options: Partial<SyslogStreamOptions> = {}, daemon = new FakeSyslog()) {
  const clock = { now: 1_000_000 };
  const notices: string[] = [];
  const fallback: string[] = [];
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => fallback.push(chunk.toString().trimEnd()));
  const stream = new SyslogStream({
    tag: 'monitor',
    fallback: out,
    warn: (message) => notices.push(message),
    loadModule: () => daemon,
    now: () => clock.now,
    ...options,
  });
  const line = (n: number | string) => {
    stream.write(`{"level":"INFO","n":${JSON.stringify(n)}}\n`);
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { stream, daemon, clock, notices, fallback, line, settle };
}

const DOWN =
  'monitor: syslog is not reachable at /dev/log (send ECONNREFUSED); log lines go to stderr until it answers';
const BACK = 'monitor: syslog at /dev/log answers again; log lines go there again';

describe('SyslogStream: no line lost when syslog cannot be used', () => {
  it('sends to syslog while it answers, and writes nothing else', async () => {
    const { daemon, notices, fallback, line, settle } = setup();
    line(1);
    line(2);
    await settle();
    expect(daemon.received).toEqual(['{"level":"INFO","n":1}', '{"level":"INFO","n":2}']);
    expect(notices).toEqual([]);
    expect(fallback).toEqual([]);
  });

  it('daemon gone: one notice, lines on the fallback, one reconnection a second, "back" once it answers', async () => {
    const { daemon, clock, notices, fallback, line, settle } = setup();
    line(1);
    daemon.listening = false;
    line(2);
    const socketsAfterBreak = daemon.sockets.length;
    for (let n = 3; n <= 9; n++) {
      clock.now += 100;
      line(n);
    }
    // within the second: no new connection tried
    expect(daemon.sockets.length).toBe(socketsAfterBreak);
    clock.now += 300; // a second after the failure: one more attempt, which fails too
    line(10);
    expect(daemon.sockets.length).toBe(socketsAfterBreak + 1);
    daemon.restart();
    clock.now += 500;
    line(11); // within a second of the last failed attempt: still the fallback
    clock.now += 500;
    line(12);
    line(13);
    await settle();
    expect(notices).toEqual([
      'monitor: syslog is not reachable at /dev/log (connect ECONNREFUSED); log lines go to stderr until it answers',
      BACK,
    ]);
    expect(daemon.received.map((l) => JSON.parse(l).n)).toEqual([1, 12, 13]);
    expect(fallback.map((l) => JSON.parse(l).n)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(daemon.doubleCloses).toBe(0);
    expect(daemon.openSockets).toBe(1);
  });

  it('a daemon restarted between two lines gets the next line at once, with no notice', async () => {
    const { daemon, notices, fallback, line, settle } = setup();
    line(1);
    daemon.restart();
    line(2);
    await settle();
    expect(daemon.received.map((l) => JSON.parse(l).n)).toEqual([1, 2]);
    expect(notices).toEqual([]);
    expect(fallback).toEqual([]);
    expect(daemon.sockets.map((s) => s.closed)).toEqual([true, false]);
  });

  it('a daemon that takes connections but refuses every line: one notice naming the send error, one connection a second', async () => {
    const { daemon, clock, notices, fallback, line, settle } = setup();
    daemon.refuseSends = true;
    for (let n = 1; n <= 30; n++) {
      clock.now += 100; // 3 s of lines
      line(n);
    }
    await settle();
    expect(notices).toEqual([DOWN]);
    expect(fallback).toHaveLength(30);
    // the one at start, the reconnection at the first refusal, then one a second (lines 11, 21)
    expect(daemon.sockets).toHaveLength(4);
    expect(daemon.openSockets).toBe(0);
  });

  it('no socket at start: says so at once, and the lines wait on the fallback for the daemon', async () => {
    const daemon = new FakeSyslog();
    daemon.listening = false;
    const { clock, notices, fallback, line, settle } = setup({}, daemon);
    expect(notices).toEqual([
      'monitor: syslog is not reachable at /dev/log (connect ECONNREFUSED); log lines go to stderr until it answers',
    ]);
    expect(daemon.openSockets).toBe(0); // the failed socket was closed: nothing holds the process
    line(1);
    daemon.listening = true;
    clock.now += RECONNECT_INTERVAL_MS;
    line(2);
    await settle();
    expect(fallback.map((l) => JSON.parse(l).n)).toEqual([1]);
    expect(daemon.received.map((l) => JSON.parse(l).n)).toEqual([2]);
    expect(notices).toHaveLength(2);
  });

  it('a full buffer (congestion) or an oversized line: that line on the fallback, syslog not counted as broken', async () => {
    const { daemon, notices, fallback, line, settle } = setup();
    daemon.congested = true;
    line(1);
    daemon.congested = false;
    line('x'.repeat(5000));
    line(3);
    await settle();
    expect(fallback.map((l) => JSON.parse(l).n)).toEqual([1, 'x'.repeat(5000)]);
    expect(daemon.received.map((l) => JSON.parse(l).n)).toEqual([3]);
    expect(notices).toEqual([]);
    expect(daemon.sockets).toHaveLength(1);
  });

  it('the module missing: one notice at start, every line on the fallback, for good', async () => {
    const { notices, fallback, line, clock, settle } = setup({
      loadModule: () => {
        throw new Error("Cannot find module 'unix-dgram'\nRequire stack:\n- /x/syslog-stream.js");
      },
    });
    for (let n = 1; n <= 3; n++) {
      clock.now += RECONNECT_INTERVAL_MS;
      line(n);
    }
    await settle();
    expect(notices).toEqual([
      "monitor: syslog cannot be used: the native module unix-dgram does not load (Cannot find module 'unix-dgram'); log lines go to stderr",
    ]);
    expect(fallback.map((l) => JSON.parse(l).n)).toEqual([1, 2, 3]);
  });

  it('with every line on stdout already (fallback null): the notices say so and nothing is written twice', async () => {
    const { daemon, notices, line, settle } = setup({ fallback: null, fallbackName: 'stdout' });
    daemon.listening = false;
    line(1);
    await settle();
    expect(notices).toEqual([
      'monitor: syslog is not reachable at /dev/log (connect ECONNREFUSED); log lines go to stdout only until it answers',
    ]);
  });

  it('closeSocket: closes once however often called; a later line goes out on a socket closed right after', async () => {
    const { stream, daemon, line, settle } = setup();
    line(1);
    stream.closeSocket();
    stream.closeSocket();
    line(2);
    stream.end();
    await new Promise((resolve) => stream.on('finish', resolve));
    await settle();
    expect(daemon.received.map((l) => JSON.parse(l).n)).toEqual([1, 2]);
    expect(daemon.doubleCloses).toBe(0);
    expect(daemon.openSockets).toBe(0);
  });
});
