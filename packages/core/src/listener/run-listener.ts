// The listener process, wired (SPEC §4): the host's one Docker event stream and its one etcd
// client, the monitor children (forked from `monitorEntry`, warm ones included) whose records
// that client serves, the policies, and the signals. The `listener` CLI parses flags and calls
// this.
import { fork } from 'node:child_process';
import { dockerControlFrom } from '../docker/connection.js';
import { DockerClient, isNotFound } from '../docker/docker-client.js';
import { detectOwnContainerId } from '../docker/own-container-id.js';
import { ExitStatus, exitStatusOf, messageOf } from '../errors.js';
import { openEtcd } from '../etcd/etcd-client.js';
import { LeaseKeeper } from '../etcd/lease-keeper.js';
import { createLogger } from '../log/logger.js';
import { type MonitorSettings, monitorForkOptions } from '../monitor/protocol.js';
import { etcdConnectionOf, type StandaloneMonitorSettings } from '../monitor/run-monitor.js';
import { defaultHostIp } from '../record/host-ip.js';
import { Listener } from './listener.js';
import { MonitorSupervisor } from './monitor-supervisor.js';
import { RecordBroker } from './record-broker.js';

export interface ListenerSettings extends Omit<StandaloneMonitorSettings, 'container'> {
  prefix: string;
  /** ms */
  interval: number;
  retries: number;
  quiet: boolean;
  /** monitors kept booted and idle */
  warm: number;
}

export interface ListenerWiring {
  /** the monitor child's entry script (packages/monitor/bin/child.js) */
  monitorEntry: string;
}

/** Runs until SIGTERM/SIGINT; resolves with the exit status. */
export async function runListener(settings: ListenerSettings, wiring: ListenerWiring): Promise<number> {
  const { log, close: closeLog } = createLogger({
    tool: 'listener',
    level: settings.loglevel,
    stdout: settings.stdout,
    syslog: settings.syslog,
    quiet: settings.quiet,
    container: null,
  });
  let etcd: { close(): void } | undefined;
  let leases: LeaseKeeper | undefined;
  try {
    const control = dockerControlFrom(settings.control);
    const docker = DockerClient.fromControl(control);
    const client = openEtcd(etcdConnectionOf(settings));
    etcd = client;
    leases = new LeaseKeeper(client);
    // Connect now, not on the first record: a new gRPC channel takes a few hundred ms, which
    // the first container's registration would otherwise wait for. (etcd may be down: the
    // records retry on their own; this only says so early.)
    client.maintenance
      .status({})
      .catch((error) =>
        log.warning({ err: messageOf(error) }, 'etcd does not answer yet; records will wait for it'),
      );
    const broker = new RecordBroker({ client, leases, log });
    const childSettings: MonitorSettings = {
      control,
      mode: settings.mode,
      timeout: settings.timeout,
      period: settings.period,
      // --quiet: the monitors keep only their actions (register, deregister) and problems.
      loglevel:
        settings.quiet && ['DEBUG', 'INFO'].includes(settings.loglevel) ? 'NOTICE' : settings.loglevel,
      stdout: settings.stdout,
      syslog: settings.syslog,
      etcdPrefix: settings.etcdPrefix,
      hostIp: settings.hostIp ?? defaultHostIp(),
    };
    const forkOptions = monitorForkOptions(childSettings);
    const supervisor = new MonitorSupervisor({
      log,
      warm: settings.warm,
      spawn: () => fork(wiring.monitorEntry, [], forkOptions),
      isRunning: async (id) => {
        const info = await docker.inspectContainer(id).catch((error) => {
          if (isNotFound(error)) return undefined;
          throw error;
        });
        return Boolean(info?.State?.Running);
      },
      onMessage: (owner, message, reply) => {
        if (message.type !== 'record') return;
        void broker.serve(owner, message).then(
          (outcome) => reply({ type: 'record-done', requestId: message.requestId, outcome }),
          (error) => {
            log.warning(
              { container: owner.name, id: owner.container, err: messageOf(error) },
              'record request failed',
            );
            reply({ type: 'record-done', requestId: message.requestId, outcome: 'closed' });
          },
        );
      },
      onExit: (owner) => broker.release(owner.id),
    });
    const listener = new Listener({
      docker,
      log,
      supervisor,
      prefix: settings.prefix,
      intervalMs: settings.interval,
      retries: settings.retries,
      ownContainerId: await detectOwnContainerId(),
      // Not a flag: the default suits every check timeout; tests shorten it.
      orphanSidecarAfterMs: Number(process.env.CHECKER_ORPHAN_SIDECAR_AFTER_MS) || undefined,
    });
    const stopped = new Promise<void>((resolve) => {
      // Repeated signals are harmless: systemd (KillMode=control-group) signals the listener
      // and its children together, and an impatient operator presses ^C twice.
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping: ending every monitor');
        void listener.stop().then(resolve);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    await listener.start();
    await stopped;
    // Every monitor has closed its record (the host is leaving); nothing is left to serve.
    broker.releaseAll();
    log.info({}, 'stopped');
    return ExitStatus.healthy;
  } catch (error) {
    const status = exitStatusOf(error);
    log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
    process.stderr.write(`listener: ${messageOf(error)}\n`);
    return status;
  } finally {
    leases?.close();
    etcd?.close();
    closeLog();
  }
}
