// The base of the three commands. Before oclif parses, the MON_* variables are merged into the
// command line by their flags' own rules (withEnvironment, argv.ts), so a bad value names the
// variable it came from. oclif reports a usage error (unknown flag, bad value, missing or extra
// argument) with exit 1 or 2 depending on where it arose, sometimes with the whole help page or
// a stack trace; SPEC §2 and §6 want one line and exit status 2.
import { Command, Errors, type Interfaces } from '@oclif/core';
import { ExitStatus } from '../errors.js';
import { type FlagDefinition, withEnvironment } from './argv.js';

/**
 * oclif's message as one line, naming the flag as the user wrote it:
 * "Parsing --timeout \n\texpected…\nSee more help with --help" → "--timeout: expected…"
 */
export function usageLine(message: string): string {
  return message
    .replace(/\n?See more help with --help\s*$/, '')
    .replace(/^Parsing (--[a-z0-9-]+)/, '$1')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(': ')
    .replace(/:\s*:/g, ':')
    .replace(/\s+/g, ' ');
}

// oclif's own FlagOutput/ArgOutput, which it does not export.
// biome-ignore lint/suspicious/noExplicitAny: the shape oclif's parse is declared with
type FlagOutput = { [name: string]: any };
// biome-ignore lint/suspicious/noExplicitAny: the shape oclif's parse is declared with
type ArgOutput = { [name: string]: any };

export abstract class ToolCommand extends Command {
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv: string[] = this.argv,
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const flags = (options?.flags ?? this.ctor.flags ?? {}) as Record<string, FlagDefinition>;
    // --version prints and exits inside oclif's parse; the environment has no say in it.
    const end = argv.indexOf('--');
    const printsVersion = (end < 0 ? argv : argv.slice(0, end)).includes('--version');
    const merged = printsVersion ? argv : await withEnvironment(argv, flags, process.env, this);
    return super.parse(options, merged);
  }

  /** Everything a command's run() does not handle itself is a usage error from parsing. */
  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error;
    const bin = this.config.bin;
    process.stderr.write(`${bin}: ${usageLine(error.message)} (see ${bin} --help)\n`);
    return this.exit(ExitStatus.usage);
  }
}
