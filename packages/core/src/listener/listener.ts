// The listener (SPEC §4): follows Docker's container events and keeps one monitor child per
// running container, and applies docker-mon's policies to containers that opted in. Events
// drive everything at once; a sweep every --interval (and after every reconnect of the event
// stream) makes the monitors equal to the running containers and catches what events missed.
import type Dockerode from 'dockerode';
import type { ContainerEvent } from '../docker/container-event.js';
import type { DockerClient } from '../docker/docker-client.js';
import { DockerEventStream } from '../docker/event-stream.js';
import { messageOf } from '../errors.js';
import {
  SIDECAR_KIND_LABEL,
  SIDECAR_LABEL,
  SIDECAR_OWNER_LABEL,
  SIDECAR_TARGET_LABEL,
  SIDECAR_TIMEOUT_LABEL,
} from '../health/sidecar-labels.js';
import type { Logger } from '../log/logger.js';
import type { MonitorSupervisor } from './monitor-supervisor.js';
import type { ListenerObservability } from './observability/listener-observability.js';
import { PolicyActions, type PolicyActionsOptions } from './policy-actions.js';
import { isIgnored } from './selection.js';

/** How long past its timeout a one-shot check sidecar may stay before the sweep counts it as orphaned. */
export const ORPHAN_SIDECAR_AFTER_MS = 30_000;

export interface ListenerOptions {
  docker: DockerClient;
  log: Logger;
  supervisor: MonitorSupervisor;
  prefix: string;
  intervalMs: number;
  retries: number;
  ownContainerId?: string;
  /** told of every policy action (metrics, notifications) */
  onPolicyAction?: PolicyActionsOptions['onAction'];
  /** told of a policy action that failed after every retry */
  onPolicyActionFailed?: PolicyActionsOptions['onFailed'];
  /** told what the listener sees (metrics, /status, /healthz) */
  observability?: Pick<
    ListenerObservability,
    'eventStream' | 'swept' | 'sidecarRemoved' | 'containerRemoved'
  >;
  /** one-shot check sidecars this long past their timeout are removed by the sweep; default ORPHAN_SIDECAR_AFTER_MS */
  orphanSidecarAfterMs?: number;
}

export class Listener {
  private readonly events: DockerEventStream;
  private readonly policies: PolicyActions;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private sweepAgain = false;
  private streamDown: string | undefined;
  private stopped = false;
  /** when each container's last event arrived: a sweep's list must not undo newer events */
  private readonly eventAt = new Map<string, number>();

  constructor(private readonly options: ListenerOptions) {
    this.events = new DockerEventStream(options.docker);
    this.policies = new PolicyActions({
      docker: options.docker,
      log: options.log,
      retries: options.retries,
      drain: (id, holdMs, timeoutMs) => options.supervisor.drain(id, holdMs, timeoutMs),
      onAction: options.onPolicyAction,
      onFailed: options.onPolicyActionFailed,
    });
  }

  /** Subscribes first, then sweeps, so nothing that happens in between is lost. */
  async start(): Promise<void> {
    const { log } = this.options;
    const seen = this.options.observability;
    this.events.on('event', (event) => this.onEvent(event));
    this.events.on('connected', () => seen?.eventStream('up'));
    this.events.on('disconnected', (error) => {
      seen?.eventStream('down', messageOf(error));
      if (this.streamDown === undefined)
        log.warning({ err: messageOf(error) }, 'Docker event stream lost; reconnecting');
      this.streamDown = messageOf(error);
    });
    this.events.on('resync', () => {
      seen?.eventStream('up');
      log.info({ down: this.streamDown }, 'Docker event stream back; replayed missed events, reconciling');
      this.streamDown = undefined;
      void this.sweep();
    });
    this.options.supervisor.start();
    await this.events.start();
    if (this.stopped) return;
    log.info(
      {
        prefix: this.options.prefix,
        intervalMs: this.options.intervalMs,
        ownContainer: this.options.ownContainerId ?? null,
      },
      'listening to Docker events',
    );
    await this.sweep();
    this.scheduleSweep();
  }

