/**
 * Tracing off costs nothing but a check: with no OTEL_* configuration the real service, started in
 * a process of its own, serves ValidateToken over gRPC and REST without loading any of the
 * OpenTelemetry SDK or src/tracing/ (Node's module hooks watch every resolution); with an
 * endpoint set, the same process loads them.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { createTestDatabase, testSigningKey } from "../support/app.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

async function loadedModules(extra: Record<string, string>): Promise<{ answered: boolean; loaded: string[] }> {
  const env = {
    DATABASE_URL: await createTestDatabase(),
    REDIS_URL: inject("redisUrl"),
    REDIS_KEY_PREFIX: `off${randomBytes(3).toString("hex")}:`,
    JWT_PRIVATE_KEY: testSigningKey(),
    JWT_ISSUER: "https://auth.test",
    MAIL_OUTBOX_DIR: join(root, "test", ".logs", "outbox-tracing-off"),
    HOST: "127.0.0.1",
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    METRICS_PORT: "0",
    ...extra,
  };
  const { stdout } = await run(process.execPath, ["--import", "tsx", "test/support/loaded-modules.ts", JSON.stringify(env)], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ENV_FILE: "/dev/null" },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
}

describe("tracing off", () => {
  it("loads no OpenTelemetry SDK and nothing of src/tracing/ while serving", async () => {
    const off = await loadedModules({});
    expect(off.answered).toBe(true);
    expect(off.loaded).toEqual([]);
  }, 90_000);

  it("loads them once an OTLP endpoint is configured (the probe sees them)", async () => {
    // Nothing listens there: spans that cannot be exported are dropped, the calls are answered.
    const on = await loadedModules({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
      OTEL_BSP_EXPORT_TIMEOUT: "500",
      OTEL_EXPORTER_OTLP_TIMEOUT: "500",
    });
    expect(on.answered).toBe(true);
    expect(on.loaded).toEqual(expect.arrayContaining(["src/tracing/sdk.ts", expect.stringMatching(/^@opentelemetry\/sdk-trace\//)]));
    expect(on.loaded.some((m) => m.startsWith("@opentelemetry/exporter-trace-otlp-proto/"))).toBe(true);
    expect(on.loaded.some((m) => m.startsWith("@opentelemetry/exporter-trace-otlp-grpc/"))).toBe(false);
  }, 90_000);
});
