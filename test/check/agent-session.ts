// What the check agent's tests share: one conversation with an agent, whatever carries it (a
// child process's pipes, or a sidecar's attach stream), decoded with the project's codec; and
// the figures the tests print.
import {
  AgentDecoder,
  type AgentMessage,
  encodeKill,
  encodeProbe,
  encodeRun,
} from '../../packages/core/src/health/agent-protocol.js';

/** What one 'R' came to: its output, and either its status (X) or why it did not start (E). */
export interface RunResult {
  output: Buffer;
  /** the 'O' frames' sizes, in order */
  chunks: number[];
  status?: number;
  error?: string;
  ms: number;
}

export class AgentSession {
  /** Every message received, in order. */
  readonly received: AgentMessage[] = [];
  private readonly decoder = new AgentDecoder();
  private cursor = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(private readonly write: (bytes: Buffer) => void) {}

  /** Bytes from the agent's stdout (demultiplexed when they come over attach). */
  feed(chunk: Buffer): void {
    this.received.push(...this.decoder.push(chunk));
    this.wake?.();
  }

  /** The stream ended: waits for more messages fail at once. */
  end(): void {
    this.closed = true;
    this.wake?.();
  }

  send(bytes: Buffer): void {
    this.write(bytes);
  }

  /** The next message not read yet, waiting up to `timeoutMs` for it. */
  async next(timeoutMs = 10_000): Promise<AgentMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.received.length) {
      if (this.closed) throw new Error('the agent stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message from the agent within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.received[this.cursor++]!;
  }

  /** Messages not read yet, after waiting `ms` for stragglers. */
  async unread(ms = 0): Promise<AgentMessage[]> {
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    const rest = this.received.slice(this.cursor);
    this.cursor = this.received.length;
    return rest;
  }

  async hello(timeoutMs = 10_000): Promise<number> {
    const message = await this.next(timeoutMs);
    if (message.type !== 'hello') throw new Error(`expected hello, got ${describe(message)}`);
    return message.version;
  }

  /** Sends 'R' and reads its answers up to the 'X' or 'E' (a hello in between is an error). */
  async run(argv: string[], timeoutMs = 10_000): Promise<RunResult> {
    const started = performance.now();
    this.send(encodeRun(argv));
    return this.collect(started, timeoutMs);
  }

  /** Reads one command's answers up to its 'X' or 'E'. */
  async collect(started = performance.now(), timeoutMs = 10_000): Promise<RunResult> {
    const output: Buffer[] = [];
    for (;;) {
      const message = await this.next(timeoutMs);
      switch (message.type) {
        case 'output':
          output.push(message.data);
          continue;
        case 'exit':
        case 'error': {
          const result: RunResult = {
            output: Buffer.concat(output),
            chunks: output.map((b) => b.length),
            ms: performance.now() - started,
          };
          if (message.type === 'exit') result.status = message.status;
          else result.error = message.message;
          return result;
        }
        default:
          throw new Error(`expected output, exit or error, got ${describe(message)}`);
      }
    }
  }

  kill(): void {
    this.send(encodeKill());
  }

  probe(): void {
    this.send(encodeProbe());
  }
}

function describe(message: AgentMessage): string {
  return JSON.stringify(message.type === 'output' ? { ...message, data: message.data.toString() } : message);
}

/** Median and 90th percentile, in ms with two decimals. */
export function percentiles(values: number[]): { median: number; p90: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: Math.round(at(0.5) * 100) / 100, p90: Math.round(at(0.9) * 100) / 100 };
}
