// The body of every bin/run.js: rewrite the original single-dash spellings, then let oclif
// run the tool's single command. The tools ship as one esbuild bundle each (scripts/bundle.mjs),
// oclif inside; what oclif would look for at start beyond the tool's own package.json is
// switched off here, because a tool never has any of it:
//   - user and dev plugins (oclif reads <data dir>/package.json, e.g.
//     ~/.local/share/check/package.json, and would load any plugin listed there);
//   - TypeScript sources (with NODE_ENV=development or test, as under vitest, oclif reads the
//     package's tsconfig.json and loads the typescript compiler to find them).
// The package is the one bin/run.js is in: its package.json is read here, once, so oclif does
// not look for it (walking up from the bin, then again through lilconfig).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, execute, settings } from '@oclif/core';
import { translateArgv } from './argv.js';

export async function runCli(binUrl: string, command: Pick<typeof Command, 'flags'>): Promise<void> {
  settings.enableAutoTranspile = false;
  const flags = Object.entries(command.flags ?? {});
  const names = new Set([...flags.map(([name]) => name), 'help', 'version']);
  const booleans = new Set(flags.filter(([, flag]) => flag.type === 'boolean').map(([name]) => name));
  const root = dirname(dirname(fileURLToPath(binUrl)));
  const pjson = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
  await execute({
    args: translateArgv(process.argv.slice(2), names, booleans),
    loadOptions: { root, pjson, userPlugins: false, devPlugins: false },
  });
}
