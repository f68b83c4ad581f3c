// The base of the three commands. oclif reports a usage error (unknown flag, bad value,
// missing or extra argument) with exit 1 or 2 depending on where it arose, sometimes with the
// whole help page or a stack trace; SPEC §2 and §6 want one line and exit status 2.
import { Command, Errors } from '@oclif/core';
import { ExitStatus } from '../errors.js';

/** oclif's message as one line: "Parsing --timeout \n\texpected…\nSee more help with --help" → "Parsing --timeout: expected…" */
export function usageLine(message: string): string {
  return message
    .replace(/\n?See more help with --help\s*$/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(': ')
    .replace(/:\s*:/g, ':')
    .replace(/\s+/g, ' ');
}

export abstract class ToolCommand extends Command {
  /** Everything a command's run() does not handle itself is a usage error from parsing. */
  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error;
    const bin = this.config.bin;
    process.stderr.write(`${bin}: ${usageLine(error.message)} (see ${bin} --help)\n`);
    return this.exit(ExitStatus.usage);
  }
}
