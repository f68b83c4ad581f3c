// The listener's Prometheus metrics (SPEC §4 `/metrics`), with prom-client on a Registry of its
// own (no global default registry: every listener, and every test, has its own). The gauges are
// read at scrape time from the facade's state, so the hot paths only bump counters.
// Loaded only with --metrics: prom-client costs ~55 ms and ~12 MB at start-up.
//
// Every label takes a few fixed values (no container names or ids: their number is unbounded),
// and each series exists from the start at 0, so `rate()` and `increase()` see the first event.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Verdict } from '../../health/check-health.js';
import type { NotificationKind } from './notifier.js';
import { type ActionKind, VERDICTS } from './status.js';

/** Why the listener restarted a container (the `reason` label). */
export type RestartReason = 'unhealthy' | 'network-dependent';
/** Why the listener removed a container (the `reason` label). */
export type RemovalReason = 'exited' | 'orphaned-sidecar';

export const RESTART_REASONS: readonly RestartReason[] = ['unhealthy', 'network-dependent'];
export const REMOVAL_REASONS: readonly RemovalReason[] = ['exited', 'orphaned-sidecar'];
export const ACTION_KINDS: readonly ActionKind[] = ['restart', 'gave-up', 'remove', 'dependent-restart'];
export const NOTIFICATION_KINDS: readonly NotificationKind[] = [...ACTION_KINDS, 'crash-loop'];

/** Check durations: exec checks take tens of ms, sidecars a little more, timeouts up to --timeout. */
export const CHECK_DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the gauges read when scraped. */
export interface GaugeSource {
  monitors(): number;
  records(): number;
  crashLooping(): number;
  eventStreamUp(): boolean;
  /** epoch ms of the last finished sweep */
  lastSweepAt(): number | undefined;
}

export class ListenerMetrics {
  readonly registry = new Registry();
  private readonly checks: Counter<'verdict'>;
  private readonly checkSeconds: Histogram<'verdict'>;
  private readonly restarts: Counter<'reason'>;
  private readonly removals: Counter<'reason'>;
  private readonly gaveUp: Counter;
  private readonly actionFailures: Counter<'kind'>;
  private readonly reconnects: Counter;
  private readonly etcdErrors: Counter;
  private readonly crashes: Counter;
  private readonly crashLoops: Counter;
  private readonly notifications: Counter<'kind' | 'outcome'>;
  private readonly notificationsDropped: Counter<'kind'>;
  private readonly byVerdict = new Map<
    Verdict,
    { count: Counter.Internal; seconds: Histogram.Internal<'verdict'> }
  >();

