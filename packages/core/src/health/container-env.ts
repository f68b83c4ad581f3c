// What a container declares about its check through its environment (SPEC §1):
// HEALTHCHECK (the command, split into words as a shell would, nothing expanded) and
// HEALTHCHECKPERIOD (seconds between the monitor's checks).
import { parse } from 'shell-quote';

export const DEFAULT_PERIOD_SECONDS = 30;

/** The value of `name` in a Docker `Config.Env` list; the last entry wins, as in Docker. */
export function envValue(env: readonly string[] | null | undefined, name: string): string | undefined {
  let value: string | undefined;
  for (const entry of env ?? []) {
    if (entry.startsWith(`${name}=`)) value = entry.slice(name.length + 1);
    else if (entry === name) value = '';
  }
  return value;
}

/**
 * Splits a command as a shell would: quotes and backslashes are honoured, but nothing is
 * expanded ($VAR, globs and operators stay literal words), because the words are run
 * directly, without a shell, in an image that may have none.
 */
export function splitWords(command: string): string[] {
  const words: string[] = [];
  for (const token of parse(command, (name) => `$${name}`)) {
    if (typeof token === 'string') words.push(token);
    else if ('comment' in token) words.push(`#${token.comment}`);
    else if (token.op === 'glob') words.push(token.pattern);
    else words.push(token.op);
  }
  return words;
}

/** The HEALTHCHECK words, or undefined when the variable is absent or empty (switched off). */
export function healthCommandOf(env: readonly string[] | null | undefined): string[] | undefined {
  const value = envValue(env, 'HEALTHCHECK');
  if (value === undefined || value.trim() === '') return undefined;
  const words = splitWords(value);
  return words.length > 0 ? words : undefined;
}

export interface CheckPeriod {
  seconds: number;
  /** set when HEALTHCHECKPERIOD was given but is not a positive integer */
  warning?: string;
}

export function checkPeriodOf(env: readonly string[] | null | undefined): CheckPeriod {
  const value = envValue(env, 'HEALTHCHECKPERIOD');
  if (value === undefined || value.trim() === '') return { seconds: DEFAULT_PERIOD_SECONDS };
  if (/^\s*\d+\s*$/.test(value) && Number(value) > 0) return { seconds: Number(value) };
  return {
    seconds: DEFAULT_PERIOD_SECONDS,
    warning: `HEALTHCHECKPERIOD="${value}" is not a positive whole number of seconds; using ${DEFAULT_PERIOD_SECONDS}`,
  };
}
