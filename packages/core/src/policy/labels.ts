// The docker-mon labels (SPEC §1): which policies a container opts into, and their parameters.
// Pure: labels in, settings plus warnings out. The caller logs each warning naming the container;
// a label that does not parse never stops the policies, its default applies.

export const PolicyLabel = {
  observe: 'mon.observe',
  health: 'mon.checks.health',
  healthTimeout: 'mon.checks.health.timeout',
  healthGrace: 'mon.checks.health.grace',
  healthLimit: 'mon.checks.health.limit',
  cleanup: 'mon.checks.cleanup',
  cleanupCode: 'mon.checks.cleanup.code',
  network: 'mon.checks.network',
} as const;

export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_CLEANUP_EXIT_CODE = 0;
/**
 * The longest grace accepted, one day (the HEALTHCHECKPERIOD ceiling, SPEC §1): longer is not a
 * grace but the policy switched off, and the listener arms a timer for the end of the grace,
 * which Node cannot do past 24.8 days (a larger delay fires at once).
 */
export const MAX_HEALTH_GRACE_SECONDS = 86_400;

/** Labels in docker-mon's namespace: a key here that is not a PolicyLabel is a typo. */
const NAMESPACE = 'mon.checks.';
const KNOWN = new Set<string>(Object.values(PolicyLabel));

export interface LabelWarning {
  label: string;
  value: string;
  /** Names the label, its value and the accepted values; the caller adds the container. */
  message: string;
}

export interface PolicyLabels {
  observe: boolean;
  health: {
    enabled: boolean;
    stopTimeoutMs: number;
    /** `mon.checks.health.grace` in ms; 0 = restart as soon as Docker reports unhealthy. */
    graceMs: number;
    /** `mon.checks.health.limit`: health restarts allowed in any hour; undefined = no limit. */
    limit: number | undefined;
  };
  cleanup: { enabled: boolean; exitCode: number };
  /** `mon.checks.network=1`: restart it when the container whose network it shares restarts. */
  network: { enabled: boolean };
  /** One per label whose value did not parse (its default was used instead). */
  warnings: LabelWarning[];
}

/**
 * Reads the policy labels of one container. Absent labels take their defaults silently.
 *
 * - Switches (`mon.observe`, `mon.checks.health`, `mon.checks.cleanup`, `mon.checks.network`):
 *   `1` or `true` turn on; `0`, `false` or an empty value turn off (any case, surrounding spaces
 *   ignored). docker-mon only knew `1`, but an operator writing `=true` means on, and reading it
 *   as off would silently disable the policy. Anything else (`yes`, `on`) is a warning, and the
 *   switch stays off: an unreadable opt-in must not restart or remove anything.
 * - `mon.checks.health.timeout`: a non-negative integer number of milliseconds.
 * - `mon.checks.health.grace`: an integer number of seconds, 0 to 86400.
 * - `mon.checks.health.limit`: an integer ≥ 1 (restarts in any hour); 0 is a warning rather
 *   than "never restart", which is what `mon.checks.health=0` says.
 * - `mon.checks.cleanup.code`: an integer 0..255, the range of a process exit status.
 * - An empty numeric value counts as not set (default, no warning), like an empty switch and
 *   like `-e HEALTHCHECK=` (SPEC §1): `--label x=` is how one clears an image's label.
 * - Any other `mon.checks.*` key is a warning naming the known ones: docker-mon's namespace
 *   holds only these, so `mon.checks.heath=1` is a typo that would otherwise do nothing quietly.
 *
 * Warnings are reported for every label present, even when the container has not opted in
 * (`mon.observe=yes` is exactly that case), so a typo is visible before it matters. The caller
 * should parse the labels of every container for which `hasPolicyLabels` is true, before it
 * filters on `takesPart`, and log the warnings once per container id.
 */
