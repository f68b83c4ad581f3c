#!/usr/bin/env node
// The `monitor` command. Everything it runs is one esbuild bundle, oclif included
// (dist/cli.bundle.js, made by scripts/bundle.mjs; a run reads more of it from dist/cli-chunks/),
// compiled through Node's compile cache where Node has one (22+): the cache must be on before
// the bundle is imported, hence the dynamic import.
import module from 'node:module';

module.enableCompileCache?.();
// oclif checks its own Node range with semver as it loads; this package states its range in
// package.json "engines", so the check is skipped (and semver is left out of the bundle).
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true';
const { main } = await import('../dist/cli.bundle.js');
await main(import.meta.url);
