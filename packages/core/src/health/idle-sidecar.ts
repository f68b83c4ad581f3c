// The monitor's check path in sidecar mode (issue 12): one long-lived sidecar per monitored
// container instead of a container per check. The sidecar is what SPEC §2 says a check runs in
// — the target's own image (by id), the target's network namespace, labelled checker.sidecar=1,
// never the host's namespaces — and it idles between checks on the check agent, a tiny static
// program copied into it before it starts (agent-program.ts; Docker's init is its PID 1 and
// reaps what checks leave). The monitor attaches to it once and sends each check over that
// stream (agent-protocol.ts): a fork and exec inside the container, with no create/start/wait/
// remove and no runc per check, so dockerd, containerd and runc do next to nothing.
//
// Lifecycle: created at the first check; created again when the target started again (a
// restart leaves the old sidecar in a dead network namespace), when the sidecar or its stream
// is gone; removed by `remove()` (the monitor ending: SIGTERM, container removed, listener
// stopping), by the next sidecar made for the same target, or by the listener's sweep once its
// target has no monitor. A hung check is killed at the timeout (the agent ends the command's
// process group); if the agent does not answer, the whole sidecar is removed: nothing stays.
import type Dockerode from 'dockerode';
import { type AttachHandle, type DockerClient, isTransient } from '../docker/docker-client.js';
import { DockerError, DockerUnreachable } from '../errors.js';
import { AGENT_PATH, agentProgramTar } from './agent-program.js';
import {
  AgentDecoder,
  type AgentMessage,
  AgentProtocolError,
  encodeKill,
  encodeRun,
  startErrorStatus,
} from './agent-protocol.js';
import { OutputTail } from './command-output.js';
import { CheckInterrupted, type CommandRun, couldNotRun, type RunOptions } from './runner.js';
import {
  SIDECAR_KIND_LABEL,
  SIDECAR_LABEL,
  SIDECAR_OWNER_LABEL,
  SIDECAR_TARGET_LABEL,
  SIDECAR_TARGET_STARTED_LABEL,
  sidecarLabels,
  uniqueSuffix,
} from './sidecar-labels.js';
import type { ProgramArch } from './static-program.js';

/** How long the agent may take to say hello after its sidecar started. */
const HELLO_TIMEOUT_MS = 10_000;
/** How long a killed command may take to be reported ended before the sidecar is removed. */
const KILL_GRACE_MS = 1000;

/** Who made the sidecar: the listener's monitors, or a `monitor` run by hand. */
export type SidecarOwner = 'listener' | 'standalone';

interface Live {
  id: string;
  targetId: string;
  /** the target's StartedAt when the sidecar was made: a later start means a new namespace */
  targetStartedAt: string;
  attach: AttachHandle;
  decoder: AgentDecoder;
  /** set while a check waits for the agent's answers */
  listener?: (message: AgentMessage) => void;
  broken: boolean;
  /** what the agent wrote on its stderr, for the error message when its stream breaks */
  agentSaid?: string;
}

export class IdleSidecar {
  private live: Live | undefined;
  private creating: Promise<Live> | undefined;
  /** sidecars this instance made and has not removed: never another's leftovers to sweep */
  private readonly mine = new Set<string>();

  constructor(
    private readonly docker: DockerClient,
    private readonly arch: ProgramArch,
    private readonly owner: SidecarOwner,
  ) {}

  /** The sidecar's container id, once there is one. */
  get id(): string | undefined {
    return this.live?.id;
  }

  /** Runs one check in the sidecar (made or made again as needed). */
  async run(
    target: Dockerode.ContainerInspectInfo,
    argv: string[],
    options: RunOptions,
  ): Promise<CommandRun> {
    if (options.signal?.aborted) throw new CheckInterrupted();
    let live: Live;
    try {
      live = await this.ensure(target, options.timeoutMs);
    } catch (error) {
      // Docker answered (the image was removed, the target is gone): the check could not run.
      if (error instanceof DockerError && !isTransient(error))
        return couldNotRun(`check sidecar cannot be made: ${error.message}`);
      throw error;
    }
    return this.exchange(live, argv, options);
  }

