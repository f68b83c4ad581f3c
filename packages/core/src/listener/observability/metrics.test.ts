import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import type { Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type GaugeSource, ListenerMetrics } from './metrics.js';

function source(overrides: Partial<GaugeSource> = {}): GaugeSource {
  return {
    monitors: () => 0,
    records: () => 0,
    crashLooping: () => 0,
    eventStreamUp: () => false,
    lastSweepAt: () => undefined,
    ...overrides,
  };
}

async function scrape(metrics: ListenerMetrics): Promise<Map<string, PrometheusFamily>> {
  const { body, contentType } = await metrics.render();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheusTextFormat(body).map((family) => [family.name, family]));
}

/** The value of the sample of `name` with exactly these labels (0 labels: the unlabelled one). */
function value(families: Map<string, PrometheusFamily>, name: string, labels: Record<string, string> = {}) {
  const family = families.get(name);
  if (!family) throw new Error(`no metric ${name}`);
  const sample = family.metrics.find((m) => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels));
  if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(sample.value);
}

/** A histogram's series by verdict: count, sum, and cumulative count per bucket bound. */
async function histogramSeries(metrics: ListenerMetrics, name: string) {
  const histogram = metrics.registry.getSingleMetric(name) as Histogram | undefined;
  const values = (await histogram?.get())?.values ?? [];
  const series = new Map<string, { count: number; sum: number; buckets: Record<string, number> }>();
  for (const v of values) {
    const verdict = String(v.labels.verdict);
    const entry = series.get(verdict) ?? { count: 0, sum: 0, buckets: {} };
    if (v.metricName === `${name}_count`) entry.count = v.value;
    else if (v.metricName === `${name}_sum`) entry.sum = v.value;
    else entry.buckets[String(v.labels.le)] = v.value;
    series.set(verdict, entry);
  }
  return series;
}

/** name → [type, sorted label names of its samples] */
const EXPECTED: Record<string, [PrometheusFamily['type'], string[]]> = {
  checker_monitors_running: ['GAUGE', []],
  checker_records_registered: ['GAUGE', []],
  checker_monitors_crash_looping: ['GAUGE', []],
  checker_event_stream_up: ['GAUGE', []],
  checker_last_sweep_timestamp_seconds: ['GAUGE', []],
  checker_checks_total: ['COUNTER', ['verdict']],
  checker_check_duration_seconds: ['HISTOGRAM', ['verdict']],
  checker_restarts_total: ['COUNTER', ['reason']],
  checker_removals_total: ['COUNTER', ['reason']],
  checker_restarts_given_up_total: ['COUNTER', []],
  checker_policy_action_failures_total: ['COUNTER', ['kind']],
  checker_event_stream_reconnects_total: ['COUNTER', []],
  checker_etcd_errors_total: ['COUNTER', []],
  checker_monitor_crashes_total: ['COUNTER', []],
  checker_monitor_crash_loops_total: ['COUNTER', []],
  checker_notifications_total: ['COUNTER', ['kind', 'outcome']],
  checker_notifications_dropped_total: ['COUNTER', ['kind']],
};

