// LeasedRecord against a real etcd: what lands in etcd, when it is written, how long it lives,
// and how it comes back after etcd stops, loses its data, or forgets the lease.
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { etcdOptionsFrom } from '../../packages/core/src/etcd/connection.js';
import { LeasedRecord, type RegistryLog } from '../../packages/core/src/etcd/leased-record.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';

interface Entry {
  level: keyof RegistryLog;
  obj: Record<string, unknown>;
  msg: string;
}

function recordingLog(): RegistryLog & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at =
    (level: keyof RegistryLog) =>
    (obj: object, msg: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { entries, debug: at('debug'), info: at('info'), notice: at('notice'), warning: at('warning') };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(25);
  }
}

const VALUE = '{"IP":"172.17.0.3","Name":"/server","Ports":[]}';
const OTHER = '{"IP":"172.17.0.4","Name":"/server","Ports":[]}';

let etcd: TestEtcd;
/** the record's client, and an independent one to look at etcd with */
let client: Etcd3;
let reader: Etcd3;
const records: LeasedRecord[] = [];

const newKey = () => `/SERVICE/test/${randomBytes(32).toString('hex')}`;
function newRecord(ttlSeconds: number, key = newKey()) {
  const log = recordingLog();
  const record = new LeasedRecord({ client, key, ttlSeconds, log });
  records.push(record);
  return { record, log, key };
}

const storedValue = (key: string) => reader.get(key).string();
async function leaseOf(key: string): Promise<{ id: string; ttl: number; granted: number } | undefined> {
  const { kvs } = await reader.get(key).exec();
  const kv = kvs[0];
  if (kv === undefined) return undefined;
  const info = await reader.leaseClient.leaseTimeToLive({ ID: kv.lease });
  return { id: kv.lease, ttl: Number(info.TTL), granted: Number(info.grantedTTL) };
}

beforeAll(async () => {
  etcd = await startEtcd();
  client = new Etcd3(etcdOptionsFrom(etcd.connection));
  reader = new Etcd3(etcdOptionsFrom(etcd.connection));
});

afterEach(async () => {
  for (const record of records.splice(0)) await record.close(500);
});

afterAll(async () => {
  client?.close();
  reader?.close();
  await etcd?.cleanup();
});

