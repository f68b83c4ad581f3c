// The standalone monitor process, wired: Docker client, its own etcd client, the
// ContainerMonitor, its own Docker event subscription, and signals. The `monitor` CLI runs it;
// the listener's children run monitor-child.ts instead (no etcd client of their own).

import { dockerControlFrom, dockerControlSource } from '../docker/connection.js';
import { DockerClient } from '../docker/docker-client.js';
import { DockerEventStream } from '../docker/event-stream.js';
import { ExitStatus, exitStatusOf, messageOf } from '../errors.js';
import type { EtcdConnectionInput } from '../etcd/connection.js';
import { openEtcd } from '../etcd/etcd-client.js';
import { LeaseKeeper } from '../etcd/lease-keeper.js';
import { LeasedRecord } from '../etcd/leased-record.js';
import { createLogger } from '../log/logger.js';
import { defaultHostIp } from '../record/host-ip.js';
import { ContainerMonitor } from './container-monitor.js';
import type { MonitorSettings } from './protocol.js';

/** The standalone monitor's settings: a child's, plus its container and its own etcd client's. */
export interface StandaloneMonitorSettings extends MonitorSettings {
  container: string;
  etcdHost: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
}

export function etcdConnectionOf(
  settings: Omit<StandaloneMonitorSettings, 'container'>,
): EtcdConnectionInput {
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
export async function runMonitor(settings: StandaloneMonitorSettings): Promise<number> {
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
    const docker = DockerClient.fromControl(
      dockerControlFrom(settings.control),
      undefined,
      dockerControlSource(settings.control),
    );
    const client = openEtcd(etcdConnectionOf(settings));
    etcd = client;
    const leases = new LeaseKeeper(client);
    const monitor = new ContainerMonitor({
      docker,
      log,
      container: settings.container,
      mode: settings.mode,
      timeoutMs: settings.timeout * 1000,
      periodSeconds: settings.period,
      etcdPrefix: settings.etcdPrefix,
      hostIp: settings.hostIp ?? defaultHostIp(),
      openRecord: (key, ttlSeconds) => new LeasedRecord({ client, leases, key, ttlSeconds, log }),
    });
    // Repeated signals are harmless (systemd signals the listener and its children together).
    const stop = () => {
      stopRequested = true;
      void monitor.stop();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await monitor.start();
    // The monitor's own subscription, limited to its container. (Under the listener the
    // listener's one stream feeds it instead: that is monitor-child.ts, never this.)
    events = new DockerEventStream(docker, { containerId: monitor.containerId });
    events.on('event', (event) => monitor.handleEvent(event));
    events.on('disconnected', (error) =>
      log.debug({ err: error.message }, 'Docker event stream broke; reconnecting'),
    );
    events.on('resync', () => monitor.check());
    // A subscription that hangs (a daemon still starting accepts /events but does not answer)
    // must not keep a SIGTERM waiting.
    await Promise.race([events.start(), monitor.ended]);
    monitor.check();
    const end = await monitor.ended;
    if (end.reason === 'refused') {
      log.error({}, end.message);
      process.stderr.write(`monitor: ${end.message}\n`);
    }
    return end.exitStatus;
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
