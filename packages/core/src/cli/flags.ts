// The flags shared by check, monitor and listener (SPEC §5), each with its MON_* environment
// fallback. Precedence is flag > environment > default, which oclif gives us through `env:`;
// the one extra rule (--control falls back to DOCKER_HOST) is applied in `dockerControlFrom`.
// This module must stay light: commands import it at start-up, before --help is printed.
import { Flags } from '@oclif/core';
import { LOG_LEVEL_NAMES, type LogLevelName } from '../log/levels.js';

/** `--etcd-host` → `MON_ETCD_HOST` */
export const envNameOf = (flag: string): string => `MON_${flag.toUpperCase().replace(/-/g, '_')}`;

const seconds = Flags.custom<number>({
  parse: async (input) => {
    const value = Number(input);
    if (!Number.isFinite(value) || value <= 0 || input.trim() === '') {
      throw new Error(`expected a positive number of seconds, got "${input}"`);
    }
    return value;
  },
});

const nonNegativeInteger = Flags.custom<number>({
  parse: async (input) => {
    if (!/^\d+$/.test(input.trim())) throw new Error(`expected a whole number (0 or more), got "${input}"`);
    return Number(input);
  },
});

const logLevel = Flags.custom<LogLevelName>({
  parse: async (input) => {
    const name = input.trim().toUpperCase();
    if (!(LOG_LEVEL_NAMES as readonly string[]).includes(name)) {
      throw new Error(`expected one of ${LOG_LEVEL_NAMES.join(', ')} (any case), got "${input}"`);
    }
    return name as LogLevelName;
  },
});

/** Flags every tool has. `stdout`/`syslog` defaults differ per tool, hence the factory. */
export function commonFlags(defaults: { stdout: boolean; syslog: boolean }) {
  return {
    // oclif's own --version handling misses single-command CLIs, so it is a flag here.
    version: Flags.version({ description: 'print the version and exit' }),
    control: Flags.string({
      env: envNameOf('control'),
      description:
        'Docker endpoint: unix:///path or tcp://host:port (TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH as the Docker CLI). Default: DOCKER_HOST, else unix:///var/run/docker.sock',
      helpValue: '<url>',
    }),
    mode: Flags.string({
      env: envNameOf('mode'),
      options: ['sidecar', 'exec'],
      default: 'sidecar',
      description:
        'how the HEALTHCHECK command runs: in a throw-away container sharing the target network (sidecar) or by docker exec inside the target (exec)',
    }),
    timeout: seconds({
      env: envNameOf('timeout'),
      default: 10,
      description: 'seconds the HEALTHCHECK command may take before the verdict is unhealthy',
      helpValue: '<seconds>',
    }),
    loglevel: logLevel({
      env: envNameOf('loglevel'),
      default: 'INFO',
      description: `log level: ${LOG_LEVEL_NAMES.join(', ')} (any case)`,
      helpValue: '<level>',
    }),
    stdout: Flags.boolean({
      env: envNameOf('stdout'),
      allowNo: true,
      default: defaults.stdout,
      description: 'write log lines (pino JSON) to stdout',
    }),
    syslog: Flags.boolean({
      env: envNameOf('syslog'),
      allowNo: true,
      default: defaults.syslog,
      description: 'write log lines to the local syslog socket /dev/log',
    }),
  };
}

/** Flags of the tools that write service records: monitor and listener. */
export const registryFlags = {
  'etcd-host': Flags.string({
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
  'host-ip': Flags.string({
    env: envNameOf('host-ip'),
    description:
      "address written for ports Docker published on 0.0.0.0 or ::; default: the host's first non-internal IPv4",
    helpValue: '<ip>',
  }),
};

export const checkOnlyFlags = {
  wait: seconds({
    env: envNameOf('wait'),
    description: "seconds to wait while Docker's health status is still `starting`",
    helpValue: '<seconds>',
  }),
  json: Flags.boolean({
    env: envNameOf('json'),
    default: false,
    description: 'print one JSON object (container, verdict, source, status, output, durationMs)',
  }),
};

export const monitorOnlyFlags = {
  period: seconds({
    env: envNameOf('period'),
    description: 'seconds between checks; default: the container HEALTHCHECKPERIOD, else 30',
    helpValue: '<seconds>',
  }),
};

export const listenerOnlyFlags = {
  prefix: Flags.string({
    env: envNameOf('prefix'),
    default: '',
    description: 'only containers whose name starts with this (with or without the leading /)',
  }),
  interval: nonNegativeInteger({
    env: envNameOf('interval'),
    default: 10_000,
    description: 'ms between reconcile and policy sweeps',
    helpValue: '<ms>',
  }),
  retries: nonNegativeInteger({
    env: envNameOf('retries'),
    default: 10,
    description: 'retries of a failed Docker call (restart, remove)',
  }),
  quiet: Flags.boolean({
    env: envNameOf('quiet'),
    default: false,
    description: 'log only actions (register, deregister, restart, remove) and problems',
  }),
};