describe('LeasedRecord', () => {
  it('writes the value under the key on a lease of the requested TTL', async () => {
    const { record, log, key } = newRecord(30);
    expect(await record.publish(VALUE)).toBe('reached');
    expect(await storedValue(key)).toBe(VALUE);
    const lease = await leaseOf(key);
    expect(lease?.granted).toBe(30);
    // Counting down from it (a loaded CI host took 2 s from the grant to this read once).
    expect(lease?.ttl).toBeGreaterThanOrEqual(20);
    expect(log.entries.filter((e) => e.obj.action === 'register')).toHaveLength(1);
    expect(log.entries.find((e) => e.obj.action === 'register')?.level).toBe('notice');
  });

  it('writes only when the value changes, while each publish renews the lease', async () => {
    const { record, key } = newRecord(5);
    const watcher = await reader.watch().key(key).create();
    const puts: string[] = [];
    watcher.on('put', (kv) => puts.push(kv.value.toString()));
    try {
      await record.publish(VALUE);
      const { id } = (await leaseOf(key))!;
      for (let i = 0; i < 4; i++) {
        await delay(800);
        expect(await record.publish(VALUE)).toBe('reached');
      }
      // 3.2 s after the grant, a lease left alone would have under 2 s left of 5; renewed at
      // least every 1.6 s (a publish within 1 s of a renewal skips it), it has over 3 s.
      const renewed = await leaseOf(key);
      expect(renewed?.id).toBe(id);
      expect(renewed?.ttl).toBeGreaterThanOrEqual(2);
      await record.publish(OTHER);
      await record.publish(OTHER);
      await delay(200);
      expect(puts).toEqual([VALUE, OTHER]);
    } finally {
      await watcher.cancel();
    }
  });

  it('is not kept alive between publishes: the key expires one TTL after the last one', async () => {
    // 2 s: etcd rounds shorter TTLs up to its minimum (1.5 election timeouts, 2 s by default).
    const { record, key } = newRecord(2);
    await record.publish(VALUE);
    expect(await storedValue(key)).toBe(VALUE);
    await waitFor(
      'the key to expire',
      async () => ((await storedValue(key)) === null ? true : undefined),
      4000,
    );
    // Like a process paused past its TTL: the next publish finds the lease dead, gets a new one.
    expect(await record.publish(VALUE)).toBe('reached');
    expect(await storedValue(key)).toBe(VALUE);
    expect((await leaseOf(key))?.granted).toBe(2);
  });

  it('deletes the key at once on withdraw and revokes its lease', async () => {
    const { record, log, key } = newRecord(30);
    await record.publish(VALUE);
    const { id } = (await leaseOf(key))!;
    const started = Date.now();
    expect(await record.withdraw()).toBe('reached');
    expect(Date.now() - started).toBeLessThan(500);
    expect(await storedValue(key)).toBeNull();
    expect((await reader.leaseClient.leaseTimeToLive({ ID: id })).TTL).toBe('-1');
    expect(log.entries.filter((e) => e.obj.action === 'deregister')).toHaveLength(1);
    // Withdrawn stays withdrawn: a second withdraw is a no-op, a publish starts over.
    expect(await record.withdraw()).toBe('reached');
    await record.publish(VALUE);
    expect(await storedValue(key)).toBe(VALUE);
  });

  it('removes a key left behind by an earlier process on its first withdraw', async () => {
    const key = newKey();
    await reader.put(key).value(VALUE);
    const { record } = newRecord(5, key);
    expect(await record.withdraw()).toBe('reached');
    expect(await storedValue(key)).toBeNull();
  });

  describe('prepare() (a monitor under the listener, while its first check runs)', () => {
    const leaseIds = async () => (await reader.leaseClient.leaseLeases({})).leases.map((l) => String(l.ID));

    it('grants the lease ahead, and the first publish writes on it', async () => {
      const { record, key } = newRecord(30);
      const before = new Set(await leaseIds());
      record.prepare();
      const granted = await waitFor(
        'the prepared lease',
        async () => (await leaseIds()).find((id) => !before.has(id)),
        5000,
      );
      expect(await storedValue(key)).toBeNull();
      await record.publish(VALUE);
      expect((await leaseOf(key))!.id).toBe(granted);
    });

    it('leaves a key an earlier owner left alone: its lease is not renewed before a check passed', async () => {
      const key = newKey();
      const left = await reader.lease(10, { autoKeepAlive: false });
      await left.put(key).value(VALUE);
      const leftId = await left.grant();
      await delay(3500);
      const { record } = newRecord(10, key);
      record.prepare();
      await delay(500);
      // Still counting down from 10 (renewed, it would be back near 10).
      expect((await leaseOf(key))!.ttl).toBeLessThanOrEqual(6);
      // The first publish adopts it (renewed now, the key never rewritten).
      await record.publish(VALUE);
      const adopted = (await leaseOf(key))!;
      expect(adopted.id).toBe(leftId);
      expect(adopted.ttl).toBeGreaterThanOrEqual(8);
    });

    it('a withdraw before the first publish: no key, and no lease left granted', async () => {
      const { record, key } = newRecord(30);
      const before = new Set(await leaseIds());
      record.prepare();
      expect(await record.withdraw()).toBe('reached');
      await delay(300);
      expect(await storedValue(key)).toBeNull();
      expect((await leaseIds()).filter((id) => !before.has(id))).toEqual([]);
    });

    it('a record released before its first check (its monitor died) frees the prepared lease', async () => {
      const { record } = newRecord(30);
      const before = new Set(await leaseIds());
      record.prepare();
      await waitFor('the prepared lease', async () => (await leaseIds()).find((id) => !before.has(id)), 5000);
      record.release();
      await waitFor(
        'the prepared lease to be revoked',
        async () => ((await leaseIds()).some((id) => !before.has(id)) ? undefined : true),
        5000,
      );
    });
  });

  it('never writes a stale value after a withdraw that overtook it', async () => {
    const { record, key } = newRecord(5);
    const watcher = await reader.watch().key(key).create();
    let puts = 0;
    watcher.on('put', () => puts++);
    try {
      const published = record.publish(VALUE);
      const withdrawn = record.withdraw();
      expect(await published).toBe('superseded');
      expect(await withdrawn).toBe('reached');
      await delay(300);
      expect(await storedValue(key)).toBeNull();
      // Whether the put went out before the withdraw is a race; that it is gone is not.
      expect(puts).toBeLessThanOrEqual(1);
    } finally {
      await watcher.cancel();
    }
  });

  it('heals a key deleted by hand on the next publish', async () => {
    const { record, key } = newRecord(5);
    await record.publish(VALUE);
    await reader.delete().key(key);
    await record.publish(VALUE);
    expect(await storedValue(key)).toBe(VALUE);
  });

  it('grants a new lease and writes again when the lease is revoked from outside', async () => {
    const { record, log, key } = newRecord(5);
    await record.publish(VALUE);
    const { id } = (await leaseOf(key))!;
    await etcd.ctl('lease', 'revoke', BigInt(id).toString(16));
    expect(await storedValue(key)).toBeNull();

    expect(await record.publish(VALUE)).toBe('reached');
    const again = await leaseOf(key);
    expect(await storedValue(key)).toBe(VALUE);
    expect(again?.id).not.toBe(id);
    expect(again?.granted).toBe(5);
    expect(log.entries.some((e) => e.msg.includes('lease lost'))).toBe(true);
    expect(log.entries.filter((e) => e.level === 'warning')).toEqual([]);
  });

  it('closes by deleting the key, and gives up after the bound when etcd is away', async () => {
    const { record, key } = newRecord(5);
    await record.publish(VALUE);
    expect(await record.close()).toBe(true);
    expect(await storedValue(key)).toBeNull();
    expect(await record.publish(VALUE)).toBe('closed');
    expect(await storedValue(key)).toBeNull();
  });
  it('stops, rather than retrying forever, when its etcd client is closed under it', async () => {
    const own = new Etcd3(etcdOptionsFrom(etcd.connection));
    const log = recordingLog();
    const record = new LeasedRecord({ client: own, key: newKey(), ttlSeconds: 5, log });
    await record.publish(VALUE);
    own.close();
    expect(await record.publish(OTHER)).toBe('closed');
    expect(await record.close()).toBe(false);
    expect(log.entries.filter((e) => e.level === 'warning').map((e) => e.msg)).toEqual([
      'etcd client closed before the service record; it expires with its lease',
      'could not remove the service record from etcd; it expires with its lease',
    ]);
  });
});

