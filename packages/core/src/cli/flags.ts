// The flags of check, monitor and listener (SPEC §5), each with its MON_* environment variable,
// and the one rule per flag that says which values it takes (its parse function).
//
// Where validation lives: a flag's rule is its oclif `parse`, and nothing else decides what the
// flag accepts. oclif calls it for a value on the command line, but cannot tell us where a value
// came from, and reads a boolean's MON_* variable without any rule (anything but 1/true/y/yes is
// silently false). So `withEnvironment` (argv.ts), called by ToolCommand before oclif parses,
// reads every MON_* variable the command line does not override, checks it with the same rule
// (a switch with `parseSwitch`), names the variable when it fails, and hands the value to oclif
// as a flag. oclif's own `env:` stays on each flag for --help and for callers that skip ToolCommand.
// Rules throw `Error('expected …, got "…"')`; the caller prefixes the flag or variable name.
//
// This module must stay light: commands import it at start-up, before --help is printed.
import { isIP } from 'node:net';
import { Flags } from '@oclif/core';
import { parseDockerEndpoint } from '../docker/connection.js';
import { parseEtcdEndpoints } from '../etcd/endpoints.js';
import { LOG_LEVEL_NAMES, type LogLevelName } from '../log/levels.js';

/** `--etcd-host` → `MON_ETCD_HOST` */
export const envNameOf = (flag: string): string => `MON_${flag.toUpperCase().replace(/-/g, '_')}`;

const SWITCH_WORDS = {
  true: true,
  '1': true,
  yes: true,
  on: true,
  false: false,
  '0': false,
  no: false,
  off: false,
};
export const SWITCH_VALUES = 'true/false, 1/0, yes/no or on/off (any case)';

/** A switch's value as words (`on`, `FALSE`, `1`…), or undefined when it is none of them. */
export function switchValueOf(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  return Object.hasOwn(SWITCH_WORDS, word) ? SWITCH_WORDS[word as keyof typeof SWITCH_WORDS] : undefined;
}

/** The rule of every boolean flag (`--stdout=…`, `MON_STDOUT=…`). */
export function parseSwitch(text: string): boolean {
  const value = switchValueOf(text);
  if (value === undefined) throw new Error(`expected ${SWITCH_VALUES}, got "${text}"`);
  return value;
}

interface NumberRange {
  min: number;
  max: number;
  /** "seconds", "milliseconds"; none for a count */
  unit?: string;
  integer?: boolean;
}

/** Decimal notation only: `1e3`, `0x10`, `Infinity` and the empty string are not numbers here. */
export function parseNumberIn(range: NumberRange, text: string): number {
  const trimmed = text.trim();
  const pattern = range.integer ? /^\d+$/ : /^(\d+(\.\d*)?|\.\d+)$/;
  const value = Number(trimmed);
  if (!pattern.test(trimmed) || value < range.min || value > range.max) {
    const what = `${range.integer ? 'a whole number' : 'a number'}${range.unit ? ` of ${range.unit}` : ''}`;
    throw new Error(`expected ${what} from ${range.min} to ${range.max}, got "${text}"`);
  }
  return value;
}

export const RANGES = {
  period: { min: 1, max: 86_400, unit: 'seconds' },
  timeout: { min: 0.1, max: 3_600, unit: 'seconds' },
  wait: { min: 0, max: 86_400, unit: 'seconds' },
  interval: { min: 100, max: 86_400_000, unit: 'milliseconds', integer: true },
  retries: { min: 0, max: 100, integer: true },
  warm: { min: 0, max: 64, integer: true },
} as const satisfies Record<string, NumberRange>;

const numberIn = (range: NumberRange) =>
  Flags.custom<number>({ parse: async (text) => parseNumberIn(range, text) });

export function parseLogLevel(text: string): LogLevelName {
  const name = text.trim().toUpperCase();
  if (!(LOG_LEVEL_NAMES as readonly string[]).includes(name)) {
    throw new Error(`expected one of ${LOG_LEVEL_NAMES.join(', ')} (any case), got "${text}"`);
  }
  return name as LogLevelName;
}

