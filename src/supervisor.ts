/**
 * The cluster primary's supervision policy, apart from node:cluster so that it can be tested with
 * fake workers and fake timers: starts the workers, restarts one that dies after it was serving
 * (with a per-worker exponential backoff), and gives up (stops everything and reports a non-zero
 * exit code) when workers cannot be kept up, so that the outer supervisor restarts the service.
 */
import type { Logger } from "pino";

/** A worker process as the supervisor sees it. */
export interface SupervisedWorker {
  readonly pid: number | undefined;
  kill(signal: NodeJS.Signals): void;
}

/** What a forked worker reports back; `ready` once both ports are listening. */
export interface WorkerEvents {
  ready(): void;
  exit(code: number | null, signal: NodeJS.Signals | null): void;
}

export type ForkWorker = (events: WorkerEvents) => SupervisedWorker;

export interface SupervisionPolicy {
  readonly workers: number;
  /** A worker not listening this long after its fork is killed, and the supervisor gives up. */
  readonly startTimeoutMs: number;
  /** Each worker's own bound on its graceful stop; the supervisor waits that plus a margin. */
  readonly shutdownTimeoutMs: number;
}

/**
 * The restart policy. Restart delays per worker slot: 0.5 s, 1 s, 2 s, 4 s (doubling, capped at
 * 15 s); a slot whose worker served for 60 s starts again from 0.5 s. The fifth death in a row of
 * one slot (none of them having served 60 s) ends the cluster: restarts are not helping.
 */
export const RESTART_DELAY_MS = 500;
export const MAX_RESTART_DELAY_MS = 15_000;
export const STABLE_AFTER_MS = 60_000;
export const MAX_DEATHS_IN_A_ROW = 5;
/** Added to SHUTDOWN_TIMEOUT before workers that have not stopped are killed. */
export const SHUTDOWN_MARGIN_MS = 5000;

/** The wait before restarting a slot whose worker died `deathsInARow` times in a row (1 = first). */
export function restartDelayMs(deathsInARow: number): number {
  return Math.min(RESTART_DELAY_MS * 2 ** Math.max(0, deathsInARow - 1), MAX_RESTART_DELAY_MS);
}

export interface Supervisor {
  /**
   * Stops every worker (SIGTERM, then SIGKILL after the shutdown bound), cancels pending restarts,
   * and calls `onDone` with `exitCode` (or 1 if a worker did not stop cleanly). Idempotent; a
   * later call can only raise the exit code.
   */
  stop(exitCode: number): void;
}

