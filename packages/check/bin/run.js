#!/usr/bin/env node
import { runCli } from '@checker/core/cli';
import Check from '../dist/index.js';

await runCli(import.meta.url, Check);
