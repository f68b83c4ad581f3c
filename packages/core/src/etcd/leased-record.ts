// One etcd key kept on its own lease (SPEC §3): present with a given value while the owner
// says so (`publish`, once per passing check), gone at once when it says otherwise
// (`withdraw`), and gone by itself one TTL after the owner stops saying anything (killed,
// paused, cut off). The caller states what it wants; a single background loop makes etcd
// agree, retrying through outages and lost leases, and never throws.
//
// Takeover (no flap on restart): a record that finds its key already in etcd, on a live lease
// of the same TTL (left by a monitor or listener that was killed), adopts that lease on its
// first publish instead of deleting and writing again, so watchers see nothing happen; its
// first withdraw deletes the key and revokes the lease it found.
import type { Namespace } from 'etcd3';
import { ClientClosedError, EtcdLeaseInvalidError } from 'etcd3';
import { Backoff, type BackoffOptions, sleep } from '../backoff.js';
import { LeaseKeeper, RECORD_CALL_TIMEOUT_MS } from './lease-keeper.js';
import type { MonitorRecord, RecordOutcome } from './record-outcome.js';

/** A lease granted or renewed this recently counts as renewed. */
const JUST_RENEWED_MS = 1000;

export type { RecordOutcome } from './record-outcome.js';

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
  /** the client's shared lease calls; one of its own is made when not given */
  leases?: LeaseKeeper;
  key: string;
  /** lease TTL, s; the monitor gives period * 2 + 1 */
  ttlSeconds: number;
  log: RegistryLog;
  /** between failed attempts; default 100 ms doubling to 1 s */
  retry?: BackoffOptions;
  /** bound on one etcd call, ms; default RECORD_CALL_TIMEOUT_MS */
  callTimeoutMs?: number;
  /** told of every failed etcd call (the listener's metrics) */
  onError?(error: unknown): void;
}

type Desired = { kind: 'published'; value: string } | { kind: 'withdrawn' };

interface Waiter {
  generation: number;
  resolve: (outcome: RecordOutcome) => void;
}

export class LeasedRecord implements MonitorRecord {
  readonly key: string;
  private readonly client: Namespace;
  private readonly leases: LeaseKeeper;
  private readonly ownsLeases: boolean;
  private readonly ttlSeconds: number;
  private readonly log: RegistryLog;
  private readonly callTimeoutMs: number;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly backoff: Backoff;

  /** What the owner asked for last, and how many times it has asked. */
  private desired: Desired | undefined;
  private generation = 0;
  private waiters: Waiter[] = [];

  // What we know of etcd. `keyState` starts unknown: a monitor that crashed may have left
  // the key behind, so the first withdraw deletes even what this process never wrote.
  private lease: { id: string } | undefined;
  /** the lease of a key found in etcd and not (yet) adopted: revoked with the key */
  private foundLease: string | undefined;
  private keyState: 'unknown' | 'present' | 'absent' = 'unknown';
  private written: string | undefined;

  private loop: Promise<void> | undefined;
  /** wakes the loop from idling or from a backoff sleep */
  private kick = new AbortController();
  private stopped = false;
  /** `prepare()` under way or done */
  private preparing: Promise<void> | undefined;
  /** when the lease was granted, adopted or renewed last (a publish right after needs no renewal) */
  private renewedAt = 0;
  /** `retire` was called: the record only withdraws from now on */
  private retiring = false;
  private closing: Promise<boolean> | undefined;
  private outage: { since: number; error: string } | undefined;

  constructor(options: LeasedRecordOptions) {
    if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new RangeError(`lease TTL must be a whole number of seconds ≥ 1, got ${options.ttlSeconds}`);
    }
    this.client = options.client;
    this.ownsLeases = options.leases === undefined;
    this.leases =
      options.leases ?? new LeaseKeeper(options.client, options.callTimeoutMs ?? RECORD_CALL_TIMEOUT_MS);
    this.key = options.key;
    this.ttlSeconds = options.ttlSeconds;
    this.log = options.log;
    this.callTimeoutMs = options.callTimeoutMs ?? RECORD_CALL_TIMEOUT_MS;
    this.onError = options.onError;
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