export type CheckMode = 'sidecar' | 'exec';

export function parseMode(text: string): CheckMode {
  const mode = text.trim().toLowerCase();
  if (mode !== 'sidecar' && mode !== 'exec') throw new Error(`expected sidecar or exec, got "${text}"`);
  return mode;
}

export function parseIpAddress(text: string): string {
  const ip = text.trim();
  if (isIP(ip) === 0) throw new Error(`expected an IPv4 or IPv6 address, got "${text}"`);
  return ip;
}

/** Where `--metrics` listens; an IPv6 host is given in brackets (`[::1]:9100`) and kept without. */
export interface MetricsAddress {
  host: string;
  /** 0: any free port */
  port: number;
}

// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export function parseMetricsAddress(text: string): MetricsAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const bracketed = match?.[1];
  const host = bracketed ?? match?.[2];
  const port = Number(match?.[3]);
  const hostOk =
    bracketed !== undefined
      ? isIP(bracketed) === 6
      : host !== undefined && (isIP(host) === 4 || HOSTNAME.test(host));
  if (!match || host === undefined || !hostOk || port > 65_535) {
    throw new Error(
      `expected <host>:<port>, the host an IP address (IPv6 in brackets) or a hostname and the port from 0 to 65535 (0: any free port), got "${text}"`,
    );
  }
  return { host, port };
}

/** `--notify`: comma-separated http(s) URLs; the empty string is none (it overrides MON_NOTIFY). */
export function parseNotifyUrls(text: string): readonly string[] {
  if (text.trim() === '') return [];
  return text.split(',').map((entry) => {
    let url: URL | undefined;
    try {
      url = new URL(entry.trim());
    } catch {}
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new Error(`expected http:// or https:// URLs, separated by commas, got "${entry}"`);
    }
    return url.href;
  });
}

const switchFlag = (options: { env: string; default: boolean; description: string }) =>
  // allowNo on every switch: `-quiet=false` becomes `--no-quiet`, and so does MON_QUIET=off.
  Flags.boolean({ ...options, allowNo: true });

/** Flags every tool has. `stdout`/`syslog` defaults differ per tool, hence the factory. */
export function commonFlags(defaults: { stdout: boolean; syslog: boolean }) {
  return {
    // oclif's own --version handling misses single-command CLIs, so it is a flag here.
    version: Flags.version({ description: 'print the version and exit' }),
    control: Flags.custom<string>({
      parse: async (text) => {
        parseDockerEndpoint(text.trim());
        return text.trim();
      },
    })({
      env: envNameOf('control'),
      description:
        'Docker endpoint: unix:///path or tcp://host:port (TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH as the Docker CLI). Default: DOCKER_HOST, else unix:///var/run/docker.sock',
      helpValue: '<url>',
    }),
    mode: Flags.custom<CheckMode>({ parse: async (text) => parseMode(text) })({
      env: envNameOf('mode'),
      default: 'sidecar',
      description:
        'how the HEALTHCHECK command runs: in a throw-away container sharing the target network (sidecar) or by docker exec inside the target (exec)',
      helpValue: '<sidecar|exec>',
    }),
    timeout: numberIn(RANGES.timeout)({
      env: envNameOf('timeout'),
      default: 10,
      description: 'seconds (0.1 to 3600) the HEALTHCHECK command may take before the verdict is unhealthy',
      helpValue: '<seconds>',
    }),
    loglevel: Flags.custom<LogLevelName>({ parse: async (text) => parseLogLevel(text) })({
      env: envNameOf('loglevel'),
      default: 'INFO',
      description: `log level: ${LOG_LEVEL_NAMES.join(', ')} (any case)`,
      helpValue: '<level>',
    }),
    stdout: switchFlag({
      env: envNameOf('stdout'),
      default: defaults.stdout,
      description: 'write log lines (pino JSON) to stdout',
    }),
    syslog: switchFlag({
      env: envNameOf('syslog'),
      default: defaults.syslog,
      description: 'write log lines to the local syslog socket /dev/log',
    }),
  };
}

