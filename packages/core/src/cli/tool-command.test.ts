import { describe, expect, it } from 'vitest';
import { usageLine } from './tool-command.js';

describe('usageLine: oclif parse errors as one line', () => {
  it.each([
    [
      'Parsing --timeout \n\texpected a number of seconds from 0.1 to 3600, got "-1"\nSee more help with --help',
      '--timeout: expected a number of seconds from 0.1 to 3600, got "-1"',
    ],
    ['Flag --timeout expects a value', 'Flag --timeout expects a value'],
    ['Nonexistent flag: --nope\nSee more help with --help', 'Nonexistent flag: --nope'],
    ['Unexpected argument: db\nSee more help with --help', 'Unexpected argument: db'],
    [
      'Missing 1 required arg:\ncontainer  container name, id, or unique id prefix\nSee more help with --help',
      'Missing 1 required arg: container container name, id, or unique id prefix',
    ],
  ])('%j', (message, line) => {
    expect(usageLine(message)).toBe(line);
  });
});
