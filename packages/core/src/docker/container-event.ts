// Docker's container events, reduced to what the tools act on. Pure.

export interface ContainerEvent {
  /** full container id */
  id: string;
  /** start, die, destroy, stop, kill, pause, unpause, health_status, ... */
  action: string;
  /** for health_status: healthy / unhealthy / starting */
  detail?: string;
  /** container name without the leading slash, from the event's attributes */
  name?: string;
  attributes: Record<string, string>;
  /** nanoseconds since the epoch, as a decimal string (exceeds Number's precision) */
  timeNano: string;
}

/** The actions the tools subscribe to; the rest (exec_*, attach, resize, ...) are noise. */
export const WATCHED_ACTIONS = [
  'start',
  'restart',
  'die',
  'destroy',
  'stop',
  'kill',
  'pause',
  'unpause',
  'health_status',
] as const;

interface RawEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number | string;
}

/** One JSON line of Docker's event stream → a ContainerEvent, or undefined for other types. */
export function parseContainerEvent(line: string): ContainerEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  if ((raw.Type ?? 'container') !== 'container') return undefined;
  const id = raw.Actor?.ID ?? raw.id;
  const fullAction = raw.Action ?? raw.status;
  if (!id || !fullAction) return undefined;
  const [action, ...rest] = fullAction.split(':');
  const attributes = raw.Actor?.Attributes ?? {};
  return {
    id,
    action: action!.trim(),
    detail: rest.length > 0 ? rest.join(':').trim() : undefined,
    name: attributes.name,
    attributes,
    timeNano: timeNanoOf(line, raw),
  };
}

/**
 * timeNano has 19 digits, past what a JSON number keeps (2^53): JSON.parse would round it by
 * up to a few hundred ns, enough to make the `since` boundary of a replay inexact. The digits
 * are taken from the text itself: Docker's own field is a bare number, and the last one in the
 * line (after Actor), whereas a label or attribute named `timeNano` is always a quoted string,
 * so it can never match. The parsed number confirms the match.
 */
function timeNanoOf(line: string, raw: RawEvent): string {
  const matches = [...line.matchAll(/"timeNano":\s*(\d+)/g)];
  const digits = matches.at(-1)?.[1];
  if (
    digits !== undefined &&
    typeof raw.timeNano === 'number' &&
    Math.abs(Number(digits) - raw.timeNano) < 1e6
  )
    return digits;
  if (typeof raw.timeNano === 'number') return BigInt(Math.round(raw.timeNano)).toString();
  return (BigInt(Math.trunc(Number(raw.time ?? 0))) * 1_000_000_000n).toString();
}

/** Docker's `since` parameter for "at or after this event": seconds.nanoseconds. */
export function sinceParameter(timeNano: string): string {
  const ns = BigInt(timeNano);
  const seconds = ns / 1_000_000_000n;
  const rest = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${seconds}.${rest}`;
}

/**
 * Splits a chunked stream into lines: Docker's JSON lines can arrive split across chunks.
 * Returns the complete lines and keeps the unfinished rest.
 */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((line) => line.trim() !== '');
  }
}