  /**
   * Withdraw for an owner that is going away while this record's client stays (the listener
   * serving a monitor that ends): resolves whether etcd confirmed the delete within `timeoutMs`,
   * but keeps trying after that, through an etcd outage or a leader election, and stops once the
   * delete is confirmed (or at `release()`, when another owner takes the key). So a container
   * stopped while etcd cannot answer loses its record as soon as etcd answers, not a TTL later.
   * `done` is called once it has stopped, either way.
   */
  async retire(timeoutMs = 3000, done?: () => void): Promise<boolean> {
    const withdrawn = this.withdraw();
    this.retiring = true;
    void withdrawn.then((outcome) => {
      if (outcome === 'reached') this.release();
      done?.();
    });
    const bound = new AbortController();
    const outcome = await Promise.race([
      withdrawn,
      sleep(timeoutMs, bound.signal).then(() => 'pending' as const),
    ]);
    bound.abort();
    if (outcome === 'pending')
      this.log.info(
        { key: this.key },
        'etcd has not confirmed the removal of the service record yet; still trying',
      );
    return outcome === 'reached';
  }

  /**
   * Stops without touching etcd: the key stays on its lease, which nobody renews any more, for
   * a successor to take over or for etcd to expire (the owner was killed, or its listener is).
   */
  release(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.kick.abort();
    this.settle('closed', Number.POSITIVE_INFINITY);
    // A lease prepared for a first check that never came (its monitor died first) holds no key:
    // freed now rather than a TTL later (up to two days at the longest period).
    const unused = this.desired === undefined ? this.lease?.id : undefined;
    if (unused !== undefined) void this.leases.revoke(unused).catch(() => undefined);
    if (this.ownsLeases) this.leases.close();
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
    if (this.ownsLeases) this.leases.close();
    if (outcome !== 'reached') {
      this.log.warning(
        { key: this.key, ttlSeconds: this.ttlSeconds },
        'could not remove the service record from etcd; it expires with its lease',
      );
    }
    return outcome === 'reached';
  }

  private want(desired: Desired): Promise<RecordOutcome> {
    if (this.stopped || (this.retiring && desired.kind === 'published')) return Promise.resolve('closed');
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
    await this.preparing;
    if (this.lease === undefined && this.keyState === 'unknown') {
      await this.takeOver();
      if (this.overtaken(generation)) return false;
    }
    if (this.lease === undefined) {
      await this.grantLease();
      if (this.overtaken(generation)) return false;
    }
    const { id } = this.lease!;
    // A new lease starts with its full TTL; an old one is renewed, which is also how we learn
    // that etcd forgot it (TTL 0: revoked, expired while we were away, etcd's data wiped).
    if (Date.now() - this.renewedAt > JUST_RENEWED_MS) {
      await this.bounded(this.leases.renew(id));
      this.renewedAt = Date.now();
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
      // A key found on a lease we could not adopt now lives on ours: the old lease goes.
      await this.revokeFound();
    } else {
      if (this.keyState !== 'present')
        this.log.info({ key: this.key, lease: id }, 'service record already in etcd; kept as it is');
      this.keyState = 'present';
      this.written = value;
    }
    return !this.overtaken(generation);
  }

  /**
   * Gets the lease ready while the owner's first check runs (the listener's monitors call it as
   * they start), so the first publish is one write: when no key is there, grants the lease. A
   * key an earlier owner left is not touched: its lease is adopted, and renewed, only by the
   * first publish, after a passing check. Nothing is written. A publish waits for this; a
   * withdraw or stop does not, and a lease granted for nothing is revoked.
   */
  prepare(): void {
    if (this.stopped || this.desired !== undefined || this.preparing) return;
    this.preparing = this.prepareLease().catch((error) => {
      // The first publish looks and grants again, and says why if it cannot.
      this.onError?.(error);
      this.log.debug({ key: this.key, err: messageOf(error) }, 'etcd lease not prepared');
    });
  }

  private async prepareLease(): Promise<void> {
    if (this.lease !== undefined || this.keyState !== 'unknown') return;
    const { kvs } = await this.bounded(
      this.client.get(this.key).options({ deadline: this.deadline() }).exec(),
    );
    // keyState stays unknown: a put of an earlier owner still on its way may land after this
    // look, and the first withdraw then deletes it all the same.
    if (kvs[0] !== undefined || this.notWanted()) return;
    const id = await this.bounded(this.leases.grant(this.ttlSeconds));
    if (this.lease !== undefined || this.notWanted()) {
      await this.bounded(this.leases.revoke(id)).catch(() => undefined); // else it expires a TTL later
      return;
    }
    this.lease = { id };
    this.renewedAt = Date.now();
    this.log.debug({ key: this.key, lease: id, ttlSeconds: this.ttlSeconds }, 'etcd lease granted');
  }

