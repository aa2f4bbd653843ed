/**
 * The cluster primary's restart policy (src/supervisor.ts) with fake workers and fake timers: the
 * cases a real-process test cannot reach quickly (a hung start, a worker that stays up a minute,
 * a signal while a restart is pending, a worker that ignores SIGTERM).
 */
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  MAX_DEATHS_IN_A_ROW,
  MAX_RESTART_DELAY_MS,
  restartDelayMs,
  SHUTDOWN_MARGIN_MS,
  STABLE_AFTER_MS,
  type Supervisor,
  superviseWorkers,
  type WorkerEvents,
} from "../../src/supervisor.js";

interface FakeWorker {
  readonly pid: number;
  readonly events: WorkerEvents;
  readonly signals: NodeJS.Signals[];
  alive: boolean;
  /** Exits on SIGTERM with this code (undefined: ignores SIGTERM). */
  exitOnTerm: number | undefined;
}

const START_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 2000;

describe("superviseWorkers", () => {
  let workers: FakeWorker[];
  let exitCodes: number[];
  let supervisor: Supervisor;
  let nextPid: number;

  const start = (count = 2) => {
    supervisor = superviseWorkers(
      { workers: count, startTimeoutMs: START_TIMEOUT_MS, shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS },
      (events) => {
        const worker: FakeWorker = { pid: nextPid++, events, signals: [], alive: true, exitOnTerm: 0 };
        workers.push(worker);
        return {
          pid: worker.pid,
          kill: (signal) => {
            worker.signals.push(signal);
            if (!worker.alive) return;
            if (signal === "SIGKILL") die(worker, null, "SIGKILL");
            else if (worker.exitOnTerm !== undefined) die(worker, worker.exitOnTerm, null);
          },
        };
      },
      pino({ level: "silent" }),
      (code) => exitCodes.push(code),
    );
  };
  const die = (worker: FakeWorker, code: number | null, signal: NodeJS.Signals | null = null) => {
    worker.alive = false;
    worker.events.exit(code, signal);
  };
  const alive = () => workers.filter((w) => w.alive);

  beforeEach(() => {
    vi.useFakeTimers();
    workers = [];
    exitCodes = [];
    nextPid = 100;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("restarts a worker that died after it was serving, after 0.5 s, then 1 s, 2 s, 4 s", async () => {
    start(1);
    for (let death = 1; death < MAX_DEATHS_IN_A_ROW; death++) {
      const worker = workers.at(-1) as FakeWorker;
      worker.events.ready();
      die(worker, 1);
      const delay = restartDelayMs(death);
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(alive()).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(alive()).toHaveLength(1);
    }
    expect([1, 2, 3, 4].map(restartDelayMs)).toEqual([500, 1000, 2000, 4000]);
    expect(exitCodes).toEqual([]);
  });

  it("caps the restart delay", () => {
    expect(restartDelayMs(30)).toBe(MAX_RESTART_DELAY_MS);
    expect(restartDelayMs(1000)).toBe(MAX_RESTART_DELAY_MS);
  });

  it("restarts every worker killed at once, each after the first delay", async () => {
    start(4);
    for (const worker of workers) worker.events.ready();
    for (const worker of [...workers]) die(worker, null, "SIGKILL");
    await vi.advanceTimersByTimeAsync(restartDelayMs(1));
    expect(alive()).toHaveLength(4);
    expect(exitCodes).toEqual([]);
  });

  it(`gives up with exit code 1 at the ${MAX_DEATHS_IN_A_ROW}th death in a row of one worker`, async () => {
    start(2);
    workers[1]?.events.ready();
    for (let death = 1; death <= MAX_DEATHS_IN_A_ROW; death++) {
      const worker = workers.filter((w) => w.alive).at(-1) as FakeWorker;
      if (worker !== workers[1]) worker.events.ready();
      die(worker, 1);
      await vi.advanceTimersByTimeAsync(restartDelayMs(death));
    }
    // The other worker was asked to stop, and nothing was restarted after giving up.
    expect(workers[0]?.signals).toEqual(["SIGTERM"]);
    expect(alive()).toHaveLength(0);
    expect(exitCodes).toEqual([1]);
    expect(workers).toHaveLength(1 + MAX_DEATHS_IN_A_ROW);
  });

  it("starts counting again once a worker has served for a minute", async () => {
    start(1);
    for (let round = 0; round < 3; round++) {
      for (let death = 1; death < MAX_DEATHS_IN_A_ROW; death++) {
        const worker = workers.at(-1) as FakeWorker;
        worker.events.ready();
        die(worker, 1);
        await vi.advanceTimersByTimeAsync(restartDelayMs(death));
      }
      const stable = workers.at(-1) as FakeWorker;
      stable.events.ready();
      await vi.advanceTimersByTimeAsync(STABLE_AFTER_MS);
      die(stable, 1);
      // Back to the first delay.
      await vi.advanceTimersByTimeAsync(restartDelayMs(1));
      expect(alive()).toHaveLength(1);
    }
    expect(exitCodes).toEqual([]);
  });

  it("gives up at once when a worker dies before it was listening (no restart loop)", async () => {
    start(2);
    die(workers[0] as FakeWorker, 1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(workers).toHaveLength(2);
    expect(workers[1]?.signals).toEqual(["SIGTERM"]);
    expect(exitCodes).toEqual([1]);
  });

  it("kills a worker that hangs on start and gives up", async () => {
    start(2);
    workers[0]?.events.ready();
    await vi.advanceTimersByTimeAsync(START_TIMEOUT_MS);
    expect(workers[1]?.signals[0]).toBe("SIGKILL");
    expect(workers[0]?.signals).toEqual(["SIGTERM"]);
    expect(exitCodes).toEqual([1]);
    expect(workers).toHaveLength(2);
  });

  it("does not time out a worker that became ready", async () => {
    start(1);
    await vi.advanceTimersByTimeAsync(START_TIMEOUT_MS - 1);
    workers[0]?.events.ready();
    await vi.advanceTimersByTimeAsync(10 * START_TIMEOUT_MS);
    expect(workers[0]?.signals).toEqual([]);
    expect(exitCodes).toEqual([]);
  });

  it("stops cleanly (exit 0) on a signal while a restart is pending, and never forks again", async () => {
    start(2);
    for (const worker of workers) worker.events.ready();
    die(workers[0] as FakeWorker, null, "SIGKILL");
    supervisor.stop(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(workers).toHaveLength(2);
    expect(workers[1]?.signals).toEqual(["SIGTERM"]);
    expect(exitCodes).toEqual([0]);
  });

  it("stops cleanly when every worker is dead and restarts are pending", async () => {
    start(2);
    for (const worker of [...workers]) {
      worker.events.ready();
      die(worker, null, "SIGKILL");
    }
    supervisor.stop(0);
    expect(exitCodes).toEqual([0]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(workers).toHaveLength(2);
  });

  it("stops workers still starting, and ignores a readiness that comes after the stop", async () => {
    start(2);
    const starting = workers[0] as FakeWorker;
    starting.exitOnTerm = undefined;
    supervisor.stop(0);
    starting.events.ready();
    die(workers[1] as FakeWorker, 0);
    expect(exitCodes).toEqual([]);
    die(starting, 0);
    expect(exitCodes).toEqual([0]);
  });

  it("exits 1 when a worker does not stop cleanly", async () => {
    start(2);
    for (const worker of workers) worker.events.ready();
    (workers[0] as FakeWorker).exitOnTerm = 1;
    supervisor.stop(0);
    expect(exitCodes).toEqual([1]);
  });

  it("kills workers that ignore SIGTERM after the shutdown bound, and exits 1", async () => {
    start(2);
    for (const worker of workers) {
      worker.events.ready();
      worker.exitOnTerm = undefined;
    }
    supervisor.stop(0);
    await vi.advanceTimersByTimeAsync(SHUTDOWN_TIMEOUT_MS + SHUTDOWN_MARGIN_MS - 1);
    expect(exitCodes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(workers.map((w) => w.signals)).toEqual([
      ["SIGTERM", "SIGKILL"],
      ["SIGTERM", "SIGKILL"],
    ]);
    expect(exitCodes).toEqual([1]);
  });

  it("reports its own error as exit code 1 even when the workers stop cleanly, and only once", async () => {
    start(2);
    for (const worker of workers) worker.events.ready();
    (workers[0] as FakeWorker).exitOnTerm = undefined;
    supervisor.stop(1);
    supervisor.stop(0);
    die(workers[0] as FakeWorker, 0);
    expect(exitCodes).toEqual([1]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(exitCodes).toEqual([1]);
  });

  it("ignores the exit of a worker it has already replaced", async () => {
    start(1);
    const first = workers[0] as FakeWorker;
    first.events.ready();
    die(first, 1);
    await vi.advanceTimersByTimeAsync(restartDelayMs(1));
    first.events.exit(1, null);
    first.events.ready();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(workers).toHaveLength(2);
    // The replacement never said it was ready, and the stale readiness did not count for it: it
    // was killed as hung on start.
    expect(workers[1]?.signals[0]).toBe("SIGKILL");
    expect(exitCodes).toEqual([1]);
  });
});
