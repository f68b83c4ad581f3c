// Bundles the tools' entries with esbuild, after `tsc -b` (it reads the compiled dist/ files),
// so Node reads and compiles one file per process instead of resolving and loading a few
// hundred modules: every `check`, and every monitor child of the listener, starts faster and
// smaller. What stays outside each bundle, loaded from node_modules at run time:
//   - unix-dgram: a native module (syslog), optional;
//   - docker-modem's ssh transport and dockerode's BuildKit session (ssh2, gRPC, protobuf):
//     checker never opens either, so each is replaced by a stand-in that requires the real
//     module only if it is ever called (the bundled form of core's load-dockerode.ts).
//
//   node scripts/bundle.mjs            all bundles

import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** One file per tool process; `out` is what its bin/*.js imports. */
export const BUNDLES = [
  // The listener's monitor children: no CLI layer, no etcd code.
  { entry: 'packages/core/dist/monitor-child.js', out: 'packages/monitor/dist/child.bundle.js' },
];

const deferred = [
  { importer: /docker-modem[/\\]lib[/\\]modem\.js$/, request: './ssh', real: 'docker-modem/lib/ssh' },
  { importer: /dockerode[/\\]lib[/\\]docker\.js$/, request: './session', real: 'dockerode/lib/session' },
];

/** See the header: modules replaced by a function that loads them on first call. */
const deferModules = {
  name: 'defer-modules',
  setup(build) {
    build.onResolve({ filter: /^\.\/(ssh|session)$/ }, (args) => {
      const match = deferred.find((d) => d.request === args.path && d.importer.test(args.importer));
      return match ? { path: match.real, namespace: 'deferred' } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'deferred' }, (args) => ({
      contents: `let real; module.exports = function deferred(...args) { real ??= require(${JSON.stringify(args.path)}); return real.apply(this, args); };`,
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
  for (const { entry, out } of BUNDLES) {
    await build({
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
      external: ['unix-dgram', 'docker-modem/lib/ssh', 'dockerode/lib/session'],
      plugins: [deferModules],
      // Smaller source, smaller heap: the bundle's text stays in every process's memory. The
      // source map (not loaded unless Node runs with --enable-source-maps) maps stack traces back.
      minify: true,
      sourcemap: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle();
