// The HEALTHCHECK command's output as the verdict reports it: stdout and stderr of a
// non-TTY container or exec arrive multiplexed (an 8-byte header per frame); we keep the tail.

export const OUTPUT_TAIL_BYTES = 4096;

/** Concatenates the payloads of Docker's multiplexed stream frames, in order. */
export function demultiplex(buffer: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const streamType = buffer[offset]!;
    const size = buffer.readUInt32BE(offset + 4);
    if (streamType > 2 || buffer[offset + 1] !== 0 || buffer[offset + 2] !== 0 || buffer[offset + 3] !== 0) {
      // Not a multiplexed stream (a TTY container): the bytes are the output itself.
      return buffer;
    }
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts);
}

/** A growing buffer that keeps only the last `limit` bytes. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = OUTPUT_TAIL_BYTES) {}

  push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  toString(): string {
    return tailOf(Buffer.concat(this.chunks), this.limit);
  }
}

export function tailOf(output: Buffer, limit = OUTPUT_TAIL_BYTES): string {
  const tail = output.length > limit ? output.subarray(output.length - limit) : output;
  return tail.toString('utf8').replace(/^\uFFFD+/, '');
}
