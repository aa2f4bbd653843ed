/**
 * The end-to-end flows on each Redis topology the service supports: a standalone server, a
 * Sentinel group (a master, a replica, three sentinels) and a Redis Cluster (three masters with a
 * replica each), all real servers started by the suite. Two instances share one PostgreSQL and one
 * Redis deployment: what one does, the other sees at once, and the operator's CLI reaches both.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disableUser } from "../../src/domain/user-status.js";
import { masterConnections } from "../../src/infra/redis/client.js";
import { createTestDatabase, REDIS_TOPOLOGIES, redisEnv, startTestApp, type TestApp, TestClock } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

async function eventually<T>(attempt: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(REDIS_TOPOLOGIES)("two instances on a Redis %s", (topology) => {
  const clock = new TestClock();
  const env = {
    // The key ring, so that a rotation can be announced.
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    JWT_PRIVATE_KEY: "",
    REDIS_KEY_PREFIX: `top${randomBytes(3).toString("hex")}:`,
  };
  let databaseUrl: string;
  let a: TestApp;
  let b: TestApp;
  let onA: TestClient;
  let onB: TestClient;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    const common = { databaseUrl, clock, redisTopology: topology, redisKeyPrefix: env.REDIS_KEY_PREFIX, env };
    a = await startTestApp({ ...common, name: `${topology}-a` });
    b = await startTestApp({ ...common, name: `${topology}-b` });
    onA = createGrpcClient(a.grpcAddress);
    onB = createGrpcClient(b.grpcAddress);
  });
  afterAll(async () => {
    onA?.close();
    onB?.close();
    await a?.stop();
    await b?.stop();
  });

  async function newUser() {
    const email = `${topology}.${randomBytes(5).toString("hex")}@example.com`;
    const password = newPassword();
    const { user } = ok(await onA.call("Register", { email, password }));
    return { email, password, userId: user.id as string, login: (on = onA) => on.call("Login", { identifier: email, password }) };
  }
  const validate = async (on: TestClient, token: string) => ok(await on.call("ValidateToken", { token }));

  it("is ready only while every master answers, and says so", async () => {
    for (const app of [a, b]) expect(await app.app.readiness()).toEqual({ ready: true, checks: { postgres: "ok", redis: "ok" } });
    expect(masterConnections(a.app.redis)).toHaveLength(topology === "cluster" ? 3 : 1);
  });

  it("signs in on one instance and validates, refreshes and lists on the other", async () => {
    const user = await newUser();
    const login = ok(await user.login());
    expect(await validate(onB, login.accessToken)).toMatchObject({ active: true, userId: user.userId });
    const refreshed = ok(await onB.call("Refresh", { refreshToken: login.refreshToken }));
    expect(refreshed.refreshToken).not.toBe(login.refreshToken);
    expect(await validate(onA, refreshed.accessToken)).toMatchObject({ active: true });
    const { sessions } = ok(await onA.call("ListSessions", {}, bearer(refreshed.accessToken)));
    expect(sessions).toHaveLength(1);
  });

  it("hands a retry inside the grace window the same successor, and revokes the session on a replay after it", async () => {
    const user = await newUser();
    const login = ok(await user.login());
    const first = ok(await onA.call("Refresh", { refreshToken: login.refreshToken }));
    // A lost response: the client tries again, on the other instance.
    const retry = ok(await onB.call("Refresh", { refreshToken: login.refreshToken }));
    expect(retry.refreshToken).toBe(first.refreshToken);
    clock.advance(a.config.policy.refreshReuseGraceMs + 1000);
    expect(failed(await onB.call("Refresh", { refreshToken: login.refreshToken })).reason).toBe("TOKEN_REUSED");
    expect(await validate(onA, first.accessToken)).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
    expect(failed(await onA.call("Refresh", { refreshToken: first.refreshToken })).reason).toBe("SESSION_REVOKED");
  });

  it("ends a session on one instance for the other: logout, RevokeSession, and logout everywhere", async () => {
    const user = await newUser();
    const [one, two, three] = [ok(await user.login()), ok(await user.login(onB)), ok(await user.login())];
    ok(await onA.call("Logout", {}, bearer(one.accessToken)));
    expect(await validate(onB, one.accessToken)).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
    const sid = (token: string) => JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()).sid as string;
    ok(await onB.call("RevokeSession", { sessionId: sid(two.accessToken) }, bearer(three.accessToken)));
    expect(await validate(onA, two.accessToken)).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
    expect(await validate(onA, three.accessToken)).toMatchObject({ active: true });
    ok(await onB.call("Logout", { allSessions: true }, bearer(three.accessToken)));
    expect(await validate(onA, three.accessToken)).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
    expect(failed(await onA.call("Refresh", { refreshToken: three.refreshToken })).reason).toBe("SESSION_REVOKED");
  });

  it("disables a user on one instance: the other answers USER_DISABLED and refuses a login", async () => {
    const user = await newUser();
    const login = ok(await user.login(onB));
    await disableUser(a.app.deps, { userId: user.userId, actor: { kind: "operator", id: "test" } });
    expect(await validate(onB, login.accessToken)).toMatchObject({ active: false, reason: "INACTIVE_REASON_USER_DISABLED" });
    expect(failed(await user.login(onB)).reason).toBe("ACCOUNT_DISABLED");
  });

  it("counts the mails one address asks for across both instances", async () => {
    const user = await newUser();
    const answers = [];
    for (let i = 0; i < a.config.abuse.mail.perAddressPerHour + 1; i++) {
      answers.push(await (i % 2 === 0 ? onA : onB).call("ResendVerification", { email: user.email }));
    }
    // Register sent the first mail; the limit is shared, so the last requests are refused.
    expect(answers.filter((answer) => !answer.ok).map((answer) => !answer.ok && answer.reason)).toContain("RATE_LIMITED");
  });

  it("announces a key rotation from the CLI to both instances, which sign with the new key at once", async () => {
    const user = await newUser();
    const before = ok(await user.login()).accessToken as string;
    const { stdout } = await run("npm", ["run", "--silent", "keys", "--", "rotate"], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ENV_FILE: "/dev/null",
        DATABASE_URL: databaseUrl,
        ...redisEnv(topology),
        ...env,
      },
      timeout: 60_000,
    });
    // On a Cluster, counted on every node (each subscriber listens on one).
    expect(stdout).toContain("told 2 running instance(s)");
    const newKid = /new signing key (\S+)/.exec(stdout)?.[1];
    for (const on of [onA, onB]) {
      await eventually(async () => {
        const token = ok(await user.login(on)).accessToken as string;
        return decodeProtectedHeader(token).kid === newKid ? token : undefined;
      }, 3000);
    }
    expect(await validate(onB, before)).toMatchObject({ active: true });
  });
});
