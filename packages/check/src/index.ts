// `check <container>`: one health verdict, as the exit status (SPEC §2). Flags and exit
// statuses only; the check itself lives in @checker/core.

import {
  checkOnlyFlags,
  commonFlags,
  ExitStatus,
  exitStatusOf,
  messageOf,
  ToolCommand,
} from '@checker/core/cli';
import { Args } from '@oclif/core';

export default class Check extends ToolCommand {
  static override summary = 'Check a container and answer with an exit status: 0 healthy, 1 unhealthy.';

  static override description =
    `The check is the container's HEALTHCHECK environment variable (a command, run with the
container's IP appended, in a throw-away sidecar container or by docker exec), else Docker's
own health status (HEALTHCHECK instruction / --health-cmd).

Exit status:
  0  healthy
  1  unhealthy: the command failed or timed out, Docker says unhealthy (or still starting),
     or the container is not running
  2  usage error (unknown flag, missing argument, bad value)
  3  no such container
  4  running, but no health check is defined
  5  Docker could not be reached, or answered with an error
  130/143  interrupted by SIGINT/SIGTERM (the sidecar is removed first)

Every flag also reads MON_<FLAG> from the environment (--timeout ↔ MON_TIMEOUT).`;

  static override examples = [
    '<%= config.bin %> web',
    '<%= config.bin %> --mode exec --timeout 3 web',
    '<%= config.bin %> --wait 60 db && echo ready',
    '<%= config.bin %> --json web | jq .verdict',
    '<%= config.bin %> -loglevel=DEBUG -stdout web',
  ];

  static override args = {
    container: Args.string({ required: true, description: 'container name, id, or unique id prefix' }),
  };

  static override flags = { ...commonFlags({ stdout: true, syslog: false }), ...checkOnlyFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Check);
    const core = await import('@checker/core/check');
    // With --json, stdout carries exactly one JSON object; log lines move to stderr.
    const { log, close } = core.createLogger({
      tool: 'check',
      level: flags.loglevel,
      stdout: flags.stdout,
      syslog: flags.syslog,
      container: args.container,
      destination: flags.json ? process.stderr : undefined,
    });
    const interrupt = new AbortController();
    let signalled: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) return; // a second signal must not cut the sidecar's removal short
      signalled = signal;
      log.notice({ signal }, 'interrupted: cleaning up');
      interrupt.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    let status: number;
    try {
      const control = core.dockerControlFrom(flags.control);
      const docker = core.DockerClient.fromControl(
        control,
        undefined,
        core.dockerControlSource(flags.control),
      );
      const result = await core.checkHealth(docker, args.container, {
        mode: flags.mode as 'sidecar' | 'exec',
        timeoutMs: flags.timeout * 1000,
        waitMs: (flags.wait ?? 0) * 1000,
        signal: interrupt.signal,
        onRun: (argv) => log.debug({ argv, mode: flags.mode }, 'running HEALTHCHECK'),
        onWarning: (message) => {
          // Said on stderr too: check's log lines may be off, and this is the user's to fix.
          log.warning({}, message);
          if (!flags.stdout || flags.json) process.stderr.write(`check: ${args.container}: ${message}\n`);
        },
      });
      status = core.exitStatusOfVerdict(result.verdict);
      log.debug(
        {
          verdict: result.verdict,
          source: result.source,
          status: result.status,
          durationMs: result.durationMs,
        },
        'verdict',
      );
      this.log(
        flags.json ? core.verdictJson(args.container, result) : core.verdictLine(args.container, result),
      );
    } catch (error) {
      if (signalled || error instanceof core.CheckInterrupted) {
        status = 128 + (signalled === 'SIGINT' ? 2 : 15);
      } else {
        status = exitStatusOf(error);
        // Said once on stderr; logged too where a log is kept (syslog), and always for bugs.
        if (flags.syslog || status === ExitStatus.bug)
          log.error({ err: status === ExitStatus.bug ? error : undefined }, messageOf(error));
        process.stderr.write(`check: ${messageOf(error)}\n`);
        if (flags.json)
          this.log(
            JSON.stringify({
              container: args.container,
              verdict: 'error',
              exitStatus: status,
              error: messageOf(error),
            }),
          );
      }
    } finally {
      close();
    }
    this.exit(status);
  }
}
