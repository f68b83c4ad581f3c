// Which container `check` looks at (SPEC §2: a name, an id or a unique id prefix) and which
// address its HEALTHCHECK gets (the default bridge first, else the alphabetically first
// network, 127.0.0.1 for host networking and for no network at all). Every check here is a
// real probe: the target serves HTTP with busybox httpd and the check fetches from `$1`.
import { afterAll, describe, expect, it } from 'vitest';
import { killSpawnedTools } from '../support/cli.js';
import { docker, dockerOk, uniqueName, waitFor } from '../support/images.js';
import { check, checkJson, expectStatus, ipOn, Made } from './fixtures.js';

const made = new Made();
afterAll(async () => {
  await killSpawnedTools();
  await made.cleanup();
});

/** Prints the address it was given, then fetches a file from the target's httpd at that address. */
const WEB_CHECK = `sh -c 'echo "ip=$1"; timeout 3 wget -q -O /dev/null "http://$1:$PORT/etc/hostname"' --`;

/**
 * A target serving its own files with busybox httpd on `port` (8080 unless it shares the
 * host's ports), on the given network options; resolves once it answers.
 */
async function webTarget(options: string[], { port = 8080, healthcheck = WEB_CHECK } = {}): Promise<string> {
  const id = await made.container(
    [...options, '-e', `PORT=${port}`, '-e', `HEALTHCHECK=${healthcheck}`],
    ['httpd', '-f', '-p', String(port), '-h', '/'],
  );
  await waitFor(
    async () =>
      (
        await docker([
          'exec',
          id,
          'timeout',
          '2',
          'wget',
          '-q',
          '-O',
          '/dev/null',
          `http://127.0.0.1:${port}/etc/hostname`,
        ])
      ).code === 0,
    { timeoutMs: 15_000, intervalMs: 100, what: `httpd in ${id.slice(0, 12)} to answer` },
  );
  return id;
}

const randomOctet = () => 16 + Math.floor(Math.random() * 224);

describe.concurrent('the container named', () => {
  it('by a name that is a prefix of another name is that exact container', async () => {
    const web = uniqueName('web');
    await Promise.all([
      made.container(['--name', web, '-e', 'HEALTHCHECK=true']),
      made.container(['--name', `${web}2`, '-e', 'HEALTHCHECK=false']),
    ]);
    const exact = await checkJson([web]);
    expectStatus(exact.result, 0);
    expect(exact.verdict).toMatchObject({ container: web, name: web });
    const longer = await checkJson([`${web}2`]);
    expectStatus(longer.result, 1);
    expect(longer.verdict).toMatchObject({ container: `${web}2`, name: `${web}2` });
  });

  it('by only the start of a name is no such container (exit 3): names are not prefix-matched', async () => {
    const web = uniqueName('web');
    await made.container(['--name', `${web}-long`, '-e', 'HEALTHCHECK=true']);
    expectStatus(await check([web]), 3);
  });

  it('by a unique id prefix is that container', async () => {
    const id = await made.container(['-e', 'HEALTHCHECK=true']);
    const { result, verdict } = await checkJson([id.slice(0, 12)]);
    expectStatus(result, 0);
    expect(verdict).toMatchObject({ container: id.slice(0, 12), id });
  });
});

describe.concurrent('the address passed to the check', () => {
  it('is the address on the default bridge, where the target answers', async () => {
    const id = await webTarget([]);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.output).toBe(`ip=${await ipOn(id, 'bridge')}\n`);
  });

  it('is the address on a user-defined network when that is the only one', async () => {
    // A fixed address, so the check itself can insist on it.
    let network = '';
    let ip = '';
    for (let attempt = 0; !network; attempt++) {
      const [a, b] = [randomOctet(), randomOctet()];
      ip = `10.${a}.${b}.7`;
      try {
        network = uniqueName('check-net');
        await made.network(network, ['--subnet', `10.${a}.${b}.0/24`]);
      } catch (e) {
        network = '';
        if (attempt >= 4 || !/overlap/i.test((e as Error).message)) throw e;
      }
    }
    const id = await webTarget(['--network', network, '--ip', ip], {
      healthcheck: `sh -c 'test "$1" = ${ip} && timeout 3 wget -q -O /dev/null "http://$1:8080/etc/hostname"' --`,
    });
    expect(await ipOn(id, network)).toBe(ip);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict).toMatchObject({ verdict: 'healthy', status: 'exit 0' });
  });

  it('is the bridge address when the target is also on another network', async () => {
    const network = uniqueName('check-net');
    await made.network(network);
    const id = await webTarget([]);
    await dockerOk(['network', 'connect', network, id]);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.output).toBe(`ip=${await ipOn(id, 'bridge')}\n`);
  });

  it('is the address on the alphabetically first network when the target is not on the bridge', async () => {
    const base = uniqueName('check-net');
    await made.network(`${base}-b`);
    await made.network(`${base}-a`);
    const id = await webTarget(['--network', `${base}-b`]);
    await dockerOk(['network', 'connect', `${base}-a`, id]);
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.output).toBe(`ip=${await ipOn(id, `${base}-a`)}\n`);
  });

  it('is 127.0.0.1 with --network host, where the target answers', async () => {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const id = await webTarget(['--network', 'host'], { port });
    const { result, verdict } = await checkJson([id]);
    expectStatus(result, 0);
    expect(verdict.output).toBe('ip=127.0.0.1\n');
  });

  it('is 127.0.0.1 with --network none, where the target answers on its loopback', async () => {
    const id = await webTarget(['--network', 'none']);
    for (const mode of ['sidecar', 'exec']) {
      const { result, verdict } = await checkJson(['--mode', mode, id]);
      expectStatus(result, 0);
      expect(verdict.output).toBe('ip=127.0.0.1\n');
    }
  });
});
