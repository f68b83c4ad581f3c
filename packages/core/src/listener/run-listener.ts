// The listener process, wired (SPEC §4): the host's one Docker event stream and its one etcd
// client, the monitor children (forked from `monitorEntry`, warm ones included) whose records
// that client serves, the policies, and the signals. The `listener` CLI parses flags and calls
// this.
import { fork } from 'node:child_process';
import type { MetricsAddress } from '../cli/flags.js';
import { dockerControlFrom, dockerControlSource } from '../docker/connection.js';
import { DockerClient, isNotFound } from '../docker/docker-client.js';
import { detectOwnContainerId } from '../docker/own-container-id.js';
import { ExecModeUnsupported, ExitStatus, exitStatusOf, messageOf } from '../errors.js';
import { openEtcd } from '../etcd/etcd-client.js';
import { LeaseKeeper } from '../etcd/lease-keeper.js';
import { execKillReach } from '../health/exec-runner.js';
import { createLogger } from '../log/logger.js';
import { type MonitorSettings, monitorForkOptions } from '../monitor/protocol.js';
import { etcdConnectionOf, type StandaloneMonitorSettings } from '../monitor/run-monitor.js';
import { defaultHostIp } from '../record/host-ip.js';
import { Listener } from './listener.js';
import { MonitorSupervisor } from './monitor-supervisor.js';
import { ListenerObservability } from './observability/listener-observability.js';
import { RecordBroker } from './record-broker.js';

export interface ListenerSettings extends Omit<StandaloneMonitorSettings, 'container'> {
  prefix: string;
  /** ms */
  interval: number;
  retries: number;
  quiet: boolean;
  /** monitors kept booted and idle */
  warm: number;
  /** --metrics: where /metrics, /status and /healthz are served; off when undefined */
  metrics?: MetricsAddress;
  /** --notify: webhook URLs for policy actions and crash loops */
  notify?: readonly string[];
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
  let refused: string | undefined;
  let observability: ListenerObservability | undefined;
  try {
    const control = dockerControlFrom(settings.control);
    const docker = DockerClient.fromControl(control, undefined, dockerControlSource(settings.control));
    if (settings.mode === 'exec') await refuseExecWhereHungChecksStay(docker);
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
    const seen = await ListenerObservability.create({
      log,
      metrics: settings.metrics,
      notify: settings.notify,
      intervalMs: settings.interval,
      imageOf: async (id) => (await docker.inspectContainer(id)).Config?.Image,
    });
    observability = seen;
    const broker = new RecordBroker({ client, leases, log, onError: () => seen.etcdError() });
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
      onAssign: (owner) => seen.monitorStarted({ id: owner.container, name: owner.name }, owner.pid),
      onMessage: (owner, message, reply) => {
        const ref = { id: owner.container, name: owner.name };
        if (message.type === 'checked') return seen.checked(ref, message);
        if (message.type !== 'record') return;
        void broker.serve(owner, message).then(
          (outcome) => {
            seen.recordServed(ref, message.op, message.key, outcome);
            reply({ type: 'record-done', requestId: message.requestId, outcome });
          },
          (error) => {
            log.warning(
              { container: owner.name, id: owner.container, err: messageOf(error) },
              'record request failed',
            );
            reply({ type: 'record-done', requestId: message.requestId, outcome: 'closed' });
          },
        );
      },
      onExit: (owner, code, signal, crashed) => {
        broker.release(owner.id);
        seen.monitorExited({ id: owner.container, name: owner.name }, code, signal, crashed);
        // A monitor refuses the listener's own settings (--mode exec where hung checks cannot be
        // ended): every other one would too, so the listener stops and says so.
        if (code === ExitStatus.usage && !refused) {
          refused = `a monitor refused the settings (see its line above): stopping`;
          log.error({ container: owner.name, id: owner.container }, refused);
          process.kill(process.pid, 'SIGTERM');
        }
      },
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
      onPolicyAction: (report) => seen.policyAction(report),
      onPolicyActionFailed: (kind, container) => seen.policyActionFailed(kind, container),
      observability: seen,
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
    await seen.start();
    await listener.start();
    await stopped;
    // Every monitor has closed its record (the host is leaving); nothing is left to serve.
    broker.releaseAll();
    log.info({}, 'stopped');
    return refused ? ExitStatus.usage : ExitStatus.healthy;
  } catch (error) {
    const status = exitStatusOf(error);
    log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
    process.stderr.write(`listener: ${messageOf(error)}\n`);
    return status;
  } finally {
    await observability?.close();
    leases?.close();
    etcd?.close();
    closeLog();
  }
}

/**
 * `--mode exec` ends a hung check by its host pid: refused at start (exit 2) when this process
 * cannot see the pids of a running container (the listener in a container without --pid host).
 */
async function refuseExecWhereHungChecksStay(docker: DockerClient): Promise<void> {
  const [any] = await docker.listContainers({ filters: { status: ['running'] } }).catch(() => []);
  if (!any) return; // nothing to look at yet: the first monitor will tell
  const info = await docker.inspectContainer(any.Id).catch(() => undefined);
  const reason = info && (await execKillReach(info, () => docker.inspectContainer(any.Id)));
  if (reason) throw new ExecModeUnsupported(reason);
}
