// The docker-mon labels (SPEC §1): which policies a container opts into, and their parameters.
// Pure: labels in, settings plus warnings out. The caller logs each warning naming the container;
// a label that does not parse never stops the policies, its default applies.

export const PolicyLabel = {
  observe: 'mon.observe',
  health: 'mon.checks.health',
  healthTimeout: 'mon.checks.health.timeout',
  cleanup: 'mon.checks.cleanup',
  cleanupCode: 'mon.checks.cleanup.code',
} as const;

export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_CLEANUP_EXIT_CODE = 0;

export interface LabelWarning {
  label: string;
  value: string;
  message: string;
}

export interface PolicyLabels {
  observe: boolean;
  health: { enabled: boolean; stopTimeoutMs: number };
  cleanup: { enabled: boolean; exitCode: number };
  /** One per label whose value did not parse (its default was used instead). */
  warnings: LabelWarning[];
}

/**
 * Reads the policy labels of one container. Absent labels take their defaults silently.
 *
 * - Switches (`mon.observe`, `mon.checks.health`, `mon.checks.cleanup`): `1` or `true` turn
 *   on; `0`, `false` or an empty value turn off (any case, surrounding spaces ignored). docker-mon
 *   only knew `1`, but an operator writing `=true` means on, and reading it as off would
 *   silently disable the policy. Anything else is a warning, and the switch stays off: an
 *   unreadable opt-in must not restart or remove anything.
 * - `mon.checks.health.timeout`: a non-negative integer number of milliseconds.
 * - `mon.checks.cleanup.code`: an integer 0..255, the range of a process exit status.
 * - An empty numeric value counts as not set (default, no warning), like an empty switch and
 *   like `-e HEALTHCHECK=` (SPEC §1): `--label x=` is how one clears an image's label.
 *
 * Warnings are reported for every label present, even when the container has not opted in,
 * so a typo is visible before it matters. The listener sees a container many times (events,
 * sweeps): it should log the warnings once per container id.
 */
export function parsePolicyLabels(labels: Record<string, string> | undefined): PolicyLabels {
  const warnings: LabelWarning[] = [];
  const all = labels ?? {};

  const flag = (label: string): boolean => {
    const value = all[label];
    if (value === undefined) return false;
    const parsed = parseSwitch(value);
    if (parsed !== undefined) return parsed;
    warnings.push({
      label,
      value,
      message: `${label}=${JSON.stringify(value)} is not 1/0 or true/false; off`,
    });
    return false;
  };

  const integer = (label: string, fallback: number, max: number, what: string): number => {
    const value = all[label];
    if (value === undefined || value.trim() === '') return fallback;
    const parsed = parseNonNegativeInteger(value);
    if (parsed !== undefined && parsed <= max) return parsed;
    warnings.push({
      label,
      value,
      message: `${label}=${JSON.stringify(value)} is not ${what}; using the default ${fallback}`,
    });
    return fallback;
  };

  const observe = flag(PolicyLabel.observe);
  const healthEnabled = flag(PolicyLabel.health);
  const stopTimeoutMs = integer(
    PolicyLabel.healthTimeout,
    DEFAULT_STOP_TIMEOUT_MS,
    Number.MAX_SAFE_INTEGER,
    'a non-negative integer (ms)',
  );
  const cleanupEnabled = flag(PolicyLabel.cleanup);
  const exitCode = integer(PolicyLabel.cleanupCode, DEFAULT_CLEANUP_EXIT_CODE, 255, 'an exit code 0..255');

  return {
    observe,
    health: { enabled: healthEnabled, stopTimeoutMs },
    cleanup: { enabled: cleanupEnabled, exitCode },
    warnings,
  };
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
