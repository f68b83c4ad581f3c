// The listener's children: at most one `monitor` process per container, ever. A container is
// "wanted" while it runs; a wanted container whose child crashed gets a new one after a
// backoff (1 s doubling to 30 s, reset once a child has lived a minute), as long as the
// container still runs. A released container's child gets SIGTERM (it removes its key) and,
// if it will not go, SIGKILL. A container released and wanted again before its old child
// exited (a quick restart) gets its new child only once the old one is gone.
// A Node process takes a few hundred ms of CPU to start; when many containers start at once,
// only a few monitors start at a time (the rest wait in a queue until one reports `ready`),
// so the first records appear early and the listener stays responsive to events.
import type { ChildProcess } from 'node:child_process';
import { Backoff, type BackoffOptions } from '../backoff.js';
import type { ContainerEvent } from '../docker/container-event.js';
import type { Logger } from '../log/logger.js';
import { dockerEventMessage } from '../monitor/ipc.js';

export const CHILD_RESTART_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };
export const CHILD_HEALTHY_AFTER_MS = 60_000;
/** Monitors booting at once in a burst: two per core keeps the listener responsive. */
export const MAX_STARTING = 4;

export interface MonitorSupervisorOptions {
  /** starts the monitor process of one container (fork with an IPC channel) */
  spawn(containerId: string, name: string): ChildProcess;
  /** asked before a crashed child is replaced */
  isRunning(containerId: string): Promise<boolean>;
  log: Logger;
  backoff?: BackoffOptions;
  healthyAfterMs?: number;
  /** how long a child may take to end after SIGTERM before it gets SIGKILL */
  killAfterMs?: number;
  /** monitors starting at once (spawned, not yet `ready`); default MAX_STARTING */
  maxStarting?: number;
  /** a child that has not said `ready` by then no longer counts as starting */
  readyTimeoutMs?: number;
}

interface Slot {
  id: string;
  name: string;
  wanted: boolean;
  child?: ChildProcess;
  startedAt: number;
  /** SIGTERM sent to the current child */
  stopping: boolean;
  killTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  crashes: Backoff;
  /** waiting in the start queue */
  queued: boolean;
  /** spawned, not yet `ready` */
  starting: boolean;
  readyTimer?: NodeJS.Timeout;
}

export class MonitorSupervisor {
  private readonly slots = new Map<string, Slot>();
  private readonly drained = new Set<() => void>();
  private readonly startQueue: Slot[] = [];
  private startingCount = 0;
  private closing = false;

  constructor(private readonly options: MonitorSupervisorOptions) {}

  /** The container runs: make sure it has a monitor. */
  want(id: string, name: string): void {
    if (this.closing) return;
    let slot = this.slots.get(id);
    if (!slot) {
      slot = {
        id,
        name,
        wanted: true,
        startedAt: 0,
        stopping: false,
        crashes: new Backoff(this.options.backoff ?? CHILD_RESTART_BACKOFF),
        queued: false,
        starting: false,
      };
      this.slots.set(id, slot);
    }
    slot.wanted = true;
    slot.name = name || slot.name;
    if (!slot.child && !slot.restartTimer && !slot.queued) this.launch(slot);
  }

  /** The container stopped or is gone: end its monitor (which removes its key). */
  release(id: string): void {
    const slot = this.slots.get(id);
    if (!slot) return;
    slot.wanted = false;
    clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    this.unqueue(slot);
    if (slot.child) this.terminate(slot);
    else this.forget(slot);
  }

  /** Passes one of the container's events to its monitor. */
  forward(event: ContainerEvent): void {
    const child = this.slots.get(event.id)?.child;
    if (child?.connected)
      child.send(dockerEventMessage(event), (error) => {
        if (error)
          this.options.log.debug(
            { container: event.id, err: error.message },
            'could not pass an event to a monitor',
          );
      });
  }

  /**
   * Makes the monitors match the running containers (id → name), except for `fresh` ones:
   * containers with an event newer than the list, which the event already decided.
   */
  reconcile(
    running: ReadonlyMap<string, string>,
    fresh: ReadonlySet<string> = new Set(),
  ): { started: number; stopped: number } {
    let started = 0;
    let stopped = 0;
    for (const [id, name] of running) {
      if (fresh.has(id)) continue;
      const slot = this.slots.get(id);
      if (!slot?.wanted) started += 1;
      this.want(id, name);
    }
    for (const slot of [...this.slots.values()]) {
      if (slot.wanted && !running.has(slot.id) && !fresh.has(slot.id)) {
        stopped += 1;
        this.release(slot.id);
      }
    }
    return { started, stopped };
  }

  /** Containers with a monitor process alive now. */
  get monitoredIds(): string[] {
    return [...this.slots.values()].filter((slot) => slot.child).map((slot) => slot.id);
  }

  get childPids(): number[] {
    return [...this.slots.values()].flatMap((slot) => (slot.child?.pid ? [slot.child.pid] : []));
  }

