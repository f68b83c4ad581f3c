// The original Go tools took single-dash flags (`-etcd-host=h:2379`, `-loglevel=DEBUG`,
// `-stdout`, `-stdout=false`). oclif only knows `--name`, so argv is rewritten before oclif
// sees it. Pure; `booleanFlags` decides which names take `=true/false` values.

/**
 * Rewrites the original spellings to oclif's:
 *   -name=value   → --name=value          (any known flag)
 *   -name value   → --name value
 *   -flag / -flag=true / --flag=true  → --flag      (boolean flags)
 *   -flag=false / --flag=false        → --no-flag
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
    if (booleanFlags.has(name)) {
      if (value === undefined) out.push(`--${name}`);
      else if (/^(true|1|yes|on)$/i.test(value)) out.push(`--${name}`);
      else if (/^(false|0|no|off)$/i.test(value)) out.push(`--no-${name}`);
      else out.push(`--${name}=${value}`); // let oclif report the bad value
      continue;
    }
    out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  }
  return out;
}
