// What `check` needs, and nothing that talks to etcd: loading etcd3 parses its protocol
// definitions at import, a cost a one-shot verdict should not pay.
export { dockerControlFrom, dockerControlSource } from './docker/connection.js';
export { DockerClient } from './docker/docker-client.js';
export { checkHealth, exitStatusOfVerdict, type HealthResult } from './health/check-health.js';
export { verdictJson, verdictLine } from './health/report.js';
export { CheckInterrupted } from './health/runner.js';
export { createLogger } from './log/logger.js';
