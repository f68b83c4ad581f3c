#!/usr/bin/env node
import { execute } from '@oclif/core';
import { translateArgv } from '@checker/core/cli';
import Check from '../dist/index.js';

const names = new Set([...Object.keys(Check.flags), 'help', 'version']);
const booleans = new Set(Object.entries(Check.flags).filter(([, f]) => f.type === 'boolean').map(([n]) => n));
await execute({ dir: import.meta.url, args: translateArgv(process.argv.slice(2), names, booleans) });
