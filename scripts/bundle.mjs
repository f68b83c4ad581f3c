// Bundles the tools' entries with esbuild, after `tsc -b` (it reads the compiled dist/ files),
// so Node reads and compiles one file per process instead of resolving and loading a few
// hundred modules: every `check`, and every monitor child of the listener, starts faster and
// smaller. What stays outside each bundle, loaded from node_modules at run time:
//   - unix-dgram: a native module (syslog), optional;
//   - docker-modem's ssh transport and dockerode's BuildKit session and output (ssh2, gRPC,
//     protobuf):
//     checker never opens either, so each is replaced by a stand-in that requires the real
//     module only if it is ever called (the bundled form of core's load-dockerode.ts).
//
// The tools' CLIs (check, monitor, listener) are bundles too, of another shape: see bundleCli.
//
//   node scripts/bundle.mjs            all bundles

import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** One file per tool process; `out` is what its bin/*.js imports. */
export const BUNDLES = [
  // The listener's monitor children: no CLI layer, no etcd code.
  { entry: 'packages/core/dist/monitor-child.js', out: 'packages/monitor/dist/child.bundle.js' },
  // Each tool's CLI: bin/run.js imports it, and it is oclif's command target (package.json).
  { tool: 'check', out: 'packages/check/dist/cli.bundle.js' },
  { tool: 'monitor', out: 'packages/monitor/dist/cli.bundle.js' },
  { tool: 'listener', out: 'packages/listener/dist/cli.bundle.js' },
];

const deferred = [
  { importer: /docker-modem[/\\]lib[/\\]modem\.js$/, request: './ssh', real: 'docker-modem/lib/ssh' },
  { importer: /dockerode[/\\]lib[/\\]docker\.js$/, request: './session', real: 'dockerode/lib/session' },
  // protobufjs, to decode BuildKit's build output: required inside followProgress only
  { importer: /dockerode[/\\]lib[/\\]docker\.js$/, request: './buildkit', real: 'dockerode/lib/buildkit' },
  // Node's https (tls, crypto), for Docker over TLS only
  { importer: /docker-modem[/\\]lib[/\\]http\.js$/, request: 'https', real: 'node:https' },
];

/** See the header: modules replaced by a function that loads them on first call. */
const deferModules = {
  name: 'defer-modules',
  setup(build) {
    build.onResolve({ filter: /^(\.\/(ssh|session|buildkit)|https)$/ }, (args) => {
      const match = deferred.find((d) => d.request === args.path && d.importer.test(args.importer));
      return match ? { path: match.real, namespace: 'deferred' } : undefined;
    });
    // A stand-in that loads the real module on first use, whether it is called (a function
    // export) or its properties are read (an object export).
    build.onLoad({ filter: /.*/, namespace: 'deferred' }, (args) => ({
      contents: `let real; const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy(function deferred() {}, {
  apply: (_target, self, args) => load().apply(self, args),
  get: (_target, key) => load()[key],
});`,
      loader: 'js',
    }));
    // docker-modem's debug logging (DEBUG=modem) is never used by checker; the `debug` package
    // reads the terminal's colours and the environment at load, in every process.
    build.onResolve({ filter: /^debug$/ }, (args) =>
      /docker-modem/.test(args.importer) ? { path: 'debug', namespace: 'no-debug' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'no-debug' }, () => ({
      contents: 'module.exports = () => { const log = () => {}; log.enabled = false; return log; };',
      loader: 'js',
    }));
    // In a bundle dockerode is bundled in: its loader needs none of the unbundled tricks.
    build.onLoad({ filter: /[/\\]docker[/\\]load-dockerode\.js$/ }, () => ({
      contents: `import Dockerode from 'dockerode'; export function loadDockerode() { return Dockerode; }`,
      loader: 'js',
      resolveDir: root,
    }));
  },
};

export async function bundle() {
  for (const { entry, out, tool } of BUNDLES) {
    if (tool) {
      await bundleCli(tool, out);
      continue;
    }
    const result = await build({
      entryPoints: [`${root}/${entry}`],
      outfile: `${root}/${out}`,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      // CommonJS inside an ESM bundle calls `require` for the modules left outside.
      banner: {
        js: "import { createRequire as __checkerRequire } from 'node:module'; const require = __checkerRequire(import.meta.url);",
      },
      external: ['unix-dgram', 'docker-modem/lib/ssh', 'dockerode/lib/session', 'dockerode/lib/buildkit'],
      plugins: [deferModules],
      // Smaller source, smaller heap: the bundle's text stays in every process's memory. The
      // source map (not loaded unless Node runs with --enable-source-maps) maps stack traces back.
      minify: true,
      sourcemap: true,
      legalComments: 'none',
      logLevel: 'warning',
      metafile: true,
    });
    // What each package adds to the bundle: bench:listener prints it with the boot profile.
    writeFileSync(`${root}/${out}.meta.json`, JSON.stringify(result.metafile));
  }
}

