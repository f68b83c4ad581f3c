#!/usr/bin/env node
import { runCli } from '@checker/core/cli';
import Listener from '../dist/index.js';

await runCli(import.meta.url, Listener);
