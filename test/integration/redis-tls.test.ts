/**
 * Redis over TLS with a password, through the service's own client factory, against Debian's
 * redis-server listening on TLS only with a certificate this test makes: the session store works
 * with the CA given as REDIS_TLS_CA_FILE and the password as REDIS_PASSWORD_FILE, and the
 * connection is refused without the CA (an untrusted certificate) or with a wrong password. The
 * session cache's invalidation thread, which speaks RESP over its own socket, connects there too.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { hashSecret, newSecret, newSessionId } from "../../src/domain/refresh-token.js";
import { closeRedis, openRedis, type RedisClient, waitForRedis } from "../../src/infra/redis/client.js";
import { noLegacySessions } from "../../src/infra/redis/legacy-sessions.js";
import { cachedLiveness } from "../../src/infra/redis/session-liveness.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";
import { trackingFor } from "../../src/infra/redis/tracking-topology.js";
import { freePort } from "../support/servers.js";
import { sessionFields } from "../support/sessions.js";

describe("Redis over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "auth-redis-tls-"));
  const password = `redis-${randomUUID()}`;
  let server: ChildProcess | undefined;
  let port = 0;
  const opened: RedisClient[] = [];

  beforeAll(async () => {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "redis.key")].concat([
        "-out",
        join(dir, "redis.crt"),
        "-days",
        "1",
        "-subj",
        "/CN=redis.test",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ]),
      { stdio: "ignore" },
    );
    writeFileSync(join(dir, "password"), `${password}\n`);
    port = await freePort();
    server = spawn(
      "redis-server",
      ["--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        .concat(["--tls-cert-file", join(dir, "redis.crt"), "--tls-key-file", join(dir, "redis.key"), "--tls-auth-clients", "no"])
        .concat(["--requirepass", password]),
      { stdio: "ignore" },
    );
  });
  afterAll(async () => {
    await Promise.all(opened.map((client) => closeRedis(client)));
    if (server !== undefined && server.exitCode === null) {
      await new Promise<void>((resolve) => {
        server?.once("exit", () => resolve());
        server?.kill("SIGTERM");
      });
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** A client of the TLS server; whether it answers within `waitMs` (the server may still be starting for the first). */
  const open = async (env: Record<string, string>, waitMs = 5000) => {
    const config = loadConfig({ REDIS_URL: `rediss://127.0.0.1:${port}`, ...env }, { readFile: (path) => readFileSync(path, "utf8") });
    const client = await openRedis(config.redis, { onError: () => {} });
    opened.push(client);
    return { client, answers: await waitForRedis(client, waitMs) };
  };

  it("stores sessions with the CA and the password from files", async () => {
    const { client, answers } = await open({ REDIS_TLS_CA_FILE: join(dir, "redis.crt"), REDIS_PASSWORD_FILE: join(dir, "password") });
    expect(answers).toBe(true);
    const store = createSessionStore(client, "tls:", 86_400_000);
    const session = sessionFields({ idleTtlMs: 60_000 });
    expect(await store.create(session)).toBe("created");
    expect(await store.isActive(session.userId, session.id)).toBe(true);
  });

  it("caches session liveness over TLS, its invalidation thread connecting with the same CA and password", async () => {
    const env = { REDIS_TLS_CA_FILE: join(dir, "redis.crt"), REDIS_PASSWORD_FILE: join(dir, "password") };
    const { client, answers } = await open(env);
    expect(answers).toBe(true);
    const config = loadConfig({ REDIS_URL: `rediss://127.0.0.1:${port}`, ...env }, { readFile: (path) => readFileSync(path, "utf8") });
    const tracking = trackingFor(config.redis, client, { heartbeatMs: 100, staleAfterMs: 400, onProblem: () => {} });
    if (tracking === undefined) throw new Error("no tracking for a real Redis");
    const store = createSessionStore(client, "tlsc:", 86_400_000);
    const cache = cachedLiveness(store, tracking, { prefix: "tlsc:", capacity: 100, legacy: noLegacySessions });
    try {
      const deadline = Date.now() + 5000;
      while (cache.invalidationClients().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(cache.invalidationClients()).toHaveLength(1);
      const now = Date.now();
      const session = { id: newSessionId(), userId: randomUUID(), tenant: "default", secretHash: hashSecret(newSecret()) };
      const times = { createdAt: now, absoluteExpiresAt: now + 60_000, idleTtlMs: 60_000 };
      expect(await store.create({ ...session, ...times, ip: undefined, userAgent: undefined, epoch: 0, amr: ["pwd"] })).toBe("created");
      expect(await cache.store.isActive(session.userId, session.id)).toBe(true);
      expect(await cache.store.isActive(session.userId, session.id)).toBe(true);
      expect(cache.stats()).toMatchObject({ hits: 1, sessions: 1 });
      const invalidated = new Promise<void>((resolve) => cache.onInvalidation(() => resolve()));
      await store.revoke(session.userId, session.id);
      await invalidated;
      expect(await cache.store.isActive(session.userId, session.id)).toBe(false);
    } finally {
      cache.close();
    }
  });

  it("refuses a server whose certificate no trusted CA signed", async () => {
    expect((await open({ REDIS_PASSWORD_FILE: join(dir, "password") }, 1000)).answers).toBe(false);
  });

  it("refuses a wrong password", async () => {
    expect((await open({ REDIS_TLS_CA_FILE: join(dir, "redis.crt"), REDIS_PASSWORD: "wrong" }, 1000)).answers).toBe(false);
  });
});
