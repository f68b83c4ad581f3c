// Carries out docker-mon's policies (SPEC §4) for the listener: the decisions are the pure
// functions in ../policy; this module inspects, asks them, and restarts or removes, retrying
// failed Docker calls up to --retries times. One action per container at a time.
import type Dockerode from 'dockerode';
import type { DockerClient } from '../docker/docker-client.js';
import { isNotFound } from '../docker/docker-client.js';
import { retryDockerCall } from '../docker/retry.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type CleanupFacts, decideCleanup, type RestartPolicyName } from '../policy/cleanup.js';
import { type HealthFacts, HealthRestartPolicy, type HealthStatus } from '../policy/health-restart.js';
import { type PolicyLabels, parsePolicyLabels } from '../policy/labels.js';

export interface PolicyActionsOptions {
  docker: DockerClient;
  log: Logger;
  retries: number;
  now?: () => number;
}

const DOCKER_RETRY_BACKOFF = { initialMs: 250, maxMs: 5000 };

/** The container an action is about; its name is known once it has been inspected. */
interface Subject {
  id: string;
  name: string | null;
}

export class PolicyActions {
  private readonly health = new HealthRestartPolicy();
  private readonly busy = new Set<string>();
  private readonly warned = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly stopping = new AbortController();
  private readonly now: () => number;

  constructor(private readonly options: PolicyActionsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Labels of a container, with unparsable values warned about once per container. */
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

  /** Whether any policy could apply: saves an inspect for the containers that opted out. */
  static observed(labels: Record<string, string> | undefined): boolean {
    const parsed = parsePolicyLabels(labels);
    return parsed.observe && (parsed.health.enabled || parsed.cleanup.enabled);
  }

  /** Health restart, on an unhealthy event or a sweep. */
  async heal(id: string): Promise<void> {
    await this.exclusive(id, async (subject) => {
      const seen = await this.look(subject);
      if (!seen) return;
      const { info, name, labels } = seen;
      const facts = healthFactsOf(info);
      const now = this.now();
      this.health.observe(facts, now);
      const decision = this.health.decide(facts, labels, now);
      if (decision.action === 'none') return;
      if (decision.action === 'wait') {
        this.options.log.debug(
          { container: name, id, until: new Date(decision.untilMs).toISOString() },
          decision.reason,
        );
        this.retryAt(id, decision.untilMs);
        return;
      }
      // Counted before the call, so a sweep meanwhile waits instead of restarting again.
      this.health.recordRestart(id, now);
      const lastOutput = info.State?.Health?.Log?.at(-1)?.Output?.trim().slice(-500) ?? '';
      this.options.log.notice(
        {
          container: name,
          id,
          action: 'restart',
          attempt: decision.attempt,
          reason: decision.reason,
          healthOutput: lastOutput,
          stopTimeoutMs: decision.stopTimeoutMs,
        },
        'restarting unhealthy container',
      );
      const t = Math.ceil(decision.stopTimeoutMs / 1000);
      const startedBefore = info.State?.StartedAt ?? '';
      await this.withRetries(`restart ${name}`, subject, async (attempt) => {
        // A retried restart first looks whether the last one took effect after all (its answer
        // was lost): a container started since is restarted, and is not restarted twice.
        if (attempt > 1 && (await this.startedSince(id, startedBefore))) return;
        await this.options.docker.restartContainer(id, t);
      });
    });
  }

  /** Cleanup, on a die event or a sweep. */
  async cleanup(id: string): Promise<void> {
    await this.exclusive(id, async (subject) => {
      const seen = await this.look(subject);
      if (!seen) return;
      const { info, name, labels } = seen;
      const decision = decideCleanup(cleanupFactsOf(info), labels);
      if (decision.action !== 'remove') {
        if (labels.observe && labels.cleanup.enabled)
          this.options.log.debug({ container: name, id }, decision.reason);
        return;
      }
      this.options.log.notice(
        { container: name, id, action: 'remove', exitCode: info.State?.ExitCode, reason: decision.reason },
        'removing exited container',
      );
      await this.withRetries(`remove ${name}`, subject, () => this.options.docker.removeContainer(id));
      this.forget(id);
    });
  }

  /**
   * The container was seen running and healthy (event or sweep): ten minutes of that and its
   * restart backoff starts over.
   */
  sawHealthy(id: string): void {
    this.health.observe(
      { id, running: true, restarting: false, paused: false, healthStatus: 'healthy' },
      this.now(),
    );
  }

  /** The container is gone: drop what the policies remember of it. */
  forget(id: string): void {
    this.health.forget(id);
    this.warned.delete(id);
    clearTimeout(this.retryTimers.get(id));
    this.retryTimers.delete(id);
  }

  /** Drops memory of containers that no longer exist (called by sweeps). */
  retainOnly(ids: Iterable<string>): void {
    const keep = new Set(ids);
    this.health.retainOnly(keep);
    for (const id of [...this.warned]) if (!keep.has(id)) this.warned.delete(id);
  }

  close(): void {
    this.stopping.abort();
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
  }

  private retryAt(id: string, at: number) {
    clearTimeout(this.retryTimers.get(id));
    const timer = setTimeout(
      () => {
        this.retryTimers.delete(id);
        void this.heal(id);
      },
      Math.max(0, at - this.now()),
    );
    this.retryTimers.set(id, timer);
  }

  /** One action per container at a time; `subject.name` is filled in once inspect knows it. */
  /** Inspects the subject (undefined once it is gone), names it, and reads its labels. */
  private async look(subject: Subject) {
    const info = await this.inspect(subject.id);
    if (!info) return undefined;
    const name = info.Name.replace(/^\//, '');
    subject.name = name;
    return { info, name, labels: this.labelsOf(subject.id, name, info.Config?.Labels ?? undefined) };
  }

  private async exclusive(id: string, action: (subject: Subject) => Promise<void>): Promise<void> {
    if (this.busy.has(id) || this.stopping.signal.aborted) return;
    this.busy.add(id);
    const subject: Subject = { id, name: null };
    try {
      await action(subject);
    } catch (error) {
      if (!isNotFound(error)) {
        this.options.log.error(
          { container: subject.name, id, err: messageOf(error) },
          'policy action failed',
        );
      }
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

  /** Whether the container was (re)started after `before` (inspect's StartedAt). */
  private async startedSince(id: string, before: string): Promise<boolean> {
    const now = await this.options.docker.inspectContainer(id);
    return (now.State?.StartedAt ?? '') > before && Boolean(now.State?.Running);
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
  return {
    id: info.Id,
    running: Boolean(state?.Running),
    restarting: Boolean(state?.Restarting),
    paused: Boolean(state?.Paused),
    healthStatus: (state?.Health?.Status as HealthStatus | undefined) ?? 'none',
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