export function parsePolicyLabels(labels: Record<string, string> | undefined): PolicyLabels {
  const warnings: LabelWarning[] = [];
  const all = labels ?? {};
  const warn = (label: string, value: string, accepted: string, fallback: string) =>
    warnings.push({
      label,
      value,
      message: `${label}=${JSON.stringify(value)} is not ${accepted}; using ${fallback}`,
    });

  const flag = (label: string): boolean => {
    const value = all[label];
    if (value === undefined) return false;
    const parsed = parseSwitch(value);
    if (parsed !== undefined) return parsed;
    warn(label, value, 'one of 1, 0, true, false', 'off');
    return false;
  };

  const integer = <T>(label: string, fallback: T, min: number, max: number, accepted: string): number | T => {
    const value = all[label];
    if (value === undefined || value.trim() === '') return fallback;
    const parsed = parseNonNegativeInteger(value);
    if (parsed !== undefined && parsed >= min && parsed <= max) return parsed;
    warn(label, value, accepted, fallback === undefined ? 'no limit' : `the default ${fallback}`);
    return fallback;
  };

  const observe = flag(PolicyLabel.observe);
  const healthEnabled = flag(PolicyLabel.health);
  const stopTimeoutMs = integer(
    PolicyLabel.healthTimeout,
    DEFAULT_STOP_TIMEOUT_MS,
    0,
    Number.MAX_SAFE_INTEGER,
    'a non-negative integer (ms)',
  );
  const graceSeconds = integer(
    PolicyLabel.healthGrace,
    0,
    0,
    MAX_HEALTH_GRACE_SECONDS,
    `an integer number of seconds from 0 to ${MAX_HEALTH_GRACE_SECONDS}`,
  );
  const limit = integer(
    PolicyLabel.healthLimit,
    undefined,
    1,
    Number.MAX_SAFE_INTEGER,
    'an integer ≥ 1 (restarts per hour)',
  );
  const cleanupEnabled = flag(PolicyLabel.cleanup);
  const exitCode = integer(PolicyLabel.cleanupCode, DEFAULT_CLEANUP_EXIT_CODE, 0, 255, 'an exit code 0..255');
  const network = flag(PolicyLabel.network);

  for (const [label, value] of Object.entries(all)) {
    if (label.startsWith(NAMESPACE) && !KNOWN.has(label)) {
      warnings.push({
        label,
        value,
        message: `${label} is not a label of the policies (known: ${[...KNOWN].join(', ')}); ignored`,
      });
    }
  }

  return {
    observe,
    health: { enabled: healthEnabled, stopTimeoutMs, graceMs: graceSeconds * 1000, limit },
    cleanup: { enabled: cleanupEnabled, exitCode },
    network: { enabled: network },
    warnings,
  };
}

/**
 * Whether the container carries any label of the policies, opted in or not: the cheap test that
 * tells the caller whose labels to parse (and warn about) before filtering on `takesPart`.
 */
export function hasPolicyLabels(labels: Record<string, string> | undefined): boolean {
  if (labels === undefined) return false;
  for (const label of Object.keys(labels)) {
    if (label === PolicyLabel.observe || label.startsWith(NAMESPACE)) return true;
  }
  return false;
}

/** Whether any policy applies: `mon.observe=1` and at least one policy switched on. */
export function takesPart(labels: Pick<PolicyLabels, 'observe' | 'health' | 'cleanup' | 'network'>): boolean {
  return labels.observe && (labels.health.enabled || labels.cleanup.enabled || labels.network.enabled);
}

function parseSwitch(value: string): boolean | undefined {
  switch (value.trim().toLowerCase()) {
    case '1':
    case 'true':
      return true;
    case '0':
    case 'false':
    case '':
      return false;
    default:
      return undefined;
  }
}

// Digits only: `Number()` would also accept '1e4', '0x10', '10.0' and ' ', none of which an
// operator means as a millisecond count or an exit code.
function parseNonNegativeInteger(value: string): number | undefined {
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : undefined;
}
