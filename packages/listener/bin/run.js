#!/usr/bin/env node
// oclif checks its own Node range with semver as it loads (~18 ms of every start); this
// package states its range in package.json "engines", so the check is skipped.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true';
const { runCli } = await import('@checker/core/cli');
const { default: Listener } = await import('../dist/index.js');

await runCli(import.meta.url, Listener);
