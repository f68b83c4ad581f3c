// `listener`: one monitor child per running container, driven by Docker events, plus
// docker-mon's restart and cleanup policies (SPEC §4). Flags and wiring only.
import { createRequire } from 'node:module';
import {
  commonFlags,
  listenerOnlyFlags,
  monitorSettingsFrom,
  registryFlags,
  ToolCommand,
} from '@checker/core/cli';

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
    const { runListener } = await import('@checker/core');
    const status = await runListener(
      {
        ...monitorSettingsFrom(flags),
        prefix: flags.prefix,
        interval: flags.interval,
        retries: flags.retries,
        quiet: flags.quiet,
        warm: flags.warm,
        metrics: flags.metrics,
        notify: flags.notify,
      },
      { monitorEntry: createRequire(import.meta.url).resolve('@checker/monitor/bin/child.js') },
    );
    this.exit(status);
  }
}