// ---------------------------------------------------------------- the tools' CLIs
//
// A CLI bundle holds oclif, the tool's command and the light part of @checker/core/cli: all that
// `--help`, `--version` and the parsing of a command line need, in one file. What a run needs
// besides is imported by the command when it runs (`await import('@checker/core/check')`): with
// code splitting that becomes a chunk under dist/cli-chunks/, read only by a run, never for
// `--help`. Outside every CLI bundle, loaded from node_modules by name when a run needs them:
//   - dockerode: loaded by core's load-dockerode.ts, which defers its SSH and BuildKit modules
//     (as the child bundle's stand-ins do); the tests' import hooks also recognise it by name
//     when they prove that --help and --version never load it (test/check/options.test.ts);
//   - etcd3 (monitor, listener): it reads its .proto files next to its own modules at load;
//   - unix-dgram: native, optional.
// They are @checker/core's dependencies, so they are looked up from where @checker/core is
// installed, as core's own modules did before bundling (see fromCore): `npm i -g` of the packed
// tarballs puts them under @checker/core/node_modules, out of reach of the tool's package.
// oclif carries modules for features these CLIs never use; each is replaced by a stand-in that
// throws if it is ever used (see oclifUnused), so they cost neither reading nor parsing.

/** `package` → the oclif module that requires it, for a feature the tools do not use. */
const oclifUnused = {
  // Finding TypeScript sources in development (off: runCli sets enableAutoTranspile false).
  typescript: /@oclif[/\\]core[/\\]lib[/\\]util[/\\]read-tsconfig\.js$/,
  // Command discovery by file pattern (the tools use the "single" strategy).
  tinyglobby: /@oclif[/\\]core[/\\]lib[/\\]config[/\\]plugin\.js$/,
  // Wildcards in plugin lists (the tools have no plugins).
  minimatch: /@oclif[/\\]core[/\\]lib[/\\]config[/\\]plugin-loader\.js$/,
  // ux.action spinners.
  'cli-spinners': /@oclif[/\\]core[/\\]lib[/\\]ux[/\\]action[/\\]spinner\.js$/,
  // oclif's check of its own Node range, skipped (OCLIF_DISABLE_ENGINE_WARNING, see bin/run.js).
  semver: /@oclif[/\\]core[/\\]lib[/\\]index\.js$/,
};

const leaveOutOclifUnused = {
  name: 'leave-out-oclif-unused',
  setup(build) {
    const names = Object.keys(oclifUnused).join('|');
    build.onResolve({ filter: new RegExp(`^(${names})$`) }, (args) =>
      oclifUnused[args.path].test(args.importer) ? { path: args.path, namespace: 'oclif-unused' } : undefined,
    );
    // Loading it is harmless (oclif requires these at its own load); using it is a bug here.
    build.onLoad({ filter: /.*/, namespace: 'oclif-unused' }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, key) {
        if (key === '__esModule' || typeof key === 'symbol') return undefined;
        throw new Error(${JSON.stringify(`${args.path} is left out of this bundle (scripts/bundle.mjs)`)});
      } });`,
      loader: 'js',
    }));
  },
};

/** @checker/core's dependencies, left out of the CLI bundles (see above). */
const CORE_EXTERNALS = ['dockerode', 'etcd3', 'unix-dgram'];

// Every output file of a CLI bundle starts with these: `require` for CommonJS code in the bundle
// (Node's built-in modules), and a require that resolves from @checker/core's installed place.
const CLI_BANNER = `import { createRequire as __checkerRequire } from 'node:module';
const require = __checkerRequire(import.meta.url);
const __checkerCoreUrl = () => import.meta.resolve('@checker/core');
const __checkerCoreRequire = (id) => __checkerRequire(__checkerCoreUrl())(id);`;

const fromCore = {
  name: 'externals-from-core',
  setup(build) {
    // `import { Etcd3 } from 'etcd3'` in core: a stand-in module that requires the real one by
    // name (CommonJS, as all three are), from core's place.
    build.onResolve({ filter: new RegExp(`^(${CORE_EXTERNALS.join('|')})$`) }, (args) => ({
      path: args.path,
      namespace: 'from-core',
    }));
    build.onLoad({ filter: /.*/, namespace: 'from-core' }, (args) => ({
      contents: `module.exports = __checkerCoreRequire(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
    // `createRequire(import.meta.url)` in core (load-dockerode.ts, syslog-stream.ts): in a bundle
    // import.meta.url is the bundle's file; core's own place is what those requires mean.
    build.onLoad({ filter: /[/\\]packages[/\\]core[/\\]dist[/\\].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      return { contents: text.replaceAll('import.meta.url', '__checkerCoreUrl()'), loader: 'js' };
    });
  },
};

