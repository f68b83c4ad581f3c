// Which containers the listener leaves alone (SPEC §4 "Ignored"): our own check sidecars, the
// listener's own container, and names outside `--prefix`. Pure: the caller supplies the
// container's name, labels and id, and its own id (see own-container-id.ts).

// SIDECAR_LABEL is set by `check --mode sidecar` on its throw-away containers (SPEC §2).
import { SIDECAR_LABEL } from '../health/sidecar-labels.js';

/** Docker's short id length; a shorter prefix could name several containers. */
const MIN_ID_PREFIX = 12;

export interface SelectionSubject {
  /**
   * The container's own name, with or without the leading `/`: inspect's `Name` and the list's
   * `Names[0]` carry it, a Docker event's `Actor.Attributes.name` does not.
   */
  name: string;
  labels?: Record<string, string> | undefined;
  id: string;
}

export interface SelectionOptions {
  /** `--prefix`, with or without the leading `/`; empty selects every name. */
  prefix: string;
  /** The listener's own container, when it runs in one. */
  ownContainerId?: string | undefined;
}

/**
 * The `--prefix` flag in the form Docker names have: `web` and `/web` both become `/web`, so
 * the prefix is anchored at the start of the name. Empty (or blank) stays empty: no filter.
 */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').trim();
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Why the listener ignores this container (for a debug log line), or null when it does not. */
export function isIgnored(container: SelectionSubject, options: SelectionOptions): string | null {
  // The sidecar check comes first: sidecars are short-lived and numerous during checks, and
  // starting a monitor for one (or cleaning it up) would race the `check` that owns it.
  if (container.labels?.[SIDECAR_LABEL] === '1') return `check sidecar (label ${SIDECAR_LABEL}=1)`;

  // Restarting or removing ourselves would end the listener mid-action.
  if (options.ownContainerId && sameContainer(container.id, options.ownContainerId)) {
    return "the listener's own container";
  }

  const prefix = normalizePrefix(options.prefix);
  if (prefix !== '') {
    const name = container.name.startsWith('/') ? container.name : `/${container.name}`;
    if (!name.startsWith(prefix)) return `name ${name} does not start with --prefix ${prefix}`;
  }
  return null;
}

/**
 * True when two ids name the same container: equal, or one a prefix of the other with at
 * least 12 characters (own-id detection may yield a full id while an event carries a short
 * one, or the reverse when only the hostname was known).
 */
function sameContainer(a: string, b: string): boolean {
  const x = a.trim().toLowerCase();
  const y = b.trim().toLowerCase();
  if (x === '' || y === '') return false;
  if (x === y) return true;
  const [shorter, longer] = x.length <= y.length ? [x, y] : [y, x];
  return shorter.length >= MIN_ID_PREFIX && longer.startsWith(shorter);
}
