// The monitor of one container (SPEC §3): checks it every period and keeps its service record
// in etcd while it is healthy. The record goes at once (not by expiry) when a check fails or
// the container dies, stops, pauses or is killed; a start or unpause is checked at once; the
// container's removal ends the monitor. Events come from outside (`handleEvent`): from the
// monitor's own Docker subscription when it runs alone, from the listener over IPC under it.
//
// Docker or etcd trouble never ends it: a check that cannot reach Docker refreshes nothing
// (so the record expires one TTL later unless Docker is back) and is retried with backoff;
// etcd outages are the record's own business (LeasedRecord retries until etcd agrees).
import type Dockerode from 'dockerode';
import { Backoff, sleep } from '../backoff.js';
import type { ContainerEvent } from '../docker/container-event.js';
import { isUnreachableNetwork, recordIpOf } from '../docker/container-ip.js';
import { type DockerClient, isNotFound } from '../docker/docker-client.js';
import { isStopping } from '../docker/signals.js';
import { DockerError, DockerUnreachable, ExecModeUnsupported, messageOf } from '../errors.js';
import type { MonitorRecord, RecordOutcome } from '../etcd/record-outcome.js';
import { checkHealth, type HealthResult } from '../health/check-health.js';
import { checkPeriodOf, healthCommandOf } from '../health/container-env.js';
import { IdleSidecar, type SidecarOwner } from '../health/idle-sidecar.js';
import type { CommandRunner, RunMode } from '../health/runner.js';
import { programArchOf } from '../health/static-program.js';
import type { Logger } from '../log/logger.js';
import { imageNameOf, isImageIdRef } from '../record/image-name.js';

export type { MonitorRecord } from '../etcd/record-outcome.js';

import { serviceKeyOf, servicePortsOf, serviceValueOf } from '../record/service-record.js';

export interface ContainerMonitorOptions {
  docker: DockerClient;
  log: Logger;
  /** name, id or unique id prefix */
  container: string;
  mode: RunMode;
  timeoutMs: number;
  /** --period, overriding the container's HEALTHCHECKPERIOD */
  periodSeconds?: number;
  etcdPrefix: string;
  hostIp: string;
  openRecord(key: string, ttlSeconds: number): MonitorRecord;
  /** told each check's verdict (the listener's metrics) */
  onChecked?(result: HealthResult): void;
  /** who owns the long-lived check sidecars this monitor makes (sidecar mode) */
  sidecarOwner?: SidecarOwner;
  /**
   * The first check may use start()'s inspect (a few ms sooner to the key). Only for a caller
   * whose events reach `handleEvent` from before `start()` (the listener's child): an event
   * since the inspect then says it is stale. A standalone monitor subscribes after `start()`,
   * so its first check inspects afresh.
   */
  reuseStartInspect?: boolean;
}

const isRetryable = (error: unknown): boolean =>
  error instanceof DockerUnreachable || (error instanceof DockerError && (error.statusCode ?? 500) >= 500);

/** How a monitor ended; `refused` when its settings cannot work here (exit 2, with the reason). */
export type MonitorEnd =
  | { reason: 'removed' | 'stopped' | 'abandoned'; exitStatus: 0 }
  | { reason: 'refused'; exitStatus: 2; message: string };

export class ContainerMonitor {
  private info!: Dockerode.ContainerInspectInfo;
  private record!: MonitorRecord;
  private key = '';
  private periodMs = 30_000;
  private ttlSeconds = 61;

  /** bumped by every event that changes what a check would see; older results are dropped */
  private generation = 0;
  private checking = false;
  /** the check under way, awaited on the way out so its sidecar is removed before we exit */
  private checkInFlight: Promise<void> | undefined;
  private recheck = false;
  private timer: NodeJS.Timeout | undefined;
  private healthy: boolean | undefined;
  private noNetworkNoticed = false;
  /** start()'s inspect, for the first check when nothing happened in between */
  private freshInspect: Dockerode.ContainerInspectInfo | undefined;
  /** an event of the container arrived while start() ran: its inspect may be stale */
  private eventDuringStart = false;
  /** `start()` under way or done: a stop or drain meanwhile waits for the record it opens */
  private starting: Promise<void> | undefined;
  /** sidecar mode: the long-lived check sidecar, once the first check asked for it */
  private idle: Promise<IdleSidecar | undefined> | undefined;
  private readonly warned = new Set<string>();
  /** set by `drain`: no publishing before this time, unless the container starts again */
  private drainedUntil = 0;
  private dockerTrouble: string | undefined;
  private readonly dockerRetry = new Backoff({ initialMs: 500, maxMs: 30_000 });
  private readonly inFlight = new AbortController();
  private ending: Promise<MonitorEnd> | undefined;
  private resolveEnd!: (end: MonitorEnd) => void;
  /** resolves when the monitor has finished: container removed, or `stop()` */
  readonly ended: Promise<MonitorEnd> = new Promise((resolve) => {
    this.resolveEnd = resolve;
  });