// oclif requires some of Node's own modules at its load for one rarely taken path each; loading
// them costs every start a few ms (child_process brings net, dgram and more). Each is replaced,
// for that oclif module only, by a stand-in that loads the real one on first use.
/** `node:module` → the oclif module whose require of it is deferred */
const oclifDeferred = {
  // readline: reading an argument from stdin (no flag or argument of the tools takes stdin).
  'node:readline': /@oclif[/\\]core[/\\]lib[/\\]parser[/\\]parse\.js$/,
  // perf_hooks: oclif's performance marks (only with OCLIF_PERFORMANCE / debug).
  'node:perf_hooks': /@oclif[/\\]core[/\\]lib[/\\]performance\.js$/,
  // child_process: finding the shell on Windows.
  'node:child_process': /@oclif[/\\]core[/\\]lib[/\\]util[/\\]os\.js$/,
};
// Also from util/os.js: `await import('wsl-utils')` for its isWsl, the one thing needed off
// Windows; wsl-utils itself imports child_process for PowerShell. The stand-in takes isWsl from
// is-wsl (what wsl-utils re-exports), and the real module only when PowerShell is asked for.
const OCLIF_OS = /@oclif[/\\]core[/\\]lib[/\\]util[/\\]os\.js$/;

const deferOclifModules = {
  name: 'defer-oclif-modules',
  setup(build) {
    const names = Object.keys(oclifDeferred).join('|');
    build.onResolve({ filter: new RegExp(`^(${names})$`) }, (args) =>
      oclifDeferred[args.path].test(args.importer)
        ? { path: args.path, namespace: 'oclif-deferred' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'oclif-deferred' }, (args) => ({
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy({}, {
  get: (_, key) => (key === '__esModule' ? undefined : load()[key]),
  has: (_, key) => key in load(),
});`,
      loader: 'js',
    }));
    build.onResolve({ filter: /^wsl-utils$/ }, (args) =>
      OCLIF_OS.test(args.importer) ? { path: 'wsl-utils', namespace: 'wsl-utils-light' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'wsl-utils-light' }, () => ({
      contents: `export { default as isWsl } from 'is-wsl';
export const powerShellPath = async (...args) => (await import('wsl-utils')).powerShellPath(...args);`,
      loader: 'js',
      // Where wsl-utils is, so that is-wsl is the copy wsl-utils would use.
      resolveDir: dirname(
        createRequire(
          createRequire(`${root}/node_modules/@oclif/core/package.json`).resolve('@oclif/core'),
        ).resolve('wsl-utils'),
      ),
    }));
  },
};

// `import { randomBytes } from 'node:crypto'` in an ES module makes Node build the module's ES
// facade, which reads every export and so loads every lazy part of it (all of crypto's, fs's
// promises API, …): ~10 ms of a check for crypto alone. Required as CommonJS, the lazy parts stay
// unloaded until used; esbuild's interop then reads only the names the code uses, when it does.
const builtinsAsCommonJs = {
  name: 'builtins-as-commonjs',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'import-statement' ? { path: args.path, namespace: 'builtin-cjs' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin-cjs' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

async function bundleCli(tool, out) {
  const dist = `${root}/packages/${tool}/dist`;
  const result = await build({
    // oclif's "single" strategy imports its target and takes as the command the module itself
    // if it exports a `run` function, else its default export: hence `main`, not `run`.
    stdin: {
      contents: `import Command from './index.js';
import { runCli } from '@checker/core/cli';
export default Command;
export const main = (binUrl) => runCli(binUrl, Command);
`,
      resolveDir: dist,
      sourcefile: `${tool}-cli.js`,
      loader: 'js',
    },
    // Paths (and so chunk hashes) relative to the repository, whatever the working directory.
    absWorkingDir: resolve(root),
    outdir: dist,
    entryNames: out.slice(out.lastIndexOf('/') + 1).replace(/\.js$/, ''),
    chunkNames: 'cli-chunks/[name]-[hash]',
    splitting: true,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    banner: { js: CLI_BANNER },
    plugins: [fromCore, leaveOutOclifUnused, deferOclifModules, builtinsAsCommonJs],
    metafile: true,
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  // Chunk names carry a content hash: drop the previous build's, once the new ones are written
  // (a tool started just before keeps finding the chunks it was built with meanwhile).
  const written = new Set(Object.keys(result.metafile.outputs).map((file) => resolve(root, file)));
  const chunks = resolve(dist, 'cli-chunks');
  for (const name of readdirSync(chunks)) {
    if (!written.has(resolve(chunks, name))) rmSync(resolve(chunks, name));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle();
