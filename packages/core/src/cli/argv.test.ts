import { describe, expect, it } from 'vitest';
import { BadOption } from '../errors.js';
import { type FlagDefinition, translateArgv, withEnvironment } from './argv.js';
import { commonFlags, listenerOnlyFlags, registryFlags } from './flags.js';

const known = new Set(['etcd-host', 'loglevel', 'stdout', 'syslog', 'timeout', 'help', 'version']);
const booleans = new Set(['stdout', 'syslog']);

describe('translateArgv: the original single-dash spellings become oclif flags', () => {
  it.each([
    [
      ['-etcd-host=h:2379', 'web'],
      ['--etcd-host=h:2379', 'web'],
    ],
    [['-loglevel=DEBUG'], ['--loglevel=DEBUG']],
    [
      ['-loglevel', 'debug'],
      ['--loglevel', 'debug'],
    ],
    [['-stdout'], ['--stdout']],
    [['-stdout=false'], ['--no-stdout']],
    [['-stdout=true'], ['--stdout']],
    [['-syslog=0'], ['--no-syslog']],
    [['--syslog=false'], ['--no-syslog']],
    [['--stdout=TRUE'], ['--stdout']],
    [['-stdout=on'], ['--stdout']],
    [['-syslog=OFF'], ['--no-syslog']],
    [['-stdout=yes'], ['--stdout']],
    [['-stdout=no'], ['--no-stdout']],
    [['-stdout=maybe'], ['--stdout=maybe']],
    [['--no-stdout'], ['--no-stdout']],
    [
      ['--timeout', '3', 'web'],
      ['--timeout', '3', 'web'],
    ],
    [['-help'], ['--help']],
    [['-version'], ['--version']],
    [
      ['-x', 'web'],
      ['-x', 'web'],
    ],
    [['-unknown=1'], ['-unknown=1']],
    [
      ['web', '--', '-stdout'],
      ['web', '--', '-stdout'],
    ],
  ])('%j → %j', (input, output) => {
    expect(translateArgv(input, known, booleans)).toEqual(output);
  });
});

describe('withEnvironment: MON_* variables become flags, checked by the flag rules', () => {
  const flags = {
    ...commonFlags({ stdout: false, syslog: true }),
    ...registryFlags,
    ...listenerOnlyFlags,
  } as unknown as Record<string, FlagDefinition>;
  const merge = (argv: string[], env: Record<string, string>) => withEnvironment(argv, flags, env);

  it.each([
    [[], {}, []],
    [['web'], { MON_TIMEOUT: '3' }, ['--timeout=3', 'web']],
    [['web'], { MON_STDOUT: 'on', MON_SYSLOG: 'Off' }, ['--stdout', '--no-syslog', 'web']],
    [['web'], { MON_QUIET: 'no' }, ['--no-quiet', 'web']],
    [['web'], { MON_TIMEOUT: '' }, ['web']],
    [['--timeout', '5', 'web'], { MON_TIMEOUT: 'soon' }, ['--timeout', '5', 'web']],
    [['--timeout=5'], { MON_TIMEOUT: 'soon' }, ['--timeout=5']],
    [['--no-stdout'], { MON_STDOUT: 'maybe' }, ['--no-stdout']],
    [['--stdout=off'], { MON_STDOUT: 'maybe' }, ['--no-stdout']],
    // The value of an option is its next word, even one that looks like a flag.
    [['--etcd-prefix', '--stdout'], { MON_STDOUT: 'yes' }, ['--stdout', '--etcd-prefix', '--stdout']],
    [['web', '--', '--x'], { MON_WARM: '4' }, ['--warm=4', 'web', '--', '--x']],
    [['--', '--timeout=1'], { MON_TIMEOUT: '2' }, ['--timeout=2', '--', '--timeout=1']],
    [['--nope'], { MON_ETCD_HOST: 'e:2379' }, ['--etcd-host=e:2379', '--nope']],
    // In front: an option left without its value cannot take a variable's flag for it.
    [['web', '--timeout'], { MON_CONTROL: 'unix:///x' }, ['--control=unix:///x', 'web', '--timeout']],
    [[], { MON_NOTIFY: 'http://a/,https://b/' }, ['--notify=http://a/,https://b/']],
    [[], { OTHER: 'x', DOCKER_HOST: 'unix:///x' }, []],
  ])('%j with %j → %j', async (argv, env, merged) => {
    expect(await merge(argv, env)).toEqual(merged);
  });

  it.each([
    [
      [],
      { MON_STDOUT: 'maybe' },
      'MON_STDOUT: expected true/false, 1/0, yes/no or on/off (any case), got "maybe"',
    ],
    [
      ['--syslog=sometimes'],
      {},
      '--syslog: expected true/false, 1/0, yes/no or on/off (any case), got "sometimes"',
    ],
    [
      [],
      { MON_INTERVAL: '50' },
      'MON_INTERVAL: expected a whole number of milliseconds from 100 to 86400000, got "50"',
    ],
    [[], { MON_HOST_IP: 'nope' }, 'MON_HOST_IP: expected an IPv4 or IPv6 address, got "nope"'],
    [[], { MON_MODE: 'shell' }, 'MON_MODE: expected sidecar or exec, got "shell"'],
  ])('%j with %j is a BadOption: %s', async (argv, env, message) => {
    const error = await merge(argv, env).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadOption);
    expect((error as BadOption).message).toBe(message);
    expect((error as BadOption).exitStatus).toBe(2);
  });

  it('checks options with a fixed list of values', async () => {
    const listed = { color: { type: 'option', env: 'MON_COLOR', options: ['red', 'blue'] } } as const;
    await expect(withEnvironment([], listed, { MON_COLOR: 'blue' })).resolves.toEqual(['--color=blue']);
    await expect(withEnvironment([], listed, { MON_COLOR: 'green' })).rejects.toThrow(
      'MON_COLOR: expected one of red, blue, got "green"',
    );
  });
});
