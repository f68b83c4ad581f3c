// The six levels of the original tools, as pino custom levels. Light on purpose: the flag
// definitions import it at start-up.

export const LOG_LEVEL_NAMES = ['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

/** pino level numbers; NOTICE sits between INFO and WARNING as in syslog. */
export const PINO_LEVELS = {
  debug: 20,
  info: 30,
  notice: 35,
  warning: 40,
  error: 50,
  critical: 60,
} as const;
export type PinoLevel = keyof typeof PINO_LEVELS;

/** syslog severities (RFC 5424) of our levels. */
export const SYSLOG_SEVERITY: Record<PinoLevel, number> = {
  debug: 7,
  info: 6,
  notice: 5,
  warning: 4,
  error: 3,
  critical: 2,
};

export const pinoLevelOf = (name: LogLevelName): PinoLevel => name.toLowerCase() as PinoLevel;
