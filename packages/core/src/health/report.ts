// How `check` prints a verdict: one human line, or one JSON object with --json.
import type { HealthResult } from './check-health.js';
import { exitStatusOfVerdict } from './check-health.js';

export function verdictJson(requested: string, result: HealthResult): string {
  return JSON.stringify({
    container: requested,
    id: result.container.id,
    name: result.container.name.replace(/^\//, ''),
    verdict: result.verdict,
    exitStatus: exitStatusOfVerdict(result.verdict),
    source: result.source,
    status: result.status,
    output: result.output,
    durationMs: result.durationMs,
  });
}

/** `web: healthy (env: exit 0, 43 ms)` */
export function verdictLine(requested: string, result: HealthResult): string {
  return `${requested}: ${result.verdict} (${result.source}: ${result.status}, ${result.durationMs} ms)`;
}
