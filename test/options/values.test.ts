// Option values as SPEC §5 bounds them, through the built tools: a value a flag does not take,
// on the command line or in its MON_* variable, is exit 2 and one line on stderr naming the flag
// or the variable and what is accepted; switch words in the environment are read as documented;
// the listener's --warm, --metrics and --notify exist with their variables.
// Docker is pointed at nothing: a value wrongly accepted shows as exit 5 (check) or as a tool
// still running at its kill (monitor, listener), never as the line expected here.
import { afterAll, describe, expect, it } from 'vitest';
import { killSpawnedTools, runTool, type Tool } from '../support/cli.js';

const NO_DOCKER = 'unix:///nonexistent.sock';
const SWITCH = 'expected true/false, 1/0, yes/no or on/off (any case)';
const METRICS =
  'expected <host>:<port>, the host an IP address (IPv6 in brackets) or a hostname and the port from 0 to 65535 (0: any free port)';
const NOTIFY = 'expected http:// or https:// URLs, separated by commas';

afterAll(killSpawnedTools);

async function run(tool: Tool, args: string[], env: Record<string, string> = {}) {
  return runTool(tool, args, {
    env: { MON_CONTROL: NO_DOCKER, MON_SYSLOG: 'false', ...env },
    timeoutMs: 15_000,
  });
}

type Case = [tool: Tool, args: string[], env: Record<string, string>, message: string];

describe.concurrent('a value out of its range, or not of its kind, is exit 2 naming the flag or the variable', () => {
  it.each<Case>([
    // switches: in the environment, and the original single-dash spelling
    ['check', ['web'], { MON_STDOUT: 'maybe' }, `MON_STDOUT: ${SWITCH}, got "maybe"`],
    ['check', ['web'], { MON_JSON: 'y' }, `MON_JSON: ${SWITCH}, got "y"`],
    ['monitor', ['web'], { MON_SYSLOG: 'enabled' }, `MON_SYSLOG: ${SWITCH}, got "enabled"`],
    ['listener', [], { MON_QUIET: '2' }, `MON_QUIET: ${SWITCH}, got "2"`],
    ['check', ['-stdout=maybe', 'web'], {}, `--stdout: ${SWITCH}, got "maybe"`],
    // Docker endpoints: --control, MON_CONTROL, or DOCKER_HOST, whichever gave the value
    [
      'check',
      ['web'],
      { MON_CONTROL: 'ftp://x' },
      'MON_CONTROL: expected unix:///path/to/docker.sock or tcp://host:port, got "ftp://x"',
    ],
    // etcd endpoints: the variable is named when the value came from it
    [
      'monitor',
      ['web'],
      { MON_ETCD_HOST: 'ftp://x' },
      'MON_ETCD_HOST: expected host:port, http://host:port or https://host:port, got "ftp://x"',
    ],
    [
      'listener',
      ['--etcd-host', 'a:port'],
      {},
      '--etcd-host: expected host:port, e.g. 127.0.0.1:2379, got "a:port"',
    ],
    ['listener', ['--quiet=sometimes'], {}, `--quiet: ${SWITCH}, got "sometimes"`],
    // numbers
    [
      'monitor',
      ['--period', '0.0001', 'web'],
      {},
      '--period: expected a number of seconds from 1 to 86400, got "0.0001"',
    ],
    [
      'monitor',
      ['web'],
      { MON_PERIOD: '3000000' },
      'MON_PERIOD: expected a number of seconds from 1 to 86400, got "3000000"',
    ],
    [
      'check',
      ['--timeout', '0', 'web'],
      {},
      '--timeout: expected a number of seconds from 0.1 to 3600, got "0"',
    ],
    [
      'check',
      ['web'],
      { MON_TIMEOUT: '3601' },
      'MON_TIMEOUT: expected a number of seconds from 0.1 to 3600, got "3601"',
    ],
    [
      'monitor',
      ['web'],
      { MON_TIMEOUT: 'soon' },
      'MON_TIMEOUT: expected a number of seconds from 0.1 to 3600, got "soon"',
    ],
    [
      'check',
      ['-wait=86401', 'web'],
      {},
      '--wait: expected a number of seconds from 0 to 86400, got "86401"',
    ],
    [
      'listener',
      ['--interval', '99'],
      {},
      '--interval: expected a whole number of milliseconds from 100 to 86400000, got "99"',
    ],
    [
      'listener',
      [],
      { MON_INTERVAL: '1e9' },
      'MON_INTERVAL: expected a whole number of milliseconds from 100 to 86400000, got "1e9"',
    ],
    ['listener', ['--retries', '101'], {}, '--retries: expected a whole number from 0 to 100, got "101"'],
    ['listener', ['--warm', '65'], {}, '--warm: expected a whole number from 0 to 64, got "65"'],
    ['listener', [], { MON_WARM: 'two' }, 'MON_WARM: expected a whole number from 0 to 64, got "two"'],
    // addresses and URLs
    ['monitor', ['--host-ip', 'nope', 'web'], {}, '--host-ip: expected an IPv4 or IPv6 address, got "nope"'],
    [
      'listener',
      [],
      { MON_HOST_IP: '10.0.0' },
      'MON_HOST_IP: expected an IPv4 or IPv6 address, got "10.0.0"',
    ],
    ['listener', ['--metrics', 'nope'], {}, `--metrics: ${METRICS}, got "nope"`],
    ['listener', [], { MON_METRICS: '127.0.0.1:65536' }, `MON_METRICS: ${METRICS}, got "127.0.0.1:65536"`],
    ['listener', ['--notify', 'http://127.0.0.1:1/,ftp://x/'], {}, `--notify: ${NOTIFY}, got "ftp://x/"`],
    ['listener', [], { MON_NOTIFY: 'hooks.example/x' }, `MON_NOTIFY: ${NOTIFY}, got "hooks.example/x"`],
    // choices
    ['check', ['web'], { MON_MODE: 'shell' }, 'MON_MODE: expected sidecar or exec, got "shell"'],
  ])('%s %j with %j', async (tool, args, env, message) => {
    const result = await run(tool, args, env);
    expect(result.stderr).toBe(`${tool}: ${message} (see ${tool} --help)\n`);
    expect(result.code).toBe(2);
  });
});

