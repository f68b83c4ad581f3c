// One etcd key kept on its own lease (SPEC §3): present with a given value while the owner
// says so (`publish`, once per passing check), gone at once when it says otherwise
// (`withdraw`), and gone by itself one TTL after the owner stops saying anything (killed,
// paused, cut off). The caller states what it wants; a single background loop makes etcd
// agree, retrying through outages and lost leases, and never throws.
import type { Lease, Namespace } from 'etcd3';
import { ClientClosedError, EtcdLeaseInvalidError } from 'etcd3';
import { Backoff, type BackoffOptions, sleep } from '../backoff.js';

/** What the record logs through: the tools' pino logger fits. */
export interface RegistryLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  /** actions (register, deregister): kept by --quiet */
  notice(obj: object, msg: string): void;
  warning(obj: object, msg: string): void;
}

export interface LeasedRecordOptions {
  /** an etcd3 client (`new Etcd3(etcdOptionsFrom(...))`), or a namespace of one */
  client: Namespace;
  key: string;
  /** lease TTL, s; the monitor gives period * 2 + 1 */
  ttlSeconds: number;
  log: RegistryLog;
  /** between failed attempts; default 100 ms doubling to 1 s */
  retry?: BackoffOptions;
  /** bound on one etcd call, ms; default 5000 */
  callTimeoutMs?: number;
}

/** How a `publish`/`withdraw` ended: done, overtaken by a later call, or cut short by `close`. */
export type RecordOutcome = 'reached' | 'superseded' | 'closed';

type Desired = { kind: 'published'; value: string } | { kind: 'withdrawn' };

interface Waiter {
  generation: number;
  resolve: (outcome: RecordOutcome) => void;
}

export class LeasedRecord {
  readonly key: string;
  private readonly client: Namespace;
  private readonly ttlSeconds: number;
  private readonly log: RegistryLog;
  private readonly callTimeoutMs: number;
  private readonly backoff: Backoff;

  /** What the owner asked for last, and how many times it has asked. */
  private desired: Desired | undefined;
  private generation = 0;
  private waiters: Waiter[] = [];

  // What we know of etcd. `keyState` starts unknown: a monitor that crashed may have left
  // the key behind, so the first withdraw deletes even what this process never wrote.
  private lease: { lease: Lease; id: string } | undefined;
  private keyState: 'unknown' | 'present' | 'absent' = 'unknown';
  private written: string | undefined;

  private loop: Promise<void> | undefined;
  /** wakes the loop from idling or from a backoff sleep */
  private kick = new AbortController();
  private stopped = false;
  private closing: Promise<boolean> | undefined;
  private outage: { since: number; error: string } | undefined;

