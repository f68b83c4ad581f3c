// The listener ↔ monitor protocol, in one place for both sides: the messages over the IPC
// channel of child_process.fork, their types and guards, the environment names, the fork
// options, and the protocol version.
//
// A monitor child's life:
//   fork (settings as JSON in CHECKER_MONITOR_SETTINGS, the version in CHECKER_MONITOR_PROTOCOL)
//   child → `booted`                 loaded and idle: a warm monitor, ready for a container
//   listener → `assign`              the container to monitor (once per child)
//   child → `ready`                  monitoring: its key is known, its first check under way
//   listener → `docker-event`        the container's own Docker events (one stream per host)
//   child → `record` / listener → `record-done`
//                                    prepare (as it starts), publish, withdraw or close its
//                                    service record through the listener's one etcd client;
//                                    every request acknowledged
//   child → `checked`                each check's verdict, for the listener's metrics
//   listener → `drain` / child → `drained`
//                                    withdraw the record now (the listener is about to restart
//                                    the container) and answer once etcd confirmed the delete
//   SIGTERM                          withdraw the record and exit 0
//   the IPC channel closes           the listener is gone: exit at once, the record left on its
//                                    lease for the next listener's monitor to take over
import type { ContainerEvent } from '../docker/container-event.js';
import type { RecordOutcome } from '../etcd/record-outcome.js';
import type { Verdict } from '../health/check-health.js';
import type { RunMode } from '../health/runner.js';
import type { LogLevelName } from '../log/levels.js';

/** Bumped on any change a child of another version would misread. */
export const MONITOR_PROTOCOL_VERSION = 1;

/** The environment of a monitor child: its settings (JSON) and the protocol it must speak. */
export const MONITOR_SETTINGS_ENV = 'CHECKER_MONITOR_SETTINGS';
export const MONITOR_PROTOCOL_ENV = 'CHECKER_MONITOR_PROTOCOL';

/** A child's exit status when it does not speak the listener's protocol (EX_CONFIG). */
export const PROTOCOL_MISMATCH_EXIT = 78;

/** Everything a monitor process needs, as the flags give it (the container comes by `assign`). */
export interface MonitorSettings {
  control?: string;
  mode: RunMode;
  /** seconds */
  timeout: number;
  /** seconds; undefined: HEALTHCHECKPERIOD, else 30 */
  period?: number;
  loglevel: LogLevelName;
  stdout: boolean;
  syslog: boolean;
  etcdPrefix: string;
  hostIp?: string;
}

/** `prepare`: the monitor opened its record (start); the listener gets its lease ready. */
export type RecordOp = 'prepare' | 'publish' | 'withdraw' | 'close';

/** listener → monitor */
export type ListenerMessage =
  | { type: 'assign'; container: string; name: string }
  | { type: 'docker-event'; event: ContainerEvent }
  | { type: 'record-done'; requestId: number; outcome: RecordOutcome }
  | { type: 'drain'; requestId: number; holdMs: number };

/** monitor → listener */
export type MonitorMessage =
  | { type: 'booted'; protocol: number }
  | { type: 'ready'; container: string; key: string }
  | {
      type: 'record';
      requestId: number;
      op: RecordOp;
      key: string;
      ttlSeconds: number;
      /** publish only */
      value?: string;
    }
  | { type: 'drained'; requestId: number; outcome: RecordOutcome }
  | { type: 'checked'; verdict: Verdict; status: string; durationMs: number; at: number };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

export function isListenerMessage(message: unknown): message is ListenerMessage {
  if (!isObject(message)) return false;
  switch (message.type) {
    case 'assign':
      return typeof message.container === 'string' && typeof message.name === 'string';
    case 'docker-event':
      return isObject(message.event) && typeof message.event.id === 'string';
    case 'record-done':
      return typeof message.requestId === 'number';
    case 'drain':
      return typeof message.requestId === 'number' && typeof message.holdMs === 'number';
    default:
      return false;
  }
}

export function isMonitorMessage(message: unknown): message is MonitorMessage {
  if (!isObject(message)) return false;
  switch (message.type) {
    case 'booted':
      return typeof message.protocol === 'number';
    case 'ready':
      return typeof message.container === 'string';
    case 'record':
      return (
        typeof message.requestId === 'number' &&
        (message.op === 'prepare' ||
          message.op === 'publish' ||
          message.op === 'withdraw' ||
          message.op === 'close') &&
        typeof message.key === 'string' &&
        typeof message.ttlSeconds === 'number'
      );
    case 'drained':
    case 'checked':
      return true;
    default:
      return false;
  }
}

/**
 * A host runs a monitor per container, so each one's memory counts. A monitor runs a little
 * JavaScript every period: V8's optimising tiers (lite mode), its helper threads (each with
 * its own malloc arena) and a 16 MB young generation buy it nothing, and nothing in it uses
 * WebAssembly. (Node 20 and 22 warn about WebAssembly in lite mode on every start unless it is
 * switched off; Node 24 no longer warns, and refuses `--no-expose-wasm`.)
 */
export const MONITOR_EXEC_ARGV = [
  '--max-semi-space-size=1',
  '--max-old-space-size=64',
  '--single-threaded',
  '--lite-mode',
  ...(Number(process.versions.node.split('.')[0]) < 24 ? ['--no-expose-wasm'] : []),
];

/** The options of `fork(childEntry, [], …)` for a monitor child. */
export function monitorForkOptions(
  settings: MonitorSettings,
  env: NodeJS.ProcessEnv = process.env,
): {
  env: NodeJS.ProcessEnv;
  execArgv: string[];
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'];
  serialization: 'json';
} {
  return {
    // Settings in the environment rather than argv: `ps` stays short. The listener's etcd
    // settings (a password among them) are not the children's business: they have no client.
    env: {
      ...withoutEtcd(env),
      MALLOC_ARENA_MAX: '1',
      [MONITOR_SETTINGS_ENV]: JSON.stringify(settings),
      [MONITOR_PROTOCOL_ENV]: String(MONITOR_PROTOCOL_VERSION),
    },
    execArgv: MONITOR_EXEC_ARGV,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  };
}

/** How a monitor child names itself in `ps`: idle, or with its container's id. */
export const monitorTitle = (containerId?: string): string =>
  containerId ? `checker-monitor ${containerId}` : 'checker-monitor (idle)';

function withoutEtcd(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('MON_ETCD_')));
}
