// The monitor process, wired: Docker client, etcd client, the ContainerMonitor, its event
// source and signals. Shared by the `monitor` CLI (flags parsed by oclif) and the lean child
// entry the listener forks (settings handed over by the listener, no CLI layer to load).

import { dockerControlFrom } from '../docker/connection.js';
import type { ContainerEvent } from '../docker/container-event.js';
import { DockerClient } from '../docker/docker-client.js';
import { DockerEventStream } from '../docker/event-stream.js';
import { ExitStatus, exitStatusOf, messageOf } from '../errors.js';
import type { EtcdConnectionInput } from '../etcd/connection.js';
import { openEtcd } from '../etcd/etcd-client.js';
import { LeasedRecord } from '../etcd/leased-record.js';
import type { RunMode } from '../health/runner.js';
import type { LogLevelName } from '../log/levels.js';
import { createLogger } from '../log/logger.js';
import { defaultHostIp } from '../record/host-ip.js';
import { ContainerMonitor } from './container-monitor.js';
import { isDockerEventMessage } from './ipc.js';

/** Everything a monitor process needs, as the flags give it. */
export interface MonitorSettings {
  container: string;
  control?: string;
  mode: RunMode;
  /** seconds */
  timeout: number;
  /** seconds; undefined: HEALTHCHECKPERIOD, else 30 */
  period?: number;
  loglevel: LogLevelName;
  stdout: boolean;
  syslog: boolean;
  etcdHost: string;
  etcdPrefix: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  hostIp?: string;
}

/** The environment variable through which the listener hands its children their settings. */
export const MONITOR_SETTINGS_ENV = 'CHECKER_MONITOR_SETTINGS';

export function etcdConnectionOf(settings: Omit<MonitorSettings, 'container'>): EtcdConnectionInput {
  return {
    hosts: settings.etcdHost,
    ca: settings.etcdCa,
    cert: settings.etcdCert,
    key: settings.etcdKey,
    user: settings.etcdUser,
    password: settings.etcdPassword,
  };
}

/** Runs until the container is removed or a signal arrives; resolves with the exit status. */
export async function runMonitor(settings: MonitorSettings): Promise<number> {
  const { log, close: closeLog } = createLogger({
    tool: 'monitor',
    level: settings.loglevel,
    stdout: settings.stdout,
    syslog: settings.syslog,
    container: settings.container,
  });
  let etcd: { close(): void } | undefined;
  let events: DockerEventStream | undefined;
  let stopRequested = false;
  try {
    const docker = DockerClient.fromControl(dockerControlFrom(settings.control));
    const client = openEtcd(etcdConnectionOf(settings));
    etcd = client;
    const monitor = new ContainerMonitor({
      docker,
      log,
      container: settings.container,
      mode: settings.mode,
      timeoutMs: settings.timeout * 1000,
      periodSeconds: settings.period,
      etcdPrefix: settings.etcdPrefix,
      hostIp: settings.hostIp ?? defaultHostIp(),
      openRecord: (key, ttlSeconds) => new LeasedRecord({ client, key, ttlSeconds, log }),
    });
    // Repeated signals are harmless (systemd signals the listener and its children together).
    const stop = () => {
      stopRequested = true;
      void monitor.stop();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    const underListener = typeof process.send === 'function';
    if (underListener) {
      // The listener feeds this container's events and is this process's reason to live.
      process.on('message', (message) => {
        if (isDockerEventMessage(message)) monitor.handleEvent(message.event as ContainerEvent);
      });
      process.once('disconnect', stop);
      // Gone already (before this handler existed): stop now rather than never.
      if (!process.connected) stop();
    }

    await monitor.start();
    // Tells the listener this monitor is up, so it may start the next one.
    if (underListener) process.send?.({ type: 'ready' });
    if (!underListener) {
      events = new DockerEventStream(docker, { containerId: monitor.containerId });
      events.on('event', (event) => monitor.handleEvent(event));
      events.on('disconnected', (error) =>
        log.debug({ err: error.message }, 'Docker event stream broke; reconnecting'),
      );
      events.on('resync', () => monitor.check());
      // A subscription that hangs (a daemon still starting accepts /events but does not answer)
      // must not keep a SIGTERM waiting.
      await Promise.race([events.start(), monitor.ended]);
    }
    monitor.check();
    return (await monitor.ended).exitStatus;
  } catch (error) {
    // Signalled while still waiting for Docker at start: nothing was registered, and a
    // requested stop is exit 0 (SPEC §3), not the Docker error the abort surfaced.
    if (stopRequested) return ExitStatus.healthy;
    const status = exitStatusOf(error);
    log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
    process.stderr.write(`monitor: ${messageOf(error)}\n`);
    return status;
  } finally {
    events?.stop();
    etcd?.close();
    closeLog();
  }
}