describe.concurrent('accepted values get past the options', () => {
  it('switch words in MON_* are read as documented: on/yes → JSON on stdout, off → the human line', async () => {
    // check's --json on an error prints the JSON object; without it, stdout stays empty.
    for (const [value, json] of [
      ['on', true],
      ['YES', true],
      ['1', true],
      ['off', false],
      ['No', false],
      ['0', false],
    ] as const) {
      const result = await run('check', ['web'], { MON_JSON: value });
      expect(result.code, `MON_JSON=${value}: ${result.stderr}`).toBe(5);
      if (json) expect(JSON.parse(result.stdout), `MON_JSON=${value}`).toMatchObject({ exitStatus: 5 });
      else expect(result.stdout, `MON_JSON=${value}`).toBe('');
    }
  });

  it('a flag overrides its variable, whose value is then not read', async () => {
    const result = await run('check', ['--no-json', '--timeout', '2', 'web'], {
      MON_JSON: 'maybe',
      MON_TIMEOUT: '0',
    });
    expect(result.code, result.stderr).toBe(5);
    expect(result.stdout).toBe('');
  });

  it.each<[Tool, string[], Record<string, string>]>([
    [
      'listener',
      [
        '--warm',
        '0',
        '--metrics',
        '127.0.0.1:0',
        '--notify',
        'http://127.0.0.1:1/hook,https://hooks.example/x',
      ],
      {},
    ],
    ['listener', [], { MON_WARM: '64', MON_METRICS: '[::1]:9100', MON_NOTIFY: 'http://127.0.0.1:1/hook' }],
    ['listener', ['--interval', '100', '--retries', '0', '--host-ip', '::1', '--quiet=on'], {}],
    ['monitor', ['--period', '86400', '--timeout', '0.1', 'web'], { MON_HOST_IP: '10.1.2.3' }],
  ])('%s takes %j with %j (and stops at the relative --control after them)', async (tool, args, env) => {
    const result = await run(tool, [...args, '--control', 'unix://relative.sock'], env);
    expect(result.stderr).toMatch(new RegExp(`^${tool}: .*absolute path`));
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.code).toBe(2);
  });

  it('a DOCKER_HOST of another kind is exit 2, naming DOCKER_HOST (not --control)', async () => {
    const result = await run('check', ['web'], { MON_CONTROL: '', DOCKER_HOST: 'ssh://h' });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd()).toBe(
      'check: DOCKER_HOST: expected unix:///path/to/docker.sock or tcp://host:port, got "ssh://h"',
    );
  });

  it('the listener --help lists --warm, --metrics and --notify with their variables and defaults', async () => {
    const result = await run('listener', ['--help']);
    expect(result.code).toBe(0);
    const help = result.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--warm=<n> \[default: 2, env: MON_WARM\]/);
    expect(help).toMatch(/--metrics=<host:port> \[env: MON_METRICS\]/);
    expect(help).toMatch(/--notify=<url\[,url…\]> \[env: MON_NOTIFY\]/);
  });

  it('--help and --version answer whatever the MON_* variables hold', async () => {
    const env = { MON_TIMEOUT: '0', MON_STDOUT: 'maybe' };
    const help = await run('check', ['--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/USAGE/);
    const version = await run('check', ['-version'], env);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/@checker\/check\/\d+\.\d+\.\d+/);
  });
});
