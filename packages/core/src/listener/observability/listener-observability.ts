// The one interface between the listener and its observability (SPEC §4 Observability,
// Notifications): the listener says what happens (a monitor started, a check's verdict, a
// policy action, the event stream down…) and this keeps the `/status` book, the Prometheus
// metrics (--metrics) and the webhooks (--notify) from it. Every method returns at once and
// never throws: the listener calls them on its hot paths and on its action paths, and nothing
// here may delay or break either. Without --metrics no HTTP server runs and prom-client is not
// loaded; without --notify nothing is sent.
import { hostname } from 'node:os';
import type { MetricsAddress } from '../../cli/flags.js';
import type { RecordOutcome } from '../../etcd/record-outcome.js';
import type { Logger } from '../../log/logger.js';
import type { RecordOp } from '../../monitor/protocol.js';
import { CRASH_LOOP, CrashLoopDetector, type CrashLoopRule } from './crash-loop.js';
import { type EventStreamState, type HealthReport, healthOf, staleAfterMs } from './healthz.js';
import { formatAddress, ObservabilityServer } from './http-server.js';
import type { ListenerMetrics } from './metrics.js';
import { type Notification, Notifier, type NotifierTuning } from './notifier.js';
import {
  type ActionKind,
  type CheckReport,
  type ContainerRef,
  type ContainerStatus,
  StatusBook,
  VERDICTS,
} from './status.js';

export interface ListenerObservabilityOptions {
  log: Logger;
  /** --metrics; undefined: off */
  metrics?: MetricsAddress;
  /** --notify; empty or undefined: off */
  notify?: readonly string[];
  /** --interval (ms): /healthz wants a sweep within 3 of them */
  intervalMs: number;
  /** a container's image, for crash-loop notifications (the monitors do not know it) */
  imageOf?(id: string): Promise<string | undefined>;
  /** default os.hostname() */
  host?: string;
  now?: () => number;
  crashLoop?: CrashLoopRule;
  notifier?: Partial<NotifierTuning>;
  fetch?: typeof fetch;
}

/** A policy action, as PolicyActions reports it (its PolicyActionReport fits). */
export interface PolicyActionReport {
  kind: ActionKind;
  container: ContainerRef & { image?: string | null };
  /** the policy's reason, as in its log line */
  reason: string;
  /** the last output of the container's health check; '' or absent: none */
  healthOutput?: string | null;
  /** removals: the exit code */
  exitCode?: number;
}

/** The `/status` document. */
export interface StatusDocument {
  host: string;
  time: string;
  eventStream: 'up' | 'down' | 'connecting';
  lastSweepAt: string | null;
  containers: ContainerStatus[];
}

export class ListenerObservability {
  private readonly book = new StatusBook();
  private readonly loops: CrashLoopDetector;
  private readonly notifier: Notifier;
  private readonly server: ObservabilityServer | undefined;
  private readonly now: () => number;
  private readonly host: string;
  private readonly staleAfterMs: number;
  private stream: EventStreamState | undefined;
  private lastSweepAt: number | undefined;
  /** crash-loop notifications waiting for their container's image */
  private readonly lookups = new Set<Promise<void>>();

  /** Loads prom-client only when --metrics is given. */
  static async create(options: ListenerObservabilityOptions): Promise<ListenerObservability> {
    const metrics = options.metrics ? (await import('./metrics.js')).ListenerMetrics : undefined;
    return new ListenerObservability(options, metrics);
  }

  private readonly metrics: ListenerMetrics | undefined;

