// What a live Node process has loaded, for tests that must prove a process never loaded some
// module (a monitor child under the listener loads no etcd3 and no gRPC). /proc/<pid>/maps only
// lists native .node files, and Node has no API that lists the ES modules of another process,
// so the processes record it themselves: a preload script, passed in NODE_OPTIONS (which every
// node process reads from its environment, children forked with execArgv of their own too),
// appends to `<dir>/<pid>.modules` every CommonJS file compiled (Module.prototype.load: the
// files `require` loads and the CommonJS entries ES modules import) and every ES module loaded
// (a `load` hook registered with module.register). The test reads the file of the pid it cares
// about.
//
// A bundled file (esbuild) is one module to Node but many to its author: `withBundledSources`
// adds the sources a loaded file's source map (`<file>.map`) says it was built from, so a
// module compiled into a bundle counts as loaded too.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HOOK = `'use strict';
// Test-owned (test/support/module-log.ts): records every module this process loads.
const Module = require('node:module');
const { appendFileSync } = require('node:fs');
const { join } = require('node:path');
const dir = process.env.CHECKER_TEST_MODULE_LOG;
if (dir) {
  const note = (what) => {
    try { appendFileSync(join(dir, process.pid + '.modules'), what + '\\n'); } catch {}
  };
  const load = Module.prototype.load;
  Module.prototype.load = function (filename) {
    note(filename);
    return load.call(this, filename);
  };
  const hooks = [
    "import { appendFileSync } from 'node:fs';",
    'let file;',
    'export function initialize(data) { file = data.file; }',
    'export async function load(url, context, next) {',
    "  try { appendFileSync(file, url + '\\\\n'); } catch {}",
    '  return next(url, context);',
    '}',
  ].join('\\n');
  Module.register('data:text/javascript,' + encodeURIComponent(hooks), {
    data: { file: join(dir, process.pid + '.modules') },
  });
}
`;

export interface ModuleLog {
  /** where the `<pid>.modules` files go */
  dir: string;
  /** the environment a process needs to record its modules (NODE_OPTIONS and the directory) */
  env: Record<string, string>;
  /**
   * The modules `pid` has loaded so far, as file paths (ES modules' file: URLs converted),
   * without duplicates; [] when it recorded nothing.
   */
  modulesOf(pid: number): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function startModuleLog(): Promise<ModuleLog> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-modules-'));
  const hook = join(dir, 'record-modules.cjs');
  await writeFile(hook, HOOK);
  return {
    dir,
    env: { NODE_OPTIONS: `--require ${hook}`, CHECKER_TEST_MODULE_LOG: dir },
    async modulesOf(pid) {
      const text = await readFile(join(dir, `${pid}.modules`), 'utf8').catch(() => '');
      const paths = text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => (line.startsWith('file:') ? fileURLToPath(line) : line));
      return [...new Set(paths)];
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * `paths` plus, for each loaded file that has a source map beside it, the files the map lists
 * as its sources (resolved to absolute paths). Sources that are not files (a bundler's
 * stand-ins, named like `deferred:…`) are left out: their code is not in the bundle.
 */
export async function withBundledSources(paths: string[]): Promise<string[]> {
  const all = new Set(paths);
  for (const path of paths) {
    if (!path.endsWith('.js')) continue;
    const raw = await readFile(`${path}.map`, 'utf8').catch(() => undefined);
    if (raw === undefined) continue;
    const map = JSON.parse(raw) as { sources?: string[]; sourceRoot?: string };
    const root = resolve(dirname(path), map.sourceRoot ?? '');
    for (const source of map.sources ?? []) {
      if (/^[a-z][\w+.-]*:/i.test(source) && !source.startsWith('file:')) continue;
      all.add(source.startsWith('file:') ? fileURLToPath(source) : resolve(root, source));
    }
  }
  return [...all];
}
