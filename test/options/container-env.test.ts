// SPEC §1, HEALTHCHECKPERIOD through the built monitor and a real etcd: a value that is not a
// whole number of seconds from 1 to 86400 (a huge one overflowed setTimeout, so checks ran back
// to back) is a warning naming the value and the range, and the monitor checks every 30 s on a
// lease of 30 * 2 + 1 seconds.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { leaseTtl, monitorFlags, serviceKey, storedKey, test, whenKey } from '../monitor/support.js';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';

let etcd: TestEtcd;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.cleanup();
});

describe.concurrent('HEALTHCHECKPERIOD outside 1 to 86400: a warning, and the default 30 s', () => {
  test.for(['3000000', '0', '1.5', 'soon'])('HEALTHCHECKPERIOD=%s', async (value, { made }) => {
    const id = await made.sleeper(['-e', 'HEALTHCHECK=true', '-e', `HEALTHCHECKPERIOD=${value}`]);
    const monitor = made.monitor(monitorFlags(etcd, id));
    const warning = await monitor.waitForLog(
      (line) => line.level === 'WARNING' && /HEALTHCHECKPERIOD/.test(line.msg),
      {
        what: 'the HEALTHCHECKPERIOD warning',
      },
    );
    expect(warning.msg).toBe(
      `HEALTHCHECKPERIOD="${value}" is not a whole number of seconds from 1 to 86400; using 30`,
    );
    const started = await monitor.waitForLog((line) => line.periodSeconds !== undefined, {
      what: 'the line with the period',
    });
    expect(started).toMatchObject({ periodSeconds: 30, ttlSeconds: 61 });
    const key = serviceKey(id);
    await whenKey(etcd, key, 'present', { monitor });
    const stored = await storedKey(etcd, key);
    expect((await leaseTtl(etcd, stored!.lease)).granted).toBe(61);
  });

  test('HEALTHCHECKPERIOD=86400, the largest, is taken without a warning', async ({ made }) => {
    const id = await made.sleeper(['-e', 'HEALTHCHECK=true', '-e', 'HEALTHCHECKPERIOD=86400']);
    const monitor = made.monitor(monitorFlags(etcd, id));
    const started = await monitor.waitForLog((line) => line.periodSeconds !== undefined, {
      what: 'the line with the period',
    });
    expect(started).toMatchObject({ periodSeconds: 86400, ttlSeconds: 172801 });
    expect(monitor.lines.filter((line) => /HEALTHCHECKPERIOD/.test(line.msg))).toEqual([]);
  });
});