  /** Removes the sidecar (the monitor ends); never throws. */
  async remove(): Promise<void> {
    const live = this.live ?? (await this.creating?.catch(() => undefined));
    this.live = undefined;
    if (!live) return;
    live.attach.close();
    await this.removeOwn(live.id);
  }

  private async ensure(target: Dockerode.ContainerInspectInfo, timeoutMs: number): Promise<Live> {
    const live = this.live;
    if (
      live &&
      !live.broken &&
      live.targetId === target.Id &&
      live.targetStartedAt === (target.State?.StartedAt ?? '')
    )
      return live;
    if (live) {
      this.live = undefined;
      live.attach.close();
      await this.removeOwn(live.id);
    }
    this.creating ??= this.create(target, timeoutMs).finally(() => {
      this.creating = undefined;
    });
    this.live = await this.creating;
    return this.live;
  }

  private async create(target: Dockerode.ContainerInspectInfo, timeoutMs: number): Promise<Live> {
    const { docker } = this;
    const name = `checker-sidecar-${target.Id.slice(0, 12)}-${uniqueSuffix()}`;
    const id = await docker.createContainer({
      name,
      Image: target.Image,
      // --sweep: in this sidecar of its own, nothing a check leaves running survives it.
      Entrypoint: [AGENT_PATH, '--sweep'],
      Cmd: [],
      Env: target.Config?.Env ?? [],
      User: target.Config?.User || undefined,
      WorkingDir: target.Config?.WorkingDir || undefined,
      OpenStdin: true,
      StdinOnce: false,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      // The image's own HEALTHCHECK instruction would have dockerd run it in here too, every
      // interval, through containerd and runc: the cost this sidecar exists to avoid.
      Healthcheck: { Test: ['NONE'] },
      Labels: {
        ...sidecarLabels(target.Id, timeoutMs, 'idle'),
        [SIDECAR_TARGET_STARTED_LABEL]: target.State?.StartedAt ?? '',
        [SIDECAR_OWNER_LABEL]: this.owner,
      },
      HostConfig: {
        NetworkMode: `container:${target.Id}`,
        // Docker's init as PID 1: reaps what checks leave behind, forwards `docker stop`.
        Init: true,
        // The agent's stream carries every check's output: nothing to keep on disk.
        LogConfig: { Type: 'none', Config: {} },
      },
    });
    this.mine.add(id);
    let live: Live | undefined;
    let attaching: Promise<AttachHandle> | undefined;
    try {
      // The agent copied in and the stream attached, side by side: both before the start.
      const copied = docker.putArchive(id, agentProgramTar(this.arch), '/');
      const decoder = new AgentDecoder();
      const made: Live = {
        id,
        targetId: target.Id,
        targetStartedAt: target.State?.StartedAt ?? '',
        decoder,
        broken: false,
        attach: undefined as unknown as AttachHandle,
      };
      // Attached before it starts, so its hello cannot be missed.
      attaching = docker.attach(
        id,
        (chunk) => {
          let messages: AgentMessage[];
          try {
            messages = decoder.push(chunk);
          } catch (error) {
            // A stream off the protocol is not trusted again: the sidecar is made anew.
            messages = error instanceof AgentProtocolError ? error.before : [];
            made.broken = true;
            made.attach.close();
          }
          for (const message of messages) made.listener?.(message);
        },
        (chunk) => {
          // The agent's own complaints (a protocol error) come on stderr; they end its stream.
          made.agentSaid = `${made.agentSaid ?? ''}${chunk.toString('utf8')}`.slice(-500);
        },
      );
      [, made.attach] = await Promise.all([copied, attaching]);
      void made.attach.closed.then(() => {
        made.broken = true;
        made.listener?.({ type: 'error', message: 'the check sidecar stream closed' });
      });
      live = made;
      const hello = this.next(made, (m) => m.type === 'hello', HELLO_TIMEOUT_MS);
      await docker.startContainer(id);
      const said = await hello;
      if (said?.type !== 'hello')
        throw new DockerUnreachable(docker.control, 'the check agent did not start in its sidecar');
    } catch (error) {
      void attaching?.then(
        (handle) => handle.close(),
        () => undefined,
      );
      await this.removeOwn(id);
      throw error;
    }
    // Not on the way to the first check: one left by a killed monitor goes in the background.
    void this.removeOthers(target.Id);
    return live;
  }

