// The listener's side of its monitors' service records: the host's one etcd client (one
// connection, one authentication) serving every monitor's record over IPC. Each monitor child
// gets a LeasedRecord of its own (own lease, renewed only by that monitor's publishes), so a
// monitor that hangs lets its own key expire and nothing renews a record on another's behalf.
// Every request is answered with its outcome (`record-done`): a withdraw is acknowledged once
// etcd confirmed the delete.
//
// A child that exits without closing (crashed, killed) has its records released, not deleted:
// the key stays on its lease for the monitor that replaces it to take over, or expires.
import type { Namespace } from 'etcd3';
import type { LeaseKeeper } from '../etcd/lease-keeper.js';
import { LeasedRecord, type RegistryLog } from '../etcd/leased-record.js';
import type { RecordOutcome } from '../etcd/record-outcome.js';
import type { Logger } from '../log/logger.js';
import type { MonitorMessage } from '../monitor/protocol.js';

type RecordRequest = Extract<MonitorMessage, { type: 'record' }>;

export interface RecordBrokerOptions {
  client: Namespace;
  leases: LeaseKeeper;
  log: Logger;
  /** told of every failed etcd call */
  onError?(error: unknown): void;
}

/** Who asked: a monitor child, named for the log lines of its record. */
export interface RecordOwner {
  /** unique per child process */
  id: number;
  container: string;
  name: string;
}

export class RecordBroker {
  /** owner id → its records by key (one in practice: a monitor has one key) */
  private readonly records = new Map<number, Map<string, LeasedRecord>>();
  /** records whose owner closed them before etcd confirmed the delete: still withdrawing */
  private readonly retiring = new Map<string, LeasedRecord>();

  constructor(private readonly options: RecordBrokerOptions) {}

  /** Serves one request; resolves with the outcome to send back. */
  async serve(owner: RecordOwner, request: RecordRequest): Promise<RecordOutcome> {
    const record = this.recordOf(owner, request);
    switch (request.op) {
      case 'prepare':
        record.prepare();
        return 'reached';
      case 'publish':
        return record.publish(request.value ?? '');
      case 'withdraw':
        return record.withdraw();
      case 'close': {
        // The monitor is ending; the listener's client is not: the delete goes on after the
        // monitor exits, until etcd confirms it (see LeasedRecord.retire).
        this.records.get(owner.id)?.delete(request.key);
        this.retiring.set(request.key, record);
        const forget = () => {
          if (this.retiring.get(request.key) === record) this.retiring.delete(request.key);
        };
        const deleted = await record.retire(3000, forget);
        return deleted ? 'reached' : 'closed';
      }
    }
  }

  /** The child is gone: its records stop, left on their leases (see the header). */
  release(ownerId: number): void {
    const mine = this.records.get(ownerId);
    this.records.delete(ownerId);
    for (const record of mine?.values() ?? []) record.release();
  }

  /** Records being served now. */
  get size(): number {
    let n = 0;
    for (const mine of this.records.values()) n += mine.size;
    return n;
  }

  /** Stops every record without touching etcd (the listener is going; its monitors are gone). */
  releaseAll(): void {
    for (const id of [...this.records.keys()]) this.release(id);
    for (const record of this.retiring.values()) record.release();
    this.retiring.clear();
  }

  private recordOf(owner: RecordOwner, request: RecordRequest): LeasedRecord {
    let mine = this.records.get(owner.id);
    if (!mine) {
      mine = new Map();
      this.records.set(owner.id, mine);
    }
    let record = mine.get(request.key);
    if (!record) {
      // A new monitor for the key (the container started again): it decides the key now, and
      // an older one's delete still under way must not undo that.
      this.retiring.get(request.key)?.release();
      this.retiring.delete(request.key);
      record = new LeasedRecord({
        client: this.options.client,
        leases: this.options.leases,
        key: request.key,
        ttlSeconds: request.ttlSeconds,
        log: ownerLog(this.options.log, owner),
        onError: this.options.onError,
      });
      mine.set(request.key, record);
    }
    return record;
  }
}

/** The record's log lines, as the listener's, naming the container they are about. */
function ownerLog(log: Logger, owner: RecordOwner): RegistryLog {
  const about = { container: owner.name || owner.container, id: owner.container };
  return {
    debug: (obj, msg) => log.debug({ ...about, ...obj }, msg),
    info: (obj, msg) => log.info({ ...about, ...obj }, msg),
    notice: (obj, msg) => log.notice({ ...about, ...obj }, msg),
    warning: (obj, msg) => log.warning({ ...about, ...obj }, msg),
  };
}
