import { fileURLToPath } from 'node:url';
import { Errors } from '@oclif/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  checkOnlyFlags,
  commonFlags,
  envNameOf,
  listenerOnlyFlags,
  monitorOnlyFlags,
  parseIpAddress,
  parseMetricsAddress,
  parseMode,
  parseNotifyUrls,
  parseNumberIn,
  parseSwitch,
  RANGES,
  registryFlags,
} from './flags.js';
import { ToolCommand } from './tool-command.js';

/** Every flag of the three tools at once (their names do not collide). */
class Probe extends ToolCommand {
  static override flags = {
    ...commonFlags({ stdout: false, syslog: true }),
    ...registryFlags,
    ...checkOnlyFlags,
    ...monitorOnlyFlags,
    ...listenerOnlyFlags,
  };
  async run() {
    const { flags } = await this.parse(Probe);
    return flags;
  }
}

// Rooted at packages/core: left to find its own root, oclif starts from @oclif/core itself and
// warns about that package's dev plugins.
const root = fileURLToPath(new URL('../..', import.meta.url));
const parse = (argv: string[]) => Probe.run(argv, root) as unknown as Promise<Record<string, unknown>>;

/** Runs the probe to its usage error and returns the exit status and the line on stderr. */
async function usageError(argv: string[]): Promise<{ status: number | undefined; line: string }> {
  const written: string[] = [];
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const flags = await parse(argv);
    throw new Error(`expected a usage error, got flags ${JSON.stringify(flags)}`);
  } catch (error) {
    if (!(error instanceof Errors.ExitError)) throw error;
    return { status: error.oclif.exit, line: written.join('') };
  } finally {
    write.mockRestore();
  }
}

/** oclif's name for a CLI rooted at packages/core, which declares no bin */
const BIN = '@checker/core';
const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('option precedence: flag, then MON_* environment, then default', () => {
  it('maps flag names to MON_ variables', () => {
    expect(envNameOf('etcd-host')).toBe('MON_ETCD_HOST');
    expect(envNameOf('loglevel')).toBe('MON_LOGLEVEL');
    expect(envNameOf('host-ip')).toBe('MON_HOST_IP');
  });

  it('uses the default when neither is given', async () => {
    const flags = await parse([]);
    expect(flags).toMatchObject({
      'etcd-host': '127.0.0.1:2379',
      loglevel: 'INFO',
      mode: 'sidecar',
      stdout: false,
      syslog: true,
      timeout: 10,
      interval: 10_000,
      retries: 10,
      warm: 2,
      json: false,
      quiet: false,
    });
    expect(flags.metrics).toBeUndefined();
    expect(flags.notify).toBeUndefined();
    expect(flags.period).toBeUndefined();
  });

  it('takes the environment over the default', async () => {
    Object.assign(process.env, {
      MON_ETCD_HOST: 'etcd:2379',
      MON_LOGLEVEL: 'warning',
      MON_STDOUT: 'on',
      MON_SYSLOG: 'OFF',
      MON_JSON: 'Yes',
      MON_QUIET: '1',
      MON_TIMEOUT: '2.5',
      MON_WARM: '0',
      MON_METRICS: '127.0.0.1:0',
      MON_NOTIFY: 'http://a.example/hook,https://b.example:8443/x',
      MON_HOST_IP: '10.0.0.5',
      MON_MODE: 'exec',
    });
    expect(await parse([])).toMatchObject({
      'etcd-host': 'etcd:2379',
      loglevel: 'WARNING',
      stdout: true,
      syslog: false,
      json: true,
      quiet: true,
      timeout: 2.5,
      warm: 0,
      metrics: { host: '127.0.0.1', port: 0 },
      notify: ['http://a.example/hook', 'https://b.example:8443/x'],
      'host-ip': '10.0.0.5',
      mode: 'exec',
    });
  });

  it('counts an empty variable as unset', async () => {
    Object.assign(process.env, { MON_STDOUT: '', MON_TIMEOUT: '', MON_ETCD_HOST: '' });
    expect(await parse([])).toMatchObject({ stdout: false, timeout: 10, 'etcd-host': '127.0.0.1:2379' });
  });

  it('takes the flag over the environment, which is then not read at all', async () => {
    Object.assign(process.env, { MON_ETCD_HOST: 'etcd:2379', MON_STDOUT: 'maybe', MON_TIMEOUT: '0' });
    const flags = await parse(['--etcd-host', 'flag:2379', '--no-stdout', '--timeout=3']);
    expect(flags).toMatchObject({ 'etcd-host': 'flag:2379', stdout: false, timeout: 3 });
    process.env.MON_SYSLOG = 'true';
    expect(await parse(['--stdout', '--timeout', '3', '--syslog=off'])).toMatchObject({
      stdout: true,
      syslog: false,
    });
  });

  it('takes a switch given a value on the command line as a switch word', async () => {
    expect(await parse(['--json=on', '--quiet=FALSE', '--stdout=1'])).toMatchObject({
      json: true,
      quiet: false,
      stdout: true,
    });
  });
});

