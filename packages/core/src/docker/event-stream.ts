// A Docker event subscription that survives the daemon: when the stream breaks (Docker
// restarted, socket gone) it reconnects with backoff, replays what it missed (`since` the
// last event seen, dropping the boundary duplicates Docker sends again) and then emits
// `resync`, so the owner can reconcile its state with reality.
//
// Events: 'event' (ContainerEvent), 'connected' (first time), 'resync' (after a reconnect),
// 'disconnected' (Error). It never throws out of its loop.
import { EventEmitter } from 'node:events';
import { Backoff, type BackoffOptions, sleep } from '../backoff.js';
import { DockerUnreachable } from '../errors.js';
import {
  type ContainerEvent,
  LineSplitter,
  parseContainerEvent,
  sinceParameter,
  WATCHED_ACTIONS,
} from './container-event.js';
import type { DockerClient } from './docker-client.js';

/** How far before the newest event a resubscription starts (1 s, in ns). */
export const REPLAY_OVERLAP_NS = 1_000_000_000n;

export interface EventStreamOptions {
  /** limit to one container (the standalone monitor) */
  containerId?: string;
  backoff?: BackoffOptions;
  /** how long a ping may take before the daemon counts as not ready */
  pingTimeoutMs?: number;
}

export class DockerEventStream extends EventEmitter<{
  event: [ContainerEvent];
  connected: [];
  resync: [];
  disconnected: [Error];
}> {
  private stopped = false;
  private current: NodeJS.ReadableStream | undefined;
  /** the newest event time seen */
  private lastTimeNano: bigint | undefined;
  /** when the first subscription was made: where a replay starts if no event came before */
  private connectedAtNano: bigint | undefined;
  /** events handled within REPLAY_OVERLAP_NS of the newest, by identity: a replay repeats them */
  private recent = new Map<string, bigint>();
  private readonly backoff: Backoff;
  private readonly wake = new AbortController();

  constructor(
    private readonly docker: DockerClient,
    private readonly options: EventStreamOptions = {},
  ) {
    super();
    this.backoff = new Backoff(options.backoff ?? { initialMs: 250, maxMs: 5000 });
  }

  /** Connects (resolving once the first subscription is live) and keeps reconnecting. */
  async start(): Promise<void> {
    const firstConnection = new Promise<void>((resolve) => this.once('connected', resolve));
    void this.loop();
    await Promise.race([
      firstConnection,
      new Promise<void>((resolve) => this.wake.signal.addEventListener('abort', () => resolve())),
    ]);
  }

  stop(): void {
    this.stopped = true;
    this.wake.abort();
    (this.current as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }

  private async loop() {
    let everConnected = false;
    while (!this.stopped) {
      try {
        await this.docker.ping(this.options.pingTimeoutMs ?? 2000);
        const stream = await this.subscribe();
        if (this.stopped) {
          (stream as unknown as { destroy(): void }).destroy();
          break;
        }
        this.current = stream;
        this.connectedAtNano ??= BigInt(Date.now()) * 1_000_000n;
        this.backoff.reset();
        this.emit(everConnected ? 'resync' : 'connected');
        everConnected = true;
        const error = await this.pump(stream);
        if (!this.stopped) this.emit('disconnected', error);
      } catch (error) {
        if (!this.stopped)
          this.emit('disconnected', error instanceof Error ? error : new Error(String(error)));
      }
      if (!this.stopped) await sleep(this.backoff.next(), this.wake.signal);
    }
  }

  private async subscribe(): Promise<NodeJS.ReadableStream> {
    const filters: Record<string, string[]> = { type: ['container'], event: [...WATCHED_ACTIONS] };
    if (this.options.containerId) filters.container = [this.options.containerId];
    const query: { filters: Record<string, string[]>; since?: string } = { filters };
    // From a little before the newest event: Docker stamps an event before it publishes it, so
    // concurrent events can reach us out of order, and one older than the newest may still be
    // on its way when the stream breaks. What was already handled is dropped in `deliver`.
    // Before any event was seen, from when the stream first connected (this host's clock: only
    // a starting point for the replay, never a reason to drop an event).
    const from = this.lastTimeNano ?? this.connectedAtNano;
    if (from !== undefined) {
      query.since = sinceParameter((from - REPLAY_OVERLAP_NS).toString());
    }
    return this.docker.events(query);
  }

  /** Reads until the stream ends; resolves with why it ended. */
  private pump(stream: NodeJS.ReadableStream): Promise<Error> {
    return new Promise((resolve) => {
      const lines = new LineSplitter();
      let done = false;
      const finish = (error: Error) => {
        if (done) return;
        done = true;
        resolve(error);
      };
      stream.on('data', (chunk: Buffer | string) => {
        for (const line of lines.push(chunk.toString())) this.deliver(line);
      });
      // A daemon going away resets the connection (ECONNRESET, "aborted"): that is Docker
      // being unreachable, not a bug of ours, and the log line should say so.
      stream.on('error', (error: Error) => finish(this.docker.translate(error)));
      stream.on('end', () => finish(new DockerUnreachable(this.docker.control, 'the event stream ended')));
      stream.on('close', () => finish(new DockerUnreachable(this.docker.control, 'the event stream closed')));
    });
  }

  private deliver(line: string) {
    const event = parseContainerEvent(line);
    if (!event) return;
    const at = BigInt(event.timeNano);
    // Only exact repeats are dropped: a live event may be older than the one before it.
    const key = `${event.timeNano} ${event.id} ${event.action} ${event.detail ?? ''}`;
    if (this.recent.has(key)) return;
    if (this.lastTimeNano !== undefined && at < this.lastTimeNano - REPLAY_OVERLAP_NS) return;
    this.recent.set(key, at);
    if (this.lastTimeNano === undefined || at > this.lastTimeNano) {
      this.lastTimeNano = at;
      const oldest = at - 2n * REPLAY_OVERLAP_NS;
      for (const [k, t] of this.recent) if (t < oldest) this.recent.delete(k);
    }
    this.emit('event', event);
  }
}
