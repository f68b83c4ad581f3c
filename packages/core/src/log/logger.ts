// The tools' logger: pino JSON lines with our six levels, to stdout and/or syslog (stderr
// while syslog cannot be used), with the tool (and container, where there is one) in every line.
import { pino } from 'pino';
import { type LogLevelName, PINO_LEVELS, type PinoLevel, pinoLevelOf } from './levels.js';
import { SyslogStream } from './syslog-stream.js';

export type Logger = pino.Logger<PinoLevel, boolean>;

export interface LoggerOptions {
  tool: 'check' | 'monitor' | 'listener';
  level: LogLevelName;
  stdout: boolean;
  syslog: boolean;
  /** the container this process is about; null for the listener's host-wide lines */
  container?: string | null;
  /** listener --quiet: only actions (NOTICE) and problems (WARNING and up) */
  quiet?: boolean;
  /** for tests: where stdout lines go */
  destination?: NodeJS.WritableStream;
  syslogPath?: string;
}

export interface ToolLogger {
  log: Logger;
  /** close the syslog socket, whose handle keeps the process alive; call before exiting */
  close(): void;
}

export function createLogger(options: LoggerOptions): ToolLogger {
  const streams: pino.StreamEntry<PinoLevel>[] = [];
  let syslog: SyslogStream | undefined;
  if (options.stdout) streams.push({ level: 'debug', stream: options.destination ?? pino.destination(1) });
  if (options.syslog) {
    // While syslog cannot be used its lines go to stderr, unless every line is written to
    // stdout (or --json's stderr) already: the same line twice would only be noise.
    const elsewhere = options.destination === process.stderr ? 'stderr' : 'stdout';
    syslog = new SyslogStream({
      tag: options.tool,
      path: options.syslogPath,
      fallback: options.stdout ? null : process.stderr,
      fallbackName: options.stdout ? elsewhere : 'stderr',
    });
    streams.push({ level: 'debug', stream: syslog });
  }
  let level = pinoLevelOf(options.level);
  if (options.quiet && PINO_LEVELS[level] < PINO_LEVELS.notice) level = 'notice';

  const log = pino<PinoLevel>(
    {
      customLevels: PINO_LEVELS,
      useOnlyCustomLevels: true,
      level,
      base: {
        tool: options.tool,
        pid: process.pid,
        ...(options.container ? { container: options.container } : {}),
      },
      // The listener's lines name their container per line; a mixin (unlike base bindings,
      // which pino would repeat) gives the others "container":null without a duplicate key.
      mixin: options.container ? undefined : () => ({ container: null }),
      formatters: { level: (label) => ({ level: label.toUpperCase() }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      enabled: streams.length > 0,
    },
    pino.multistream(streams, { levels: PINO_LEVELS }),
  );
  return {
    log,
    close: () => syslog?.closeSocket(),
  };
}