describe('a bad value is exit 2 and one line naming the flag, or the variable it came from', () => {
  const SWITCH = 'expected true/false, 1/0, yes/no or on/off (any case)';
  it.each([
    [['--timeout', '-1'], {}, `--timeout: expected a number of seconds from 0.1 to 3600, got "-1"`],
    [['--timeout', '0.05'], {}, `--timeout: expected a number of seconds from 0.1 to 3600, got "0.05"`],
    [[], { MON_TIMEOUT: 'soon' }, `MON_TIMEOUT: expected a number of seconds from 0.1 to 3600, got "soon"`],
    [['--period', '0.0001'], {}, `--period: expected a number of seconds from 1 to 86400, got "0.0001"`],
    [
      [],
      { MON_PERIOD: '3000000' },
      `MON_PERIOD: expected a number of seconds from 1 to 86400, got "3000000"`,
    ],
    [['--wait', '86401'], {}, `--wait: expected a number of seconds from 0 to 86400, got "86401"`],
    [
      [],
      { MON_INTERVAL: '99' },
      `MON_INTERVAL: expected a whole number of milliseconds from 100 to 86400000, got "99"`,
    ],
    [['--retries', '101'], {}, `--retries: expected a whole number from 0 to 100, got "101"`],
    [['--warm', '65'], {}, `--warm: expected a whole number from 0 to 64, got "65"`],
    [[], { MON_WARM: '1.5' }, `MON_WARM: expected a whole number from 0 to 64, got "1.5"`],
    [['--host-ip', 'nope'], {}, `--host-ip: expected an IPv4 or IPv6 address, got "nope"`],
    [[], { MON_HOST_IP: '10.0.0' }, `MON_HOST_IP: expected an IPv4 or IPv6 address, got "10.0.0"`],
    [[], { MON_STDOUT: 'maybe' }, `MON_STDOUT: ${SWITCH}, got "maybe"`],
    [[], { MON_SYSLOG: 'y' }, `MON_SYSLOG: ${SWITCH}, got "y"`],
    [[], { MON_JSON: 'enabled' }, `MON_JSON: ${SWITCH}, got "enabled"`],
    [[], { MON_QUIET: '2' }, `MON_QUIET: ${SWITCH}, got "2"`],
    [['--stdout=maybe'], {}, `--stdout: ${SWITCH}, got "maybe"`],
    [['--mode', 'shell'], {}, `--mode: expected sidecar or exec, got "shell"`],
    [[], { MON_MODE: 'shell' }, `MON_MODE: expected sidecar or exec, got "shell"`],
    [
      [],
      { MON_LOGLEVEL: 'LOUD' },
      `MON_LOGLEVEL: expected one of DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL (any case), got "LOUD"`,
    ],
    [
      ['--metrics', '127.0.0.1'],
      {},
      `--metrics: expected <host>:<port>, the host an IP address (IPv6 in brackets) or a hostname and the port from 0 to 65535 (0: any free port), got "127.0.0.1"`,
    ],
    [
      [],
      { MON_NOTIFY: 'http://ok.example/,ftp://files.example/' },
      `MON_NOTIFY: expected http:// or https:// URLs, separated by commas, got "ftp://files.example/"`,
    ],
  ])('%j with %j', async (argv, env, message) => {
    Object.assign(process.env, env);
    const { status, line } = await usageError(argv);
    expect(status).toBe(2);
    expect(line).toBe(`${BIN}: ${message} (see ${BIN} --help)\n`);
  });
});

