// The command line oclif gets. Two rewrites, both before oclif parses:
// - translateArgv (in bin/run.js, before --help is looked for): the original Go tools took
//   single-dash flags (`-etcd-host=h:2379`, `-loglevel=DEBUG`, `-stdout`, `-stdout=false`);
//   oclif only knows `--name`.
// - withEnvironment (in ToolCommand.parse): every MON_* variable the command line does not
//   override is checked with its flag's rule and becomes a flag, so a bad value is reported
//   under the variable's name and oclif never reads a switch variable its own way (see flags.ts).
import { BadOption } from '../errors.js';
import { parseSwitch, switchValueOf } from './flags.js';

/**
 * Rewrites the original spellings to oclif's:
 *   -name=value   → --name=value          (any known flag)
 *   -name value   → --name value
 *   -flag / -flag=true / --flag=on  → --flag      (boolean flags, any switch word)
 *   -flag=false / --flag=off        → --no-flag
 * A boolean given another value stays `--flag=value`, for withEnvironment to refuse by name.
 * Arguments after `--`, single-letter flags and unknown names are left alone for oclif to judge.
 */
export function translateArgv(
  argv: readonly string[],
  knownFlags: ReadonlySet<string>,
  booleanFlags: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const match = /^--?([a-z][a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    const name = match?.[1];
    if (!match || !name || !knownFlags.has(name)) {
      out.push(arg);
      continue;
    }
    const value = match[2];
    if (booleanFlags.has(name) && value !== undefined) {
      const on = switchValueOf(value);
      out.push(on === undefined ? `--${name}=${value}` : on ? `--${name}` : `--no-${name}`);
      continue;
    }
    out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  }
  return out;
}

/** What withEnvironment reads of an oclif flag definition. */
export interface FlagDefinition {
  type: 'boolean' | 'option';
  env?: string;
  allowNo?: boolean;
  options?: readonly string[];
  // biome-ignore lint/suspicious/noExplicitAny: oclif's parse takes its own context and options types
  parse?: (input: any, context: any, options: any) => Promise<unknown>;
}

/**
 * argv with the environment merged in, by SPEC §5's precedence (flag, then MON_*, then
 * default): each flag that has a variable, is not on the command line, and whose variable is
 * set and not empty (empty counts as unset, as in oclif) is put first as `--name=value`
 * (`--name` / `--no-name` for a switch) after its value passed the flag's own rule. A variable
 * the command line overrides is not read at all. `--switch=value` on the command line is
 * normalised the same way. Throws BadOption naming the flag or the variable.
 * `context` is handed to the flags' parse functions (oclif passes the command).
 */
export async function withEnvironment(
  argv: readonly string[],
  flags: Readonly<Record<string, FlagDefinition>>,
  env: Readonly<Record<string, string | undefined>>,
  context?: unknown,
): Promise<string[]> {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const rest = end < 0 ? [] : argv.slice(end);
  const given = new Set<string>();
  const out: string[] = [];
  // In front of the command line, where no option can take one of them for its value.
  const fromEnv: string[] = [];
  for (let i = 0; i < head.length; i++) {
    const arg = head[i]!;
    const match = /^--(no-)?([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const [, negated, name = '', value] = match ?? [];
    const flag = Object.hasOwn(flags, name) ? flags[name] : undefined;
    if (!match || !flag || (negated && flag.type !== 'boolean')) {
      out.push(arg);
      continue;
    }
    given.add(name);
    if (flag.type === 'boolean' && value !== undefined && !negated) {
      const normalised = switchArg(
        name,
        flag,
        named(`--${name}`, () => parseSwitch(value)),
      );
      if (normalised) out.push(normalised);
      continue;
    }
    out.push(arg);
    // `--name value`: the value is the next word, whatever it looks like.
    if (flag.type === 'option' && value === undefined && i + 1 < head.length) out.push(head[++i]!);
  }
  for (const [name, flag] of Object.entries(flags)) {
    const text = flag.env ? env[flag.env] : undefined;
    if (given.has(name) || !flag.env || text === undefined || text === '') continue;
    const variable = flag.env;
    if (flag.type === 'boolean') {
      const arg = switchArg(
        name,
        flag,
        named(variable, () => parseSwitch(text)),
      );
      if (arg) fromEnv.push(arg);
      continue;
    }
    if (flag.options && !flag.options.includes(text)) {
      throw new BadOption(`${variable}: expected one of ${flag.options.join(', ')}, got "${text}"`);
    }
    try {
      await flag.parse?.(text, context, flag);
    } catch (error) {
      throw new BadOption(`${variable}: ${error instanceof Error ? error.message : String(error)}`);
    }
    fromEnv.push(`--${name}=${text}`);
  }
  return [...fromEnv, ...out, ...rest];
}

function named<T>(source: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new BadOption(`${source}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * A switch as oclif spells it. "Off" on a switch without `--no-` cannot be said to oclif:
 * undefined leaves it at its default (every switch here has `--no-`, see flags.ts).
 */
function switchArg(name: string, flag: FlagDefinition, on: boolean): string | undefined {
  if (on) return `--${name}`;
  return flag.allowNo ? `--no-${name}` : undefined;
}
