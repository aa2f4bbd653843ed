/**
 * Cluster supervision, on real processes (a primary and two workers on the suite's PostgreSQL and
 * Redis): workers killed or crashed are restarted and both ports answer again; a worker's error
 * nobody caught is one JSON line and exit 1; workers that keep dying, or cannot listen at all,
 * make the primary exit 1 within the bound docs/operations.md states, instead of spinning or exiting 0
 * with nothing listening.
 */
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_DEATHS_IN_A_ROW, restartDelayMs } from "../../src/supervisor.js";
import { createGrpcClient, createRestClient, ok } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";
import { isAlive, type LogLine, type ServiceProcess, spawnService } from "../support/service-process.js";

const crashHook = join(import.meta.dirname, "..", "support", "crash-on-signal.ts");
const WORKERS = 2;

/** Waits until `count` workers have logged that they listen, and returns their pids. */
function listening(service: ServiceProcess, count: number): Promise<number[]> {
  return service.waitFor(`${count} workers listening`, () => {
    const pids = service.listeningPids();
    return pids.length >= count ? pids : undefined;
  });
}

/** Both ports answer: a gRPC call and GET /healthz. */
async function expectServing(service: ServiceProcess, email: string, password: string): Promise<void> {
  const grpc = createGrpcClient(`127.0.0.1:${service.grpcPort}`);
  try {
    expect(ok(await grpc.call("Login", { identifier: email, password })).accessToken).toBeTruthy();
  } finally {
    grpc.close();
  }
  const health = await fetch(`http://127.0.0.1:${service.httpPort}/healthz`);
  expect(health.status).toBe(200);
}

const fatalOf = (lines: LogLine[], pid: number) => lines.find((l) => l.pid === pid && l.level === "fatal");

describe("a cluster whose workers are killed or crash", () => {
  let service: ServiceProcess;
  const email = `supervised.${Date.now()}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    service = await spawnService({ name: "supervision", env: { WORKERS: String(WORKERS) }, imports: [crashHook] });
    await listening(service, WORKERS);
    const rest = createRestClient(`http://127.0.0.1:${service.httpPort}`);
    ok(await rest.call("Register", { email, password }));
  });
  afterAll(() => service?.destroy());

  it("restarts every worker killed with SIGKILL at once, and both ports answer again", async () => {
    const before = service.listeningPids();
    for (const pid of before) process.kill(pid, "SIGKILL");
    const after = await listening(service, 2 * WORKERS);
    expect(after.slice(WORKERS).filter((pid) => before.includes(pid))).toEqual([]);
    expect(service.child.exitCode).toBeNull();
    const deaths = service.lines().filter((l) => l.msg === "worker died; restarting it");
    expect(deaths.map((l) => [l.signal, l.restartInMs])).toEqual(before.map(() => ["SIGKILL", restartDelayMs(1)]));
    await expectServing(service, email, password);
  });

  it("logs a worker's uncaught exception as one JSON line, exits it with 1 and replaces it", async () => {
    const victim = service.listeningPids().at(-1) as number;
    const count = service.listeningPids().length;
    process.kill(victim, "SIGUSR2");
    await listening(service, count + 1);
    expect(fatalOf(service.lines(), victim)).toMatchObject({
      msg: "uncaught exception; exiting",
      origin: "uncaughtException",
      err: { message: "crash requested by the test (SIGUSR2)" },
    });
    expect(service.lines().find((l) => l.msg === "worker died; restarting it" && l.workerPid === victim)).toMatchObject({
      code: 1,
      signal: null,
    });
    expect(isAlive(victim)).toBe(false);
    await expectServing(service, email, password);
  });

  it("logs a worker's unhandled rejection as one JSON line, exits it with 1 and replaces it", async () => {
    const victim = service.listeningPids().at(-1) as number;
    const count = service.listeningPids().length;
    process.kill(victim, "SIGHUP");
    await listening(service, count + 1);
    expect(fatalOf(service.lines(), victim)).toMatchObject({
      msg: "unhandled promise rejection; exiting",
      origin: "unhandledRejection",
      err: { message: "rejection requested by the test (SIGHUP)" },
    });
    expect(service.lines().find((l) => l.msg === "worker died; restarting it" && l.workerPid === victim)).toMatchObject({ code: 1 });
    await expectServing(service, email, password);
  });

  it("stops its workers and exits 1 on an error of its own", async () => {
    const primary = service.child.pid as number;
    const workers = service.listeningPids().filter(isAlive);
    expect(workers).toHaveLength(WORKERS);
    process.kill(primary, "SIGUSR2");
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(fatalOf(service.lines(), primary)).toMatchObject({ msg: "error in the cluster's primary; stopping the workers" });
    // The workers stopped gracefully (exit 0) before the primary left.
    expect(
      service
        .lines()
        .filter((l) => l.msg === "worker stopped")
        .map((l) => l.code),
    ).toEqual(workers.map(() => 0));
    for (const pid of workers) expect(isAlive(pid)).toBe(false);
  });
});

