// `listener`: one monitor child per running container, driven by Docker events, plus
// docker-mon's restart and cleanup policies (SPEC §4). Flags and wiring only.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import {
  commonFlags,
  ExitStatus,
  exitStatusOf,
  listenerOnlyFlags,
  messageOf,
  monitorSettingsFrom,
  registryFlags,
  ToolCommand,
} from '@checker/core/cli';

/**
 * A host runs a monitor per container, so each one's memory counts. A monitor runs a little
 * JavaScript every period: V8's optimising tiers (lite mode), its helper threads (each with its
 * own malloc arena) and a 16 MB young generation buy it nothing, and nothing in it uses
 * WebAssembly (lite mode would warn about it on every start). Measured with 10 monitors:
 * 32.8 MB PSS each with Node's defaults, 19.8 MB with these; start-up time unchanged.
 */
const MONITOR_EXEC_ARGV = [
  '--max-semi-space-size=1',
  '--max-old-space-size=64',
  '--single-threaded',
  '--lite-mode',
  '--no-expose-wasm',
];
const MONITOR_ENV = { MALLOC_ARENA_MAX: '1' };

export default class Listener extends ToolCommand {
  static override summary =
    'Follow Docker events: keep one monitor per running container, restart unhealthy containers, remove cleanly exited ones.';

  static override description =
    `On start, a monitor child process for every running container; then Docker's event
stream: start starts a monitor, die/destroy ends it (it removes its etcd key first). A crashed
monitor is started again with backoff (1 s doubling to 30 s). When the event stream breaks the
listener reconnects, replays what it missed and reconciles; the same reconcile runs every
--interval ms. Containers labelled checker.sidecar=1, the listener's own container and names
outside --prefix are ignored.

Policies (docker-mon), for containers labelled mon.observe=1:
  mon.checks.health=1   restart when Docker reports it unhealthy (stop timeout
                        mon.checks.health.timeout ms, default 10000; later restarts of the
                        same container spaced 10 s doubling to 5 min)
  mon.checks.cleanup=1  remove it and its anonymous volumes once it exited with
                        mon.checks.cleanup.code (default 0) and Docker will not restart it

SIGTERM/SIGINT end every monitor, wait for them, and exit 0.
Every flag also reads MON_<FLAG> from the environment (--prefix ↔ MON_PREFIX).`;

  static override examples = [
    '<%= config.bin %> --stdout --no-syslog',
    '<%= config.bin %> --etcd-host 10.0.0.5:2379 --prefix web- --interval 5000 --quiet',
  ];

  static override flags = {
    ...commonFlags({ stdout: false, syslog: true }),
    ...registryFlags,
    ...listenerOnlyFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Listener);
    const core = await import('@checker/core');
    const { log, close: closeLog } = core.createLogger({
      tool: 'listener',
      level: flags.loglevel,
      stdout: flags.stdout,
      syslog: flags.syslog,
      quiet: flags.quiet,
      container: null,
    });
    let status: number = ExitStatus.healthy;
    try {
      if (flags.interval < 1) throw new core.BadOption('--interval must be at least 1 ms');
      const control = core.dockerControlFrom(flags.control);
      const docker = core.DockerClient.fromControl(control);
      // The children get the listener's settings as JSON in their environment rather than
      // argv, so secrets such as the etcd password do not show in `ps`.
      const settings = {
        ...monitorSettingsFrom(flags),
        control,
        hostIp: flags['host-ip'] ?? core.defaultHostIp(),
        // --quiet: the monitors keep only their actions (register, deregister) and problems.
        loglevel:
          flags.quiet && ['DEBUG', 'INFO'].includes(flags.loglevel) ? ('NOTICE' as const) : flags.loglevel,
      };
      // Fail on bad etcd options here, once, rather than in every child.
      core.etcdOptionsFrom(core.etcdConnectionOf(settings));
      const childEnv = {
        ...process.env,
        ...MONITOR_ENV,
        [core.MONITOR_SETTINGS_ENV]: JSON.stringify(settings),
      };
      const monitorBin = createRequire(import.meta.url).resolve('@checker/monitor/bin/child.js');
      const supervisor = new core.MonitorSupervisor({
        log,
        spawn: (id) =>
          fork(monitorBin, [id], {
            env: childEnv,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            execArgv: MONITOR_EXEC_ARGV,
          }),
        isRunning: async (id) => {
          const info = await docker.inspectContainer(id).catch((error) => {
            if (core.isNotFound(error)) return undefined;
            throw error;
          });
          return Boolean(info?.State?.Running);
        },
      });
      const listener = new core.Listener({
        docker,
        log,
        supervisor,
        prefix: flags.prefix,
        intervalMs: flags.interval,
        retries: flags.retries,
        ownContainerId: await core.detectOwnContainerId(),
        // Not a flag: the default suits every check timeout up to a minute; tests shorten it.
        orphanSidecarAfterMs: Number(process.env.CHECKER_ORPHAN_SIDECAR_AFTER_MS) || undefined,
      });
      const stopped = new Promise<void>((resolve) => {
        // Repeated signals are harmless: systemd (KillMode=control-group) signals the
        // listener and its children together, and an impatient operator presses ^C twice.
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) return;
          stopping = true;
          log.info({ signal }, 'stopping: ending every monitor');
          void listener.stop().then(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      await listener.start();
      await stopped;
      log.info({}, 'stopped');
    } catch (error) {
      status = exitStatusOf(error);
      log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
      process.stderr.write(`listener: ${messageOf(error)}\n`);
    } finally {
      closeLog();
    }
    this.exit(status);
  }
}
