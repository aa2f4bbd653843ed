/**
 * Graceful shutdown of the real process, in cluster mode (a primary and two workers): SIGTERM while
 * 100 calls are in flight (gRPC and REST, on real PostgreSQL and Redis). Every call completes or
 * gets UNAVAILABLE, and the process exits 0 within its SHUTDOWN_TIMEOUT (plus start-up slack).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, testSigningKey } from "../support/app.js";
import { createGrpcClient, createRestClient, type TestClient } from "../support/clients.js";
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp.js";
import { newPassword } from "../support/secrets.js";
import { freePort } from "../support/servers.js";

const root = join(import.meta.dirname, "..", "..");

describe("SIGTERM with calls in flight", () => {
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let grpc: TestClient;
  let rest: TestClient;
  let output = "";
  let dataDir: string;
  let httpPort: number;
  let metricsPort: number;
  let receiver: OtlpReceiver;
  const email = `shutdown.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    const grpcPort = await freePort();
    httpPort = await freePort();
    metricsPort = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), "auth-shutdown-"));
    receiver = await startOtlpReceiver();
    child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        // Not a developer's .env in the repository.
        ENV_FILE: "/dev/null",
        DATABASE_URL: await createTestDatabase(),
        REDIS_URL: inject("redisUrl"),
        REDIS_KEY_PREFIX: `sd${randomBytes(3).toString("hex")}:`,
        JWT_PRIVATE_KEY: testSigningKey(),
        PUBLIC_URL: "https://auth.test",
        MAIL_OUTBOX_DIR: join(dataDir, "outbox"),
        HOST: "127.0.0.1",
        GRPC_PORT: String(grpcPort),
        HTTP_PORT: String(httpPort),
        METRICS_PORT: String(metricsPort),
        // Each login costs a real bcrypt (about 20 ms at cost 8 on one core), so that most of the 100
        // are still queued for bcrypt when the signal comes 150 ms in, yet all fit well inside the
        // shutdown timeout even on a loaded machine (at cost 10 they did not, under load).
        BCRYPT_COST: "8",
        SHUTDOWN_TIMEOUT: "15s",
        // 100 concurrent logins of one account from one address: more than the abuse limits let be
        // checked at once (docs/security.md, Abuse limits: every attempt counts until it succeeds).
        LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "1000",
        LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000",
        LOGIN_MAX_FAILURES_PER_ADDRESS: "1000",
        // Two workers: the cluster's primary must pass the signal on and exit 0 once both did.
        WORKERS: "2",
        DATA_DIR: dataDir,
        // Each worker traces and exports its own spans.
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "100",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    const log = createWriteStream(join(inject("logDir"), `shutdown-${process.pid}.log`));
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      log.write(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 50_000;
    while (output.split('"msg":"auth service listening"').length < 3 || !output.includes('"msg":"cluster metrics listening"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    grpc = createGrpcClient(`127.0.0.1:${grpcPort}`);
    rest = createRestClient(`http://127.0.0.1:${httpPort}`);
    expect(await grpc.call("Register", { email, password })).toMatchObject({ ok: true });
  });
  afterAll(async () => {
    await receiver?.close();
    grpc?.close();
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves the calls of every worker at the primary's metrics listener, and no /metrics on the API port", async () => {
    // A fresh connection per call, so that the cluster spreads them over both workers.
    const call = () =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port: httpPort,
            path: "/v1/auth/validate-token",
            method: "POST",
            agent: false,
            headers: { "content-type": "application/json" },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ token: "not-a-token" }));
      });
    for (let i = 0; i < 20; i++) expect(await call()).toBe(200);
    expect((await fetch(`http://127.0.0.1:${httpPort}/metrics`)).status).toBe(404);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text
      .split("\n")
      .find((l) => l.startsWith("auth_requests_total{") && l.includes('rpc="ValidateToken"') && l.includes('transport="rest"'));
    expect(Number(line?.split(" ").at(-1))).toBe(20);
    // Node's process metrics, conventional names, combined over the workers: CPU and heap summed,
    // the file-descriptor limit not (each worker has the same one), the start time kept.
    const value = (name: string) =>
      Number(
        text
          .split("\n")
          .find((l) => l.startsWith(`${name} `))
          ?.split(" ")[1],
      );
    expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value("nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(value("nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(value("process_start_time_seconds")).toBeGreaterThan(Date.now() / 1000 - 600);
    if (process.platform === "linux") {
      // The workers inherit the primary's limit; a sum would say twice it.
      const limit = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/limits`, "utf8"))?.[1];
      expect(value("process_max_fds")).toBe(Number(limit));
    }
    expect(text).not.toMatch(/^auth_(nodejs|process)_/m);
    // The spans of those calls came from both workers, each exporting its own.
    const validations = () => receiver.spans.filter((s) => s.name === "POST /v1/auth/validate-token");
    await receiver.waitFor(() => validations().length >= 20);
    const pids = new Set(validations().map((s) => s.resource["process.pid"]));
    expect(pids.size).toBe(2);
    expect(pids.has(child.pid)).toBe(false);
  });

  it("lets every call complete or answer UNAVAILABLE, and exits 0 within the shutdown timeout", async () => {
    const inFlight = [
      ...Array.from({ length: 70 }, () => grpc.call("Login", { identifier: email, password })),
      ...Array.from({ length: 30 }, () => rest.call("Login", { identifier: email, password })),
    ];
    await new Promise((resolve) => setTimeout(resolve, 150));
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    // Calls arriving after the signal are turned away, never half-served.
    const late = await grpc.call("ValidateToken", { token: "x" });

    const results = await Promise.all(inFlight);
    const code = await exited;
    const elapsed = Date.now() - signalledAt;

    const outcomes = results.map((r) => (r.ok ? "OK" : r.code));
    // gRPC calls the server had accepted all complete: it finishes its streams before closing.
    expect(outcomes.slice(0, 70).filter((o) => o === "OK").length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o !== "OK" && o !== "UNAVAILABLE")).toEqual([]);
    expect(outcomes.filter((o) => o === "OK").length).toBeGreaterThan(0);
    expect(late.ok ? "OK" : late.code).toMatch(/^(OK|UNAVAILABLE)$/);
    expect(code).toBe(0);
    // SHUTDOWN_TIMEOUT bounds each worker's drain; the primary adds nothing of its own.
    expect(elapsed).toBeLessThan(15_000);
    expect(output).toContain('"msg":"cluster started"');
    expect(output).toContain('"msg":"shutting down the cluster"');
    expect(output.match(/"msg":"stopped"/g)).toHaveLength(3);
    // Both workers served calls.
    const servingPids = new Set(
      output
        .split("\n")
        .filter((line) => line.includes('"rpc":"Login"'))
        .map((line) => /"pid":(\d+)/.exec(line)?.[1]),
    );
    expect(servingPids.size).toBe(2);
  });
});
