// Loads dockerode with two of its modules deferred until first use. dockerode and docker-modem
// require, at load time, an SSH client (ssh2, for ssh:// Docker hosts, which --control does
// not accept) and gRPC with protobuf (for BuildKit sessions, which checker never opens):
// ~75 ms of every `check` and several MB of every monitor, for code that never runs. Both are
// reached through one function each (docker-modem's `./ssh`, dockerode's `./session`), so a
// stand-in function that loads the real module when first called keeps dockerode whole.
import { createRequire } from 'node:module';
import type DockerodeType from 'dockerode';

const require = createRequire(import.meta.url);

/** `parent file` → `request` pairs whose export is a function that may be loaded late. */
const DEFERRED: ReadonlyArray<{ parent: RegExp; request: string }> = [
  { parent: /[/\\]docker-modem[/\\]lib[/\\]modem\.js$/, request: './ssh' },
  { parent: /[/\\]dockerode[/\\]lib[/\\]docker\.js$/, request: './session' },
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
    let real: ((...args: unknown[]) => unknown) | undefined;
    return function deferredModule(this: unknown, ...args: unknown[]) {
      real ??= require(filename) as (...args: unknown[]) => unknown;
      return real.apply(this, args);
    };
  };
  try {
    loaded = require('dockerode') as typeof DockerodeType;
  } finally {
    Module._load = load;
  }
  return loaded;
}
