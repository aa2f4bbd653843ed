/**
 * How a failed start names what to look at: the port a listener could not bind, or DATABASE_URL
 * when PostgreSQL cannot be reached (whose real case waits a minute of retries, too long for an
 * end-to-end test; ports in use are tested on real processes in test/e2e/startup.test.ts).
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { describeStartupFailure, StartupError } from "../../src/startup-failure.js";

const databaseUrl = "postgres://auth:pa55word-not-to-echo@db.internal:5432/auth";
const shared = loadConfig(
  { DATABASE_URL: databaseUrl, REDIS_URL: "redis://r:6379", PUBLIC_URL: "https://a.test", SMTP_URL: "smtp://m:25", JWT_PRIVATE_KEY: "PEM" },
  {},
);
const embedded = loadConfig({});
const errno = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), fields);

describe("describeStartupFailure", () => {
  it("names HTTP_PORT when the HTTP listener's port is in use", () => {
    const error = errno("listen EADDRINUSE: address already in use 0.0.0.0:8080", { code: "EADDRINUSE", port: 8080 });
    expect(describeStartupFailure(new StartupError("listen", error), shared)).toEqual({
      msg: "HTTP_PORT 8080 is in use",
      fields: { variable: "HTTP_PORT", port: 8080, host: "0.0.0.0", code: "EADDRINUSE" },
    });
  });

  it("names GRPC_PORT when grpc-js says so only in its message", () => {
    const error = new Error("No address added out of total 1 resolved errors: [listen EACCES: permission denied 0.0.0.0:50051]");
    expect(describeStartupFailure(new StartupError("listen", error), shared).fields).toMatchObject({
      variable: "GRPC_PORT",
      port: 50051,
      code: "EACCES",
    });
  });

  it.each([
    ["refused", errno("connect ECONNREFUSED 10.0.0.5:5432", { code: "ECONNREFUSED" })],
    ["unknown host", errno("getaddrinfo ENOTFOUND db.internal", { code: "ENOTFOUND" })],
    ["wrong password", errno('password authentication failed for user "auth"', { code: "28P01", severity: "FATAL" })],
  ])("names DATABASE_URL, never its value, when PostgreSQL is %s", (_, error) => {
    const described = describeStartupFailure(new StartupError("build", error), shared);
    expect(described.fields.variable).toBe("DATABASE_URL");
    expect(JSON.stringify(described)).not.toContain("pa55word");
  });

  it("blames no variable for an error it does not recognise, nor the embedded database", () => {
    const error = errno("connect ECONNREFUSED 127.0.0.1:1", { code: "ECONNREFUSED" });
    expect(describeStartupFailure(new StartupError("build", error), embedded)).toEqual({ msg: "could not start", fields: {} });
    expect(describeStartupFailure(new StartupError("build", new Error("boom")), shared)).toEqual({ msg: "could not start", fields: {} });
  });
});
