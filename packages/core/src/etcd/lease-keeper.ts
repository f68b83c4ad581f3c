// The lease calls of one etcd client, shared by every record that client serves: grant, revoke,
// and renewals over ONE LeaseKeepAlive stream (etcd's keepalive is a bidirectional stream that
// takes any number of lease ids). The listener serves the records of every container on the
// host through one client, so a stream per renewal (what etcd3's `keepaliveOnce` opens, and
// leaves open when it times out) would be a stream per record per period.
//
// A renewal that gets no answer in time fails, and the stream is dropped (a stream that stopped
// answering is not trusted again): the next renewal opens a new one, maybe to another member.
import type { Namespace } from 'etcd3';
import { castGrpcError, EtcdLeaseInvalidError } from 'etcd3';

/**
 * Bound on one record call (grant, renew, revoke, the key's transaction). Records are a few
 * bytes and etcd answers in milliseconds; a call that waits longer is usually stuck on a member
 * that lost its leader or died, and is better retried (on a member that has one) than waited
 * for: a stopped container's record must go within about 2 s of etcd having a leader again.
 */
export const RECORD_CALL_TIMEOUT_MS = 1500;

interface KeepAliveStream {
  write(request: { ID: string }): void;
  on(event: 'data', listener: (response: { ID: string; TTL: string }) => void): void;
  on(event: 'error' | 'end' | 'close', listener: (error?: Error) => void): void;
  cancel?(): void;
  end(): void;
}

interface Pending {
  id: string;
  resolve: (ttl: number) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class LeaseKeeper {
  private stream: Promise<KeepAliveStream> | undefined;
  private pending: Pending[] = [];
  private closed = false;

  constructor(
    private readonly client: Namespace,
    /** bound on every call, ms */
    private readonly callTimeoutMs = RECORD_CALL_TIMEOUT_MS,
  ) {}

  /** A new lease of `ttlSeconds`; resolves with its id. */
  async grant(ttlSeconds: number): Promise<string> {
    const response = await this.client.leaseClient.leaseGrant(
      { TTL: ttlSeconds },
      { deadline: this.deadline() },
    );
    return response.ID;
  }

  /** Ends the lease now (its keys go with it); a lease etcd no longer knows is not an error. */
  async revoke(id: string): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: id }, { deadline: this.deadline() });
    } catch (error) {
      if (!(castGrpcError(error as Error) instanceof EtcdLeaseInvalidError)) throw error;
    }
  }

  /**
   * Renews the lease once; resolves with its TTL in seconds. Rejects with EtcdLeaseInvalidError
   * when etcd no longer knows it (expired, revoked, data wiped).
   */
  renew(id: string): Promise<number> {
    if (this.closed) return Promise.reject(new Error('lease keeper closed'));
    return new Promise<number>((resolve, reject) => {
      const entry: Pending = {
        id,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.remove(entry);
          reject(new Error(`etcd did not renew lease ${id} within ${this.callTimeoutMs} ms`));
          // Unanswered: this stream is stuck or its member gone. The next renewal opens another.
          this.drop(new Error('keepalive stream stopped answering'));
        }, this.callTimeoutMs),
      };
      this.pending.push(entry);
      this.open().then(
        (stream) => {
          if (this.pending.includes(entry)) stream.write({ ID: id });
        },
        (error: Error) => {
          this.remove(entry);
          clearTimeout(entry.timer);
          reject(error);
        },
      );
    }).then((ttl) => {
      if (ttl <= 0) throw new EtcdLeaseInvalidError(id);
      return ttl;
    });
  }

  close(): void {
    this.closed = true;
    this.drop(new Error('lease keeper closed'));
  }

  private open(): Promise<KeepAliveStream> {
    if (this.stream) return this.stream;
    const opening = this.client.leaseClient.leaseKeepAlive().then((raw) => {
      const stream = raw as unknown as KeepAliveStream;
      stream.on('data', (response) => {
        // Answers come in the order of the requests for the same id.
        const entry = this.pending.find((p) => p.id === response.ID);
        if (!entry) return;
        this.remove(entry);
        clearTimeout(entry.timer);
        entry.resolve(Number(response.TTL));
      });
      const broken = (error?: Error) => {
        if (this.stream === opening)
          this.drop(error ? castGrpcError(error) : new Error('keepalive stream ended'));
      };
      stream.on('error', broken);
      stream.on('end', () => broken());
      stream.on('close', () => broken());
      return stream;
    });
    this.stream = opening;
    opening.catch(() => {
      if (this.stream === opening) this.stream = undefined;
    });
    return opening;
  }

  /** Forgets the stream (ending it) and fails every renewal waiting on it. */
  private drop(error: Error): void {
    const stream = this.stream;
    this.stream = undefined;
    stream
      ?.then((s) => {
        try {
          s.cancel?.();
          s.end();
        } catch {
          // already ended
        }
      })
      .catch(() => undefined);
    const waiting = this.pending;
    this.pending = [];
    for (const entry of waiting) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  private remove(entry: Pending): void {
    const index = this.pending.indexOf(entry);
    if (index >= 0) this.pending.splice(index, 1);
  }

  private deadline(): number {
    return Date.now() + this.callTimeoutMs;
  }
}
