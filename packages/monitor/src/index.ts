// `monitor <container>`: keeps the container's service record in etcd while it is healthy
// (SPEC §3). Flags, wiring and exit statuses only; the loop lives in @checker/core.

import {
  commonFlags,
  ExitStatus,
  exitStatusOf,
  messageOf,
  monitorOnlyFlags,
  registryFlags,
} from '@checker/core/cli';
import { Args, Command } from '@oclif/core';

export default class Monitor extends Command {
  static override summary =
    "Keep a healthy container's service record in etcd, and remove it the moment it is not.";

  static override description =
    `Every period (--period, else the container's HEALTHCHECKPERIOD, else 30 s) the container is
checked as \`check\` does. While healthy, the key <etcd-prefix>/<IMAGENAME>/<CONTAINERID> holds
{"IP":…,"Name":…,"Ports":[…]} on a lease of period*2+1 seconds. A failed check, or the container
dying, stopping, being killed or paused, removes the key at once; a start or unpause is checked
at once. The monitor exits 0 when the container is removed, and on SIGTERM/SIGINT (after
removing the key). Docker or etcd being unreachable never ends it.

Exit status: 0 container removed or signalled; 2 usage error; 3 no such container.
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
    const core = await import('@checker/core');
    const { log, close: closeLog } = core.createLogger({
      tool: 'monitor',
      level: flags.loglevel,
      stdout: flags.stdout,
      syslog: flags.syslog,
      container: args.container,
    });
    let status: number = ExitStatus.healthy;
    let etcd: { close(): void } | undefined;
    let events: { stop(): void } | undefined;
    try {
      const docker = core.DockerClient.fromControl(core.dockerControlFrom(flags.control));
      const client = core.openEtcd({
        hosts: flags['etcd-host'],
        ca: flags['etcd-ca'],
        cert: flags['etcd-cert'],
        key: flags['etcd-key'],
        user: flags['etcd-user'],
        password: flags['etcd-password'],
      });
      etcd = client;
      const monitor = new core.ContainerMonitor({
        docker,
        log,
        container: args.container,
        mode: flags.mode as 'sidecar' | 'exec',
        timeoutMs: flags.timeout * 1000,
        periodSeconds: flags.period,
        etcdPrefix: flags['etcd-prefix'],
        hostIp: flags['host-ip'] ?? core.defaultHostIp(),
        openRecord: (key, ttlSeconds) => new core.LeasedRecord({ client, key, ttlSeconds, log }),
      });
      const stop = () => void monitor.stop();
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      const underListener = typeof process.send === 'function';
      if (underListener) {
        // The listener feeds this container's events and is this process's reason to live.
        process.on('message', (message) => {
          if (core.isDockerEventMessage(message)) monitor.handleEvent(message.event);
        });
        process.once('disconnect', stop);
      }

      await monitor.start();
      if (!underListener) {
        const stream = new core.DockerEventStream(docker, { containerId: monitor.containerId });
        events = stream;
        stream.on('event', (event) => monitor.handleEvent(event));
        stream.on('disconnected', (error) =>
          log.debug({ err: error.message }, 'Docker event stream broke; reconnecting'),
        );
        stream.on('resync', () => monitor.check());
        await stream.start();
      }
      monitor.check();
      const end = await monitor.ended;
      status = end.exitStatus;
    } catch (error) {
      status = exitStatusOf(error);
      log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
      process.stderr.write(`monitor: ${messageOf(error)}\n`);
    } finally {
      events?.stop();
      etcd?.close();
      closeLog();
    }
    this.exit(status);
  }
}
