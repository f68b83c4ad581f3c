import { describe, expect, it } from 'vitest';
import { OutputTail, tailOf } from './command-output.js';

describe('command output', () => {
  it('keeps only the tail', () => {
    expect(tailOf(Buffer.from('0123456789'), 4)).toBe('6789');
    const tail = new OutputTail(5);
    for (const part of ['abc', 'def', 'ghi']) tail.push(Buffer.from(part));
    expect(tail.toString()).toBe('efghi');
  });
});