  private constructor(
    private readonly options: ListenerObservabilityOptions,
    Metrics: typeof ListenerMetrics | undefined,
  ) {
    this.now = options.now ?? Date.now;
    this.host = options.host ?? hostname();
    this.staleAfterMs = staleAfterMs(options.intervalMs);
    this.loops = new CrashLoopDetector(options.crashLoop ?? CRASH_LOOP);
    this.metrics = Metrics
      ? new Metrics(
          {
            monitors: () => this.book.monitors,
            records: () => this.book.registered,
            crashLooping: () => this.loops.loopingCount(this.now()),
            eventStreamUp: () => this.stream?.up ?? false,
            lastSweepAt: () => this.lastSweepAt,
          },
          { notify: (options.notify?.length ?? 0) > 0 },
        )
      : undefined;
    this.notifier = new Notifier({
      ...options.notifier,
      urls: options.notify ?? [],
      log: options.log,
      host: this.host,
      now: this.now,
      fetch: options.fetch,
      onOutcome: (kind, outcome) => {
        if (outcome === 'dropped') this.metrics?.notificationDropped(kind);
        else this.metrics?.notification(kind, outcome);
      },
    });
    this.server =
      options.metrics &&
      new ObservabilityServer(
        options.metrics,
        {
          metrics: () => this.metrics!.render(),
          status: () => this.status(),
          health: () => this.health(),
        },
        options.log,
      );
  }

  /**
   * Serves --metrics; resolves with the address bound ("127.0.0.1:9100"; the real port when 0
   * was asked), logged as `metrics listening`, or undefined without --metrics. Rejects with
   * MetricsUnavailable (exit 2) when the address cannot be used. With --notify, loads Node's
   * fetch now rather than on the first notification (see Notifier.warm).
   */
  async start(): Promise<string | undefined> {
    this.notifier.warm();
    if (!this.server) return undefined;
    const address = formatAddress(await this.server.start());
    this.options.log.info({ address }, 'metrics listening');
    return address;
  }

  /** Stops serving; lets notifications in flight finish for up to 2 s. */
  async close(): Promise<void> {
    await Promise.all([this.server?.close(), this.notifier.close()]);
  }

  // ---- monitors ----

  /** A monitor child was handed the container (supervisor's assign). */
  monitorStarted(container: ContainerRef, pid: number | undefined): void {
    this.book.monitorStarted(container, pid, this.now());
  }

  /**
   * A monitor child that had the container exited. `crashed`: it died on its own while its
   * container runs, so the supervisor starts another after a backoff; counts toward a crash loop.
   */
  monitorExited(
    container: ContainerRef,
    code: number | null,
    signal: NodeJS.Signals | null,
    crashed: boolean,
  ): void {
    const now = this.now();
    this.book.monitorExited(container, crashed, now);
    if (!crashed) return;
    this.metrics?.monitorCrashed();
    if (!this.loops.crashed(container.id, now)) return;
    this.metrics?.crashLoopBegan();
    const { crashes, windowMs } = this.loops.rule;
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const reason = `its monitor crashed ${this.loops.crashesWithin(container.id, now)} times within ${Math.round(windowMs / 60_000)} min (the last: ${how})`;
    this.options.log.warning(
      { container: container.name, id: container.id, crashes, windowMs, code, signal },
      `monitor in a crash loop: ${reason}`,
    );
    if (this.notifier.enabled) {
      const lookup = this.notifyCrashLoop(container, reason).finally(() => this.lookups.delete(lookup));
      this.lookups.add(lookup);
    }
  }

  /** A monitor's `checked` message: one verdict of the container's health check. */
  checked(container: ContainerRef, check: CheckReport): void {
    // The IPC guard does not look inside `checked`: a child of another build must not poison the labels.
    if (!VERDICTS.includes(check.verdict)) return;
    const at = Number.isFinite(check.at) ? check.at : this.now();
    this.book.checked(container, {
      verdict: check.verdict,
      status: String(check.status ?? ''),
      durationMs: Number(check.durationMs),
      at,
    });
    this.metrics?.checked(check.verdict, Number(check.durationMs));
  }

  /** A monitor's record request was served (RecordBroker.serve resolved with `outcome`). */
  recordServed(container: ContainerRef, op: RecordOp, key: string, outcome: RecordOutcome): void {
    const registered = op === 'close' ? false : outcome !== 'reached' ? undefined : op === 'publish';
    this.book.record(container, key, registered, this.now());
  }

  // ---- policies ----