  constructor(options: LeasedRecordOptions) {
    if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new RangeError(`lease TTL must be a whole number of seconds ≥ 1, got ${options.ttlSeconds}`);
    }
    this.client = options.client;
    this.key = options.key;
    this.ttlSeconds = options.ttlSeconds;
    this.log = options.log;
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.backoff = new Backoff(options.retry ?? { initialMs: 100, maxMs: 1000 });
  }

  /**
   * Keep `value` under the key and renew the lease once. Call it after every passing check:
   * nothing else renews the lease, so the key outlives the last call by one TTL at most.
   * Writes only when etcd holds something else (a watcher is woken by changes, not by checks).
   */
  publish(value: string): Promise<RecordOutcome> {
    return this.want({ kind: 'published', value });
  }

  /** Delete the key now and revoke its lease. */
  withdraw(): Promise<RecordOutcome> {
    return this.want({ kind: 'withdrawn' });
  }

  /**
   * Withdraw, waiting at most `timeoutMs` for etcd, then stop. A key that could not be deleted
   * expires with its lease, which nobody renews any more. Resolves whether it was deleted.
   */
  close(timeoutMs = 3000): Promise<boolean> {
    this.closing ??= this.shutDown(timeoutMs);
    return this.closing;
  }

  private async shutDown(timeoutMs: number): Promise<boolean> {
    const withdrawn = this.withdraw();
    const bound = new AbortController();
    const outcome = await Promise.race([
      withdrawn,
      sleep(timeoutMs, bound.signal).then(() => 'closed' as const),
    ]);
    // The bound's timer must not keep a finished process alive for the rest of timeoutMs.
    bound.abort();
    this.stopped = true;
    this.kick.abort();
    this.settle('closed', Number.POSITIVE_INFINITY);
    if (outcome !== 'reached') {
      this.log.warning(
        { key: this.key, ttlSeconds: this.ttlSeconds },
        'could not remove the service record from etcd; it expires with its lease',
      );
    }
    return outcome === 'reached';
  }

  private want(desired: Desired): Promise<RecordOutcome> {
    if (this.stopped) return Promise.resolve('closed');
    this.desired = desired;
    this.generation += 1;
    const generation = this.generation;
    this.settle('superseded', generation - 1);
    this.kick.abort();
    this.loop ??= this.run().catch((error) => {
      this.log.warning({ key: this.key, err: messageOf(error) }, 'etcd record loop stopped by a bug');
    });
    return new Promise((resolve) => this.waiters.push({ generation, resolve }));
  }

  /** Resolve every waiter up to `generation`. */
  private settle(outcome: RecordOutcome, generation: number): void {
    const [done, pending] = partition(this.waiters, (w) => w.generation <= generation);
    this.waiters = pending;
    for (const waiter of done) waiter.resolve(outcome);
  }

  private async run(): Promise<void> {
    let reached = 0;
    while (!this.stopped) {
      if (reached === this.generation || this.desired === undefined) {
        await this.wait();
        continue;
      }
      const generation = this.generation;
      const desired = this.desired;
      try {
        const done =
          desired.kind === 'published'
            ? await this.syncPublished(desired.value, generation)
            : await this.syncWithdrawn(generation);
        this.restored();
        // Not done: a later call overtook this one mid-way; go again with that one.
        if (done) {
          reached = generation;
          this.settle('reached', generation);
        }
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof ClientClosedError) {
          // The owner closed the etcd client before this record: nothing left to retry with.
          this.log.warning(
            { key: this.key },
            'etcd client closed before the service record; it expires with its lease',
          );
          this.stopped = true;
          this.settle('closed', Number.POSITIVE_INFINITY);
          break;
        }
        this.failed(error);
        await this.wait(this.backoff.next());
      }
    }
  }

  /**
   * Wait for a kick (a new publish/withdraw, or close), or at most `ms`. A kick also cuts a
   * backoff short: the owner's next request is worth one attempt at once.
   */
  private async wait(ms?: number): Promise<void> {
    const { signal } = this.kick;
    if (!signal.aborted) {
      await (ms === undefined
        ? new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
        : sleep(ms, signal));
    }
    // A kick is consumed by the wait it ended, so the next wait waits again.
    if (signal.aborted) this.kick = new AbortController();
  }

  /** Reality checks after each await: a stale value must never be written after a withdraw. */
  private overtaken(generation: number): boolean {
    return this.stopped || this.generation !== generation;
  }

  private async syncPublished(value: string, generation: number): Promise<boolean> {
    let fresh = false;
    if (this.lease === undefined) {
      const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: false, deadline: this.deadline() });
      try {
        const id = await this.bounded(lease.grant());
        this.lease = { lease, id };
      } catch (error) {
        lease.release();
        throw error;
      }
      fresh = true;
      this.log.debug(
        { key: this.key, lease: this.lease.id, ttlSeconds: this.ttlSeconds },
        'etcd lease granted',
      );
      if (this.overtaken(generation)) return false;
    }
    const { lease, id } = this.lease;

    // A new lease starts with its full TTL; an old one is renewed, which is also how we learn
    // that etcd forgot it (TTL 0: revoked, expired while we were away, etcd's data wiped).
    if (!fresh) {
      await this.bounded(lease.keepaliveOnce({ deadline: this.deadline() }));
      if (this.overtaken(generation)) return false;
    }

    // Write only when etcd does not already hold this value on this lease; comparing in etcd
    // rather than in memory also heals a key deleted or overwritten by hand.
    const result = await this.bounded(
      this.client
        .if(this.key, 'Value', '==', value)
        .and(this.key, 'Lease', '==', id)
        .else(this.client.put(this.key).value(value).lease(id))
        .options({ deadline: this.deadline() })
        .commit(),
    );
    if (!result.succeeded) {
      const before = this.keyState === 'present' ? this.written : undefined;
      this.keyState = 'present';
      this.written = value;
      this.log.notice(
        { action: 'register', key: this.key, value, lease: id, ttlSeconds: this.ttlSeconds },
        before === undefined
          ? 'service record registered in etcd'
          : before === value
            ? 'service record written again: etcd no longer held it'
            : 'service record changed in etcd',
      );
    } else {
      this.keyState = 'present';
      this.written = value;
    }
    return !this.overtaken(generation);
  }

  private async syncWithdrawn(generation: number): Promise<boolean> {
    if (this.keyState !== 'absent') {
      const result = await this.bounded(
        this.client.delete().key(this.key).options({ deadline: this.deadline() }).exec(),
      );
      this.keyState = 'absent';
      this.written = undefined;
      if (result.deleted !== '0') {
        this.log.notice({ action: 'deregister', key: this.key }, 'service record removed from etcd');
      } else {
        this.log.debug({ key: this.key }, 'no service record in etcd to remove');
      }
    }
    // Revoking as well as deleting: it also removes a put of ours that a call we gave up
    // waiting for may still land, and frees the lease at once instead of a TTL later.
    if (this.lease !== undefined) {
      const { lease, id } = this.lease;
      this.lease = undefined;
      try {
        await this.bounded(lease.revoke({ deadline: this.deadline() }));
      } catch (error) {
        // It holds no key any more and nobody renews it: it goes by itself within a TTL.
        this.log.debug({ key: this.key, lease: id, err: messageOf(error) }, 'etcd lease left to expire');
      }
    }
    return !this.overtaken(generation);
  }

  private failed(error: unknown): void {
    if (error instanceof EtcdLeaseInvalidError && this.lease !== undefined) {
      // Never renew a dead lease: the next attempt grants a new one and writes the key again.
      this.log.info({ key: this.key, lease: this.lease.id }, 'etcd lease lost; granting a new one');
      this.lease.lease.release();
      this.lease = undefined;
      this.keyState = 'unknown';
      return;
    }
    const message = messageOf(error);
    if (this.outage === undefined) {
      this.outage = { since: Date.now(), error: message };
      this.log.warning({ key: this.key, err: message }, 'etcd call failed; retrying with backoff');
    } else {
      this.log.debug(
        { key: this.key, err: message, attempt: this.backoff.attempts },
        'etcd call failed again',
      );
    }
  }

  private restored(): void {
    this.backoff.reset();
    if (this.outage === undefined) return;
    this.log.info({ key: this.key, downMs: Date.now() - this.outage.since }, 'etcd reachable again');
    this.outage = undefined;
  }

  private deadline(): number {
    return Date.now() + this.callTimeoutMs;
  }

  /**
   * The grpc deadline bounds unary calls; this also bounds what it does not (a keepalive
   * stream that ends without an answer), so the loop can never hang.
   */
  private bounded<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`etcd did not answer within ${this.callTimeoutMs + 1000} ms`)),
        this.callTimeoutMs + 1000,
      );
    });
    // The loser must not become an unhandled rejection.
    promise.catch(() => undefined);
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
