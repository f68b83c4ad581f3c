// Carries out the policies (SPEC §1, §4) for the listener: docker-mon's health restart and
// cleanup, with this project's grace, hourly limit, network dependents and "own exits only".
// The decisions are the pure code in ../policy; this module feeds it Docker's events and
// inspects, and restarts or removes, retrying failed Docker calls up to --retries times.
// One action per container at a time.
//
// A restart by the listener (health or network dependent) drains first: the container's monitor
// withdraws its record, and the restart begins once etcd confirmed the delete or after 1 s, so
// consumers stop routing to it before it stops.
import type Dockerode from 'dockerode';
import { type ContainerEvent, parseContainerEvent } from '../docker/container-event.js';
import type { DockerClient } from '../docker/docker-client.js';
import { isNotFound } from '../docker/docker-client.js';
import { retryDockerCall } from '../docker/retry.js';
import { isStopping } from '../docker/signals.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type CleanupFacts, decideCleanup, type RestartPolicyName } from '../policy/cleanup.js';
import { dockerTimeMs, eventTimeMs } from '../policy/docker-time.js';
import type { HealthLog } from '../policy/health-log.js';
import { type HealthFacts, HealthRestartPolicy, type HealthStatus } from '../policy/health-restart.js';
import { hasPolicyLabels, type PolicyLabels, parsePolicyLabels, takesPart } from '../policy/labels.js';
import { LifecycleTracker } from '../policy/lifecycle-tracker.js';
import { NetworkDependents, networkParentOf, type ParentFacts } from '../policy/network-dependents.js';

export type PolicyActionKind = 'restart' | 'gave-up' | 'remove' | 'dependent-restart';

export interface PolicyActionReport {
  kind: PolicyActionKind;
  container: { id: string; name: string; image: string };
  reason: string;
  healthOutput: string;
  /** removals: the exit code */
  exitCode?: number;
}

export interface PolicyActionsOptions {
  docker: DockerClient;
  log: Logger;
  retries: number;
  /**
   * Asks the container's monitor to withdraw its record and hold it back for `holdMs`;
   * resolves true once etcd confirmed the delete, false when it could not say within
   * `timeoutMs` (or there is no monitor).
   */
  drain?(id: string, holdMs: number, timeoutMs: number): Promise<boolean>;
  /** told of every action taken (metrics, notifications); must not throw or block */
  onAction?(report: PolicyActionReport): void;
  /** told of an action whose Docker calls failed after every retry */
  onFailed?(kind: PolicyActionKind, container: { id: string; name: string }): void;
  now?: () => number;
}

const DOCKER_RETRY_BACKOFF = { initialMs: 250, maxMs: 5000 };
/** A restart waits at most this long for its record's withdrawal (SPEC §4). */
export const DRAIN_TIMEOUT_MS = 1000;

/** The container an action is about; its name is known once it has been inspected. */
interface Subject {
  id: string;
  name: string | null;
}

interface Seen {
  info: Dockerode.ContainerInspectInfo;
  name: string;
  labels: PolicyLabels;
}

export class PolicyActions {
  private readonly health = new HealthRestartPolicy();
  private readonly lifecycle = new LifecycleTracker();
  private readonly network = new NetworkDependents();
  private readonly busy = new Set<string>();
  private readonly warned = new Set<string>();
  /** containers whose "left alone" cleanup reason was said, by reason */
  private readonly cleanupSaid = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly stopping = new AbortController();
  private readonly now: () => number;

