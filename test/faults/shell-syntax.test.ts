// SPEC §1, a HEALTHCHECK holding shell syntax that direct execution cannot honour (issue 9):
// `wget -q -O /dev/null || exit 1`, Docker's own idiom, runs with `||`, `exit` and `1` as
// arguments to wget. It still runs as written, but the user is told, in one warning line that
// names the container and the fix (`sh -c '…'`): by `check` each time, by a monitor once, not
// every period.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { expectStatus } from '../check/fixtures.js';
import { delay, monitorFlags, test } from '../monitor/support.js';
import { buildToolsIfMissing, runTool } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { uniqueName } from '../support/images.js';

const IDIOM = 'wget -q -O /dev/null || exit 1';

let etcd: TestEtcd;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.cleanup();
});

/** The lines of a tool's output that talk about the fix. */
const fixLines = (text: string) => text.split('\n').filter((line) => line.includes('sh -c'));

describe.concurrent('HEALTHCHECK with unquoted shell syntax', () => {
  test('check: exit 1 as the command ran, and one warning line naming the container and the sh -c fix', async ({
    made,
  }) => {
    const name = uniqueName('faults-idiom');
    await made.sleeper(['--name', name, '-e', `HEALTHCHECK=${IDIOM}`]);

    // Log lines on stdout (check's default): the warning is one pino line for this container.
    const logged = await runTool('check', ['--timeout', '5', name], { timeoutMs: 50_000 });
    expectStatus(logged, 1);
    const lines = fixLines(logged.stdout + logged.stderr);
    expect(lines, logged.stdout + logged.stderr).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { level: string; container: string; msg: string };
    expect(line).toMatchObject({ level: 'WARNING', container: name });
    expect(line.msg).toContain('||');
    expect(line.msg).toContain("sh -c '…'");

    // Without log lines: the same warning, once, on stderr, still naming the container.
    const quiet = await runTool('check', ['--no-stdout', '--timeout', '5', name], { timeoutMs: 50_000 });
    expectStatus(quiet, 1);
    const stderrLines = fixLines(quiet.stdout + quiet.stderr);
    expect(stderrLines, quiet.stdout + quiet.stderr).toHaveLength(1);
    expect(stderrLines[0]).toMatch(new RegExp(`^check: ${name}: .*\\|\\|.*sh -c '…'`));
  });

  test('monitor: one warning over five periods, naming the container and the sh -c fix', async ({ made }) => {
    const name = uniqueName('faults-idiom-mon');
    const id = await made.sleeper(['--name', name, '-e', `HEALTHCHECK=${IDIOM}`]);
    const monitor = made.monitor(
      monitorFlags(etcd, '--period', '1', '--timeout', '5', '--loglevel', 'DEBUG', name),
    );
    await monitor.waitForLog((line) => line.msg === 'not healthy', { what: 'the first failed check' });
    await delay(5_000);
    const checks = monitor.lines.filter((line) => line.msg === 'checked');
    const warnings = monitor.lines.filter((line) => line.msg.includes('sh -c'));

    expect(monitor.running(), monitor.tail()).toBe(true);
    expect(warnings, monitor.tail(30)).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'WARNING', container: name });
    expect(warnings[0]!.msg).toContain('||');
    expect(warnings[0]!.msg).toContain("sh -c '…'");
    expect(JSON.stringify(warnings[0])).toContain(id);
    // It was not said once because there was only one check.
    expect(checks.length, monitor.tail(30)).toBeGreaterThanOrEqual(4);
  });
});
