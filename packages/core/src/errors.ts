// Errors a user can fix carry their exit status and a one-line message that says what to do.
// Anything else reaching a command is a bug and is reported as one (exit 70, EX_SOFTWARE).
// The table of exit statuses lives here, in one place: `exitStatusOf`.

export const ExitStatus = {
  healthy: 0,
  unhealthy: 1,
  usage: 2,
  noSuchContainer: 3,
  noCheckDefined: 4,
  dockerUnreachable: 5,
  /** an unexpected error: a bug in checker */
  bug: 70,
} as const;
export type ExitStatusCode = (typeof ExitStatus)[keyof typeof ExitStatus];

/** An error the user can act on: its message is one line, naming what is wrong and the fix. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitStatus: ExitStatusCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class BadOption extends UserError {
  constructor(message: string) {
    super(message, ExitStatus.usage);
  }
}

/**
 * `--mode exec` cannot keep its promise here: a hung command is ended by its host pid, and this
 * process does not see the target's processes (it runs in a container without `--pid host`).
 */
export class ExecModeUnsupported extends UserError {
  constructor(reason: string) {
    super(
      `--mode exec cannot end a hung check from here (${reason}): run the tools on the host as root, or their container with --pid host; or use --mode sidecar`,
      ExitStatus.usage,
    );
  }
}

export class ContainerNotFound extends UserError {
  constructor(readonly container: string) {
    super(
      `no such container: ${container} (see \`docker ps -a\` for names and ids)`,
      ExitStatus.noSuchContainer,
    );
  }
}

export class DockerUnreachable extends UserError {
  constructor(
    readonly control: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach Docker at ${control}: ${detail} (start dockerd, or point --control / MON_CONTROL / DOCKER_HOST at it)`,
      ExitStatus.dockerUnreachable,
      options,
    );
  }
}

/** TLS to Docker cannot be set up (a certificate file missing) or was refused in the handshake. */
export class DockerTlsError extends UserError {
  constructor(
    readonly control: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot talk TLS to Docker at ${control}: ${detail} (DOCKER_CERT_PATH must hold ca.pem, cert.pem and key.pem that the daemon accepts)`,
      ExitStatus.dockerUnreachable,
      options,
    );
  }
}

/** Docker answered, but with an error we did not expect (500, 409, ...). */
export class DockerError extends UserError {
  constructor(
    readonly statusCode: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Docker answered with an error: ${detail}`, ExitStatus.dockerUnreachable, options);
  }
}

export function exitStatusOf(error: unknown): ExitStatusCode {
  if (error instanceof UserError) return error.exitStatus;
  return ExitStatus.bug;
}

export function messageOf(error: unknown): string {
  if (error instanceof UserError) return error.message;
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return `unexpected error (a bug in checker, please report it): ${text}`;
}
