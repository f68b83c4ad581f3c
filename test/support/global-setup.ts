// vitest globalSetup of the integration project: the tests need the real Docker daemon, so a
// missing one is a failure with the fix in the message, never a skip; so is the native syslog
// addon built for another Node than the one running the tests. Then the busybox test image is
// built once for every worker.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildToolsIfMissing } from './cli.js';
import { docker, ensureTestImage } from './images.js';

/**
 * unix-dgram (optional: syslog on /dev/log) is compiled for one Node ABI. Installed under one
 * Node and run under another (Node 20 for development, 24 and 22 in CI), it fails to load and
 * every syslog assertion fails far from the cause. Not installed at all is the tools' own
 * fallback, tested as such.
 */
export function syslogAddonProblem(): string | undefined {
  try {
    createRequire(import.meta.url)('unix-dgram');
    return undefined;
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    if (error.code === 'MODULE_NOT_FOUND') return undefined;
    const prefix = dirname(dirname(process.execPath));
    // The host's npm config points node-gyp at /usr (Node 20's headers): name this Node's own.
    const nodedir = existsSync(join(prefix, 'include', 'node', 'node_version.h'))
      ? `npm_config_nodedir=${prefix} `
      : '';
    return (
      `node_modules/unix-dgram does not load in Node ${process.version} (${error.message.replace(/\s+/g, ' ')}): ` +
      `rebuild it for this Node with \`${nodedir}npm rebuild unix-dgram\` (run with this node first on PATH)`
    );
  }
}

export const DOCKER_UNREACHABLE =
  'Docker is not reachable at unix:///var/run/docker.sock: run `bash scripts/setup-host.sh` (as root) to install and start dockerd';

export default async function setup(): Promise<void> {
  const addon = syslogAddonProblem();
  if (addon) throw new Error(addon);
  let detail: string;
  try {
    const r = await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5_000 });
    if (r.code === 0) {
      await ensureTestImage();
      // The CLI tests spawn packages/*/bin/run.js. Returned, not awaited, so that a build
      // failure escapes the catch below and is not reported as "Docker is not reachable".
      return buildToolsIfMissing();
    }
    detail = r.timedOut ? '`docker version` timed out after 5 s' : r.stderr.trim();
  } catch (e) {
    detail = (e as Error).message; // no Docker CLI at all
  }
  throw new Error(DOCKER_UNREACHABLE, { cause: detail });
}
