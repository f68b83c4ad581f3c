#!/usr/bin/env node
import { runCli } from '@checker/core/cli';
import Monitor from '../dist/index.js';

await runCli(import.meta.url, Monitor);
