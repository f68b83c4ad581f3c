// docker-mon's cleanup policy through the real listener and the real daemon (SPEC §1 labels,
// §4): a container with mon.observe=1 mon.checks.cleanup=1 that exited with the expected code,
// and that Docker will not restart, is removed with its anonymous volumes, on its `die` event or
// on a sweep (exits missed while the listener was down). The --prefix is given here without its
// leading /. One listener and one etcd for the file; the scenarios run side by side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import { dockerOk, ensureTestImage, runContainer, TEST_IMAGE, waitFor } from '../support/images.js';
import {
  containerFacts,
  createContainer,
  isAction,
  isListening,
  type LogLine,
  labelArgs,
  type PolicyListener,
  removeAll,
  runExiting,
  startContainer,
  startPolicyListener,
  testPrefix,
  timeOf,
  volumeExists,
  volumesOf,
} from '../support/policy-listener.js';

const P = testPrefix();
const INTERVAL_MS = 2000;
const OBSERVE = 'mon.observe=1';
const CLEANUP = 'mon.checks.cleanup=1';

const name = (what: string) => `${P}${what}`;
const ids: string[] = [];
const volumes: string[] = [];
const id: Record<string, string> = {};

let etcd: TestEtcd | undefined;
let listener: PolicyListener | undefined;
let listening: LogLine | undefined;

/** The listener's DEBUG lines saying why it kept this container (not those about its monitor). */
const keptLines = (container: string) =>
  listener!.lines.filter(
    (l) =>
      l.tool === 'listener' &&
      l.level === 'DEBUG' &&
      l.id === id[container] &&
      l['key'] === undefined &&
      !/^(monitor |record drained)/.test(l.msg),
  );

/** The container is still there after the listener looked at it on its die event and two more sweeps. */
async function expectKept(container: string, reason: RegExp) {
  await waitFor(() => keptLines(container).length >= 3, {
    timeoutMs: 5 * INTERVAL_MS + 5_000,
    what: `three looks of the listener at ${container}`,
  });
  for (const line of keptLines(container)) expect(line.msg).toMatch(reason);
  expect((await containerFacts(id[container]!)).exists).toBe(true);
  expect(listener!.lines.filter(isAction('remove', id[container]!))).toEqual([]);
}

async function expectRemoved(container: string) {
  await waitFor(async () => !(await containerFacts(id[container]!)).exists, {
    timeoutMs: 15_000,
    what: `${container} to be removed`,
  });
  const notice = listener!.lines.find(isAction('remove', id[container]!));
  expect(notice, `a NOTICE remove line for ${container}`).toBeDefined();
  return notice!;
}