describe('LeasedRecord through etcd outages', () => {
  // These stop the shared etcd: they run after the others, one at a time.
  it('keeps publishing through an outage longer than the TTL, and the key is back within 2 s', async () => {
    const { record, log, key } = newRecord(2);
    await record.publish(VALUE);
    const { id } = (await leaseOf(key))!;

    // Publishing never pauses, as a monitor's checks would not: also while etcd starts, so a
    // client that holds a failed host "open" for seconds would fail the 2 s below.
    const publishing = setInterval(() => void record.publish(VALUE), 250);
    try {
      await etcd.stop();
      await delay(3000);
      await etcd.start();
    } finally {
      clearInterval(publishing);
    }
    const restarted = Date.now();
    // The record's own answer: its lease renewed through the restarted etcd.
    expect(await record.publish(VALUE)).toBe('reached');
    expect(Date.now() - restarted).toBeLessThan(2000);
    expect(await storedValue(key)).toBe(VALUE);
    // etcd restarts persisted leases with a full TTL, so the same lease carries on...
    expect((await leaseOf(key))?.id).toBe(id);
    // ...and the outage was one warning, then one "reachable again".
    expect(log.entries.filter((e) => e.level === 'warning')).toHaveLength(1);
    expect(log.entries.filter((e) => e.msg === 'etcd reachable again')).toHaveLength(1);
  });

  it('writes the key again within 2 s when etcd comes back without its data', async () => {
    const { record, key } = newRecord(2);
    await record.publish(VALUE);

    await etcd.kill();
    void record.publish(VALUE);
    await delay(1500);
    await etcd.start({ wipe: true });
    const restarted = Date.now();
    // Only the next passing check renews; the monitor publishes once per period.
    const publishing = setInterval(() => void record.publish(VALUE), 250);
    try {
      await waitFor(
        'the key to be back',
        async () => ((await storedValue(key)) === VALUE ? true : undefined),
        2000,
      );
    } finally {
      clearInterval(publishing);
    }
    expect(Date.now() - restarted).toBeLessThan(2000);
    expect((await leaseOf(key))?.granted).toBe(2);
  });

  it('withdraws within 2 s of etcd returning, without a stale write, when asked during the outage', async () => {
    const { record, key } = newRecord(5);
    await record.publish(VALUE);
    await etcd.stop();
    const published = record.publish(OTHER);
    await delay(300);
    const withdrawn = record.withdraw();
    // Long enough for the deletes to fail again and again: a client whose circuit breaker
    // holds the host "open" for 5 s (etcd3's default) would miss the 2 s below.
    await delay(1500);
    await etcd.start();
    const restarted = Date.now();
    expect(await published).toBe('superseded');
    expect(await withdrawn).toBe('reached');
    expect(Date.now() - restarted).toBeLessThan(2000);
    expect(await storedValue(key)).toBeNull();
  });

  it('bounds close() when etcd is down', async () => {
    const { record } = newRecord(5);
    await record.publish(VALUE);
    await etcd.stop();
    try {
      const started = Date.now();
      expect(await record.close(500)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      await etcd.start();
    }
  });
});
