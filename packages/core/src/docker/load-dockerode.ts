// Loads dockerode with some of its modules deferred until first use. dockerode and docker-modem
// require, at load time, an SSH client (ssh2, for ssh:// Docker hosts, which --control does
// not accept), gRPC and protobuf (BuildKit sessions and build output, which checker never
// opens), and Node's https (with tls and crypto: Docker over TLS only): ~90 ms of every
// `check` and several MB of every monitor, for code that rarely or never runs. A stand-in that
// loads the real module when first called or read keeps dockerode whole. (The bundles do the
// same at build time: scripts/bundle.mjs.)
import { createRequire } from 'node:module';
import type DockerodeType from 'dockerode';

const require = createRequire(import.meta.url);

/** `parent file` → `request` pairs whose module may be loaded late. */
const DEFERRED: ReadonlyArray<{ parent: RegExp; request: string }> = [
  { parent: /[/\\]docker-modem[/\\]lib[/\\]modem\.js$/, request: './ssh' },
  { parent: /[/\\]dockerode[/\\]lib[/\\]docker\.js$/, request: './session' },
  { parent: /[/\\]dockerode[/\\]lib[/\\]docker\.js$/, request: './buildkit' },
  { parent: /[/\\]docker-modem[/\\]lib[/\\]http\.js$/, request: 'https' },
];

interface ModuleInternals {
  _load(request: string, parent: { filename?: string } | undefined, isMain: boolean): unknown;
  _resolveFilename(request: string, parent: unknown, isMain: boolean): string;
}

let loaded: typeof DockerodeType | undefined;

export function loadDockerode(): typeof DockerodeType {
  if (loaded) return loaded;
  const Module = require('node:module') as unknown as ModuleInternals;
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    const deferred = DEFERRED.some((d) => d.request === request && d.parent.test(parent?.filename ?? ''));
    if (!deferred) return load.call(this, request, parent, isMain);
    const filename = Module._resolveFilename(request, parent, isMain);
    let real: Record<string | symbol, unknown> | undefined;
    const loadReal = () => {
      real ??= require(filename) as Record<string | symbol, unknown>;
      return real;
    };
    // Called (a function export) or read (an object export): either loads the real module.
    return new Proxy(function deferredModule() {}, {
      apply: (_target, self, args) =>
        (loadReal() as unknown as (...a: unknown[]) => unknown).apply(self, args),
      get: (_target, key) => loadReal()[key],
    });
  };
  try {
    loaded = require('dockerode') as typeof DockerodeType;
  } finally {
    Module._load = load;
  }
  return loaded;
}
