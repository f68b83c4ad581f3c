// SPEC §6, "a sidecar left running (its owner killed, its removal failed) → removed by the
// listener's sweep once older than its timeout" (issue 9: the sweep removed exited sidecars
// only, so a running one whose `check` was SIGKILLed stayed forever). A check with a hung
// command (`sleep 600` in sh) and --timeout 2 is SIGKILLed while its sidecar runs; a listener
// with a short orphan margin (CHECKER_ORPHAN_SIDECAR_AFTER_MS) must remove that sidecar once it
// is older than timeout + margin, and not before — nor a live check's sidecar still within
// its own timeout.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shCheck, sidecarsOf } from '../check/fixtures.js';
import { listenerFor, tail } from '../listener/support.js';
import { buildToolsIfMissing, killSpawnedTools, spawnTool } from '../support/cli.js';
import { startEtcd, type TestEtcd } from '../support/etcd.js';
import {
  dockerOk,
  removeContainers,
  runContainer,
  TEST_IMAGE,
  uniqueName,
  waitFor,
} from '../support/images.js';
import type { ListenerProcess } from '../support/listener-process.js';

const CHECK_TIMEOUT_S = 2;
const MARGIN_MS = 3_000;
const SWEEP_MS = 1_000;

let etcd: TestEtcd;
const made: string[] = [];
let listener: ListenerProcess | undefined;

beforeAll(async () => {
  await buildToolsIfMissing();
  etcd = await startEtcd();
});

afterEach(async () => {
  await listener?.dispose();
  await killSpawnedTools();
});

afterAll(async () => {
  // The sidecars first: a test that failed may have left them, and they name their target.
  for (const id of made) await removeContainers(await sidecarsOf(id).catch(() => []));
  await removeContainers(made);
  await etcd?.cleanup();
});

const createdAt = async (id: string) =>
  Date.parse(await dockerOk(['inspect', '--format', '{{.Created}}', id]));

/** Starts `check` on the target and resolves with its sidecar once that runs. */
async function checkWithRunningSidecar(target: string, timeoutSeconds: number) {
  const known = new Set(await sidecarsOf(target));
  const tool = spawnTool('check', ['--timeout', String(timeoutSeconds), target], { timeoutMs: 120_000 });
  const sidecar = await waitFor(
    async () => {
      for (const id of await sidecarsOf(target)) {
        if (known.has(id)) continue;
        if ((await dockerOk(['inspect', '--format', '{{.State.Running}}', id])) === 'true') return id;
      }
      return undefined;
    },
    { timeoutMs: 20_000, what: `a running sidecar of ${target.slice(0, 12)}` },
  );
  return { tool, sidecar };
}

describe('listener sweep: a one-shot sidecar whose check was SIGKILLed', () => {
  it('is removed once older than its timeout + margin; a live check’s sidecar is left alone', async () => {
    const target = await runContainer([
      '--name',
      uniqueName('faults-orphan'),
      '-e',
      `HEALTHCHECK=${shCheck('sleep 600')}`,
      TEST_IMAGE,
      'sleep',
      '600',
    ]);
    made.push(target);

    // A --prefix no container has: the listener watches nothing but still sweeps sidecars.
    listener = listenerFor({
      etcd,
      prefix: `${uniqueName('faults-none')}-`,
      args: ['--interval', String(SWEEP_MS)],
      env: { CHECKER_ORPHAN_SIDECAR_AFTER_MS: String(MARGIN_MS) },
    });
    await listener.tool.waitForOutput(/listening to Docker events/, { timeoutMs: 30_000 });
    const orphaned = await checkWithRunningSidecar(target, CHECK_TIMEOUT_S);
    orphaned.tool.child.kill('SIGKILL');
    await orphaned.tool.exited;
    const orphanCreated = await createdAt(orphaned.sidecar);

    // A live check whose sidecar is well within its timeout while the orphan's time comes.
    const live = await checkWithRunningSidecar(target, 60);

    const due = orphanCreated + CHECK_TIMEOUT_S * 1000 + MARGIN_MS;
    const removedAt = await waitFor(
      async () => {
        const left = await sidecarsOf(target);
        return left.includes(orphaned.sidecar) ? undefined : Date.now();
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `the orphaned sidecar ${orphaned.sidecar.slice(0, 12)} to be removed`,
      },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${tail(listener!)}`);
    });
    console.log(
      `orphaned sidecar removed ${removedAt - orphanCreated} ms after it was created, ${removedAt - due} ms after it was due (timeout ${CHECK_TIMEOUT_S} s + margin ${MARGIN_MS} ms; sweeps every ${SWEEP_MS} ms)`,
    );

    // The listener swept all along: not before the sidecar was older than timeout + margin
    // (Docker lists creation to the second), and by the first sweep after that.
    expect(removedAt).toBeGreaterThanOrEqual(due - 1_000);
    expect(removedAt).toBeLessThanOrEqual(due + SWEEP_MS + 2_000);
    expect(listener.output()).toContain(orphaned.sidecar);
    expect(listener.output()).toMatch(/removed an orphaned check sidecar/);
    // The live check's sidecar is still there, and still its owner's to remove.
    expect(await sidecarsOf(target)).toEqual([live.sidecar]);
    live.tool.child.kill('SIGTERM');
    await live.tool.exited;
    expect(await sidecarsOf(target)).toEqual([]);
  }, 90_000);
});