/** Flags of the tools that write service records: monitor and listener. */
export const registryFlags = {
  'etcd-host': Flags.custom<string>({
    parse: async (text) => {
      parseEtcdEndpoints(text);
      return text;
    },
  })({
    env: envNameOf('etcd-host'),
    default: '127.0.0.1:2379',
    description: 'etcd endpoints, comma-separated: host:port, http://host:port or https://host:port',
    helpValue: '<endpoints>',
  }),
  'etcd-prefix': Flags.string({
    env: envNameOf('etcd-prefix'),
    default: '/SERVICE',
    description: 'key prefix of the service records',
    helpValue: '<prefix>',
  }),
  'etcd-ca': Flags.string({ env: envNameOf('etcd-ca'), description: 'CA certificate file for etcd TLS' }),
  'etcd-cert': Flags.string({
    env: envNameOf('etcd-cert'),
    description: 'client certificate file for etcd TLS',
  }),
  'etcd-key': Flags.string({ env: envNameOf('etcd-key'), description: 'client key file for etcd TLS' }),
  'etcd-user': Flags.string({ env: envNameOf('etcd-user'), description: 'etcd user name' }),
  'etcd-password': Flags.string({ env: envNameOf('etcd-password'), description: 'etcd password' }),
  'host-ip': Flags.custom<string>({ parse: async (text) => parseIpAddress(text) })({
    env: envNameOf('host-ip'),
    description:
      "IP address written for ports Docker published on 0.0.0.0 or ::; default: the host's first non-internal IPv4",
    helpValue: '<ip>',
  }),
};

export const checkOnlyFlags = {
  wait: numberIn(RANGES.wait)({
    env: envNameOf('wait'),
    description: "seconds (0 to 86400) to wait while Docker's health status is still `starting`",
    helpValue: '<seconds>',
  }),
  json: switchFlag({
    env: envNameOf('json'),
    default: false,
    description: 'print one JSON object (container, verdict, source, status, output, durationMs)',
  }),
};

export const monitorOnlyFlags = {
  period: numberIn(RANGES.period)({
    env: envNameOf('period'),
    description: 'seconds (1 to 86400) between checks; default: the container HEALTHCHECKPERIOD, else 30',
    helpValue: '<seconds>',
  }),
};

export const listenerOnlyFlags = {
  prefix: Flags.string({
    env: envNameOf('prefix'),
    default: '',
    description: 'only containers whose name starts with this (with or without the leading /)',
  }),
  interval: numberIn(RANGES.interval)({
    env: envNameOf('interval'),
    default: 10_000,
    description: 'ms (100 to 86400000) between reconcile and policy sweeps',
    helpValue: '<ms>',
  }),
  retries: numberIn(RANGES.retries)({
    env: envNameOf('retries'),
    default: 10,
    description: 'retries (0 to 100) of a failed Docker call (restart, remove)',
    helpValue: '<n>',
  }),
  quiet: switchFlag({
    env: envNameOf('quiet'),
    default: false,
    description: 'log only actions (register, deregister, restart, remove) and problems',
  }),
  warm: numberIn(RANGES.warm)({
    env: envNameOf('warm'),
    default: 2,
    description: 'monitors (0 to 64) kept booted and idle, so a started container gets one at once',
    helpValue: '<n>',
  }),
  metrics: Flags.custom<MetricsAddress>({ parse: async (text) => parseMetricsAddress(text) })({
    env: envNameOf('metrics'),
    description:
      'serve /metrics (Prometheus), /status (JSON) and /healthz on this address; port 0: any free port. Default: off',
    helpValue: '<host:port>',
  }),
  notify: Flags.custom<readonly string[]>({ parse: async (text) => parseNotifyUrls(text) })({
    env: envNameOf('notify'),
    description:
      'http:// or https:// URLs, comma-separated, that get a JSON POST for every policy action and crash loop. Default: none',
    helpValue: '<url[,url…]>',
  }),
};
