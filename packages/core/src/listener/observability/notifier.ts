// Webhook notifications (SPEC §4 `--notify`): a JSON POST to every URL given, per policy action
// (restart, gave up, removal, dependent restart) and per monitor crash loop. At most one a minute
// per container and kind (rate-limit.ts); each POST gets NOTIFY_DEFAULTS.retries more tries with
// backoff on a network error, a timeout or a 408/429/5xx answer, and a timeout of its own per try.
//
// Nothing waits for it: `notify()` returns at once and the deliveries run in the background, so a
// slow or dead webhook never delays the action it reports. A URL whose deliveries fail is logged
// once (WARNING) when it starts failing and once (INFO) when it answers again, not per attempt.
// Traffic goes only to the URLs given: redirects are not followed (a 3xx counts as a failure).
// URLs may carry secrets (a token in the path): log lines name a URL by its origin and its place
// in the --notify list.
import { ExponentialBackoff, handleWhen, noJitterGenerator, retry } from 'cockatiel';
import type { Logger } from '../../log/logger.js';
import { NOTIFY_EVERY_MS, NotificationRateLimiter } from './rate-limit.js';
import type { ActionKind } from './status.js';

export type NotificationKind = ActionKind | 'crash-loop';

/** What a notification is about; the notifier adds the host, the time and the rest. */
export interface Notification {
  kind: NotificationKind;
  container: { id: string; name: string; image: string | null };
  /** why, in a sentence: the policy's reason, or the crash count */
  reason: string;
  /** the last output of the container's health check, where there is one */
  healthOutput: string | null;
  /** removals: the container's exit code */
  exitCode?: number;
}

/** The JSON body of every POST. */
export interface NotificationPayload extends Notification {
  /** os.hostname() of the listener's host */
  host: string;
  /** ISO 8601 */
  time: string;
  /** notifications about the same container and kind dropped by the rate limit since the last one sent */
  dropped: number;
  /** one line for people, so chat webhooks that show `text` (Slack, Mattermost) need no template */
  text: string;
  source: 'checker-listener';
}

export interface NotifierTuning {
  /** ms per attempt */
  timeoutMs: number;
  /** attempts after the first */
  retries: number;
  /** wait before the first retry, doubling up to maxBackoffMs */
  backoffMs: number;
  maxBackoffMs: number;
  /** one notification per container and kind per this long */
  rateLimitMs: number;
  /** how long close() lets deliveries in flight finish */
  closeGraceMs: number;
}

export const NOTIFY_DEFAULTS: NotifierTuning = {
  timeoutMs: 5_000,
  retries: 3,
  backoffMs: 1_000,
  maxBackoffMs: 10_000,
  rateLimitMs: NOTIFY_EVERY_MS,
  closeGraceMs: 2_000,
};

export interface NotifierOptions extends Partial<NotifierTuning> {
  urls: readonly string[];
  log: Pick<Logger, 'debug' | 'info' | 'warning'>;
  host: string;
  now?: () => number;
  /** told each delivery's outcome, and each notification dropped by the rate limit (metrics) */
  onOutcome?(kind: NotificationKind, outcome: 'delivered' | 'failed' | 'dropped'): void;
  fetch?: typeof fetch;
}

/** Why one attempt failed, and whether another try could change that. */
class DeliveryFailed extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const VERBS: Record<NotificationKind, string> = {
  restart: 'restarted unhealthy container',
  'gave-up': 'gave up restarting',
  remove: 'removed exited container',
  'dependent-restart': 'restarted network dependent',
  'crash-loop': 'monitor in a crash loop for',
};

export function notificationText(payload: Omit<NotificationPayload, 'text'>): string {
  const { container } = payload;
  const dropped = payload.dropped > 0 ? ` (${payload.dropped} more dropped in the last minute)` : '';
  return `checker on ${payload.host}: ${VERBS[payload.kind]} ${container.name} (${container.id.slice(0, 12)}): ${payload.reason}${dropped}`;
}

/** A URL as log lines show it: origin only (paths and queries may hold tokens). */
export const redactUrl = (url: string): string => {
  try {
    return new URL(url).origin;
  } catch {
    return '(unparsable URL)';
  }
};

export class Notifier {
  private readonly tuning: NotifierTuning;
  private readonly limiter: NotificationRateLimiter;
  private readonly now: () => number;
  private readonly fetch: typeof fetch;
  /** URLs (by index) failing since the given time, with the notifications lost meanwhile */
  private readonly failing = new Map<number, { since: number; lost: number }>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();

  constructor(private readonly options: NotifierOptions) {
    const { urls: _urls, log: _log, host: _host, now, onOutcome: _o, fetch: f, ...tuning } = options;
    this.tuning = { ...NOTIFY_DEFAULTS, ...definedOnly(tuning) };
    this.limiter = new NotificationRateLimiter(this.tuning.rateLimitMs);
    this.now = now ?? Date.now;
    this.fetch = f ?? globalThis.fetch;
  }

