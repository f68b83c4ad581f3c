// The listener's observability (SPEC §4): what the listener wires in. Everything goes through the
// facade; the rest is exported for its types and tests.
export { CRASH_LOOP, CrashLoopDetector, type CrashLoopRule } from './crash-loop.js';
export { type HealthReport, healthOf, MIN_STALE_AFTER_MS, staleAfterMs } from './healthz.js';
export { formatAddress, MetricsUnavailable, ObservabilityServer } from './http-server.js';
export {
  ListenerObservability,
  type ListenerObservabilityOptions,
  type PolicyActionReport,
  type StatusDocument,
} from './listener-observability.js';
export {
  NOTIFY_DEFAULTS,
  type Notification,
  type NotificationKind,
  type NotificationPayload,
  Notifier,
  type NotifierTuning,
} from './notifier.js';
export { NOTIFY_EVERY_MS, NotificationRateLimiter } from './rate-limit.js';
export {
  type ActionKind,
  type CheckReport,
  type ContainerRef,
  type ContainerStatus,
  StatusBook,
} from './status.js';