  constructor(private readonly options: ContainerMonitorOptions) {}

  get recordKey(): string {
    return this.key;
  }

  get containerId(): string {
    return this.info.Id;
  }

  /**
   * Finds the container (waiting out a Docker outage; a container that does not exist is
   * ContainerNotFound) and works out its key and period. The caller subscribes to the
   * container's events (or already feeds them), then calls `check()`, whose inspect sees what
   * happened meanwhile.
   */
  start(): Promise<void> {
    this.starting ??= this.begin();
    return this.starting;
  }

  private async begin(): Promise<void> {
    const { docker, log } = this.options;
    this.info = await this.inspectPatiently(this.options.container);
    const period = checkPeriodOf(this.info.Config?.Env);
    if (period.warning && this.options.periodSeconds === undefined)
      log.warning({ env: 'HEALTHCHECKPERIOD' }, period.warning);
    const periodSeconds = this.options.periodSeconds ?? period.seconds;
    this.periodMs = Math.round(periodSeconds * 1000);
    this.ttlSeconds = Math.ceil(periodSeconds * 2 + 1);
    this.key = serviceKeyOf(this.options.etcdPrefix, await this.imageName(docker), this.info.Id);
    this.record = this.options.openRecord(this.key, this.ttlSeconds);
    this.record.prepare?.();
    if (this.options.reuseStartInspect && !this.eventDuringStart) this.freshInspect = this.info;
    log.info(
      {
        id: this.info.Id,
        key: this.key,
        periodSeconds,
        ttlSeconds: this.ttlSeconds,
        mode: this.options.mode,
      },
      'monitoring',
    );
  }

  /** Check now (after `start`, and when events may have been missed), then every period. */
  check(): void {
    this.generation += 1;
    void this.checkNow();
  }

  /** One of the container's own Docker events. */
  handleEvent(event: ContainerEvent): void {
    if (this.ending) return;
    if (!this.record) {
      // Before start() opened the record nothing can be withdrawn; the first check inspects
      // afresh and sees the container as it is then (removal ends the monitor there too).
      // The id is not known before the inspect: any event of ours marks it stale.
      if (this.info === undefined || event.id === this.info.Id) this.eventDuringStart = true;
      return;
    }
    if (event.id !== this.info.Id) return;
    this.freshInspect = undefined;
    const { log } = this.options;
    log.debug({ action: event.action, detail: event.detail }, 'docker event');
    switch (event.action) {
      case 'destroy':
        void this.finish('removed');
        return;
      case 'kill':
        // `docker stop` sends the container's own stop signal first (SIGQUIT for nginx,
        // SIGWINCH for httpd): the record goes then, not a stop timeout later at `die`.
        if (
          !isStopping(
            event.attributes.signal,
            (this.info.Config as { StopSignal?: string } | undefined)?.StopSignal,
          )
        ) {
          this.checkSoon();
          return;
        }
        this.down(`kill (signal ${event.attributes.signal})`);
        return;
      case 'die':
      case 'stop':
      case 'pause':
        this.down(event.action);
        return;
      case 'start':
      case 'restart':
        this.drainedUntil = 0;
        this.generation += 1;
        void this.checkNow();
        return;
      case 'health_status':
        // Docker's status decides only without a HEALTHCHECK variable: otherwise its report
        // changes nothing the monitor's own check says (and during a restart it would only
        // check a container that is being killed).
        if (healthCommandOf(this.info.Config?.Env)) return;
        this.generation += 1;
        void this.checkNow();
        return;
      case 'unpause':
        this.generation += 1;
        void this.checkNow();
        return;
    }
  }

  /** SIGTERM or SIGINT: remove the record and end. */
  stop(): Promise<MonitorEnd> {
    return this.finish('stopped');
  }

  /**
   * The listener is gone: end at once, leaving the record on its lease for the next listener's
   * monitor to take over (or for etcd to expire). The check in flight is cut short.
   */
  abandon(): void {
    if (this.ending) return;
    clearTimeout(this.timer);
    this.inFlight.abort();
    this.generation += 1;
    this.record?.release();
    const end: MonitorEnd = { reason: 'abandoned', exitStatus: 0 };
    this.ending = Promise.resolve(end);
    this.resolveEnd(end);
  }