  constructor(private readonly options: PolicyActionsOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Labels of a container, with unparsable values warned about once per container: for every
   * container that carries mon.* labels, opted in or not (`mon.observe=yes` is a typo to show).
   */
  labelsOf(id: string, name: string, labels: Record<string, string> | undefined): PolicyLabels {
    const parsed = parsePolicyLabels(labels);
    if (parsed.warnings.length > 0 && !this.warned.has(id)) {
      this.warned.add(id);
      for (const warning of parsed.warnings) {
        this.options.log.warning(
          { container: name, id, label: warning.label, value: warning.value },
          warning.message,
        );
      }
    }
    return parsed;
  }

  /**
   * One Docker event. Every container's lifecycle events are fed (a network dependent's parent
   * may be outside --prefix); actions are only taken for `selected` containers.
   */
  handleEvent(event: ContainerEvent, selected: boolean): void {
    if (this.stopping.signal.aborted) return;
    const atMs = eventTimeMs(event.timeNano);
    const cause = this.lifecycle.event(event.id, {
      action: event.action,
      atMs,
      signal: event.attributes.signal,
    });
    const labels =
      selected && hasPolicyLabels(event.attributes)
        ? this.labelsOf(event.id, event.name ?? event.id.slice(0, 12), event.attributes)
        : undefined;
    switch (event.action) {
      case 'start':
      case 'restart':
        this.health.started(event.id, atMs, cause);
        // Its dependents (registered by sweeps and earlier decisions) may need to rejoin it.
        for (const dependent of this.network.dependentsOf(event.id)) void this.rejoin(dependent);
        if (selected && labels && takesPart(labels) && labels.network.enabled) void this.rejoin(event.id);
        return;
      case 'die':
        if (selected && labels && takesPart(labels) && labels.cleanup.enabled) void this.cleanup(event.id);
        return;
      case 'destroy':
        for (const dependent of this.network.dependentsOf(event.id)) void this.rejoin(dependent);
        this.forget(event.id);
        return;
      case 'health_status': {
        this.health.report(event.id, (event.detail ?? 'none') as HealthStatus, atMs);
        if (selected && labels && takesPart(labels) && event.detail === 'unhealthy') void this.heal(event.id);
        return;
      }
    }
  }

  /**
   * One sweep's view of the containers (the list: Labels, State, Status, HostConfig): catches
   * what events missed (unhealthy ones, exits while the listener was down, dependents).
   */
  sweep(containers: Dockerode.ContainerInfo[], selected: (c: Dockerode.ContainerInfo) => boolean): void {
    for (const c of containers) {
      if (!selected(c) || !hasPolicyLabels(c.Labels)) continue;
      const labels = this.labelsOf(c.Id, c.Names?.[0]?.replace(/^\//, '') ?? c.Id, c.Labels);
      if (!takesPart(labels)) continue;
      if (labels.health.enabled && c.State === 'running' && /\(unhealthy\)/.test(c.Status ?? ''))
        void this.heal(c.Id);
      // A healthy sighting counts towards the 10 minutes that reset the backoff and the limit.
      if (labels.health.enabled && c.State === 'running' && /\(healthy\)/.test(c.Status ?? ''))
        this.health.observe(
          { id: c.Id, running: true, restarting: false, paused: false, healthStatus: 'healthy' },
          this.now(),
        );
      if (labels.cleanup.enabled && c.State === 'exited') void this.cleanup(c.Id);
      if (labels.network.enabled && networkParentOf(c.HostConfig?.NetworkMode) !== undefined)
        void this.rejoin(c.Id);
    }
    const ids = containers.map((c) => c.Id);
    this.health.retainOnly(ids);
    this.lifecycle.retainOnly(ids);
    this.network.retainOnly(ids);
    const keep = new Set(ids);
    for (const id of [...this.warned]) if (!keep.has(id)) this.warned.delete(id);
    for (const id of [...this.cleanupSaid.keys()]) if (!keep.has(id)) this.cleanupSaid.delete(id);
  }

  /** Health restart, on an unhealthy event, a sweep, or when a wait is over. */
  async heal(id: string): Promise<void> {
    await this.exclusive(id, 'restart', async (subject) => {
      const seen = await this.look(subject);
      if (!seen) return;
      const { info, name, labels } = seen;
      const now = this.now();
      const decision = this.health.decide(healthFactsOf(info), labels, now);
      const lastOutput = info.State?.Health?.Log?.at(-1)?.Output?.trim().slice(-500) ?? '';
      if (decision.action === 'none') {
        if (decision.gaveUp) {
          this.options.log.critical(
            { container: name, id, action: 'gave-up', ...decision.gaveUp, healthOutput: lastOutput },
            `giving up on ${name}: ${decision.reason}`,
          );
          this.report('gave-up', info, name, decision.reason, lastOutput);
        }
        return;
      }
      if (decision.action === 'wait') {
        this.options.log.debug(
          { container: name, id, until: new Date(decision.untilMs).toISOString() },
          decision.reason,
        );
        this.later(id, decision.untilMs, () => this.heal(id));
        return;
      }
      // Counted before the drain and the call, so a sweep meanwhile waits instead of restarting again.
      this.health.recordRestart(id, now);
      this.options.log.notice(
        {
          container: name,
          id,
          action: 'restart',
          attempt: decision.attempt,
          reason: decision.reason,
          healthOutput: lastOutput,
          stopTimeoutMs: decision.stopTimeoutMs,
          unhealthySince: new Date(decision.unhealthySinceMs).toISOString(),
        },
        'restarting unhealthy container',
      );
      // Reported as it begins, like the log line: a notification must not wait for the stop.
      this.report('restart', info, name, decision.reason, lastOutput);
      await this.restart(subject, info, decision.stopTimeoutMs);
    });
  }

  /** Cleanup, on a die event, a sweep, or when a pending exit has settled. */
  async cleanup(id: string): Promise<void> {
    await this.exclusive(id, 'remove', async (subject) => {
      const seen = await this.look(subject);
      if (!seen) return;
      const { info, name, labels } = seen;
      const facts = cleanupFactsOf(info);
      const first = decideCleanup(facts, labels);
      if (first.action !== 'remove') {
        this.options.log.debug({ container: name, id }, first.reason);
        return;
      }
      const startedAtMs = dockerTimeMs(info.State?.StartedAt) ?? 0;
      const stopSignal = (info.Config as { StopSignal?: string } | undefined)?.StopSignal;
      const exitFacts = {
        startedAtMs,
        isStopping: (signal: string | undefined) => isStopping(signal, stopSignal),
      };
      let exit = this.lifecycle.exitCause(id, exitFacts, this.now());
      if (exit.cause === 'unknown' && !exit.replayed) {
        // It exited while the listener was not watching: ask Docker what happened then.
        this.lifecycle.replay(id, startedAtMs, await this.pastEvents(id, startedAtMs));
        exit = this.lifecycle.exitCause(id, exitFacts, this.now());
      }
      const decision = decideCleanup(facts, labels, exit);
      if (decision.action === 'wait') {
        this.later(id, decision.untilMs, () => this.cleanup(id));
        return;
      }
      if (decision.action === 'none') {
        if (this.cleanupSaid.get(id) !== decision.reason) {
          this.cleanupSaid.set(id, decision.reason);
          this.options.log.notice(
            { container: name, id, exitCode: facts.exitCode },
            `left alone: ${decision.reason}`,
          );
        }
        return;
      }
      this.options.log.notice(
        { container: name, id, action: 'remove', exitCode: info.State?.ExitCode, reason: decision.reason },
        'removing exited container',
      );
      this.report('remove', info, name, decision.reason, '', facts.exitCode);
      await this.withRetries(`remove ${name}`, subject, () => this.options.docker.removeContainer(id));
      this.forget(id);
    });
  }

  /** A `mon.checks.network=1` container: restart it once its network container runs again. */
  async rejoin(id: string): Promise<void> {
    const restarted = await this.exclusive(id, 'dependent-restart', async (subject) => {
      const seen = await this.look(subject);
      if (!seen) return false;
      const { info, name, labels } = seen;
      if (!takesPart(labels) || !labels.network.enabled) return false;
      const networkMode = info.HostConfig?.NetworkMode ?? '';
      const parentRef = networkParentOf(networkMode);
      const parent = parentRef === undefined ? undefined : await this.parentFacts(parentRef);
      const decision = this.network.decide(
        {
          id,
          running: Boolean(info.State?.Running),
          restarting: Boolean(info.State?.Restarting),
          paused: Boolean(info.State?.Paused),
          startedAtMs: dockerTimeMs(info.State?.StartedAt) ?? 0,
          networkMode,
        },
        labels,
        parent,
      );
      if (decision.action === 'warn') {
        this.options.log.warning({ container: name, id, networkMode }, decision.reason);
        return false;
      }
      if (decision.action === 'none') {
        this.options.log.debug({ container: name, id }, decision.reason);
        return false;
      }
      this.network.recordRestart(id, decision.parentStartedAtMs);
      this.options.log.notice(
        {
          container: name,
          id,
          action: 'restart',
          reason: decision.reason,
          networkContainer: decision.parentId,
        },
        'restarting a network dependent',
      );
      this.report('dependent-restart', info, name, decision.reason, '');
      try {
        await this.restart(subject, info, labels.health.stopTimeoutMs);
      } catch (error) {
        this.network.restartFailed(id);
        throw error;
      }
      return true;
    });
    // Its network container may have started again meanwhile: look once more.
    if (restarted) void this.rejoin(id);
  }

  /** The container is gone: drop what the policies remember of it. */
  forget(id: string): void {
    this.health.forget(id);
    this.lifecycle.forget(id);
    this.network.forget(id);
    this.warned.delete(id);
    this.cleanupSaid.delete(id);
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  close(): void {
    this.stopping.abort();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Whether the policies gave up restarting the container (for /status). */
  hasGivenUp(id: string): boolean {
    return this.health.hasGivenUp(id);
  }

  /** Health restarts remembered for the container (for /status). */
  restartsOf(id: string): number {
    return this.health.restartsOf(id);
  }

  /**
   * Drain, then restart: the record is withdrawn first (its monitor confirms the delete), and
   * the restart begins then, or after DRAIN_TIMEOUT_MS at most.
   */
  private async restart(subject: Subject, info: Dockerode.ContainerInspectInfo, stopTimeoutMs: number) {
    const { id } = subject;
    const startedBefore = info.State?.StartedAt ?? '';
    const t = Math.ceil(stopTimeoutMs / 1000);
    // The monitor holds the record back until the container starts again (or the stop timeout
    // and some more passed, should the restart fail).
    const drained = await (this.options.drain?.(id, stopTimeoutMs + 30_000, DRAIN_TIMEOUT_MS) ??
      Promise.resolve(false));
    this.options.log.debug({ container: subject.name, id, drained }, 'record drained before the restart');
    // The drain took up to a second: a person may have stopped it (or restarted it) meanwhile,
    // and that is not to be undone.
    const now = await this.options.docker.inspectContainer(id);
    if (!now.State?.Running || (now.State.StartedAt ?? '') !== startedBefore) {
      this.options.log.notice(
        { container: subject.name, id },
        'not restarting: it stopped or restarted while its record was withdrawn',
      );
      return;
    }
    this.lifecycle.issued(id, 'restart', this.now());
    try {
      await this.withRetries(`restart ${subject.name}`, subject, async (attempt) => {
        // A retried restart first looks whether the last one took effect after all (its answer
        // was lost): a container started since is restarted, and is not restarted twice.
        if (attempt > 1 && (await this.startedSince(id, startedBefore))) return;
        await this.options.docker.restartContainer(id, t);
      });
    } finally {
      this.lifecycle.settled(id, this.now());
    }
  }

  private report(
    kind: PolicyActionKind,
    info: Dockerode.ContainerInspectInfo,
    name: string,
    reason: string,
    healthOutput: string,
    exitCode?: number,
  ) {
    try {
      this.options.onAction?.({
        kind,
        container: { id: info.Id, name, image: info.Config?.Image ?? info.Image },
        reason,
        healthOutput,
        ...(exitCode === undefined ? {} : { exitCode }),
      });
    } catch (error) {
      this.options.log.debug({ err: messageOf(error) }, 'could not report a policy action');
    }
  }

  private later(id: string, at: number, action: () => Promise<unknown>) {
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(
      () => {
        this.timers.delete(id);
        void action();
      },
      Math.max(0, at - this.now()),
    );
    this.timers.set(id, timer);
  }

  private async parentFacts(ref: string): Promise<ParentFacts> {
    try {
      const parent = await this.withRetries(`inspect ${ref.slice(0, 12)}`, { id: ref, name: null }, () =>
        this.options.docker.inspectContainer(ref),
      );
      return {
        found: true,
        id: parent.Id,
        running: Boolean(parent.State?.Running),
        restarting: Boolean(parent.State?.Restarting),
        startedAtMs: dockerTimeMs(parent.State?.StartedAt) ?? 0,
      };
    } catch (error) {
      if (isNotFound(error)) return { found: false };
      throw error;
    }
  }

  /** The container's lifecycle events since it started, as Docker still remembers them. */
  private async pastEvents(id: string, startedAtMs: number) {
    try {
      const lines = await this.options.docker.pastEvents({
        filters: { type: ['container'], container: [id] },
        since: String(Math.floor(startedAtMs / 1000)),
        until: String(Math.ceil(this.now() / 1000)),
      });
      return lines.flatMap((line) => {
        const event = parseContainerEvent(line);
        return event
          ? [{ action: event.action, atMs: eventTimeMs(event.timeNano), signal: event.attributes.signal }]
          : [];
      });
    } catch (error) {
      this.options.log.debug({ id, err: messageOf(error) }, 'could not read past events');
      return [];
    }
  }

  /** Inspects the subject (undefined once it is gone), names it, and reads its labels. */
  private async look(subject: Subject): Promise<Seen | undefined> {
    const info = await this.inspect(subject.id);
    if (!info) return undefined;
    const name = info.Name.replace(/^\//, '');
    subject.name = name;
    return { info, name, labels: this.labelsOf(subject.id, name, info.Config?.Labels ?? undefined) };
  }

  /** One action per container at a time; resolves with the action's result (undefined if skipped or failed). */
  private async exclusive<T>(
    id: string,
    kind: PolicyActionKind,
    action: (subject: Subject) => Promise<T>,
  ): Promise<T | undefined> {
    if (this.busy.has(id) || this.stopping.signal.aborted) return undefined;
    this.busy.add(id);
    const subject: Subject = { id, name: null };
    try {
      return await action(subject);
    } catch (error) {
      if (!isNotFound(error) && !this.stopping.signal.aborted) {
        this.options.log.error(
          { container: subject.name, id, action: kind, err: messageOf(error) },
          'policy action failed',
        );
        this.options.onFailed?.(kind, { id, name: subject.name ?? id.slice(0, 12) });
      }
      return undefined;
    } finally {
      this.busy.delete(id);
    }
  }

  private async inspect(id: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    try {
      return await this.withRetries(`inspect ${id.slice(0, 12)}`, { id, name: null }, () =>
        this.options.docker.inspectContainer(id),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Whether the container was started after `before` (inspect's StartedAt), running or not by
   * now (it may have exited again, or a person stopped it: either way the restart happened).
   */
  private async startedSince(id: string, before: string): Promise<boolean> {
    const now = await this.options.docker.inspectContainer(id);
    return (dockerTimeMs(now.State?.StartedAt) ?? 0) > (dockerTimeMs(before) ?? 0);
  }

  /** The adapter's errors are typed already, so a failed call is logged as what it is. */
  private withRetries<T>(what: string, subject: Subject, call: (attempt: number) => Promise<T>): Promise<T> {
    const { log } = this.options;
    return retryDockerCall(call, {
      retries: this.options.retries,
      initialMs: DOCKER_RETRY_BACKOFF.initialMs,
      maxMs: DOCKER_RETRY_BACKOFF.maxMs,
      signal: this.stopping.signal,
      onRetry: (error, attempt, delayMs) =>
        log.warning(
          { container: subject.name, id: subject.id, call: what, attempt, delayMs, err: messageOf(error) },
          'Docker call failed; retrying',
        ),
    });
  }
}

function healthFactsOf(info: Dockerode.ContainerInspectInfo): HealthFacts {
  const state = info.State;
  const health = state?.Health;
  const retries = (info.Config as { Healthcheck?: { Retries?: number } } | undefined)?.Healthcheck?.Retries;
  const log: HealthLog | undefined = health
    ? {
        failingStreak: health.FailingStreak ?? 0,
        probes: (health.Log ?? []).flatMap((probe) => {
          const endMs = dockerTimeMs(probe.End);
          return endMs === undefined ? [] : [{ endMs, exitCode: probe.ExitCode }];
        }),
        // Docker's default when the health check sets none.
        retries: retries || 3,
      }
    : undefined;
  return {
    id: info.Id,
    running: Boolean(state?.Running),
    restarting: Boolean(state?.Restarting),
    paused: Boolean(state?.Paused),
    healthStatus: (health?.Status as HealthStatus | undefined) ?? 'none',
    startedAtMs: dockerTimeMs(state?.StartedAt),
    health: log,
  };
}

function cleanupFactsOf(info: Dockerode.ContainerInspectInfo): CleanupFacts {
  const state = info.State;
  const policy = info.HostConfig?.RestartPolicy;
  return {
    running: Boolean(state?.Running),
    restarting: Boolean(state?.Restarting),
    paused: Boolean(state?.Paused),
    dead: Boolean(state?.Dead),
    status: state?.Status ?? '',
    exitCode: state?.ExitCode ?? -1,
    restartPolicy: {
      name: (policy?.Name ?? '') as RestartPolicyName,
      maximumRetryCount: policy?.MaximumRetryCount ?? 0,
    },
    restartCount: info.RestartCount ?? 0,
    autoRemove: Boolean(info.HostConfig?.AutoRemove),
  };
}