describe('number ranges', () => {
  it.each([
    ['period', '1', 1],
    ['period', '86400', 86400],
    ['period', '2.5', 2.5],
    ['timeout', '0.1', 0.1],
    ['timeout', '.5', 0.5],
    ['timeout', ' 3600 ', 3600],
    ['wait', '0', 0],
    ['interval', '100', 100],
    ['interval', '86400000', 86_400_000],
    ['retries', '0', 0],
    ['warm', '64', 64],
  ] as const)('%s accepts %j', (flag, text, value) => {
    expect(parseNumberIn(RANGES[flag], text)).toBe(value);
  });

  it.each([
    ['period', '0'],
    ['period', '0.0001'],
    ['period', '86401'],
    ['period', '3000000'],
    ['timeout', '0'],
    ['timeout', '3600.1'],
    ['timeout', '1e3'],
    ['timeout', 'Infinity'],
    ['timeout', '0x10'],
    ['timeout', ''],
    ['timeout', '-1'],
    ['wait', '-0.5'],
    ['interval', '99'],
    ['interval', '100.5'],
    ['interval', '86400001'],
    ['retries', '101'],
    ['retries', '1.0'],
    ['warm', '65'],
    ['warm', 'two'],
  ] as const)('%s refuses %j', (flag, text) => {
    expect(() => parseNumberIn(RANGES[flag], text)).toThrow(
      `from ${RANGES[flag].min} to ${RANGES[flag].max}, got "${text}"`,
    );
  });
});

describe('switch words', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['On', true],
    ['false', false],
    ['0', false],
    ['NO', false],
    ['off', false],
  ])('%j → %s', (text, value) => {
    expect(parseSwitch(text)).toBe(value);
  });
  it.each([['maybe'], ['y'], ['n'], ['2'], ['enabled'], ['']])('%j is refused', (text) => {
    expect(() => parseSwitch(text)).toThrow(
      `expected true/false, 1/0, yes/no or on/off (any case), got "${text}"`,
    );
  });
});

describe('addresses, URLs and the mode', () => {
  it.each([['10.0.0.5'], ['::1'], ['fe80::1'], ['192.168.1.255']])('--host-ip %s', (ip) => {
    expect(parseIpAddress(ip)).toBe(ip);
  });
  it.each([['nope'], ['10.0.0'], ['256.1.1.1'], ['host.example'], ['']])('--host-ip %j is refused', (ip) => {
    expect(() => parseIpAddress(ip)).toThrow(`expected an IPv4 or IPv6 address, got "${ip}"`);
  });

  it.each([
    ['127.0.0.1:9100', { host: '127.0.0.1', port: 9100 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
    ['metrics-1.host.example:8080', { host: 'metrics-1.host.example', port: 8080 }],
    ['[::1]:9100', { host: '::1', port: 9100 }],
  ])('--metrics %s', (text, address) => {
    expect(parseMetricsAddress(text)).toEqual(address);
  });
  it.each([
    ['9100'],
    [':9100'],
    ['127.0.0.1'],
    ['127.0.0.1:65536'],
    ['127.0.0.1:-1'],
    ['127.0.0.1:http'],
    ['::1:9100'],
    ['[10.0.0.1]:9100'],
    ['bad_host:9100'],
    ['-host:9100'],
    ['http://127.0.0.1:9100'],
  ])('--metrics %j is refused', (text) => {
    expect(() => parseMetricsAddress(text)).toThrow(`port from 0 to 65535 (0: any free port), got "${text}"`);
  });

  it.each([
    ['http://127.0.0.1:8080/hook', ['http://127.0.0.1:8080/hook']],
    ['https://hooks.example/a, http://b.example', ['https://hooks.example/a', 'http://b.example/']],
    ['', []],
  ])('--notify %j', (text, urls) => {
    expect(parseNotifyUrls(text)).toEqual(urls);
  });
  it.each([
    ['ftp://files.example/', 'ftp://files.example/'],
    ['hooks.example/a', 'hooks.example/a'],
    ['http://a.example,,http://b.example', ''],
    ['http://', 'http://'],
  ])('--notify %j is refused, naming the bad entry', (text, entry) => {
    expect(() => parseNotifyUrls(text)).toThrow(
      `expected http:// or https:// URLs, separated by commas, got "${entry}"`,
    );
  });

  it('--mode takes sidecar or exec, any case', () => {
    expect(parseMode('exec')).toBe('exec');
    expect(parseMode('SIDECAR')).toBe('sidecar');
    expect(() => parseMode('shell')).toThrow('expected sidecar or exec, got "shell"');
  });
});
