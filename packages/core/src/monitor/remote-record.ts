// A monitor's service record under the listener: the same requests as LeasedRecord (publish,
// withdraw, close), carried over the IPC channel to the listener, whose one etcd client serves
// every record of the host (RecordBroker). The listener keeps one LeasedRecord per monitor, so
// the semantics are LeasedRecord's: own lease, renewed only by this monitor's publishes.
import { sleep } from '../backoff.js';
import type { MonitorRecord, RecordOutcome } from '../etcd/record-outcome.js';
import type { ListenerMessage, MonitorMessage, RecordOp } from './protocol.js';

/** The child's end of the IPC channel (process.send in production). */
export interface Channel {
  send(message: MonitorMessage): void;
}

export class RemoteRecord implements MonitorRecord {
  private nextRequest = 1;
  private readonly pending = new Map<number, (outcome: RecordOutcome) => void>();
  private stopped = false;

  constructor(
    private readonly channel: Channel,
    readonly key: string,
    private readonly ttlSeconds: number,
  ) {}

  /** The listener gets the lease ready (while the first check runs). */
  prepare(): void {
    void this.request('prepare');
  }

  publish(value: string): Promise<RecordOutcome> {
    return this.request('publish', value);
  }

  withdraw(): Promise<RecordOutcome> {
    return this.request('withdraw');
  }

  async close(timeoutMs = 3000): Promise<boolean> {
    const bound = new AbortController();
    const outcome = await Promise.race([
      this.request('close'),
      sleep(timeoutMs, bound.signal).then(() => 'closed' as const),
    ]);
    bound.abort();
    this.stop();
    return outcome === 'reached';
  }

  /** The listener is gone, or the monitor abandons: nothing more will be asked or answered. */
  release(): void {
    this.stop();
  }

  /** A `record-done` from the listener. */
  handle(message: ListenerMessage): void {
    if (message.type !== 'record-done') return;
    const resolve = this.pending.get(message.requestId);
    this.pending.delete(message.requestId);
    resolve?.(message.outcome);
  }

  private request(op: RecordOp, value?: string): Promise<RecordOutcome> {
    if (this.stopped) return Promise.resolve('closed');
    const requestId = this.nextRequest++;
    return new Promise((resolve) => {
      this.pending.set(requestId, resolve);
      try {
        this.channel.send({
          type: 'record',
          requestId,
          op,
          key: this.key,
          ttlSeconds: this.ttlSeconds,
          value,
        });
      } catch {
        this.pending.delete(requestId);
        resolve('closed');
      }
    });
  }

  private stop(): void {
    this.stopped = true;
    for (const resolve of this.pending.values()) resolve('closed');
    this.pending.clear();
  }
}
