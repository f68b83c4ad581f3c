// The listener's children: at most one `monitor` process per container, ever, plus a few warm
// ones. Every child boots idle (loads its code, says `booted`) and is then handed a container
// (`assign`); so the listener keeps `warm` children booted in advance, and a container that
// starts gets one at once while the pool refills in the background. In a burst the pool goes
// first; then children boot at most `maxStarting` at a time (a Node process takes tens of ms of
// CPU to boot), so the first records appear early and the listener keeps up with events.
//
// A container is "wanted" while it runs; a wanted container whose child crashed gets a new one
// after a backoff (1 s doubling to 30 s, reset once a child has lived a minute), as long as the
// container still runs. A released container's child gets SIGTERM (it withdraws its record) and,
// if it will not go, SIGKILL. A container released and wanted again before its old child exited
// (a quick restart) gets its new child only once the old one is gone.
import type { ChildProcess } from 'node:child_process';
import { Backoff, type BackoffOptions } from '../backoff.js';
import type { ContainerEvent } from '../docker/container-event.js';
import type { Logger } from '../log/logger.js';
import {
  isMonitorMessage,
  type ListenerMessage,
  MONITOR_PROTOCOL_VERSION,
  type MonitorMessage,
  PROTOCOL_MISMATCH_EXIT,
} from '../monitor/protocol.js';

export const CHILD_RESTART_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };
export const CHILD_HEALTHY_AFTER_MS = 60_000;
/** Children booting at once: two per core keeps the listener responsive. */
export const MAX_STARTING = 4;
/** Warm children kept by default (--warm). */
export const DEFAULT_WARM = 2;
/** Pool refills after children that died before booting wait this long, doubling. */
const BOOT_FAILURE_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };

/** A child that has a container: what the listener's handlers are told about. */
export interface MonitorOwner {
  /** unique per child process, for the record broker */
  id: number;
  container: string;
  name: string;
  pid: number | undefined;
}

export interface MonitorSupervisorOptions {
  /** forks one idle monitor child (with an IPC channel) */
  spawn(): ChildProcess;
  /** asked before a crashed child is replaced */
  isRunning(containerId: string): Promise<boolean>;
  log: Logger;
  /** children kept booted and idle, ready for a container; default DEFAULT_WARM */
  warm?: number;
  /** a message from a child that has a container (records, verdicts), and how to answer it */
  onMessage?(owner: MonitorOwner, message: MonitorMessage, reply: (message: ListenerMessage) => void): void;
  /** a child was handed its container */
  onAssign?(owner: MonitorOwner): void;
  /** a child that had a container is gone; `crashed` when it ended unasked (it is replaced) */
  onExit?(owner: MonitorOwner, code: number | null, signal: NodeJS.Signals | null, crashed: boolean): void;
  backoff?: BackoffOptions;
  healthyAfterMs?: number;
  /** how long a child may take to end after SIGTERM before it gets SIGKILL */
  killAfterMs?: number;
  /** children booting at once; default MAX_STARTING */
  maxStarting?: number;
  /** a child that has not said `booted` by then is killed */
  bootTimeoutMs?: number;
}

interface Child {
  id: number;
  process: ChildProcess;
  booted: boolean;
  bootTimer?: NodeJS.Timeout;
  slot?: Slot;
  /** requests to this child awaiting an answer (drain) */
  answers: Map<number, (message: MonitorMessage) => void>;
}

interface Slot {
  id: string;
  name: string;
  wanted: boolean;
  child?: Child;
  startedAt: number;
  /** SIGTERM sent to the current child */
  stopping: boolean;
  killTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  crashes: Backoff;
  /** waiting for a booted child */
  waiting: boolean;
}

