// vitest globalSetup of the integration project: the tests need the real Docker daemon, so a
// missing one is a failure with the fix in the message, never a skip; then the busybox test
// image is built once for every worker.
import { buildToolsIfMissing } from './cli.js';
import { docker, ensureTestImage } from './images.js';

export const DOCKER_UNREACHABLE =
  'Docker is not reachable at unix:///var/run/docker.sock: run `bash scripts/setup-host.sh` (as root) to install and start dockerd';

export default async function setup(): Promise<void> {
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