  get enabled(): boolean {
    return this.options.urls.length > 0;
  }

  /** Sends `notification` to every URL in the background, unless the rate limit drops it. Never throws. */
  notify(notification: Notification): void {
    if (!this.enabled || this.closing.signal.aborted) return;
    const now = this.now();
    const admission = this.limiter.admit(notification.container.id, notification.kind, now);
    if (!admission.send) {
      this.options.onOutcome?.(notification.kind, 'dropped');
      this.options.log.debug(
        { container: notification.container.name, id: notification.container.id, kind: notification.kind },
        'notification dropped: one about this container and kind went less than a minute ago',
      );
      return;
    }
    const base = {
      ...notification,
      host: this.options.host,
      time: new Date(now).toISOString(),
      dropped: admission.dropped,
      source: 'checker-listener' as const,
    };
    const body = JSON.stringify({ ...base, text: notificationText(base) } satisfies NotificationPayload);
    this.options.urls.forEach((url, index) => {
      // Started on the next turn of the event loop: the caller's action goes first.
      const delivery = new Promise((resolve) => setImmediate(resolve))
        .then(() => this.deliver(url, index, body, notification))
        .finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    });
  }

  /**
   * Loads Node's fetch implementation (undici) now: its first use blocks the event loop for
   * 150-300 ms, which must not happen on the first notification, next to an action.
   */
  warm(): void {
    if (this.enabled && this.fetch === globalThis.fetch) new Headers();
  }

  /** Resolves once every delivery started so far has ended (for tests and close). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops taking notifications; lets those in flight finish for closeGraceMs, then abandons them. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.tuning.closeGraceMs);
    });
    await Promise.race([this.settled(), grace]);
    clearTimeout(timer);
    if (this.inFlight.size > 0)
      this.options.log.warning(
        { deliveries: this.inFlight.size, graceMs: this.tuning.closeGraceMs },
        'stopping: notifications still being delivered are abandoned',
      );
    // Attempts in flight end at once; a wait between attempts ends on its own (unref'd timer).
    this.closing.abort();
  }

  private async deliver(url: string, index: number, body: string, notification: Notification) {
    const { log, onOutcome } = this.options;
    const policy = retry(
      handleWhen((error) => error instanceof DeliveryFailed && error.retryable),
      {
        maxAttempts: this.tuning.retries,
        backoff: new ExponentialBackoff({
          generator: noJitterGenerator,
          initialDelay: this.tuning.backoffMs,
          maxDelay: this.tuning.maxBackoffMs,
        }),
      },
      // The waits between attempts must not keep a stopping listener alive.
    ).dangerouslyUnref();
    let attempts = 0;
    try {
      await policy.execute(() => {
        if (this.closing.signal.aborted) throw new DeliveryFailed('the listener is stopping', false);
        attempts += 1;
        return this.post(url, body);
      }, this.closing.signal);
      onOutcome?.(notification.kind, 'delivered');
      const outage = this.failing.get(index);
      if (outage) {
        this.failing.delete(index);
        log.info(
          { notify: index + 1, target: redactUrl(url), downMs: this.now() - outage.since, lost: outage.lost },
          'notifications delivered again',
        );
      }
    } catch (error) {
      onOutcome?.(notification.kind, 'failed');
      // Abandoned by close(), which said so already.
      if (this.closing.signal.aborted) return;
      const about = {
        notify: index + 1,
        target: redactUrl(url),
        kind: notification.kind,
        container: notification.container.name,
        id: notification.container.id,
        attempts,
        err: error instanceof Error ? error.message : String(error),
      };
      const outage = this.failing.get(index);
      if (outage) {
        outage.lost += 1;
        log.debug(about, 'notification not delivered');
      } else {
        this.failing.set(index, { since: this.now(), lost: 1 });
        log.warning(
          about,
          'notification not delivered; further failures to this URL are logged once it answers again',
        );
      }
    }
  }

  /** One attempt: POST, bounded by the per-attempt timeout (and cut short by close). */
  private async post(url: string, body: string): Promise<void> {
    const timeout = AbortSignal.timeout(this.tuning.timeoutMs);
    let response: Response;
    try {
      response = await this.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'checker-listener' },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.closing.signal]),
      });
    } catch (error) {
      if (this.closing.signal.aborted) throw new DeliveryFailed('the listener is stopping', false);
      if (timeout.aborted) throw new DeliveryFailed(`no answer within ${this.tuning.timeoutMs} ms`, true);
      throw new DeliveryFailed(causeOf(error), true);
    }
    // The answer's body is not needed; reading none frees the connection.
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return;
    const status = response.status;
    throw new DeliveryFailed(
      `answered ${status}${response.statusText ? ` ${response.statusText}` : ''}`,
      status >= 500 || status === 408 || status === 429,
    );
  }
}

/** fetch's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, …). */
function causeOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return error.message;
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
