// The check agent's wire protocol (agent/agent.c is the other end): what the monitor writes to
// a long-lived sidecar's stdin, and a decoder for what the agent writes to its stdout, fed
// with the attach stream's stdout once demultiplexed (docker-modem's demuxStream: the sidecar
// has no TTY). One command at a time; integers are big-endian.
//
//   to the agent    'R' u32 N, N bytes: argv words, each NUL-terminated (N ≤ 64 KiB)  run it
//                   'K'                     SIGKILL the running command's process group (idle: nothing)
//                   'P'                     answer 'H'
//                   requests after a 'K' that ended a command wait until its 'X' is out: "K P" is
//                   answered "X H", so a client taking over a sidecar skips all before the 'H'
//   from the agent  'H' u32 version         at start and on every 'P'
//                   'O' u32 N, N bytes      the command's stdout and stderr (one pipe), ≤ 64 KiB a frame
//                   'X' i32 status          it ended: its exit code, or 128 + the signal that ended it
//                   'E' u32 N, N bytes      it could not be started ("ENOENT: no such file or
//                                           directory: wget"); no 'X' follows
//
// The agent answers a request it cannot take ('R' while a command runs, words not
// NUL-terminated) with 'E'; a stream it cannot parse (an unknown type byte, a length over the
// limit) makes it exit 2 with a line on stderr, and the sidecar ends with it.

/** The largest 'R' payload the agent accepts, and the largest 'O' or 'E' payload it sends. */
export const AGENT_MAX_PAYLOAD = 65536;

export type AgentMessage =
  | { type: 'hello'; version: number }
  | { type: 'output'; data: Buffer }
  | { type: 'exit'; status: number }
  | { type: 'error'; message: string };

/** The agent's stdout did not follow the protocol: the stream is lost, recreate the sidecar. */
export class AgentProtocolError extends Error {
  override name = 'AgentProtocolError';
  constructor(
    message: string,
    /** what the same chunk held, complete, before the violation */
    readonly before: AgentMessage[] = [],
  ) {
    super(message);
  }
}

/** 'R': run `argv` (argv[0] is looked up in the sidecar's PATH when it has no `/`). */
export function encodeRun(argv: readonly string[]): Buffer {
  if (argv.length === 0) throw new RangeError('a command needs at least one word');
  const words = argv.map((word) => {
    if (word.includes('\0'))
      throw new RangeError(`a command word cannot hold a NUL byte: ${JSON.stringify(word)}`);
    return Buffer.from(`${word}\0`, 'utf8');
  });
  const payload = Buffer.concat(words);
  if (payload.length > AGENT_MAX_PAYLOAD) {
    throw new RangeError(`a command is at most ${AGENT_MAX_PAYLOAD} bytes, this one ${payload.length}`);
  }
  const frame = Buffer.alloc(5 + payload.length);
  frame.write('R', 0, 'latin1');
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

/** 'K': end the running command and everything in its process group. */
export function encodeKill(): Buffer {
  return Buffer.from('K', 'latin1');
}

/** 'P': ask for an 'H' (alive, and which protocol version). */
export function encodeProbe(): Buffer {
  return Buffer.from('P', 'latin1');
}

/**
 * The exit status `docker exec` would have given for an 'E': 127 when the program was not
 * found, 126 when it was found but could not be run (not executable, bad format…).
 */
export function startErrorStatus(message: string): 126 | 127 {
  return /^(ENOENT|ENOTDIR|ENAMETOOLONG)\b/.test(message) ? 127 : 126;
}

const HEADER = 5;

/**
 * Turns the agent's stdout, in chunks cut anywhere, into messages. `push` returns the messages
 * completed by a chunk, in order; bytes of an unfinished one wait for the next chunk. At a
 * protocol violation it throws AgentProtocolError (carrying the messages that came before it
 * in that chunk), and again on every later push.
 */
export class AgentDecoder {
  private parts: Buffer[] = [];
  private held = 0;
  /** bytes needed before the next message can be complete: parts are joined only then */
  private needed = 1;
  private failure: AgentProtocolError | undefined;

  /** Bytes of an unfinished message held back (0 at a message boundary). */
  get pending(): number {
    return this.held;
  }

  push(chunk: Uint8Array): AgentMessage[] {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return [];
    // copied: the caller may reuse the chunk's memory, and messages keep slices of it
    this.parts.push(Buffer.from(chunk));
    this.held += chunk.length;
    if (this.held < this.needed) return [];
    const bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.held);
    const messages: AgentMessage[] = [];
    let at = 0;
    for (;;) {
      const left = bytes.length - at;
      if (left === 0) {
        this.needed = 1;
        break;
      }
      const type = String.fromCharCode(bytes[at]!);
      if (!'HXOE'.includes(type)) {
        // known as soon as the byte arrives, not once a header's worth did
        this.fail(`unknown message type 0x${bytes[at]!.toString(16).padStart(2, '0')}`, messages);
      }
      if (left < HEADER) {
        this.needed = HEADER;
        break;
      }
      if (type === 'H' || type === 'X') {
        messages.push(
          type === 'H'
            ? { type: 'hello', version: bytes.readUInt32BE(at + 1) }
            : { type: 'exit', status: bytes.readInt32BE(at + 1) },
        );
        at += HEADER;
        continue;
      }
      const size = bytes.readUInt32BE(at + 1);
      if (size > AGENT_MAX_PAYLOAD) {
        this.fail(`a ${type} message of ${size} bytes (at most ${AGENT_MAX_PAYLOAD})`, messages);
      }
      if (left < HEADER + size) {
        this.needed = HEADER + size;
        break;
      }
      const data = bytes.subarray(at + HEADER, at + HEADER + size);
      messages.push(
        type === 'O' ? { type: 'output', data } : { type: 'error', message: data.toString('utf8') },
      );
      at += HEADER + size;
    }
    const rest = bytes.subarray(at);
    this.parts = rest.length === 0 ? [] : [rest];
    this.held = rest.length;
    return messages;
  }

  private fail(why: string, before: AgentMessage[]): never {
    this.failure = new AgentProtocolError(`check agent protocol: ${why}`);
    this.parts = [];
    this.held = 0;
    throw new AgentProtocolError(this.failure.message, before);
  }
}
