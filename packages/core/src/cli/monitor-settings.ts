// Flags → the settings of a monitor process. Used by `monitor` for itself and by `listener`
// for the monitors it starts, so both read the shared flags the same way. Light: no clients.
import type { LogLevelName } from '../log/levels.js';
import type { StandaloneMonitorSettings } from '../monitor/run-monitor.js';

/** The parsed flags both tools share (commonFlags + registryFlags). */
export interface MonitorFlags {
  control?: string;
  mode: string;
  timeout: number;
  loglevel: LogLevelName;
  stdout: boolean;
  syslog: boolean;
  'etcd-host': string;
  'etcd-prefix': string;
  'etcd-ca'?: string;
  'etcd-cert'?: string;
  'etcd-key'?: string;
  'etcd-user'?: string;
  'etcd-password'?: string;
  'host-ip'?: string;
  period?: number;
}

export function monitorSettingsFrom(flags: MonitorFlags): Omit<StandaloneMonitorSettings, 'container'> {
  return {
    control: flags.control,
    mode: flags.mode === 'exec' ? 'exec' : 'sidecar',
    timeout: flags.timeout,
    period: flags.period,
    loglevel: flags.loglevel,
    stdout: flags.stdout,
    syslog: flags.syslog,
    etcdHost: flags['etcd-host'],
    etcdPrefix: flags['etcd-prefix'],
    etcdCa: flags['etcd-ca'],
    etcdCert: flags['etcd-cert'],
    etcdKey: flags['etcd-key'],
    etcdUser: flags['etcd-user'],
    etcdPassword: flags['etcd-password'],
    hostIp: flags['host-ip'],
  };
}