export class MonitorSupervisor {
  private readonly slots = new Map<string, Slot>();
  private readonly children = new Set<Child>();
  private readonly idle: Child[] = [];
  private readonly waiting: Slot[] = [];
  private readonly drained = new Set<() => void>();
  private booting = 0;
  private nextChildId = 1;
  private nextRequestId = 1;
  private readonly bootFailures = new Backoff(BOOT_FAILURE_BACKOFF);
  private spawnBlockedUntil = 0;
  private refillTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly options: MonitorSupervisorOptions) {}

  /** Fills the warm pool (call once, at start). */
  start(): void {
    this.topUp();
  }

  /**
   * The container runs: make sure it has a monitor. True when one was running already (it is
   * told of the event that brought this on); a monitor given the container now inspects it
   * after that event, so the event is no news to it.
   */
  want(id: string, name: string): boolean {
    if (this.closing) return false;
    let slot = this.slots.get(id);
    const hadMonitor = slot?.child !== undefined;
    if (!slot) {
      slot = {
        id,
        name,
        wanted: true,
        startedAt: 0,
        stopping: false,
        crashes: new Backoff(this.options.backoff ?? CHILD_RESTART_BACKOFF),
        waiting: false,
      };
      this.slots.set(id, slot);
    }
    slot.wanted = true;
    slot.name = name || slot.name;
    if (!slot.child && !slot.restartTimer && !slot.waiting) this.enqueue(slot);
    return hadMonitor;
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
    if (child) this.send(child, { type: 'docker-event', event });
  }

  /**
   * Asks the container's monitor to withdraw its record now and hold it back for `holdMs`
   * (a restart is coming); resolves once etcd confirmed the delete, or false after `timeoutMs`
   * (or when the container has no monitor).
   */
  async drain(id: string, holdMs: number, timeoutMs: number): Promise<boolean> {
    const child = this.slots.get(id)?.child;
    if (!child) return false;
    const requestId = this.nextRequestId++;
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<boolean>((resolve) => {
      child.answers.set(requestId, (message) =>
        resolve(message.type === 'drained' && message.outcome === 'reached'),
      );
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    this.send(child, { type: 'drain', requestId, holdMs });
    const drained = await answered;
    clearTimeout(timer);
    child.answers.delete(requestId);
    return drained;
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

  /** The monitor of each container that has one: container id → pid. */
  get monitorPids(): Map<string, number | undefined> {
    const pids = new Map<string, number | undefined>();
    for (const slot of this.slots.values()) if (slot.child) pids.set(slot.id, slot.child.process.pid);
    return pids;
  }

  /** Booted children waiting for a container. */
  get warmCount(): number {
    return this.idle.length;
  }

  get childPids(): number[] {
    return [...this.children].flatMap((child) => (child.process.pid ? [child.process.pid] : []));
  }

  /** Ends every monitor (and the warm ones) and resolves when all have exited. */
  async stopAll(): Promise<void> {
    this.closing = true;
    clearTimeout(this.refillTimer);
    for (const slot of [...this.slots.values()]) this.release(slot.id);
    const idle = [...this.children].filter((child) => !child.slot);
    for (const child of idle) child.process.kill('SIGTERM');
    // An idle child has nothing to clean up: one that does not go at once is killed.
    const killTimer = setTimeout(() => {
      for (const child of idle) if (this.children.has(child)) child.process.kill('SIGKILL');
    }, 2000);
    if (this.children.size > 0) await new Promise<void>((resolve) => this.drained.add(resolve));
    clearTimeout(killTimer);
  }

  private enqueue(slot: Slot) {
    slot.waiting = true;
    this.waiting.push(slot);
    this.dispatch();
  }

  private unqueue(slot: Slot) {
    if (!slot.waiting) return;
    slot.waiting = false;
    this.waiting.splice(this.waiting.indexOf(slot), 1);
  }

  /** Hands booted children to waiting containers, then refills the pool. */
  private dispatch() {
    while (this.waiting.length > 0 && this.idle.length > 0) {
      const slot = this.waiting.shift()!;
      slot.waiting = false;
      this.assign(this.idle.shift()!, slot);
    }
    this.topUp();
  }

  /** Boots children until the waiting containers and the warm pool are covered, bounded. */
  private topUp() {
    if (this.closing) return;
    const wanted = this.waiting.length + (this.options.warm ?? DEFAULT_WARM);
    const max = this.options.maxStarting ?? MAX_STARTING;
    const waitMs = this.spawnBlockedUntil - Date.now();
    if (waitMs > 0) {
      this.refillTimer ??= setTimeout(() => {
        this.refillTimer = undefined;
        this.topUp();
      }, waitMs);
      return;
    }
    while (this.booting < max && this.booting + this.idle.length < wanted) {
      if (!this.spawnChild()) break;
    }
  }

  private spawnChild(): boolean {
    const { log } = this.options;
    let process: ChildProcess;
    try {
      process = this.options.spawn();
    } catch (error) {
      log.error({ err: (error as Error).message }, 'could not start a monitor');
      this.bootFailed();
      return false;
    }
    const child: Child = { id: this.nextChildId++, process, booted: false, answers: new Map() };
    this.children.add(child);
    this.booting += 1;
    child.bootTimer = setTimeout(() => {
      log.warning({ pid: process.pid }, 'monitor did not boot in time; killing it');
      process.kill('SIGKILL');
    }, this.options.bootTimeoutMs ?? 30_000);
    process.on('message', (message: unknown) => this.onMessage(child, message));
    // Every 'error' is handled (a second one must not crash the listener). A fork that failed
    // (EAGAIN, EMFILE) emits no 'exit': count it as one, or the child would be waited for forever.
    process.on('error', (error) => {
      log.warning({ pid: process.pid, err: error.message }, 'monitor process error');
      if (process.pid === undefined) this.exited(child, null, null);
    });
    process.once('exit', (code, signal) => this.exited(child, code, signal));
    return true;
  }

  private onMessage(child: Child, message: unknown) {
    // A message that comes after its child's exit (IPC delivers in order, but be sure): its
    // record would be made for an owner nobody releases.
    if (!isMonitorMessage(message) || !this.children.has(child)) return;
    if (message.type === 'booted') return this.booted(child, message.protocol);
    if (message.type === 'drained') {
      child.answers.get(message.requestId)?.(message);
      return;
    }
    const slot = child.slot;
    if (!slot) return;
    if (message.type === 'ready') {
      this.options.log.debug({ container: slot.name, id: slot.id, pid: child.process.pid }, 'monitor ready');
      return;
    }
    this.options.onMessage?.(this.ownerOf(child, slot), message, (answer) => this.send(child, answer));
  }

  private booted(child: Child, protocol: number) {
    if (child.booted) return;
    child.booted = true;
    this.booting -= 1;
    clearTimeout(child.bootTimer);
    if (protocol !== MONITOR_PROTOCOL_VERSION) {
      this.options.log.error(
        { pid: child.process.pid, protocol, expected: MONITOR_PROTOCOL_VERSION },
        'a monitor speaks another protocol version: install the same version of @checker/listener and @checker/monitor',
      );
      child.process.kill('SIGKILL');
      this.bootFailed();
      return;
    }
    this.bootFailures.reset();
    if (this.closing) {
      child.process.kill('SIGTERM');
      return;
    }
    this.idle.push(child);
    this.dispatch();
  }

  private assign(child: Child, slot: Slot) {
    child.slot = slot;
    slot.child = child;
    slot.stopping = false;
    slot.startedAt = Date.now();
    this.send(child, { type: 'assign', container: slot.id, name: slot.name });
    this.options.log.debug({ container: slot.name, id: slot.id, pid: child.process.pid }, 'monitor started');
    this.options.onAssign?.(this.ownerOf(child, slot));
  }

  private send(child: Child, message: ListenerMessage) {
    if (!child.process.connected) return;
    child.process.send(message, (error) => {
      if (error)
        this.options.log.debug(
          { container: child.slot?.name, pid: child.process.pid, err: error.message },
          'could not pass a message to a monitor',
        );
    });
  }

  private terminate(slot: Slot) {
    const child = slot.child;
    if (!child || slot.stopping) return;
    slot.stopping = true;
    child.process.kill('SIGTERM');
    slot.killTimer = setTimeout(() => {
      this.options.log.warning(
        { container: slot.name, id: slot.id, pid: child.process.pid },
        'monitor did not end after SIGTERM; killing it',
      );
      child.process.kill('SIGKILL');
    }, this.options.killAfterMs ?? 10_000);
  }

  private exited(child: Child, code: number | null, signal: NodeJS.Signals | null) {
    if (!this.children.delete(child)) return;
    clearTimeout(child.bootTimer);
    for (const answer of child.answers.values()) answer({ type: 'drained', requestId: 0, outcome: 'closed' });
    const idleAt = this.idle.indexOf(child);
    if (idleAt >= 0) this.idle.splice(idleAt, 1);
    if (!child.booted) {
      this.booting -= 1;
      if (!this.closing) {
        const log = code === PROTOCOL_MISMATCH_EXIT ? this.options.log.error : this.options.log.warning;
        log.call(
          this.options.log,
          { pid: child.process.pid, code, signal },
          'a monitor exited before it booted',
        );
        this.bootFailed();
      }
    }
    const slot = child.slot;
    if (slot) this.slotExited(slot, child, code, signal);
    if (this.children.size === 0) {
      for (const resolve of this.drained) resolve();
      this.drained.clear();
    }
    this.topUp();
  }

  /** Children that die before booting (a broken install) must not be re-forked in a loop. */
  private bootFailed() {
    this.spawnBlockedUntil = Date.now() + this.bootFailures.next();
  }

  private slotExited(slot: Slot, child: Child, code: number | null, signal: NodeJS.Signals | null) {
    const { log } = this.options;
    const crashed = slot.child === child && slot.wanted && !this.closing && !slot.stopping && code !== 0;
    this.options.onExit?.(this.ownerOf(child, slot), code, signal, crashed);
    if (slot.child !== child) return;
    slot.child = undefined;
    clearTimeout(slot.killTimer);
    const wasStopping = slot.stopping;
    slot.stopping = false;
    log.debug({ container: slot.name, id: slot.id, code, signal }, 'monitor exited');

    if (!slot.wanted || this.closing) {
      this.forget(slot);
    } else if (wasStopping) {
      // Released and wanted again while the old child was ending (a quick restart).
      this.enqueue(slot);
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
      if (!slot.wanted || this.closing || slot.child || slot.restartTimer || slot.waiting) return;
      if (running) this.enqueue(slot);
      else {
        slot.wanted = false;
        this.forget(slot);
      }
    }, delay);
  }

  private ownerOf(child: Child, slot: Slot): MonitorOwner {
    return { id: child.id, container: slot.id, name: slot.name, pid: child.process.pid };
  }

  private forget(slot: Slot) {
    if (slot.child || slot.restartTimer || slot.waiting) return;
    if (this.slots.get(slot.id) === slot) this.slots.delete(slot.id);
  }
}
