/**
 * Starting the real service as a process: configured from an env file and NAME_FILE secrets only,
 * and failing to start (a bad variable, a port in use) with one JSON line on stdout that names the
 * variable or the port and never a secret.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { createTestDatabase, testSigningKey } from "../support/app.js";
import { freePort } from "../support/servers.js";
import { type ServiceProcess, spawnService } from "../support/service-process.js";

const dir = mkdtempSync(join(tmpdir(), "auth-startup-"));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};

let service: ServiceProcess | undefined;
afterEach(() => {
  service?.destroy();
  service = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Occupies a free port on 127.0.0.1 until closed. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { port, server };
}

describe("starting from an env file and secret files", () => {
  it("reads .env under the real variables and every secret from NAME_FILE, and serves", async () => {
    const envFile = file(
      "service.env",
      [
        "# the file a deployment would mount",
        "PUBLIC_URL=https://auth.from-file.test",
        // The real environment sets HTTP_PORT, and wins over this unusable value.
        "HTTP_PORT=not-a-port",
      ].join("\n"),
    );
    service = await spawnService({
      name: "startup-files",
      env: {
        ENV_FILE: envFile,
        // Set empty by the real environment: unset, so that only the files below give them.
        DATABASE_URL: "",
        REDIS_URL: "",
        JWT_PRIVATE_KEY: "",
        JWT_ISSUER: "",
        DATABASE_URL_FILE: file("database-url", `${await createTestDatabase()}\n`),
        REDIS_URL_FILE: file("redis-url", `${inject("redisUrl")}\n`),
        JWT_PRIVATE_KEY_FILE: file("signing-key.pem", testSigningKey()),
        WORKERS: "1",
      },
    });
    await service.waitFor("listening", (lines) => lines.find((l) => l.msg === "auth service listening"));
    const base = `http://127.0.0.1:${service.httpPort}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { postgres: "ok", redis: "ok" } });
    const discovery = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(discovery.issuer).toBe("https://auth.from-file.test");
  });
});

describe("a start that fails", () => {
  it("logs one JSON line naming every bad variable, from the file and the environment, and exits 2", async () => {
    const secret = `inline-${randomBytes(16).toString("hex")}`;
    const fileSecret = `file-${randomBytes(16).toString("hex")}`;
    service = await spawnService({
      name: "startup-bad-config",
      env: {
        ENV_FILE: file("bad.env", "ACCESS_TOKEN_TTL=soon\nHTTP_PORT=also-nope\n"),
        // HTTP_PORT from the real environment wins over the file's bad value; ACCESS_TOKEN_TTL is the file's.
        JWT_SECRET: secret,
        JWT_SECRET_FILE: file("jwt-secret", fileSecret),
        BCRYPT_COST: "99",
      },
    });
    const exit = await service.exited;
    expect(exit.code).toBe(2);
    const lines = service.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "fatal", msg: "auth service failed to start", reason: "invalid configuration" });
    expect(lines[0]?.variables).toEqual(expect.arrayContaining(["ACCESS_TOKEN_TTL", "JWT_SECRET", "JWT_SECRET_FILE", "BCRYPT_COST"]));
    expect(lines[0]?.variables).not.toContain("HTTP_PORT");
    // Everything it wrote is that JSON line: nothing else on stdout or stderr, and no secret.
    expect(service.output().trim()).toBe(JSON.stringify(JSON.parse(service.output().trim())));
    expect(service.output()).not.toContain(secret);
    expect(service.output()).not.toContain(fileSecret);
  });

  it("names the HTTP port in use", async () => {
    const { port, server } = await occupy();
    try {
      service = await spawnService({ name: "startup-http-in-use", httpPort: port, env: { WORKERS: "1" } });
      expect((await service.exited).code).toBe(1);
      const fatal = service.lines().find((l) => l.level === "fatal");
      expect(fatal).toMatchObject({
        msg: "auth service failed to start",
        variable: "HTTP_PORT",
        port,
        code: "EADDRINUSE",
        reason: `HTTP_PORT ${port} is in use`,
      });
    } finally {
      server.close();
    }
  });

  it("names the gRPC port in use", async () => {
    const { port, server } = await occupy();
    try {
      service = await spawnService({ name: "startup-grpc-in-use", env: { WORKERS: "1", GRPC_PORT: String(port) } });
      expect((await service.exited).code).toBe(1);
      const fatal = service.lines().find((l) => l.level === "fatal");
      expect(fatal).toMatchObject({
        msg: "auth service failed to start",
        variable: "GRPC_PORT",
        port,
        reason: `GRPC_PORT ${port} is in use`,
      });
    } finally {
      server.close();
    }
  });
});
