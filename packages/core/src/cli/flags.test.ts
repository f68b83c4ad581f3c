import { fileURLToPath } from 'node:url';
import { Command } from '@oclif/core';
import { afterEach, describe, expect, it } from 'vitest';
import { commonFlags, envNameOf, registryFlags } from './flags.js';

class Probe extends Command {
  static override flags = { ...commonFlags({ stdout: false, syslog: true }), ...registryFlags };
  async run() {
    const { flags } = await this.parse(Probe);
    return flags;
  }
}

// Rooted at packages/core: left to find its own root, oclif starts from @oclif/core itself and
// warns about that package's dev plugins.
const root = fileURLToPath(new URL('../..', import.meta.url));
const parse = (argv: string[]) => Probe.run(argv, root) as unknown as Promise<Record<string, unknown>>;
const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('option precedence: flag, then MON_* environment, then default', () => {
  it('maps flag names to MON_ variables', () => {
    expect(envNameOf('etcd-host')).toBe('MON_ETCD_HOST');
    expect(envNameOf('loglevel')).toBe('MON_LOGLEVEL');
  });

  it('uses the default when neither is given', async () => {
    const flags = await parse([]);
    expect(flags['etcd-host']).toBe('127.0.0.1:2379');
    expect(flags.loglevel).toBe('INFO');
    expect(flags.stdout).toBe(false);
    expect(flags.syslog).toBe(true);
    expect(flags.timeout).toBe(10);
  });

  it('takes the environment over the default', async () => {
    process.env.MON_ETCD_HOST = 'etcd:2379';
    process.env.MON_LOGLEVEL = 'warning';
    process.env.MON_STDOUT = 'true';
    process.env.MON_SYSLOG = 'false';
    const flags = await parse([]);
    expect(flags['etcd-host']).toBe('etcd:2379');
    expect(flags.loglevel).toBe('WARNING');
    expect(flags.stdout).toBe(true);
    expect(flags.syslog).toBe(false);
  });

  it('takes the flag over the environment', async () => {
    process.env.MON_ETCD_HOST = 'etcd:2379';
    process.env.MON_STDOUT = 'true';
    const flags = await parse(['--etcd-host', 'flag:2379', '--no-stdout']);
    expect(flags['etcd-host']).toBe('flag:2379');
    expect(flags.stdout).toBe(false);
  });

  it('rejects bad values with a message naming the accepted ones', async () => {
    await expect(parse(['--loglevel', 'LOUD'])).rejects.toThrow(
      /DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL/,
    );
    await expect(parse(['--timeout', '-1'])).rejects.toThrow(/positive number of seconds/);
    process.env.MON_TIMEOUT = 'soon';
    await expect(parse([])).rejects.toThrow(/positive number of seconds/);
  });
});