describe("a cluster whose workers keep dying", () => {
  let service: ServiceProcess;
  afterAll(() => service?.destroy());

  it(`exits 1 at the ${MAX_DEATHS_IN_A_ROW}th death in a row of a worker, after restart delays that double`, async () => {
    service = await spawnService({ name: "crash-loop", env: { WORKERS: String(WORKERS) }, imports: [crashHook] });
    // Every worker crashes (an uncaught exception) as soon as the primary has logged it ready. (Not
    // at the worker's own "listening" line: a worker killed before the primary heard it was ready
    // died "before it was listening", which ends the cluster at once, by design.)
    const crashed = new Set<number>();
    let firstCrashAt = 0;
    const readyPids = () => service.lines().flatMap((l) => (l.msg === "worker ready" ? [Number(l.workerPid)] : []));
    const crasher = setInterval(() => {
      for (const pid of readyPids()) {
        if (crashed.has(pid)) continue;
        crashed.add(pid);
        firstCrashAt ||= Date.now();
        try {
          process.kill(pid, "SIGUSR2");
        } catch {
          // Already gone.
        }
      }
    }, 20);
    const { code } = await service.exited.finally(() => clearInterval(crasher));
    const elapsed = Date.now() - firstCrashAt;
    const lines = service.lines();

    expect(code).toBe(1);
    expect(lines.find((l) => l.msg === "workers cannot be kept up; stopping the cluster and exiting 1")).toMatchObject({
      level: "fatal",
      reason: expect.stringContaining(`died ${MAX_DEATHS_IN_A_ROW} times in a row`),
    });
    // Each death was one JSON line from the worker, and the primary waited longer each time.
    // (A worker signalled just as the primary gave up may be stopped by it first: "worker stopped",
    // no death of its own. Every death the primary counted was a crash.)
    const deaths = lines
      .filter((l) => l.msg === "worker died; restarting it" || l.msg === "workers cannot be kept up; stopping the cluster and exiting 1")
      .map((l) => Number(l.workerPid));
    expect(deaths.length).toBeGreaterThanOrEqual(MAX_DEATHS_IN_A_ROW);
    for (const pid of deaths) {
      expect(crashed.has(pid)).toBe(true);
      expect(fatalOf(lines, pid)).toMatchObject({ origin: "uncaughtException" });
    }
    const delaysOfSlot = (slot: number) =>
      lines.filter((l) => l.msg === "worker died; restarting it" && l.slot === slot).map((l) => l.restartInMs);
    const expected = Array.from({ length: MAX_DEATHS_IN_A_ROW - 1 }, (_, i) => restartDelayMs(i + 1));
    expect(expected).toEqual([500, 1000, 2000, 4000]);
    expect([delaysOfSlot(0), delaysOfSlot(1)]).toContainEqual(expected);
    // The documented bound: the restart delays plus the start-up of each restarted worker, with
    // 10 s for the crashing workers' own stops and a loaded machine.
    const startups = lines.filter((l) => l.msg === "worker ready").map((l) => Number(l.startMs));
    expect(startups.length).toBeGreaterThan(0);
    const bound = expected.reduce((a, b) => a + b, 0) + (MAX_DEATHS_IN_A_ROW - 1) * Math.max(...startups) + 10_000;
    expect(elapsed).toBeLessThan(bound);
    // Nothing is left behind.
    for (const pid of crashed) expect(isAlive(pid)).toBe(false);
    expect(lines.filter((l) => l.msg === "worker starting").length).toBeLessThanOrEqual(WORKERS * MAX_DEATHS_IN_A_ROW);
  }, 120_000);
});

describe("a cluster whose workers cannot listen", () => {
  let service: ServiceProcess;
  let squatter: Server;
  beforeAll(async () => {
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    service?.destroy();
    await new Promise((resolve) => squatter.close(resolve));
  });

  it("exits 1 at the first worker that dies before listening, without restarting it", async () => {
    const httpPort = (squatter.address() as { port: number }).port;
    service = await spawnService({ name: "port-in-use", env: { WORKERS: String(WORKERS) }, httpPort });
    const { code } = await service.exited;
    const lines = service.lines();
    expect(code).toBe(1);
    // One fork per worker, no more: a start-up failure is not retried in a loop.
    expect(lines.filter((l) => l.msg === "worker starting")).toHaveLength(WORKERS);
    const failures = lines.filter((l) => l.msg === "auth service failed to start");
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeLessThanOrEqual(WORKERS);
    expect(failures[0]).toMatchObject({ level: "fatal", err: { code: "EADDRINUSE" } });
    expect(lines.find((l) => l.msg === "workers cannot be kept up; stopping the cluster and exiting 1")).toMatchObject({
      reason: "a worker exited before it was listening",
    });
  }, 90_000);
});
