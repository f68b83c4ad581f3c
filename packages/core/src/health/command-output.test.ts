import { describe, expect, it } from 'vitest';
import { demultiplex, OutputTail, tailOf } from './command-output.js';

const frame = (stream: number, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

describe('command output', () => {
  it('joins multiplexed stdout and stderr frames in order', () => {
    expect(demultiplex(Buffer.concat([frame(1, 'out '), frame(2, 'err '), frame(1, 'out')])).toString()).toBe(
      'out err out',
    );
  });
  it('passes a TTY stream through', () => {
    expect(demultiplex(Buffer.from('plain text output')).toString()).toBe('plain text output');
  });
  it('keeps only the tail', () => {
    expect(tailOf(Buffer.from('0123456789'), 4)).toBe('6789');
    const tail = new OutputTail(5);
    for (const part of ['abc', 'def', 'ghi']) tail.push(Buffer.from(part));
    expect(tail.toString()).toBe('efghi');
  });
});