  /** Ends every monitor (each removes its key) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.sweepTimer);
    this.events.stop();
    this.policies.close();
    await this.options.supervisor.stopAll();
  }

  private ignored(id: string, name: string | undefined, labels: Record<string, string> | undefined): boolean {
    const reason = isIgnored(
      { id, name: name ?? '', labels },
      { prefix: this.options.prefix, ownContainerId: this.options.ownContainerId },
    );
    return reason !== null;
  }

  private onEvent(event: ContainerEvent) {
    if (this.stopped) return;
    // Event attributes carry the container's labels and name.
    const selected = !this.ignored(event.id, event.name, event.attributes);
    // The policies see every container's lifecycle but act only on selected ones (a network
    // dependent's container may be outside --prefix). Our own sidecars are nobody's business.
    if (event.attributes[SIDECAR_LABEL] !== '1') this.policies.handleEvent(event, selected);
    if (!selected) return;
    const { supervisor } = this.options;
    this.eventAt.set(event.id, Date.now());
    switch (event.action) {
      case 'start':
      case 'restart':
      case 'unpause':
        // A monitor it gets now inspects it after this event; one it had must hear of it.
        if (supervisor.want(event.id, event.name ?? '')) supervisor.forward(event);
        return;
      case 'die':
        supervisor.forward(event);
        supervisor.release(event.id);
        return;
      case 'destroy':
        supervisor.release(event.id);
        this.options.observability?.containerRemoved(event.id);
        return;
      default:
        supervisor.forward(event);
    }
  }

  /** One reconcile + policy pass; concurrent requests fold into one more pass. */
  private sweep(): Promise<void> {
    if (this.sweeping) {
      this.sweepAgain = true;
      return this.sweeping;
    }
    this.sweeping = (async () => {
      do {
        this.sweepAgain = false;
        await this.sweepOnce();
      } while (this.sweepAgain && !this.stopped);
    })().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce() {
    const { docker, log, supervisor } = this.options;
    let containers: Dockerode.ContainerInfo[];
    const listedAt = Date.now();
    try {
      containers = await docker.listContainers({ all: true });
    } catch (error) {
      log.debug({ err: messageOf(error) }, 'sweep could not list containers');
      return;
    }
    if (this.stopped) return;
    void this.removeOrphanSidecars(containers);
    const running = new Map<string, string>();
    const nameOf = (c: Dockerode.ContainerInfo) => c.Names?.[0]?.replace(/^\//, '') ?? '';
    const selected = (c: Dockerode.ContainerInfo) => !this.ignored(c.Id, nameOf(c), c.Labels);
    for (const c of containers) {
      // A paused container keeps its monitor (which has withdrawn its key): unpause is a check.
      if (selected(c) && (c.State === 'running' || c.State === 'paused')) running.set(c.Id, nameOf(c));
    }
    this.policies.sweep(containers, selected);
    // Events that arrived while the list was being made are newer than it: they stand.
    const fresh = new Set<string>();
    for (const [id, at] of this.eventAt) {
      if (at >= listedAt) fresh.add(id);
      else if (at < listedAt - 60_000) this.eventAt.delete(id);
    }
    const changes = supervisor.reconcile(running, fresh);
    this.options.observability?.swept(Date.now(), running.keys());
    if (changes.started || changes.stopped)
      log.info({ ...changes, running: running.size }, 'reconciled monitors with running containers');
  }

  /**
   * Sidecars nobody will remove:
   * - one-shot: a `check` or monitor killed with SIGKILL cannot remove its sidecar, and a
   *   removal can fail; a live check removes its own as soon as the command ends or its timeout
   *   passes, so one older than its timeout (label) plus a margin has no owner left;
   * - idle (a monitor's long-lived sidecar, made by this listener's monitors): its target no
   *   longer runs, or it stopped itself. (One left by a killed monitor whose container still
   *   runs is removed by the monitor that replaces it, when it makes its own.) One made by a
   *   `monitor` run by hand goes once its target is gone.
   * Running or not, they are removed.
   */
  private async removeOrphanSidecars(containers: Dockerode.ContainerInfo[]) {
    const { docker, log } = this.options;
    const now = Date.now();
    const margin = this.options.orphanSidecarAfterMs ?? ORPHAN_SIDECAR_AFTER_MS;
    // A paused target keeps its sidecar (its monitor keeps running too).
    const runningIds = new Set(
      containers.filter((c) => c.State === 'running' || c.State === 'paused').map((c) => c.Id),
    );
    const existing = new Set(containers.map((c) => c.Id));
    const orphans = containers.filter((c) => {
      const labels = c.Labels ?? {};
      if (labels[SIDECAR_LABEL] !== '1') return false;
      if (labels[SIDECAR_KIND_LABEL] === 'idle') {
        // A `monitor` run by hand keeps its own; but one whose container is gone helps nobody.
        if (labels[SIDECAR_OWNER_LABEL] !== 'listener')
          return !existing.has(labels[SIDECAR_TARGET_LABEL] ?? '');
        // One being made right now is `created` for a moment: not an orphan unless it stays so.
        const stalled = c.State === 'created' && now - c.Created * 1000 > margin;
        return (
          c.State === 'exited' ||
          c.State === 'dead' ||
          stalled ||
          !runningIds.has(labels[SIDECAR_TARGET_LABEL] ?? '')
        );
      }
      const timeoutMs = Number(labels[SIDECAR_TIMEOUT_LABEL]) || 0;
      return now - c.Created * 1000 > timeoutMs + margin;
    });
    for (const c of orphans) {
      try {
        if ((await docker.removeContainer(c.Id, { force: true })) === 'gone') continue;
        this.options.observability?.sidecarRemoved();
        log.notice(
          {
            container: c.Names?.[0]?.replace(/^\//, ''),
            id: c.Id,
            action: 'remove',
            target: c.Labels?.[SIDECAR_TARGET_LABEL],
          },
          'removed an orphaned check sidecar',
        );
      } catch (error) {
        log.debug({ id: c.Id, err: messageOf(error) }, 'could not remove an orphaned check sidecar');
      }
    }
  }

  private scheduleSweep() {
    if (this.stopped) return;
    this.sweepTimer = setTimeout(async () => {
      await this.sweep();
      this.scheduleSweep();
    }, this.options.intervalMs);
  }
}