  /**
   * The listener is about to restart the container: withdraw the record now, and publish
   * nothing until the container starts again (or `holdMs` passed, should the restart fail).
   * Resolves once etcd confirmed the delete.
   */
  async drain(holdMs: number): Promise<RecordOutcome> {
    // Asked while start() is still working out the key: the record it opens is the one to
    // withdraw (a key left by an earlier monitor may be there).
    if (!this.record) await this.startedOrLate();
    if (this.ending || !this.record) return 'closed';
    this.drainedUntil = Date.now() + holdMs;
    this.generation += 1;
    this.setHealthy(false, 'drained for a restart', '');
    return this.record.withdraw();
  }

  /** Waits (a little) for start() to have opened the record. */
  private async startedOrLate(): Promise<void> {
    if (!this.starting) return;
    await Promise.race([this.starting.catch(() => undefined), sleep(2000)]);
  }

  private down(why: string) {
    this.generation += 1;
    this.setHealthy(false, why, '');
    // An event can arrive while `start` is still working out the key: there is no record yet,
    // and the first check (after start) sees the container as it is then.
    void this.record?.withdraw();
  }

  /** A signal that is not the container's end (HUP for a reload): look again shortly. A check
   *  in flight stays valid, so the lease renewal it brings is not lost. */
  private checkSoon() {
    if (!this.checking) this.schedule(1000);
  }

  private schedule(ms: number) {
    clearTimeout(this.timer);
    if (!this.ending) this.timer = setTimeout(() => void this.checkNow(), ms);
  }

  private async checkNow(): Promise<void> {
    if (this.ending) return;
    if (this.checking) {
      this.recheck = true;
      return;
    }
    this.checking = true;
    clearTimeout(this.timer);
    const running = this.runCheck();
    this.checkInFlight = running;
    await running;
  }

  private async runCheck(): Promise<void> {
    const generation = this.generation;
    // Fixed rate: the next check is due one period after this one started, so a slow check
    // does not stretch the time between lease renewals to period + check time.
    const startedAt = Date.now();
    let nextInMs = this.periodMs;
    try {
      // The first check right after start() uses its inspect (a few ms sooner to the key) unless
      // an event said the container changed since.
      const fresh = this.freshInspect;
      this.freshInspect = undefined;
      const result = await checkHealth(this.options.docker, fresh ?? this.info.Id, {
        mode: this.options.mode,
        timeoutMs: this.options.timeoutMs,
        signal: this.inFlight.signal,
        onWarning: (message) => this.warnOnce(message),
        runner: await this.sidecarRunner(),
      });
      this.dockerBack();
      this.options.onChecked?.(result);
      if (generation === this.generation && !this.ending) this.apply(result);
    } catch (error) {
      if (this.ending) return;
      // Only this container's own 404 means it was removed (a sidecar's or an image's does not).
      if (
        isNotFound(error) &&
        (error.container === this.info.Id || error.container === this.options.container)
      ) {
        void this.finish('removed');
        return;
      }
      // A mode that cannot keep its promise here (exec without the host's pids) is refused
      // for good: retrying every period would leave a hung process behind each time.
      if (error instanceof ExecModeUnsupported) {
        void this.finish('refused', error.message);
        return;
      }
      nextInMs = Math.min(this.periodMs, this.dockerLost(error));
    } finally {
      this.checking = false;
      if (this.recheck && !this.ending) {
        this.recheck = false;
        void this.checkNow();
      } else {
        this.schedule(Math.max(0, startedAt + nextInMs - Date.now()));
      }
    }
  }

  private apply(result: HealthResult) {
    this.info = result.inspected;
    // A running container without any check counts as healthy (SPEC §3).
    const healthy =
      (result.verdict === 'healthy' || result.verdict === 'no-check') && Date.now() >= this.drainedUntil;
    this.options.log.debug(
      {
        verdict: result.verdict,
        source: result.source,
        status: result.status,
        durationMs: result.durationMs,
      },
      'checked',
    );
    this.setHealthy(healthy, result.status, result.output);
    if (healthy && isUnreachableNetwork(result.inspected)) {
      if (!this.noNetworkNoticed)
        this.options.log.notice(
          { network: 'none' },
          'healthy, but it runs with --network none: nobody can reach it, so it gets no service record',
        );
      this.noNetworkNoticed = true;
      void this.record.withdraw();
    } else if (healthy) void this.record.publish(this.valueOf(result.inspected));
    else void this.record.withdraw();
  }

