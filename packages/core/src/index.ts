// @checker/core: everything the three tools share. Importing it loads dockerode, etcd3 and
// pino; commands import it inside run() (the light parts live in '@checker/core/cli').
export { Backoff, backoffDelay, sleep, type BackoffOptions } from './backoff.js';
export * from './errors.js';
export { dockerConnectionFrom, dockerControlFrom, DEFAULT_DOCKER_CONTROL } from './docker/connection.js';
export { containerIpOf } from './docker/container-ip.js';
export { DockerClient, isNotFound, isUnreachable } from './docker/docker-client.js';
export { checkPeriodOf, healthCommandOf, splitWords, DEFAULT_PERIOD_SECONDS } from './health/container-env.js';
export {
  checkHealth,
  exitStatusOfVerdict,
  notRunningStatus,
  type HealthCheckOptions,
  type HealthResult,
  type HealthSource,
  type Verdict,
} from './health/check-health.js';
export { verdictJson, verdictLine } from './health/report.js';
export { CheckInterrupted, type RunMode } from './health/runner.js';
export { SIDECAR_LABEL } from './health/sidecar-runner.js';
export { createLogger, type Logger, type LoggerOptions, type ToolLogger } from './log/logger.js';