  /**
   * A policy acts on a container: called when the action begins (where its NOTICE line is
   * logged), or for `gave-up` when the hourly limit is spent. Counts it, and notifies.
   */
  policyAction(report: PolicyActionReport): void {
    const { kind, container } = report;
    this.book.acted(container, kind, report.reason, this.now());
    if (kind === 'restart') this.metrics?.restarted('unhealthy');
    else if (kind === 'dependent-restart') this.metrics?.restarted('network-dependent');
    else if (kind === 'remove') this.metrics?.removed('exited');
    else this.metrics?.gaveUpRestarting();
    this.notifier.notify({
      kind,
      container: { id: container.id, name: container.name, image: container.image ?? null },
      reason: report.reason,
      healthOutput: report.healthOutput || null,
      ...(report.exitCode === undefined ? {} : { exitCode: report.exitCode }),
    });
  }

  /** A policy action's Docker calls failed after every retry. */
  policyActionFailed(kind: ActionKind, _container: ContainerRef): void {
    this.metrics?.actionFailed(kind);
  }

  /** The sweep removed an orphaned check sidecar. */
  sidecarRemoved(): void {
    this.metrics?.removed('orphaned-sidecar');
  }

  // ---- Docker, etcd, sweeps ----

  /**
   * The Docker event stream connected ('up': its `connected` and `resync` events) or broke
   * ('down': `disconnected`, with the error). An 'up' after a 'down' counts as a reconnect.
   */
  eventStream(state: 'up' | 'down', detail?: string): void {
    const was = this.stream;
    if (state === 'up') {
      if (was?.up) return;
      if (was) this.metrics?.reconnected();
      this.stream = { up: true, since: this.now() };
      return;
    }
    if (was && !was.up) {
      if (detail) was.detail = detail;
      return;
    }
    this.stream = { up: false, since: this.now(), ...(detail ? { detail } : {}) };
  }

  /**
   * A sweep finished (its container list succeeded): `running` are the ids of the containers
   * that should have a monitor (running or paused, not ignored). /healthz wants one recently.
   */
  swept(at: number = this.now(), running?: Iterable<string>): void {
    this.lastSweepAt = at;
    this.book.swept(running && new Set(running), at);
  }

  /** The container is gone (`destroy`): forget it. */
  containerRemoved(id: string): void {
    this.book.removed(id);
    this.loops.forget(id);
  }

  /** One failed etcd call (the record loops retry them). */
  etcdError(): void {
    this.metrics?.etcdError();
  }

  // ---- readers ----

  status(): StatusDocument {
    const now = this.now();
    return {
      host: this.host,
      time: new Date(now).toISOString(),
      eventStream: !this.stream ? 'connecting' : this.stream.up ? 'up' : 'down',
      lastSweepAt: this.lastSweepAt === undefined ? null : new Date(this.lastSweepAt).toISOString(),
      containers: this.book.containers((id) => ({
        count: this.loops.crashesWithin(id, now),
        loop: this.loops.inLoop(id, now),
      })),
    };
  }

  health(): HealthReport {
    return healthOf(
      { eventStream: this.stream, lastSweepAt: this.lastSweepAt, staleAfterMs: this.staleAfterMs },
      this.now(),
    );
  }

  /** Resolves once every notification started so far has been delivered or given up (tests). */
  async notificationsSettled(): Promise<void> {
    while (this.lookups.size > 0) await Promise.allSettled([...this.lookups]);
    await this.notifier.settled();
  }

  private async notifyCrashLoop(container: ContainerRef, reason: string) {
    let image = this.book.get(container.id)?.image ?? null;
    if (!image && this.options.imageOf) {
      image = (await this.options.imageOf(container.id).catch(() => undefined)) ?? null;
      if (image) this.book.setImage(container.id, image);
    }
    const notification: Notification = {
      kind: 'crash-loop',
      container: { id: container.id, name: container.name, image },
      reason,
      healthOutput: null,
    };
    this.notifier.notify(notification);
  }
}
