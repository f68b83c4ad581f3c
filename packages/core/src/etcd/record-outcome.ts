// What a service record's owner is told when it asks for its record to be published or
// withdrawn. Kept apart from leased-record.ts so the monitor child (which never loads etcd3)
// can speak of it.

/** How a `publish`/`withdraw` ended: done, overtaken by a later call, or cut short by `close`. */
export type RecordOutcome = 'reached' | 'superseded' | 'closed';

/** The etcd side, as a monitor sees it: LeasedRecord standalone, RemoteRecord under the listener. */
export interface MonitorRecord {
  /** the owner is about to check: get the lease ready (nothing is written) */
  prepare?(): void;
  publish(value: string): Promise<RecordOutcome>;
  withdraw(): Promise<RecordOutcome>;
  /** withdraw (bounded by `timeoutMs`) and stop; resolves whether the key was deleted */
  close(timeoutMs?: number): Promise<boolean>;
  /** stop without touching etcd: the key stays on its lease for a successor, or expires */
  release(): void;
}
