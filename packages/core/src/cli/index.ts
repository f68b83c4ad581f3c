// What a command needs before it does any work: flag definitions, argv translation, exit
// statuses. Kept free of dockerode, etcd3 and pino so `--help` and `--version` stay fast.

export { ExitStatus, exitStatusOf, messageOf, UserError } from '../errors.js';
export { LOG_LEVEL_NAMES, type LogLevelName } from '../log/levels.js';
export { translateArgv } from './argv.js';
export {
  checkOnlyFlags,
  commonFlags,
  envNameOf,
  listenerOnlyFlags,
  monitorOnlyFlags,
  registryFlags,
} from './flags.js';
export { type MonitorFlags, monitorSettingsFrom } from './monitor-settings.js';
export { runCli } from './run-cli.js';
export { ToolCommand, usageLine } from './tool-command.js';