  /**
   * Sidecar mode: checks run in one long-lived sidecar with the check agent (cheap per check);
   * where the daemon's architecture has no agent, in one-shot sidecars as `check` runs them.
   * Decided once, and said once.
   */
  private async sidecarRunner(): Promise<CommandRunner | undefined> {
    if (this.options.mode !== 'sidecar') return undefined;
    this.idle ??= (async () => {
      const arch = programArchOf(await this.options.docker.daemonArch());
      if (!arch) {
        this.options.log.notice(
          {},
          "no check agent for the Docker daemon's architecture: each check runs in a sidecar of its own",
        );
        return undefined;
      }
      this.options.log.info({ arch }, 'checks run in a long-lived sidecar, by its check agent');
      return new IdleSidecar(this.options.docker, arch, this.options.sidecarOwner ?? 'standalone');
    })().catch((error) => {
      this.idle = undefined; // Docker unreachable: ask again at the next check
      throw error;
    });
    const idle = await this.idle;
    return idle && ((_docker, target, argv, options) => idle.run(target, argv, options));
  }

  /** A warning about the container's own settings, said once per monitor. */
  private warnOnce(message: string) {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.options.log.warning({ id: this.info.Id }, message);
  }

  private setHealthy(healthy: boolean, status: string, output: string) {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    if (healthy) this.options.log.info({ status }, 'healthy');
    else this.options.log.warning({ status, output: output.slice(-500) }, 'not healthy');
  }

  private valueOf(info: Dockerode.ContainerInspectInfo): string {
    return serviceValueOf({
      IP: recordIpOf(info, this.options.hostIp),
      Name: info.Name,
      Ports: servicePortsOf(info, this.options.hostIp),
    });
  }

  private async imageName(docker: DockerClient): Promise<string> {
    const ref = this.info.Config?.Image ?? '';
    if (!isImageIdRef(ref, this.info.Image)) return imageNameOf(ref);
    const image = await docker.inspectImage(this.info.Image).catch(() => undefined);
    return imageNameOf(ref, image?.RepoTags ?? [], this.info.Image);
  }

  /** Inspect, retrying while Docker cannot be reached; a missing container is final. */
  private async inspectPatiently(ref: string): Promise<Dockerode.ContainerInspectInfo> {
    for (;;) {
      try {
        const info = await this.options.docker.inspectContainer(ref);
        this.dockerBack();
        return info;
      } catch (error) {
        // Worth waiting for: Docker down or failing (5xx). A 4xx (an ambiguous id prefix) is final.
        if (!isRetryable(error)) throw error;
        await sleep(this.dockerLost(error), this.inFlight.signal);
        if (this.inFlight.signal.aborted) throw error;
      }
    }
  }

  /** Logs the first failure of an outage; returns how long to wait before trying again. */
  private dockerLost(error: unknown): number {
    const message = messageOf(error);
    if (this.dockerTrouble === undefined)
      this.options.log.warning({ err: message }, 'Docker call failed; retrying');
    else this.options.log.debug({ err: message }, 'Docker call failed again');
    this.dockerTrouble = message;
    return this.dockerRetry.next();
  }

  private dockerBack() {
    if (this.dockerTrouble !== undefined) this.options.log.info({}, 'Docker reachable again');
    this.dockerTrouble = undefined;
    this.dockerRetry.reset();
  }

  private finish(reason: MonitorEnd['reason'], message = ''): Promise<MonitorEnd> {
    this.ending ??= (async () => {
      clearTimeout(this.timer);
      this.inFlight.abort();
      this.generation += 1;
      if (reason === 'removed') this.options.log.info({}, 'container removed; monitor ends');
      // The record first: consumers must stop routing to the container now, not after the
      // cleanup below (and a listener that loses patience must not find it undone). Asked
      // while start() still works out the key, the record it opens is the one closed.
      if (!this.record) await this.startedOrLate();
      const closing = this.record?.close(3000);
      // Aborted, the check removes its sidecar and returns; bounded in case Docker is gone.
      if (this.checkInFlight) await Promise.race([this.checkInFlight, sleep(5000)]);
      // The long-lived check sidecar goes with its monitor.
      const idle = await this.idle?.catch(() => undefined);
      if (idle) await Promise.race([idle.remove(), sleep(5000)]);
      await closing;
      const end: MonitorEnd =
        reason === 'refused' ? { reason, exitStatus: 2, message } : { reason, exitStatus: 0 };
      this.resolveEnd(end);
      return end;
    })();
    return this.ending;
  }
}
