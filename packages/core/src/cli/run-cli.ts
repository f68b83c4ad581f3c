// The body of every bin/run.js: rewrite the original single-dash spellings, then let oclif
// run the tool's single command.
import { type Command, execute } from '@oclif/core';
import { translateArgv } from './argv.js';

export async function runCli(binUrl: string, command: Pick<typeof Command, 'flags'>): Promise<void> {
  const flags = Object.entries(command.flags ?? {});
  const names = new Set([...flags.map(([name]) => name), 'help', 'version']);
  const booleans = new Set(flags.filter(([, flag]) => flag.type === 'boolean').map(([name]) => name));
  await execute({ dir: binUrl, args: translateArgv(process.argv.slice(2), names, booleans) });
}
