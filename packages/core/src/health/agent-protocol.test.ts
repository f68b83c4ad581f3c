import { describe, expect, it } from 'vitest';
import {
  AGENT_MAX_PAYLOAD,
  AgentDecoder,
  type AgentMessage,
  AgentProtocolError,
  encodeKill,
  encodeProbe,
  encodeRun,
  startErrorStatus,
} from './agent-protocol.js';

const frame = (type: string, value: number) => {
  const b = Buffer.alloc(5);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(value, 1);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const payloadFrame = (type: string, payload: Buffer) =>
  Buffer.concat([Buffer.from(type, 'latin1'), u32(payload.length), payload]);

describe('encodeRun: R, a big-endian length, then each word NUL-terminated', () => {
  it('frames argv byte for byte', () => {
    const words = [...Buffer.from('sh\0-c\0exit 3\0', 'latin1')];
    expect(words).toHaveLength(13);
    expect([...encodeRun(['sh', '-c', 'exit 3'])]).toEqual([0x52, 0, 0, 0, 13, ...words]);
  });

  it('encodes words as UTF-8 and keeps empty words (one NUL each)', () => {
    const run = encodeRun(['echo', '', 'é']);
    expect(run.readUInt32BE(1)).toBe(5 + 1 + 3);
    expect(run.subarray(5).toString('utf8')).toBe('echo\0\0é\0');
  });

  it('takes exactly 64 KiB of words, not a byte more', () => {
    const word = 'x'.repeat(AGENT_MAX_PAYLOAD - 1);
    expect(encodeRun([word]).length).toBe(5 + AGENT_MAX_PAYLOAD);
    expect(() => encodeRun([`${word}x`])).toThrow(RangeError);
  });

  it('refuses an empty command and words holding NUL', () => {
    expect(() => encodeRun([])).toThrow(RangeError);
    expect(() => encodeRun(['a\0b'])).toThrow(/NUL/);
  });
});

describe('encodeKill and encodeProbe', () => {
  it('are the single bytes K and P', () => {
    expect(encodeKill().toString('latin1')).toBe('K');
    expect(encodeProbe().toString('latin1')).toBe('P');
  });
});

describe('startErrorStatus: what docker exec would exit with for an E message', () => {
  it.each([
    ['ENOENT: no such file or directory: wget', 127],
    ['ENOTDIR: not a directory: /etc/passwd/x', 127],
    ['ENAMETOOLONG: file name too long: xxxx', 127],
    ['EACCES: permission denied: /etc/passwd', 126],
    ['ENOEXEC: exec format error: /x', 126],
    ['errno 99: x', 126],
  ])('%s → %d', (message, status) => {
    expect(startErrorStatus(message)).toBe(status);
  });
});

// One of each message, both ends of the integers, an empty output and a multi-byte character.
const stream: { bytes: Buffer; messages: AgentMessage[] }[] = [
  { bytes: frame('H', 1), messages: [{ type: 'hello', version: 1 }] },
  {
    bytes: payloadFrame('O', Buffer.from('out\nerr\n')),
    messages: [{ type: 'output', data: Buffer.from('out\nerr\n') }],
  },
  { bytes: frame('X', 3), messages: [{ type: 'exit', status: 3 }] },
  { bytes: payloadFrame('O', Buffer.alloc(0)), messages: [{ type: 'output', data: Buffer.alloc(0) }] },
  {
    bytes: payloadFrame('E', Buffer.from('ENOENT: no such file or directory: wgét')),
    messages: [{ type: 'error', message: 'ENOENT: no such file or directory: wgét' }],
  },
  { bytes: frame('X', 137), messages: [{ type: 'exit', status: 137 }] },
  { bytes: frame('X', -1), messages: [{ type: 'exit', status: -1 }] },
  { bytes: frame('H', 0x01020304), messages: [{ type: 'hello', version: 0x01020304 }] },
];
const allBytes = Buffer.concat(stream.map((s) => s.bytes));
const allMessages = stream.flatMap((s) => s.messages);

describe('AgentDecoder: messages from a byte stream cut anywhere', () => {
  it('decodes the whole stream in one chunk', () => {
    const decoder = new AgentDecoder();
    expect(decoder.push(allBytes)).toEqual(allMessages);
    expect(decoder.pending).toBe(0);
  });

  it('decodes the same messages whatever byte boundary the stream is split at', () => {
    for (let cut = 0; cut <= allBytes.length; cut++) {
      const decoder = new AgentDecoder();
      const first = decoder.push(allBytes.subarray(0, cut));
      const second = decoder.push(allBytes.subarray(cut));
      expect([...first, ...second], `split at ${cut}`).toEqual(allMessages);
      expect(decoder.pending).toBe(0);
    }
  });

  it('decodes the same messages split at every pair of boundaries', () => {
    for (let a = 0; a <= allBytes.length; a++) {
      for (let b = a; b <= allBytes.length; b++) {
        const decoder = new AgentDecoder();
        const got = [
          ...decoder.push(allBytes.subarray(0, a)),
          ...decoder.push(allBytes.subarray(a, b)),
          ...decoder.push(allBytes.subarray(b)),
        ];
        expect(got).toEqual(allMessages);
      }
    }
  });

  it('decodes the stream fed one byte at a time, each message when its last byte arrives', () => {
    const decoder = new AgentDecoder();
    let offset = 0;
    for (const { bytes, messages } of stream) {
      for (let i = 0; i < bytes.length; i++) {
        const got = decoder.push(allBytes.subarray(offset + i, offset + i + 1));
        expect(got).toEqual(i === bytes.length - 1 ? messages : []);
        expect(decoder.pending).toBe(i === bytes.length - 1 ? 0 : i + 1);
      }
      offset += bytes.length;
    }
  });

  it('takes a full 64 KiB output message byte by byte', () => {
    const data = Buffer.alloc(AGENT_MAX_PAYLOAD, 'a');
    const bytes = Buffer.concat([payloadFrame('O', data), frame('X', 0)]);
    const decoder = new AgentDecoder();
    const got: AgentMessage[] = [];
    for (let i = 0; i < bytes.length; i++) got.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(got).toEqual([
      { type: 'output', data },
      { type: 'exit', status: 0 },
    ]);
  });

  it('keeps output it handed out intact when the chunk it came in is overwritten', () => {
    const chunk = payloadFrame('O', Buffer.from('abc'));
    const [message] = new AgentDecoder().push(chunk);
    chunk.fill(0);
    expect(message).toEqual({ type: 'output', data: Buffer.from('abc') });
  });

  it('throws on an unknown type byte as soon as it arrives, with what came before it, and for good', () => {
    const decoder = new AgentDecoder();
    let error: unknown;
    try {
      decoder.push(Buffer.concat([frame('X', 0), Buffer.from('c')]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AgentProtocolError);
    expect((error as AgentProtocolError).message).toMatch(/unknown message type 0x63/);
    expect((error as AgentProtocolError).before).toEqual([{ type: 'exit', status: 0 }]);
    expect(() => decoder.push(frame('H', 1))).toThrow(AgentProtocolError);
  });

  it('throws on an output or error length over 64 KiB, before the payload arrives', () => {
    for (const type of ['O', 'E']) {
      const decoder = new AgentDecoder();
      expect(decoder.push(Buffer.from(type, 'latin1'))).toEqual([]);
      expect(() => decoder.push(u32(AGENT_MAX_PAYLOAD + 1))).toThrow(/65537 bytes/);
    }
  });
});
