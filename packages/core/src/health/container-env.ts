// What a container declares about its check through its environment (SPEC §1):
// HEALTHCHECK (the command, split into words as a shell would, nothing expanded, and the shell
// syntax in it that running it directly cannot honour) and HEALTHCHECKPERIOD (seconds between
// the monitor's checks, within bounds so that no value makes checks run back to back).
import { parse } from 'shell-quote';

export const DEFAULT_PERIOD_SECONDS = 30;
export const MIN_PERIOD_SECONDS = 1;
/** A day: also keeps the period's milliseconds far below setTimeout's 2^31-1 limit. */
export const MAX_PERIOD_SECONDS = 86_400;

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

/**
 * What in a HEALTHCHECK value a shell would treat as syntax, which running the words directly
 * passes to the command as plain arguments instead (SPEC §1): the operators shell-quote reports
 * outside quotes (`||`, `&&`, `|`, `;`, `<`, `>`, `&`, `>>`, `2>&1`'s `>&`, parentheses…),
 * `$(` and backquotes outside quotes. Undefined when there is none; else a one-line warning
 * naming what was found and the fix, for the caller to log with the container's name.
 */
export function shellSyntaxWarning(command: string): string | undefined {
  const found = new Set<string>();
  const tokens = parse(command, (name) => `$${name}`);
  tokens.forEach((token, i) => {
    if (typeof token === 'string' || !('op' in token) || token.op === 'glob') return;
    const previous = tokens[i - 1];
    // shell-quote reads an unquoted `$(` as a word ending in `$` and the operator `(`.
    if (token.op === '(' && typeof previous === 'string' && previous.endsWith('$')) found.add('$(');
    else if (token.op !== ')' || !(found.has('(') || found.has('$('))) found.add(token.op);
  });
  if (hasUnquotedBackquote(command)) found.add('`');
  if (found.size === 0) return undefined;
  return (
    `HEALTHCHECK="${command}" holds shell syntax (${[...found].join(' ')}) that reaches the command as plain ` +
    `words, because it runs without a shell; to have a shell read it, write HEALTHCHECK=sh -c '…' -- ` +
    `(the container's IP then arrives as $1) in an image that has a shell`
  );
}

/** shell-quote keeps backquotes as literal text: find one outside quotes and not escaped. */
function hasUnquotedBackquote(command: string): boolean {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const char = command[i];
    if (quote === "'") {
      if (char === "'") quote = undefined;
    } else if (char === '\\') {
      i++;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '`') {
      return true;
    }
  }
  return false;
}

export interface CheckPeriod {
  seconds: number;
  /** set when HEALTHCHECKPERIOD was given but is not a whole number from 1 to 86400 */
  warning?: string;
}

export function checkPeriodOf(env: readonly string[] | null | undefined): CheckPeriod {
  const value = envValue(env, 'HEALTHCHECKPERIOD');
  if (value === undefined || value.trim() === '') return { seconds: DEFAULT_PERIOD_SECONDS };
  const seconds = Number(value);
  if (/^\s*\d+\s*$/.test(value) && seconds >= MIN_PERIOD_SECONDS && seconds <= MAX_PERIOD_SECONDS) {
    return { seconds };
  }
  return {
    seconds: DEFAULT_PERIOD_SECONDS,
    warning: `HEALTHCHECKPERIOD="${value}" is not a whole number of seconds from ${MIN_PERIOD_SECONDS} to ${MAX_PERIOD_SECONDS}; using ${DEFAULT_PERIOD_SECONDS}`,
  };
}