  constructor(source: GaugeSource, options: { notify: boolean }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'checker_monitors_running',
      help: 'Monitor child processes that have a container.',
      registers,
      collect() {
        this.set(source.monitors());
      },
    });
    new Gauge({
      name: 'checker_records_registered',
      help: 'Service records published in etcd by live monitors.',
      registers,
      collect() {
        this.set(source.records());
      },
    });
    new Gauge({
      name: 'checker_monitors_crash_looping',
      help: 'Containers whose monitors are in a crash loop (3 crashes within 5 minutes).',
      registers,
      collect() {
        this.set(source.crashLooping());
      },
    });
    new Gauge({
      name: 'checker_event_stream_up',
      help: '1 while the Docker event stream is connected, else 0.',
      registers,
      collect() {
        this.set(source.eventStreamUp() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'checker_last_sweep_timestamp_seconds',
      help: 'When the last sweep (reconcile and policy pass) finished, in seconds since the epoch; 0 before the first.',
      registers,
      collect() {
        this.set((source.lastSweepAt() ?? 0) / 1000);
      },
    });

    this.checks = new Counter({
      name: 'checker_checks_total',
      help: 'Health checks run by the monitors, by verdict.',
      labelNames: ['verdict'],
      registers,
    });
    this.checkSeconds = new Histogram({
      name: 'checker_check_duration_seconds',
      help: 'How long the health checks of the monitors took, by verdict.',
      labelNames: ['verdict'],
      buckets: CHECK_DURATION_BUCKETS,
      registers,
    });
    for (const verdict of VERDICTS) {
      this.checks.inc({ verdict }, 0);
      this.checkSeconds.zero({ verdict });
    }
    this.restarts = new Counter({
      name: 'checker_restarts_total',
      help: 'Containers restarted by the policies of the listener, by reason.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of RESTART_REASONS) this.restarts.inc({ reason }, 0);
    this.removals = new Counter({
      name: 'checker_removals_total',
      help: 'Containers removed by the listener, by reason.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of REMOVAL_REASONS) this.removals.inc({ reason }, 0);
    this.gaveUp = new Counter({
      name: 'checker_restarts_given_up_total',
      help: 'Times a container used up its hourly restart limit and the listener stopped restarting it.',
      registers,
    });
    this.actionFailures = new Counter({
      name: 'checker_policy_action_failures_total',
      help: 'Policy actions whose Docker calls failed after every retry, by kind.',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ACTION_KINDS) if (kind !== 'gave-up') this.actionFailures.inc({ kind }, 0);
    this.reconnects = new Counter({
      name: 'checker_event_stream_reconnects_total',
      help: 'Times the Docker event stream broke and was connected again.',
      registers,
    });
    this.etcdErrors = new Counter({
      name: 'checker_etcd_errors_total',
      help: 'Failed etcd calls of the etcd client of the listener (each is retried).',
      registers,
    });
    this.crashes = new Counter({
      name: 'checker_monitor_crashes_total',
      help: 'Monitor children that died on their own while their container ran.',
      registers,
    });
    this.crashLoops = new Counter({
      name: 'checker_monitor_crash_loops_total',
      help: 'Crash loops begun: the monitors of a container crashed 3 times within 5 minutes.',
      registers,
    });
    this.notifications = new Counter({
      name: 'checker_notifications_total',
      help: 'Webhook notifications (--notify), one per URL, by kind and outcome (delivered, failed after retries).',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.notificationsDropped = new Counter({
      name: 'checker_notifications_dropped_total',
      help: 'Notifications not sent because one about the same container and kind went less than a minute before.',
      labelNames: ['kind'],
      registers,
    });
    if (options.notify) {
      for (const kind of NOTIFICATION_KINDS) {
        this.notifications.inc({ kind, outcome: 'delivered' }, 0);
        this.notifications.inc({ kind, outcome: 'failed' }, 0);
        this.notificationsDropped.inc({ kind }, 0);
      }
    }
  }

  /** One check's verdict and duration: the hot path (every monitor, every period). */
  checked(verdict: Verdict, durationMs: number): void {
    let bound = this.byVerdict.get(verdict);
    if (!bound) {
      // Bound once per verdict: prom-client hashes the labels on every unbound call.
      bound = { count: this.checks.labels({ verdict }), seconds: this.checkSeconds.labels({ verdict }) };
      this.byVerdict.set(verdict, bound);
    }
    bound.count.inc();
    if (Number.isFinite(durationMs) && durationMs >= 0) bound.seconds.observe(durationMs / 1000);
  }

  restarted(reason: RestartReason): void {
    this.restarts.inc({ reason });
  }

  removed(reason: RemovalReason): void {
    this.removals.inc({ reason });
  }

  gaveUpRestarting(): void {
    this.gaveUp.inc();
  }

  actionFailed(kind: ActionKind): void {
    this.actionFailures.inc({ kind });
  }

  reconnected(): void {
    this.reconnects.inc();
  }

  etcdError(): void {
    this.etcdErrors.inc();
  }

  monitorCrashed(): void {
    this.crashes.inc();
  }

  crashLoopBegan(): void {
    this.crashLoops.inc();
  }

  notification(kind: NotificationKind, outcome: 'delivered' | 'failed'): void {
    this.notifications.inc({ kind, outcome });
  }

  notificationDropped(kind: NotificationKind): void {
    this.notificationsDropped.inc({ kind });
  }

  /** The text exposition format, with its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