  /** A prepared lease is for nothing once the record is stopped or withdrawn. */
  private notWanted(): boolean {
    return this.stopped || this.desired?.kind === 'withdrawn';
  }

  private async grantLease(): Promise<void> {
    const id = await this.bounded(this.leases.grant(this.ttlSeconds));
    this.lease = { id };
    this.renewedAt = Date.now();
    this.log.debug({ key: this.key, lease: id, ttlSeconds: this.ttlSeconds }, 'etcd lease granted');
  }

  /**
   * The key as an earlier owner may have left it: adopts its lease when it is alive and of our
   * TTL (returns true: just renewed). Otherwise remembers that lease, to revoke once the key is
   * ours or deleted. Only on the way to a publish: the renewal is a passing check's.
   */
  private async takeOver(): Promise<boolean> {
    const { kvs } = await this.bounded(
      this.client.get(this.key).options({ deadline: this.deadline() }).exec(),
    );
    const found = kvs[0];
    if (found === undefined) {
      this.keyState = 'absent';
      return false;
    }
    if (found.lease === '0') return false;
    let ttl: number | undefined;
    try {
      ttl = await this.bounded(this.leases.renew(found.lease));
    } catch (error) {
      if (!(error instanceof EtcdLeaseInvalidError)) throw error;
    }
    if (ttl !== this.ttlSeconds) {
      this.foundLease = ttl === undefined ? undefined : found.lease;
      return false;
    }
    this.lease = { id: found.lease };
    this.renewedAt = Date.now();
    this.log.info(
      { key: this.key, lease: found.lease, ttlSeconds: ttl },
      'took over the service record and lease left by an earlier monitor',
    );
    return true;
  }

  private async revokeFound(): Promise<void> {
    if (this.stopped) return;
    const found = this.foundLease;
    this.foundLease = undefined;
    if (found === undefined || found === this.lease?.id) return;
    await this.bounded(this.leases.revoke(found)).catch((error) =>
      this.log.debug({ key: this.key, lease: found, err: messageOf(error) }, 'earlier lease left to expire'),
    );
  }

  private async syncWithdrawn(generation: number): Promise<boolean> {
    if (this.keyState !== 'absent') {
      const previous = await this.bounded(
        this.client.delete().key(this.key).options({ deadline: this.deadline() }).getPrevious(),
      );
      this.keyState = 'absent';
      this.written = undefined;
      // Released meanwhile (another owner took the key): its lease is theirs now.
      if (this.stopped) return false;
      const left = previous[0];
      if (left !== undefined) {
        this.log.notice({ action: 'deregister', key: this.key }, 'service record removed from etcd');
        // A key an earlier owner left: its lease holds nothing now and is freed too.
        if (left.lease !== '0' && left.lease !== this.lease?.id) this.foundLease = left.lease;
      } else {
        this.log.debug({ key: this.key }, 'no service record in etcd to remove');
      }
      await this.revokeFound();
    }
    // Revoking as well as deleting: it also removes a put of ours that a call we gave up
    // waiting for may still land, and frees the lease at once instead of a TTL later.
    if (this.lease !== undefined && !this.stopped) {
      const { id } = this.lease;
      this.lease = undefined;
      try {
        await this.bounded(this.leases.revoke(id));
      } catch (error) {
        // It holds no key any more and nobody renews it: it goes by itself within a TTL.
        this.log.debug({ key: this.key, lease: id, err: messageOf(error) }, 'etcd lease left to expire');
      }
    }
    return !this.overtaken(generation);
  }

  private failed(error: unknown): void {
    this.onError?.(error);
    if (error instanceof EtcdLeaseInvalidError && this.lease !== undefined) {
      // Never renew a dead lease: the next attempt grants a new one and writes the key again.
      this.log.info({ key: this.key, lease: this.lease.id }, 'etcd lease lost; granting a new one');
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
