// The labels on check sidecars (SPEC §2): every tool ignores containers with `checker.sidecar=1`,
// and the listener's sweep reads the others to tell an orphaned sidecar from a live one.

export const SIDECAR_LABEL = 'checker.sidecar';
/** the full id of the container the sidecar checks */
export const SIDECAR_TARGET_LABEL = 'checker.target';
/** how long the sidecar's command may run, ms: a one-shot sidecar older than that is orphaned */
export const SIDECAR_TIMEOUT_LABEL = 'checker.timeout-ms';
/** `oneshot` (one check, then removed) or `idle` (a monitor's long-lived sidecar) */
export const SIDECAR_KIND_LABEL = 'checker.sidecar.kind';

/** idle sidecars: the target's StartedAt it was made for (a later start: a new namespace) */
export const SIDECAR_TARGET_STARTED_LABEL = 'checker.target.started';
/** idle sidecars: `listener` (its monitors') or `standalone` (a `monitor` run by hand) */
export const SIDECAR_OWNER_LABEL = 'checker.sidecar.owner';

export type SidecarKind = 'oneshot' | 'idle';

export function sidecarLabels(
  targetId: string,
  timeoutMs: number,
  kind: SidecarKind,
): Record<string, string> {
  return {
    [SIDECAR_LABEL]: '1',
    [SIDECAR_TARGET_LABEL]: targetId,
    [SIDECAR_TIMEOUT_LABEL]: String(Math.round(timeoutMs)),
    [SIDECAR_KIND_LABEL]: kind,
  };
}

/**
 * A suffix that keeps sidecar names apart (with the target's id and the process's pid).
 * Not node:crypto: loading it costs every `check` several ms, and a name needs no secrecy.
 */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
