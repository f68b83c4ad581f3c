// What a command needs before it does any work: flag definitions, argv translation, exit
// statuses. Kept free of dockerode, etcd3 and pino so `--help` and `--version` stay fast.

export { ExitStatus, exitStatusOf, messageOf, UserError } from '../errors.js';
export { LOG_LEVEL_NAMES, type LogLevelName } from '../log/levels.js';
export { type FlagDefinition, translateArgv, withEnvironment } from './argv.js';
export {
  type CheckMode,
  checkOnlyFlags,
  commonFlags,
  envNameOf,
  listenerOnlyFlags,
  type MetricsAddress,
  monitorOnlyFlags,
  parseIpAddress,
  parseLogLevel,
  parseMetricsAddress,
  parseMode,
  parseNotifyUrls,
  parseNumberIn,
  parseSwitch,
  RANGES,
  registryFlags,
  SWITCH_VALUES,
  switchValueOf,
} from './flags.js';
export { type MonitorFlags, monitorSettingsFrom } from './monitor-settings.js';
export { runCli } from './run-cli.js';
export { ToolCommand, usageLine } from './tool-command.js';
