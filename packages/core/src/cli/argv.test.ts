import { describe, expect, it } from 'vitest';
import { translateArgv } from './argv.js';

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
