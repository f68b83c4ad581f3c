// @checker/core: everything the three tools share. Importing it loads dockerode, etcd3 and
// pino; commands import it inside run() (the light parts live in '@checker/core/cli').
export { Backoff, type BackoffOptions, backoffDelay, sleep } from './backoff.js';
export {
  DEFAULT_DOCKER_CONTROL,
  dockerConnectionFrom,
  dockerControlFrom,
  dockerControlSource,
} from './docker/connection.js';
export { type ContainerEvent, parseContainerEvent, WATCHED_ACTIONS } from './docker/container-event.js';
export { containerIpOf } from './docker/container-ip.js';
export { DockerClient, isNotFound, isTransient, isUnreachable } from './docker/docker-client.js';
export { DockerEventStream, type EventStreamOptions } from './docker/event-stream.js';
export { detectOwnContainerId, ownContainerIdFrom } from './docker/own-container-id.js';
export { type DockerRetryOptions, isRetryableDockerError, retryDockerCall } from './docker/retry.js';
export * from './errors.js';
export { type EtcdConnectionInput, etcdOptionsFrom } from './etcd/connection.js';
export { openEtcd } from './etcd/etcd-client.js';
export { LeaseKeeper } from './etcd/lease-keeper.js';
export { LeasedRecord, type RecordOutcome, type RegistryLog } from './etcd/leased-record.js';
export {
  checkHealth,
  exitStatusOfVerdict,
  type HealthCheckOptions,
  type HealthResult,
  type HealthSource,
  notRunningStatus,
  type Verdict,
} from './health/check-health.js';
export {
  checkPeriodOf,
  DEFAULT_PERIOD_SECONDS,
  healthCommandOf,
  shellSyntaxWarning,
  splitWords,
} from './health/container-env.js';
export { verdictJson, verdictLine } from './health/report.js';
export { CheckInterrupted, type RunMode } from './health/runner.js';
export { SIDECAR_LABEL } from './health/sidecar-labels.js';
export { Listener, type ListenerOptions } from './listener/listener.js';
export {
  CHILD_HEALTHY_AFTER_MS,
  CHILD_RESTART_BACKOFF,
  MonitorSupervisor,
  type MonitorSupervisorOptions,
} from './listener/monitor-supervisor.js';
export { PolicyActions } from './listener/policy-actions.js';
export { RecordBroker } from './listener/record-broker.js';
export { type ListenerSettings, runListener } from './listener/run-listener.js';
export {
  isIgnored,
  normalizePrefix,
  type SelectionOptions,
  type SelectionSubject,
} from './listener/selection.js';
export { createLogger, type Logger, type LoggerOptions, type ToolLogger } from './log/logger.js';
export {
  ContainerMonitor,
  type ContainerMonitorOptions,
  type MonitorEnd,
  type MonitorRecord,
} from './monitor/container-monitor.js';
export * from './monitor/protocol.js';
export { etcdConnectionOf, runMonitor, type StandaloneMonitorSettings } from './monitor/run-monitor.js';
export {
  type CleanupDecision,
  type CleanupFacts,
  decideCleanup,
  type RestartPolicyName,
} from './policy/cleanup.js';
export {
  HEALTH_RESET_AFTER_MS,
  HEALTH_RESTART_BACKOFF,
  type HealthDecision,
  type HealthFacts,
  type HealthRestartOptions,
  HealthRestartPolicy,
  type HealthStatus,
} from './policy/health-restart.js';
export {
  DEFAULT_CLEANUP_EXIT_CODE,
  DEFAULT_STOP_TIMEOUT_MS,
  type LabelWarning,
  PolicyLabel,
  type PolicyLabels,
  parsePolicyLabels,
} from './policy/labels.js';
export { defaultHostIp } from './record/host-ip.js';
export { imageNameOf, isImageIdRef } from './record/image-name.js';
export {
  DEFAULT_ETCD_PREFIX,
  type ServiceRecord,
  serviceKeyOf,
  servicePortsOf,
  serviceRecordOf,
  serviceValueOf,
} from './record/service-record.js';