describe('cleanup policy: remove cleanly exited containers (listener, real Docker)', () => {
  beforeAll(async () => {
    await ensureTestImage();
    etcd = await startEtcd();

    // Exits before the listener runs: only a sweep can see it.
    id['missed'] = await runExiting(name('missed'), 0, [OBSERVE, CLEANUP]);
    ids.push(id['missed']);
    await dockerOk(['wait', id['missed']], { timeoutMs: 30_000 });

    listener = startPolicyListener([
      '--loglevel',
      'DEBUG',
      '--prefix',
      P,
      '--interval',
      String(INTERVAL_MS),
      '--etcd-host',
      etcd.hosts,
    ]);
    listening = await listener.waitForLine(isListening, { what: 'that it listens' });

    const exiting: [string, number, string[], string[]][] = [
      ['exit-0', 0, [OBSERVE, CLEANUP], []],
      ['exit-3-expected', 3, [OBSERVE, CLEANUP, 'mon.checks.cleanup.code=3'], []],
      ['exit-1', 1, [OBSERVE, CLEANUP], []],
      // Exit 1 is the expected code here, so only the restart policy keeps it.
      ['on-failure', 1, [OBSERVE, CLEANUP, 'mon.checks.cleanup.code=1'], ['--restart=on-failure']],
      ['always', 0, [OBSERVE, CLEANUP], ['--restart=always']],
      ['bad-code', 0, [OBSERVE, CLEANUP, 'mon.checks.cleanup.code=abc'], []],
    ];
    await Promise.all([
      ...exiting.map(async ([what, code, labels, extra]) => {
        id[what] = await runExiting(name(what), code, labels, extra);
        ids.push(id[what]);
      }),
      (async () => {
        // Created first, so its anonymous volume is known before it exits and goes.
        const made = await createContainer([
          '--name',
          name('with-volume'),
          ...labelArgs([OBSERVE, CLEANUP]),
          '-v',
          '/data',
          TEST_IMAGE,
          'sh',
          '-c',
          'echo kept > /data/file',
        ]);
        id['with-volume'] = made;
        ids.push(made);
        volumes.push(...(await volumesOf(made)));
        await startContainer(made);
      })(),
      (async () => {
        // Runs until `docker stop`, then exits 0.
        id['always-stopped'] = await runContainer([
          '--name',
          name('always-stopped'),
          ...labelArgs([OBSERVE, CLEANUP]),
          '--restart=always',
          TEST_IMAGE,
          'sh',
          '-c',
          'trap "exit 0" TERM; sleep 600 & wait',
        ]);
        ids.push(id['always-stopped']);
      })(),
      (async () => {
        // Contains the prefix, but does not start with it.
        id['outside'] = await runExiting(`zz-${P}outside`, 0, [OBSERVE, CLEANUP]);
        ids.push(id['outside']);
      })(),
    ]);
  });

  afterAll(async () => {
    await listener?.stop();
    await removeAll(ids, volumes);
    await etcd?.cleanup();
  });

  it('removes a container that exited 0, together with its anonymous volume', async () => {
    expect(volumes).toHaveLength(1);
    const notice = await expectRemoved('with-volume');
    expect(notice).toMatchObject({ container: name('with-volume'), action: 'remove', exitCode: 0 });
    await waitFor(async () => !(await volumeExists(volumes[0]!)), {
      timeoutMs: 10_000,
      what: `volume ${volumes[0]} to be removed`,
    });
  });

  it('removes a container that exited with its mon.checks.cleanup.code (3)', async () => {
    const notice = await expectRemoved('exit-3-expected');
    expect(notice).toMatchObject({ container: name('exit-3-expected'), exitCode: 3 });
  });

  it('keeps a container that exited 1 when the expected code is the default 0', async () => {
    await expectKept('exit-1', /exit code 1, expected 0/);
  });

  it('keeps a --restart=on-failure container exiting 1 while Docker restarts it', async () => {
    // Docker restarts it between exits, so a look may find it running; one finds it exited.
    await expectKept('on-failure', /restart|on-failure|running/);
    expect(keptLines('on-failure').some((line) => /restart|on-failure/.test(line.msg))).toBe(true);
    expect((await containerFacts(id['on-failure']!)).restartCount).toBeGreaterThan(0);
  });

  it('keeps a --restart=always container that exits 0', async () => {
    await expectKept('always', /restart|always|running/);
    expect((await containerFacts(id['always']!)).restartCount).toBeGreaterThan(0);
  });

  it('keeps a --restart=always container stopped by hand with exit 0 (Docker may start it again)', async () => {
    await dockerOk(['stop', '-t', '5', id['always-stopped']!], { timeoutMs: 30_000 });
    expect(await containerFacts(id['always-stopped']!)).toMatchObject({ status: 'exited', exitCode: 0 });
    await expectKept('always-stopped', /restart policy always/);
  });

  it('removes, on the first sweep after it starts, a container that exited while the listener was not running', async () => {
    const notice = await expectRemoved('missed');
    expect(notice).toMatchObject({ container: name('missed'), exitCode: 0 });
    // The first sweep runs right after the listener subscribes; the next one is INTERVAL_MS later.
    expect(timeOf(notice) - timeOf(listening!)).toBeLessThan(INTERVAL_MS - 500);
  });

  it('warns about an unparsable mon.checks.cleanup.code, naming container and label, and expects the default 0', async () => {
    const warning = await listener!.waitForLine(
      (l) => l.level === 'WARNING' && l.tool === 'listener' && l['label'] === 'mon.checks.cleanup.code',
      { what: 'a warning about mon.checks.cleanup.code' },
    );
    expect(warning).toMatchObject({ container: name('bad-code'), id: id['bad-code'], value: 'abc' });
    expect(warning.msg).toMatch(/mon\.checks\.cleanup\.code.*abc.*default 0/);
    await expectRemoved('bad-code');
  });

  it('--prefix given as pt-…- (no /): leaves an opted-in exited container whose name does not start with it alone', async () => {
    // As long as the listener took to keep the exit-1 container three times.
    await waitFor(() => keptLines('exit-1').length >= 3, { timeoutMs: 5 * INTERVAL_MS + 5_000 });
    expect((await containerFacts(id['outside']!)).status).toBe('exited');
    expect(listener!.lines.filter((l) => l.id === id['outside'] || l.container === id['outside'])).toEqual(
      [],
    );
  });
});