  private async removeOwn(id: string): Promise<void> {
    this.mine.delete(id);
    await this.docker.removeContainer(id, { force: true }).catch(() => undefined);
  }

  /**
   * At most one idle sidecar per target: others (left by a monitor that was killed) go. Not
   * one this instance made, also one made after this list was asked for (the target restarted
   * meanwhile): removing that would cut a check short.
   */
  private async removeOthers(targetId: string): Promise<void> {
    const others = await this.docker
      .listContainers({
        all: true,
        filters: {
          label: [`${SIDECAR_LABEL}=1`, `${SIDECAR_TARGET_LABEL}=${targetId}`, `${SIDECAR_KIND_LABEL}=idle`],
        },
      })
      .catch(() => []);
    await Promise.all(
      others
        .filter((c) => !this.mine.has(c.Id) && c.Labels?.[SIDECAR_OWNER_LABEL] === this.owner)
        .map((c) => this.docker.removeContainer(c.Id, { force: true }).catch(() => undefined)),
    );
  }

  /** Sends one check and collects its answers, bounded by the timeout. */
  private async exchange(live: Live, argv: string[], { timeoutMs, signal }: RunOptions): Promise<CommandRun> {
    const tail = new OutputTail();
    let killing = false;
    const ended = new Promise<CommandRun | 'broken'>((resolve) => {
      live.listener = (message) => {
        switch (message.type) {
          case 'output':
            tail.push(message.data);
            return;
          case 'exit':
            resolve({ exitCode: message.status, timedOut: killing, output: tail.toString() });
            return;
          case 'error':
            // The agent could not start the command: as `docker exec` reports it (126/127).
            if (live.broken) resolve('broken');
            else
              resolve({
                exitCode: startErrorStatus(message.message),
                timedOut: false,
                output: message.message,
              });
            return;
        }
      };
    });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<'timeout' | 'aborted'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      onAbort = () => resolve('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      // Its stream may have closed since `ensure` looked: say so now, not at the timeout.
      if (live.broken) throw new DockerUnreachable(this.docker.control, 'the check sidecar stream closed');
      live.attach.write(encodeRun(argv));
      const first = await Promise.race([ended, stopped]);
      if (first === 'broken')
        throw new DockerUnreachable(this.docker.control, 'the check sidecar stream closed');
      if (typeof first === 'object') return first;
      // Past the timeout, or interrupted: the agent ends the command's process group.
      killing = true;
      live.attach.write(encodeKill());
      const after = await Promise.race([
        ended,
        new Promise<'silent'>((resolve) => setTimeout(() => resolve('silent'), KILL_GRACE_MS)),
      ]);
      if (after === 'silent' || after === 'broken') {
        // An agent that does not answer is not trusted with the next check: nothing may stay.
        this.live = undefined;
        live.attach.close();
        await this.removeOwn(live.id);
      }
      if (first === 'aborted') throw new CheckInterrupted();
      return { exitCode: null, timedOut: true, output: tail.toString() };
    } finally {
      live.listener = undefined;
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The next message matching `wanted`, or undefined after `timeoutMs`. */
  private next(
    live: Live,
    wanted: (m: AgentMessage) => boolean,
    timeoutMs: number,
  ): Promise<AgentMessage | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        live.listener = undefined;
        resolve(undefined);
      }, timeoutMs);
      live.listener = (message) => {
        if (!wanted(message) && !(message.type === 'error' && live.broken)) return;
        clearTimeout(timer);
        live.listener = undefined;
        resolve(message);
      };
    });
  }
}
