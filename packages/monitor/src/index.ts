// `monitor <container>`: keeps the container's service record in etcd while it is healthy
// (SPEC §3). Flags and exit statuses only; the process is wired in @checker/core (runMonitor).

import {
  commonFlags,
  monitorOnlyFlags,
  monitorSettingsFrom,
  registryFlags,
  ToolCommand,
} from '@checker/core/cli';
import { Args } from '@oclif/core';

export default class Monitor extends ToolCommand {
  static override summary =
    "Keep a healthy container's service record in etcd, and remove it the moment it is not.";

  static override description =
    `Every period (--period, else the container's HEALTHCHECKPERIOD, else 30 s) the container is
checked as \`check\` does. While healthy, the key <etcd-prefix>/<IMAGENAME>/<CONTAINERID> holds
{"IP":…,"Name":…,"Ports":[…]} on a lease of period*2+1 seconds. A failed check, or the container
dying, stopping, being killed or paused, removes the key at once; a start or unpause is checked
at once. The monitor exits 0 when the container is removed, and on SIGTERM/SIGINT (after
removing the key). Docker or etcd being unreachable never ends it.

Exit status: 0 container removed or signalled; 2 usage error; 3 no such container; 5 Docker
refused the reference at start (an ambiguous id prefix, say).
Every flag also reads MON_<FLAG> from the environment (--etcd-host ↔ MON_ETCD_HOST).`;

  static override examples = [
    '<%= config.bin %> --stdout --no-syslog web',
    '<%= config.bin %> --etcd-host http://10.0.0.5:2379,http://10.0.0.6:2379 --period 10 web',
    '<%= config.bin %> -etcd-host=127.0.0.1:2379 -loglevel=DEBUG -stdout=true web',
  ];

  static override args = {
    container: Args.string({ required: true, description: 'container name, id, or unique id prefix' }),
  };

  static override flags = {
    ...commonFlags({ stdout: false, syslog: true }),
    ...registryFlags,
    ...monitorOnlyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Monitor);
    const { runMonitor } = await import('@checker/core');
    const status = await runMonitor({ ...monitorSettingsFrom(flags), container: args.container });
    this.exit(status);
  }
}
