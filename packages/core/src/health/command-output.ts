// The HEALTHCHECK command's output as the verdict reports it: the tail of stdout and stderr
// (demultiplexed by the Docker adapter, with docker-modem's demuxStream).

export const OUTPUT_TAIL_BYTES = 4096;

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
