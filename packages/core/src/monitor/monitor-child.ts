// The monitor as the listener runs it (packages/monitor/bin/child.js): boots, says `booted`,
// waits idle (a warm monitor) until the listener assigns it a container, then monitors that
// container with the listener's Docker events and its record served by the listener's one etcd
// client. It loads no etcd code at all. See protocol.ts for the conversation.
import { dockerControlFrom } from '../docker/connection.js';
import { DockerClient } from '../docker/docker-client.js';
import { ExitStatus, exitStatusOf, messageOf } from '../errors.js';
import { createLogger } from '../log/logger.js';
import { defaultHostIp } from '../record/host-ip.js';
import { ContainerMonitor } from './container-monitor.js';
import {
  isListenerMessage,
  type ListenerMessage,
  MONITOR_PROTOCOL_ENV,
  MONITOR_PROTOCOL_VERSION,
  MONITOR_SETTINGS_ENV,
  type MonitorMessage,
  type MonitorSettings,
  monitorTitle,
  PROTOCOL_MISMATCH_EXIT,
} from './protocol.js';
import { RemoteRecord } from './remote-record.js';

const say = (line: string) => process.stderr.write(`monitor: ${line}\n`);

/** Runs one monitor child to its end; resolves with the exit status. */
export async function runMonitorChild(): Promise<number> {
  const send = process.send?.bind(process);
  const spoken = process.env[MONITOR_PROTOCOL_ENV];
  if (!send || spoken === undefined) {
    say(
      `bin/child.js is started by the listener (with an IPC channel and ${MONITOR_PROTOCOL_ENV}); run bin/run.js <container> instead`,
    );
    return ExitStatus.usage;
  }
  if (spoken !== String(MONITOR_PROTOCOL_VERSION)) {
    say(
      `the listener speaks monitor protocol ${spoken}, this monitor speaks ${MONITOR_PROTOCOL_VERSION}: install the same version of @checker/listener and @checker/monitor`,
    );
    return PROTOCOL_MISMATCH_EXIT;
  }
  const settings = JSON.parse(process.env[MONITOR_SETTINGS_ENV] ?? 'null') as MonitorSettings | null;
  if (!settings) {
    say(`${MONITOR_SETTINGS_ENV} is missing: bin/child.js is started by the listener`);
    return ExitStatus.usage;
  }
  process.title = monitorTitle();
  const tell = (message: MonitorMessage) => {
    if (process.connected) send(message, undefined, undefined, () => {});
  };

  let monitor: ContainerMonitor | undefined;
  let record: RemoteRecord | undefined;
  let assigned: ((message: Extract<ListenerMessage, { type: 'assign' }>) => void) | undefined;
  const assignment = new Promise<Extract<ListenerMessage, { type: 'assign' }>>((resolve) => {
    assigned = resolve;
  });
  const stopped = new Promise<number>((resolve) => {
    // The listener is gone (killed, crashed): end now. The record stays on its lease for the
    // next listener's monitor to take over, so a listener restart does not make it flap.
    process.once('disconnect', () => {
      monitor?.abandon();
      resolve(ExitStatus.healthy);
    });
    const stop = () => {
      if (!monitor) return resolve(ExitStatus.healthy);
      void monitor.stop().then(() => resolve(ExitStatus.healthy));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  process.on('message', (message: unknown) => {
    if (!isListenerMessage(message)) return;
    switch (message.type) {
      case 'assign':
        assigned?.(message);
        assigned = undefined;
        return;
      case 'docker-event':
        monitor?.handleEvent(message.event);
        return;
      case 'record-done':
        record?.handle(message);
        return;
      case 'drain':
        void (monitor?.drain(message.holdMs) ?? Promise.resolve('closed' as const)).then((outcome) =>
          tell({ type: 'drained', requestId: message.requestId, outcome }),
        );
        return;
    }
  });

  const docker = DockerClient.fromControl(dockerControlFrom(settings.control));
  tell({ type: 'booted', protocol: MONITOR_PROTOCOL_VERSION });
  const job = await Promise.race([assignment, stopped]);
  if (typeof job === 'number') return job;

  process.title = monitorTitle(job.container);
  const { log, close: closeLog } = createLogger({
    tool: 'monitor',
    level: settings.loglevel,
    stdout: settings.stdout,
    syslog: settings.syslog,
    container: job.name || job.container,
  });
  try {
    monitor = new ContainerMonitor({
      docker,
      log,
      container: job.container,
      mode: settings.mode,
      timeoutMs: settings.timeout * 1000,
      periodSeconds: settings.period,
      etcdPrefix: settings.etcdPrefix,
      hostIp: settings.hostIp ?? defaultHostIp(),
      sidecarOwner: 'listener',
      // The listener feeds this child its container's events from the assignment on.
      reuseStartInspect: true,
      openRecord: (key, ttlSeconds) => {
        record = new RemoteRecord({ send: tell }, key, ttlSeconds);
        return record;
      },
      onChecked: (result) =>
        tell({
          type: 'checked',
          verdict: result.verdict,
          status: result.status,
          durationMs: result.durationMs,
          at: Date.now(),
        }),
    });
    const started = await Promise.race([monitor.start().then(() => true), stopped.then(() => false)]);
    if (!started) return ExitStatus.healthy;
    tell({ type: 'ready', container: job.container, key: monitor.recordKey });
    monitor.check();
    const end = await Promise.race([monitor.ended, stopped]);
    if (typeof end === 'object' && end.reason === 'refused') {
      log.error({}, end.message);
      say(end.message);
      return end.exitStatus;
    }
    return ExitStatus.healthy;
  } catch (error) {
    const status = exitStatusOf(error);
    log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
    say(messageOf(error));
    return status;
  } finally {
    closeLog();
  }
}