describe('listener metrics (prom-client, a registry of its own)', () => {
  it('exposes every documented checker_ metric with its type, help and labels, each series from 0', async () => {
    const families = await scrape(new ListenerMetrics(source(), { notify: true }));
    const ours = [...families.keys()].filter((name) => name.startsWith('checker_')).sort();
    expect(ours).toEqual(Object.keys(EXPECTED).sort());
    for (const [name, [type, labels]] of Object.entries(EXPECTED)) {
      const family = families.get(name)!;
      expect(family.type, name).toBe(type);
      expect(family.help.length, `${name} has help`).toBeGreaterThan(10);
      expect(family.metrics.length, `${name} has series`).toBeGreaterThan(0);
      // parse-prometheus-text-format folds a labelled histogram into one unlabelled sample
      // (yunyu/parse-prometheus-text-format#8): its labels are checked on prom-client's JSON below.
      if (type === 'HISTOGRAM') continue;
      for (const sample of family.metrics)
        expect(Object.keys(sample.labels ?? {}).sort(), name).toEqual(labels);
    }
    expect(value(families, 'checker_checks_total', { verdict: 'unhealthy' })).toBe(0);
    const durations = await histogramSeries(
      new ListenerMetrics(source(), { notify: true }),
      'checker_check_duration_seconds',
    );
    expect([...durations.keys()].sort()).toEqual(['healthy', 'no-check', 'unhealthy']);
    expect(value(families, 'checker_restarts_total', { reason: 'network-dependent' })).toBe(0);
    expect(value(families, 'checker_removals_total', { reason: 'orphaned-sidecar' })).toBe(0);
    expect(value(families, 'checker_notifications_dropped_total', { kind: 'crash-loop' })).toBe(0);
  });

  it('includes prom-client’s default process metrics', async () => {
    const families = await scrape(new ListenerMetrics(source(), { notify: false }));
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(families.has(name), name).toBe(true);
    // No notification series without --notify.
    expect(families.get('checker_notifications_total')?.metrics ?? []).toEqual([]);
  });

  it('counts checks by verdict with their durations in seconds', async () => {
    const metrics = new ListenerMetrics(source(), { notify: false });
    metrics.checked('healthy', 40);
    metrics.checked('healthy', 120);
    metrics.checked('unhealthy', 10_000);
    metrics.checked('no-check', Number.NaN);
    const families = await scrape(metrics);
    expect(value(families, 'checker_checks_total', { verdict: 'healthy' })).toBe(2);
    expect(value(families, 'checker_checks_total', { verdict: 'unhealthy' })).toBe(1);
    expect(value(families, 'checker_checks_total', { verdict: 'no-check' })).toBe(1);
    expect(families.get('checker_check_duration_seconds')?.type).toBe('HISTOGRAM');
    // The text parser cannot keep a labelled histogram's series apart (see above): read them from
    // prom-client's own JSON of the same registry.
    const histogram = await histogramSeries(metrics, 'checker_check_duration_seconds');
    expect(histogram.get('healthy')).toMatchObject({ count: 2, buckets: { 0.05: 1, 0.25: 2 } });
    expect(histogram.get('healthy')!.sum).toBeCloseTo(0.16);
    expect(histogram.get('unhealthy')).toMatchObject({ count: 1, buckets: { 5: 0, 10: 1 } });
    // A check without a usable duration is counted, not observed.
    expect(histogram.get('no-check')).toMatchObject({ count: 0 });
  });

  it('counts actions, reconnects, etcd errors, crashes and notifications', async () => {
    const metrics = new ListenerMetrics(source(), { notify: true });
    metrics.restarted('unhealthy');
    metrics.restarted('unhealthy');
    metrics.restarted('network-dependent');
    metrics.removed('exited');
    metrics.removed('orphaned-sidecar');
    metrics.gaveUpRestarting();
    metrics.actionFailed('restart');
    metrics.reconnected();
    metrics.etcdError();
    metrics.etcdError();
    metrics.monitorCrashed();
    metrics.crashLoopBegan();
    metrics.notification('remove', 'delivered');
    metrics.notification('remove', 'failed');
    metrics.notificationDropped('restart');
    const f = await scrape(metrics);
    expect(value(f, 'checker_restarts_total', { reason: 'unhealthy' })).toBe(2);
    expect(value(f, 'checker_restarts_total', { reason: 'network-dependent' })).toBe(1);
    expect(value(f, 'checker_removals_total', { reason: 'exited' })).toBe(1);
    expect(value(f, 'checker_removals_total', { reason: 'orphaned-sidecar' })).toBe(1);
    expect(value(f, 'checker_restarts_given_up_total')).toBe(1);
    expect(value(f, 'checker_policy_action_failures_total', { kind: 'restart' })).toBe(1);
    expect(value(f, 'checker_event_stream_reconnects_total')).toBe(1);
    expect(value(f, 'checker_etcd_errors_total')).toBe(2);
    expect(value(f, 'checker_monitor_crashes_total')).toBe(1);
    expect(value(f, 'checker_monitor_crash_loops_total')).toBe(1);
    expect(value(f, 'checker_notifications_total', { kind: 'remove', outcome: 'delivered' })).toBe(1);
    expect(value(f, 'checker_notifications_total', { kind: 'remove', outcome: 'failed' })).toBe(1);
    expect(value(f, 'checker_notifications_dropped_total', { kind: 'restart' })).toBe(1);
  });

  it('reads the gauges when scraped', async () => {
    let monitors = 3;
    const metrics = new ListenerMetrics(
      source({
        monitors: () => monitors,
        records: () => 2,
        crashLooping: () => 1,
        eventStreamUp: () => true,
        lastSweepAt: () => 1_765_000_000_500,
      }),
      { notify: false },
    );
    let f = await scrape(metrics);
    expect(value(f, 'checker_monitors_running')).toBe(3);
    expect(value(f, 'checker_records_registered')).toBe(2);
    expect(value(f, 'checker_monitors_crash_looping')).toBe(1);
    expect(value(f, 'checker_event_stream_up')).toBe(1);
    expect(value(f, 'checker_last_sweep_timestamp_seconds')).toBe(1_765_000_000.5);
    monitors = 5;
    f = await scrape(metrics);
    expect(value(f, 'checker_monitors_running')).toBe(5);
  });

  it('keeps two listeners’ metrics apart (no global registry)', async () => {
    const a = new ListenerMetrics(source(), { notify: false });
    const b = new ListenerMetrics(source(), { notify: false });
    a.etcdError();
    expect(value(await scrape(a), 'checker_etcd_errors_total')).toBe(1);
    expect(value(await scrape(b), 'checker_etcd_errors_total')).toBe(0);
  });
});
