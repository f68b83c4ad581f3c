// Signal names and numbers as Docker writes them. A `kill` event carries the number
// (`"signal":"28"`); a container's stop signal (`Config.StopSignal`, from `--stop-signal` or
// the image's STOPSIGNAL) is written as the user gave it: SIGWINCH, WINCH, 28, SIGRTMIN+3.
import { constants } from 'node:os';

/** Linux's first real-time signal as Docker counts (moby's signal map: RTMIN = 34). */
const RTMIN = 34;
const RTMAX = 64;

/** The number of a signal given by name or number, or undefined when it names none. */
export function signalNumberOf(signal: string | undefined | null): number | undefined {
  const text = (signal ?? '').trim().toUpperCase();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= 1 && n <= RTMAX ? n : undefined;
  }
  const name = text.startsWith('SIG') ? text.slice(3) : text;
  const realtime = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (realtime) {
    const base = realtime[1] === 'MIN' ? RTMIN : RTMAX;
    const offset = realtime[3] === undefined ? 0 : Number(realtime[3]) * (realtime[2] === '-' ? -1 : 1);
    const n = base + offset;
    return n >= RTMIN && n <= RTMAX ? n : undefined;
  }
  const n = (constants.signals as Record<string, number | undefined>)[`SIG${name}`];
  return n;
}

/** Signals after which any container is on its way out: INT, QUIT, ABRT, KILL, TERM. */
const ALWAYS_TERMINATING = new Set([2, 3, 6, 9, 15]);

/**
 * Whether a `kill` event's signal ends the container: the usual terminating signals, or the
 * container's own stop signal (what `docker stop` sends: SIGWINCH for httpd, SIGQUIT for nginx).
 * Others (HUP, USR1, …) ask it to reload.
 */
export function isStopping(eventSignal: string | undefined, stopSignal: string | undefined | null): boolean {
  const sent = signalNumberOf(eventSignal ?? '15');
  if (sent === undefined) return true;
  return ALWAYS_TERMINATING.has(sent) || sent === (signalNumberOf(stopSignal) ?? 15);
}