interface Slot {
  readonly index: number;
  worker: SupervisedWorker | undefined;
  forkedAt: number;
  /** When the current worker reported ready; undefined while it is starting. */
  readyAt: number | undefined;
  deathsInARow: number;
  startTimer: NodeJS.Timeout | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

/**
 * Starts `policy.workers` workers and keeps them up. `onDone(code)` is called once, when the
 * cluster has stopped (after `stop`, or after giving up with code 1); the caller exits with it.
 */
export function superviseWorkers(
  policy: SupervisionPolicy,
  fork: ForkWorker,
  logger: Logger,
  onDone: (exitCode: number) => void,
): Supervisor {
  const supervisor = new ClusterSupervisor(policy, fork, logger, onDone);
  supervisor.startAll();
  return { stop: (code) => supervisor.stop(code) };
}

class ClusterSupervisor {
  readonly #slots: Slot[];
  #stopping = false;
  #done = false;
  #exitCode = 0;
  #forceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly policy: SupervisionPolicy,
    private readonly fork: ForkWorker,
    private readonly logger: Logger,
    private readonly onDone: (exitCode: number) => void,
  ) {
    this.#slots = Array.from({ length: policy.workers }, (_, index) => ({
      index,
      worker: undefined,
      forkedAt: 0,
      readyAt: undefined,
      deathsInARow: 0,
      startTimer: undefined,
      restartTimer: undefined,
    }));
  }

  startAll(): void {
    for (const slot of this.#slots) this.#start(slot);
  }

  stop(code: number): void {
    this.#exitCode = Math.max(this.#exitCode, code);
    if (this.#stopping) return;
    this.#stopping = true;
    const live: SupervisedWorker[] = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      clearTimeout(slot.startTimer);
      slot.restartTimer = undefined;
      slot.startTimer = undefined;
      if (slot.worker !== undefined) live.push(slot.worker);
    }
    if (live.length === 0) {
      this.#finish(this.#exitCode);
      return;
    }
    for (const worker of live) worker.kill("SIGTERM");
    // Each worker bounds its own shutdown; this only guards against one that hangs.
    this.#forceTimer = setTimeout(() => {
      const stuck = this.#slots.flatMap((s) => (s.worker === undefined ? [] : [s.worker]));
      this.logger.error({ workerPids: stuck.map((w) => w.pid) }, "workers did not stop in time; killing them");
      for (const worker of stuck) worker.kill("SIGKILL");
      this.#finish(1);
    }, this.policy.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS);
  }

  #finish(code: number): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#forceTimer);
    this.onDone(code);
  }

  #giveUp(reason: string, details: Record<string, unknown>): void {
    if (this.#stopping) return;
    this.logger.fatal({ ...details, reason }, "workers cannot be kept up; stopping the cluster and exiting 1");
    this.stop(1);
  }

  #start(slot: Slot): void {
    slot.restartTimer = undefined;
    let worker: SupervisedWorker;
    const events: WorkerEvents = {
      ready: () => this.#onReady(slot, worker),
      exit: (code, signal) => this.#onExit(slot, worker, code, signal),
    };
    try {
      worker = this.fork(events);
    } catch (error) {
      this.logger.fatal({ err: error, slot: slot.index }, "cannot fork a worker");
      this.stop(1);
      return;
    }
    slot.worker = worker;
    slot.forkedAt = Date.now();
    slot.readyAt = undefined;
    this.logger.info({ slot: slot.index, workerPid: worker.pid }, "worker starting");
    // A worker that hangs on start (a database that never answers, a deadlock) would otherwise
    // leave its share of the cluster missing for good, with nothing in the logs.
    slot.startTimer = setTimeout(() => {
      slot.startTimer = undefined;
      if (slot.worker !== worker || slot.readyAt !== undefined) return;
      worker.kill("SIGKILL");
      this.#giveUp("a worker did not start listening in time", {
        slot: slot.index,
        workerPid: worker.pid,
        startTimeoutMs: this.policy.startTimeoutMs,
      });
    }, this.policy.startTimeoutMs);
  }

  #onReady(slot: Slot, worker: SupervisedWorker): void {
    if (slot.worker !== worker || slot.readyAt !== undefined || this.#stopping) return;
    clearTimeout(slot.startTimer);
    slot.startTimer = undefined;
    slot.readyAt = Date.now();
    this.logger.info({ slot: slot.index, workerPid: worker.pid, startMs: slot.readyAt - slot.forkedAt }, "worker ready");
  }

  #onExit(slot: Slot, worker: SupervisedWorker, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    clearTimeout(slot.startTimer);
    slot.startTimer = undefined;
    const details = { slot: slot.index, workerPid: worker.pid, code, signal };
    if (this.#stopping) {
      // During a stop, a worker that did not exit 0 (it crashed, or was killed) fails the stop.
      if (code !== 0) this.#exitCode = 1;
      this.logger.info(details, "worker stopped");
      if (this.#slots.every((s) => s.worker === undefined)) this.#finish(this.#exitCode);
      return;
    }
    if (slot.readyAt === undefined) {
      // It died before it ever listened: bad configuration that only workers see, a port in use,
      // an unreachable store. Restarting would only spin; the outer supervisor has its own backoff.
      this.#giveUp("a worker exited before it was listening", details);
      return;
    }
    this.#restartAfterDeath(slot, slot.readyAt, details);
  }

  /** Restarts a worker that died after serving, after its slot's delay; gives up at too many deaths in a row. */
  #restartAfterDeath(slot: Slot, readyAt: number, details: Record<string, unknown>): void {
    const uptimeMs = Date.now() - readyAt;
    if (uptimeMs >= STABLE_AFTER_MS) slot.deathsInARow = 0;
    slot.deathsInARow += 1;
    if (slot.deathsInARow >= MAX_DEATHS_IN_A_ROW) {
      this.#giveUp(`a worker died ${slot.deathsInARow} times in a row, each within ${STABLE_AFTER_MS / 1000} s of starting to serve`, {
        ...details,
        uptimeMs,
      });
      return;
    }
    const delayMs = restartDelayMs(slot.deathsInARow);
    this.logger.error({ ...details, uptimeMs, deathsInARow: slot.deathsInARow, restartInMs: delayMs }, "worker died; restarting it");
    // Not unref'd: a pending restart is what keeps the primary alive while every worker is dead.
    slot.restartTimer = setTimeout(() => this.#start(slot), delayMs);
  }
}
