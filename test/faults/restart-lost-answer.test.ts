// SPEC §4, "a call that may have taken effect (a restart whose answer was lost) is looked up
// before it is repeated" (issue 9: a restart retried after a lost answer could restart twice).
// A Docker proxy of the test's own passes every POST /containers/<id>/restart on to Docker and
// cuts the listener's connection once Docker has answered, so the restart happened but the
// listener only sees its connection reset. A container opted into the health policy
// (mon.observe=1, mon.checks.health=1) fails Docker's own health check every second, so the
// listener decides to restart it at once and again after its backoff: each decision must give
// exactly one restart, counted from Docker's own `restart` events. And a listener stopped while
// such a retry waits ends cleanly: its policy action is cut short, which is not an error.
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { buildToolsIfMissing } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { type FaultProxy, pass, startFaultProxy } from '../support/fault-proxy.js';
import { removeContainers, runContainer, TEST_IMAGE, waitFor } from '../support/images.js';
import {
  type DockerEventRecorder,
  isAction,
  isListening,
  type PolicyListener,
  recordDockerEvents,
  startPolicyListener,
  testPrefix,
} from '../support/policy-listener.js';

const P = testPrefix();

let etcd: TestEtcd;
let proxy: FaultProxy;
let listener: PolicyListener | undefined;
let events: DockerEventRecorder | undefined;
const containers: string[] = [];
/** the container whose inspects the proxy holds back once a restart of it lost its answer */
let slowLookupOf: string | undefined;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
  proxy = await startFaultProxy((method, path) => {
    if (method === 'POST' && /^\/containers\/[^/]+\/restart/.test(path)) return { kind: 'lose-answer' };
    // Once its restart's answer was lost, the lookup before a retry is slow: a stop then comes
    // while the retry is under way, whatever the host's load.
    const slow = slowLookupOf;
    if (
      slow !== undefined &&
      method === 'GET' &&
      path.startsWith(`/containers/${slow}/json`) &&
      proxy.requests.some((r) => r.action === 'lose-answer' && r.path.includes(slow))
    )
      return { kind: 'delay', ms: 2_000 };
    return pass;
  });
  events = recordDockerEvents(`checker.faults-test=${P}`);
});

afterEach(async () => {
  await listener?.stop();
});

afterAll(async () => {
  await events?.stop();
  await removeContainers(containers);
  await proxy?.close();
  await etcd?.cleanup();
});

/**
 * A listener through the proxy for the containers named `<P><name>`, and such a container, opted
 * into the health policy, that Docker finds unhealthy within a second or two.
 */
async function listenerAndUnhealthyContainer(name: string) {
  const l = startPolicyListener([
    '--control',
    proxy.control,
    '--loglevel',
    'DEBUG',
    '--prefix',
    `${P}${name}`,
    '--interval',
    '1000',
    '--mode',
    'exec',
    '--etcd-host',
    etcd.hosts,
  ]);
  listener = l;
  let id = '';
  onTestFailed(() =>
    console.error(
      `--- listener lines about the container ---\n${l.lines
        .filter((line) => line.tool === 'listener' && line.id === id)
        .map((line) => JSON.stringify(line))
        .join('\n')}`,
    ),
  );
  await l.waitForLine(isListening, { what: 'that it listens' });
  id = await runContainer([
    '--name',
    `${P}${name}`,
    '--label',
    `checker.faults-test=${P}`,
    '--label',
    'mon.observe=1',
    '--label',
    'mon.checks.health=1',
    '--label',
    'mon.checks.health.timeout=1000',
    '--health-cmd',
    'false',
    '--health-interval',
    '1s',
    '--health-retries',
    '1',
    TEST_IMAGE,
    'sleep',
    '600',
  ]);
  containers.push(id);
  const restartCalls = () =>
    proxy.requests.filter((r) => r.method === 'POST' && r.path.includes(`/containers/${id}/restart`));
  return {
    l,
    id,
    decisions: () => l.lines.filter(isAction('restart', id)),
    restartCalls,
    /** restarts Docker answered, the answer cut off before the listener */
    lost: () => restartCalls().filter((r) => r.answeredAt !== undefined),
    /** the listener took the cut connection for a failed call and went to retry it */
    retried: () =>
      l.lines.filter(
        (line) =>
          line.id === id &&
          line.msg === 'Docker call failed; retrying' &&
          /^restart /.test(String(line['call'])),
      ),
  };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('health policy: a restart whose answer is lost', () => {
  it('is looked up, not repeated: one Docker restart per restart decision', async () => {
    const { l, id, decisions, restartCalls, lost, retried } = await listenerAndUnhealthyContainer('twice');
    // The first restart at once, the second after the 10 s backoff, each answer lost and its
    // retry under way. (A listener that repeats restarts never gets there: the test goes on to
    // count what it did.)
    await waitFor(() => decisions().length >= 2 && lost().length >= 2 && retried().length >= 2, {
      timeoutMs: 40_000,
      what: 'two restart decisions, each with its answer lost and a retry',
    }).catch(() => undefined);
    // Time for a retry to look (or, wrongly, restart again), then no more decisions: stopped,
    // the listener leaves alone what Docker is doing.
    await delay(3_000);
    await l.stop();
    await delay(3_000);
    const restarts = events!.of(id, ['restart']);
    console.log(
      `restart decisions: ${decisions().length}; restart calls: ${restartCalls().length} (answers lost: ${lost().length}); retries logged: ${retried().length}; Docker restart events: ${restarts.length}`,
    );
    expect(restarts).toHaveLength(decisions().length);
    expect(restartCalls()).toHaveLength(decisions().length);
    // The fault happened for both decisions: Docker answered each restart, the listener never
    // got the answer, and went to retry.
    expect(decisions().length).toBeGreaterThanOrEqual(2);
    expect(lost().length).toBeGreaterThanOrEqual(2);
    expect(retried().length).toBeGreaterThanOrEqual(lost().length);
    expect(l.lines.filter((line) => line.level === 'ERROR')).toEqual([]);
  }, 90_000);

  it('a listener stopped while that retry waits exits 0 without an error line', async () => {
    const { l, id, retried } = await listenerAndUnhealthyContainer('stopped');
    slowLookupOf = id;
    await waitFor(() => retried().length >= 1, { timeoutMs: 30_000, what: 'the retry of a lost restart' });
    // The retry waits its backoff (250 ms), then looks the container up (held 2 s): stopped meanwhile.
    const result = await l.stop();
    const errors = l.lines.filter((line) => line.level === 'ERROR' || line.level === 'CRITICAL');
    expect(result.code, result.stderr).toBe(0);
    expect(errors.map((line) => line.msg)).toEqual([]);
  }, 60_000);
});