  /** Ends every monitor and resolves when all have exited. */
  async stopAll(): Promise<void> {
    this.closing = true;
    for (const slot of [...this.slots.values()]) this.release(slot.id);
    if (![...this.slots.values()].some((slot) => slot.child)) return;
    await new Promise<void>((resolve) => this.drained.add(resolve));
  }

  private launch(slot: Slot) {
    if (this.startingCount >= (this.options.maxStarting ?? MAX_STARTING)) {
      if (!slot.queued) {
        slot.queued = true;
        this.startQueue.push(slot);
      }
      return;
    }
    this.spawnNow(slot);
  }

  private spawnNow(slot: Slot) {
    const { log } = this.options;
    let child: ChildProcess;
    try {
      child = this.options.spawn(slot.id, slot.name);
    } catch (error) {
      log.error(
        { container: slot.name, id: slot.id, err: (error as Error).message },
        'could not start a monitor',
      );
      this.scheduleRestart(slot);
      return;
    }
    slot.child = child;
    slot.stopping = false;
    slot.startedAt = Date.now();
    slot.starting = true;
    this.startingCount += 1;
    slot.readyTimer = setTimeout(() => this.started(slot), this.options.readyTimeoutMs ?? 10_000);
    child.on('message', (message) => {
      if ((message as { type?: unknown } | null)?.type === 'ready') this.started(slot);
    });
    log.debug({ container: slot.name, id: slot.id, pid: child.pid }, 'monitor started');
    child.once('error', (error) => {
      log.warning({ container: slot.name, id: slot.id, err: error.message }, 'monitor process error');
      // A fork that failed (EAGAIN, EMFILE) emits no 'exit': count it as one, or the slot
      // would hold a child that never existed.
      if (child.pid === undefined) this.exited(slot, child, null, null);
    });
    child.once('exit', (code, signal) => this.exited(slot, child, code, signal));
  }

  private terminate(slot: Slot) {
    const child = slot.child;
    if (!child || slot.stopping) return;
    slot.stopping = true;
    child.kill('SIGTERM');
    slot.killTimer = setTimeout(() => {
      this.options.log.warning(
        { container: slot.name, id: slot.id, pid: child.pid },
        'monitor did not end after SIGTERM; killing it',
      );
      child.kill('SIGKILL');
    }, this.options.killAfterMs ?? 10_000);
  }

  private exited(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null) {
    if (slot.child !== child) return;
    const { log } = this.options;
    this.started(slot);
    slot.child = undefined;
    clearTimeout(slot.killTimer);
    const wasStopping = slot.stopping;
    slot.stopping = false;
    log.debug({ container: slot.name, id: slot.id, code, signal }, 'monitor exited');

    if (!slot.wanted || this.closing) {
      this.forget(slot);
    } else if (wasStopping) {
      // Released and wanted again while the old child was ending (a quick restart).
      this.launch(slot);
    } else if (code === 0) {
      // A monitor ends by itself with 0 only when its container is removed.
      slot.wanted = false;
      this.forget(slot);
    } else {
      if (Date.now() - slot.startedAt >= (this.options.healthyAfterMs ?? CHILD_HEALTHY_AFTER_MS))
        slot.crashes.reset();
      log.warning(
        { container: slot.name, id: slot.id, code, signal },
        'monitor crashed; starting another after a backoff',
      );
      this.scheduleRestart(slot);
    }
  }

  private scheduleRestart(slot: Slot) {
    const delay = slot.crashes.next();
    slot.restartTimer = setTimeout(async () => {
      slot.restartTimer = undefined;
      if (!slot.wanted || this.closing) return this.forget(slot);
      const running = await this.options.isRunning(slot.id).catch(() => true);
      if (!slot.wanted || this.closing || slot.child || slot.restartTimer) return;
      if (running) this.launch(slot);
      else {
        slot.wanted = false;
        this.forget(slot);
      }
    }, delay);
  }

  /** The child is up (or gone, or too slow to say): the next queued monitor may start. */
  private started(slot: Slot) {
    if (!slot.starting) return;
    slot.starting = false;
    clearTimeout(slot.readyTimer);
    this.startingCount -= 1;
    while (this.startingCount < (this.options.maxStarting ?? MAX_STARTING) && this.startQueue.length > 0) {
      const next = this.startQueue.shift()!;
      next.queued = false;
      if (next.wanted && !this.closing && !next.child) this.spawnNow(next);
    }
  }

  private unqueue(slot: Slot) {
    if (!slot.queued) return;
    slot.queued = false;
    this.startQueue.splice(this.startQueue.indexOf(slot), 1);
  }

  private forget(slot: Slot) {
    if (slot.child || slot.restartTimer || slot.queued) return;
    if (this.slots.get(slot.id) === slot) this.slots.delete(slot.id);
    if (![...this.slots.values()].some((s) => s.child)) {
      for (const resolve of this.drained) resolve();
      this.drained.clear();
    }
  }
}
