/**
 * Store outages: with Redis or PostgreSQL stopped, the calls that need it answer UNAVAILABLE (never
 * INTERNAL, never a crash), /readyz says which store is down, and everything works again once the
 * store is back, without restarting the service. Each test owns the server it stops.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { type CallResult, createGrpcClient, type TestClient } from "../support/clients.js";
import { checkHealth } from "../support/grpc-tools.js";
import { newPassword } from "../support/secrets.js";
import { type PostgresServer, type RedisServer, startPostgres, startRedis } from "../support/servers.js";

async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function expectUnavailable(result: CallResult): void {
  expect(result).toMatchObject({ ok: false, code: "UNAVAILABLE", reason: "UNAVAILABLE" });
}

async function readiness(app: TestApp) {
  const response = await fetch(`${app.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as { checks: Record<string, string> } };
}

describe("with Redis stopped", () => {
  let redis: RedisServer;
  let app: TestApp;
  let client: TestClient;
  const email = `outage.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    redis = await startRedis();
    app = await startTestApp({ name: "redis-outage", redisUrl: redis.url, env: { HEALTH_CHECK_INTERVAL: "200ms" } });
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await redis?.stop();
  });

  it("answers UNAVAILABLE for Login, Refresh and ValidateToken, and recovers when Redis is back", async () => {
    expect((await client.call("Register", { email, password })).ok).toBe(true);
    const before = await client.call("Login", { identifier: email, password });
    if (!before.ok) throw new Error("login failed");

    await redis.stop();
    expectUnavailable(await client.call("Login", { identifier: email, password }));
    // The guessing and mail limits live in Redis: without it, nothing that checks a password or
    // sends mail runs unlimited. A wrong password is not even checked, an unknown user likewise.
    expectUnavailable(await client.call("Login", { identifier: email, password: newPassword() }));
    expectUnavailable(await client.call("Login", { identifier: `nobody.${email}`, password: newPassword() }));
    expectUnavailable(await client.call("RequestPasswordReset", { email }));
    expectUnavailable(await client.call("Register", { email: `other.${email}`, password: newPassword() }));
    const token = await fetch(`${app.baseUrl}/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: email, password: newPassword() }).toString(),
    });
    expect([token.status, ((await token.json()) as { reason: string }).reason]).toEqual([503, "UNAVAILABLE"]);
    const solicitud = await fetch(`${app.baseUrl}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: email, password: newPassword() }),
    });
    expect(solicitud.status).toBe(503);
    expectUnavailable(await client.call("Refresh", { refreshToken: before.response.refreshToken }));
    expectUnavailable(await client.call("ValidateToken", { token: before.response.accessToken }));
    expectUnavailable(await client.call("Me", {}, { authorization: `Bearer ${before.response.accessToken}` }));
    const down = await readiness(app);
    expect(down.status).toBe(503);
    expect(down.body.checks).toEqual({ postgres: "ok", redis: "unavailable" });
    await eventually(async () => (await checkHealth(app.grpcAddress)) === "NOT_SERVING");
    const metrics = await (await fetch(app.metricsUrl)).text();
    expect(Number(/auth_store_errors_total\{store="redis"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);

    await redis.start();
    await eventually(async () => (await readiness(app)).status === 200);
    await eventually(async () => (await checkHealth(app.grpcAddress)) === "SERVING");
    const after = await client.call("Login", { identifier: email, password });
    if (!after.ok) throw new Error(`login after recovery failed: ${after.code}`);
    const check = await client.call("ValidateToken", { token: after.response.accessToken });
    expect(check.ok && check.response.active).toBe(true);
    const refreshed = await client.call("Refresh", { refreshToken: after.response.refreshToken });
    expect(refreshed.ok).toBe(true);
  });
});

describe("with PostgreSQL stopped", () => {
  let postgres: PostgresServer;
  let app: TestApp;
  let client: TestClient;
  const email = `pg-outage.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    postgres = await startPostgres();
    app = await startTestApp({ name: "pg-outage", databaseUrl: postgres.url, env: { HEALTH_CHECK_INTERVAL: "200ms" } });
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await postgres?.destroy();
  });

  it("answers UNAVAILABLE for the calls that need users, keeps validating tokens, and recovers", async () => {
    expect((await client.call("Register", { email, password })).ok).toBe(true);
    const login = await client.call("Login", { identifier: email, password });
    if (!login.ok) throw new Error("login failed");

    await postgres.stop();
    expectUnavailable(await client.call("Register", { email: `x.${email}`, password: newPassword() }));
    expectUnavailable(await client.call("Login", { identifier: email, password }));
    expectUnavailable(await client.call("Me", {}, { authorization: `Bearer ${login.response.accessToken}` }));
    // ValidateToken needs only the key and Redis: the services calling it keep working.
    const check = await client.call("ValidateToken", { token: login.response.accessToken });
    expect(check.ok && check.response.active).toBe(true);
    // Refresh reads the copy of the user kept beside the sessions, not PostgreSQL: it keeps working.
    const whileDown = await client.call("Refresh", { refreshToken: login.response.refreshToken });
    if (!whileDown.ok) throw new Error(`refresh failed while PostgreSQL was down: ${whileDown.code}`);
    // Without that copy (any change to the user deletes it) a refresh must read PostgreSQL, and
    // one that cannot load the user changes nothing: the same token works afterwards.
    await app.app.deps.sessions.userChanged(login.response.user?.id ?? "");
    expectUnavailable(await client.call("Refresh", { refreshToken: whileDown.response.refreshToken }));
    const down = await readiness(app);
    expect(down.status).toBe(503);
    expect(down.body.checks).toEqual({ postgres: "unavailable", redis: "ok" });
    await eventually(async () => (await checkHealth(app.grpcAddress)) === "NOT_SERVING");

    await postgres.start();
    await eventually(async () => (await readiness(app)).status === 200);
    expect(await client.call("Login", { identifier: email, password })).toMatchObject({ ok: true });
    const refreshed = await client.call("Refresh", { refreshToken: whileDown.response.refreshToken });
    expect(refreshed.ok).toBe(true);
  });
});
