/**
 * The session epoch: once a change that ends a user's access returns (ChangePassword, a password
 * reset by token or by an admin, "log out everywhere", disabling the user), no request that started
 * before it may leave a session of that user behind, and none may create one afterwards.
 *
 * Two instances share PostgreSQL and Redis, as in production. Instance A serves a storm of logins
 * with a real bcrypt cost on one bcrypt thread, so most of them are still waiting for bcrypt
 * (their PostgreSQL read done, their session not created yet) when instance B, whose bcrypt is
 * idle, makes the change. Before the epoch, about half of such logins survived the change.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin } from "../../src/cli/create-admin.js";
import { issueOneTimeToken } from "../../src/domain/one-time-tokens.js";
import { disableUser } from "../../src/domain/user-status.js";
import { createTestDatabase, startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

/** Logins racing each change. */
const LOGINS = 60;

describe("a change that ends a user's access, racing a storm of logins", () => {
  let a: TestApp;
  let b: TestApp;
  let onA: TestClient;
  let onB: TestClient;
  /** Completed credential reads per login identifier on instance A. */
  const reads = new Map<string, number>();

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    const redisKeyPrefix = `ep${randomBytes(3).toString("hex")}:`;
    // A real cost: the window between a login's password check and its session is a bcrypt.
    // A storm of concurrent logins of one account from one address: more than the abuse limits let
    // be checked at once for one account (docs/security.md, Abuse limits: every attempt counts until it
    // succeeds), so those caps are lifted.
    const storm = { LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "1000", LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000" };
    a = await startTestApp({ name: "epoch-a", databaseUrl, redisKeyPrefix, env: { BCRYPT_COST: "8", BCRYPT_THREADS: "1", ...storm } });
    b = await startTestApp({ name: "epoch-b", databaseUrl, redisKeyPrefix, env: { BCRYPT_COST: "8", ...storm } });
    onA = createGrpcClient(a.grpcAddress);
    onB = createGrpcClient(b.grpcAddress);
    // Observe (not replace) instance A's credential reads, so that the change starts only once
    // every racing login has read the old state from PostgreSQL: those are the logins that
    // "started before the change", whatever the machine's speed.
    const users = a.app.deps.users;
    const findAccountByLogin = users.findAccountByLogin.bind(users);
    (users as { findAccountByLogin: typeof users.findAccountByLogin }).findAccountByLogin = async (tenant, login) => {
      const found = await findAccountByLogin(tenant, login);
      reads.set(login, (reads.get(login) ?? 0) + 1);
      return found;
    };
  }, 120_000);
  afterAll(async () => {
    onA?.close();
    onB?.close();
    await a?.stop();
    await b?.stop();
  });

  async function newUser() {
    const email = `epoch.${randomBytes(5).toString("hex")}@example.com`;
    const password = newPassword();
    const { user } = ok(await onB.call("Register", { email, password }));
    return { email, password, userId: user.id as string };
  }

  async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error("timed out waiting");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Fires the logins at A, waits until all have read the user from PostgreSQL, runs `change` on B,
   * then checks that nothing the logins did outlives it. `kept` is the one session the change may
   * keep (ChangePassword keeps the caller's).
   */
  async function race(
    user: { email: string; password: string; userId: string },
    change: () => Promise<void>,
    kept: string | undefined = undefined,
  ) {
    reads.set(user.email, 0);
    let finished = 0;
    const logins = Array.from({ length: LOGINS }, () =>
      onA.call("Login", { identifier: user.email, password: user.password }).finally(() => finished++),
    );
    await until(() => (reads.get(user.email) ?? 0) >= LOGINS);
    await change();
    const pendingAtChange = LOGINS - finished;
    const results = await Promise.all(logins);
    // The race was real: logins were still waiting for bcrypt when the change returned.
    expect(pendingAtChange).toBeGreaterThan(LOGINS / 4);

    const issued = results.filter((r) => r.ok).map((r) => (r as { response: Record<string, any> }).response);
    let activeTokens = 0;
    let refreshable = 0;
    for (const login of issued) {
      if (ok(await onB.call("ValidateToken", { token: login.accessToken })).active) activeTokens++;
      if ((await onB.call("Refresh", { refreshToken: login.refreshToken })).ok) refreshable++;
    }
    expect({ activeTokens, refreshable }).toEqual({ activeTokens: 0, refreshable: 0 });
    // What the store holds for the user: at most the session the change keeps.
    const live = await b.app.deps.sessions.list(user.userId, b.clock.now());
    expect(live.map((s) => s.id)).toEqual(kept === undefined ? [] : [kept]);
    return { issued: issued.length, pendingAtChange };
  }

  it("ChangePassword on another instance: no login with the old password keeps a session", async () => {
    const user = await newUser();
    const mine = ok(await onB.call("Login", { identifier: user.email, password: user.password }));
    const next = newPassword();
    await race(
      user,
      async () => {
        ok(await onB.call("ChangePassword", { currentPassword: user.password, newPassword: next }, bearer(mine.accessToken)));
      },
      mine.refreshToken.split(".").at(-2),
    );
    expect(ok(await onB.call("ValidateToken", { token: mine.accessToken })).active).toBe(true);
  });

  it("log out everywhere: no racing login keeps a session", async () => {
    const user = await newUser();
    const mine = ok(await onB.call("Login", { identifier: user.email, password: user.password }));
    await race(user, async () => {
      ok(await onB.call("Logout", { allSessions: true }, bearer(mine.accessToken)));
    });
  });

  it("a password reset by token: no racing login keeps a session", async () => {
    const user = await newUser();
    const target = await b.app.deps.users.findById(user.userId);
    if (target === null) throw new Error("no user");
    const { token } = await issueOneTimeToken(b.app.deps, target, "reset_password", 60_000);
    recordSecret(token);
    await race(user, async () => {
      ok(await onB.call("ResetPassword", { token, newPassword: newPassword() }));
    });
  });

  it("a password reset by an admin: no racing login keeps a session", async () => {
    const user = await newUser();
    const adminEmail = `admin.${randomBytes(4).toString("hex")}@example.com`;
    const adminPassword = newPassword();
    await createAdmin(b.app.db, b.config, {
      email: adminEmail,
      username: undefined,
      fullName: undefined,
      tenant: b.config.policy.defaultTenant,
      password: adminPassword,
    });
    const admin = ok(await onB.call("Login", { identifier: adminEmail, password: adminPassword }));
    await race(user, async () => {
      ok(await onB.call("ResetPassword", { email: user.email, newPassword: newPassword() }, bearer(admin.accessToken)));
    });
  });

  it("disabling the user: no racing login keeps a session", async () => {
    const user = await newUser();
    await race(user, async () => {
      await disableUser(b.app.deps, { userId: user.userId, actor: { kind: "operator" } });
    });
  });

  it("a refresh of the session ChangePassword keeps, racing it, rotates on the new state instead of failing", async () => {
    const user = await newUser();
    const mine = ok(await onB.call("Login", { identifier: user.email, password: user.password }));
    // Without the copy of the user Login kept, the refresh reads PostgreSQL (the race is there).
    await a.app.deps.sessions.userChanged(user.userId);
    // Make the change land between the refresh's read of the user and its rotation.
    const users = a.app.deps.users;
    const findById = users.findById.bind(users);
    let reads = 0;
    (users as { findById: typeof users.findById }).findById = async (userId) => {
      const found = await findById(userId);
      reads++;
      if (reads === 1)
        ok(await onB.call("ChangePassword", { currentPassword: user.password, newPassword: newPassword() }, bearer(mine.accessToken)));
      return found;
    };
    try {
      const refreshed = ok(await onA.call("Refresh", { refreshToken: mine.refreshToken }));
      expect(reads).toBe(2);
      expect(ok(await onB.call("ValidateToken", { token: refreshed.accessToken })).active).toBe(true);
    } finally {
      (users as { findById: typeof users.findById }).findById = findById;
    }
  });

  it("a refresh of another session racing a sign-out everywhere ends with the session, not a new token", async () => {
    const user = await newUser();
    const mine = ok(await onB.call("Login", { identifier: user.email, password: user.password }));
    const other = ok(await onB.call("Login", { identifier: user.email, password: user.password }));
    // Without the copy of the user Login kept, the refresh reads PostgreSQL (the race is there).
    await a.app.deps.sessions.userChanged(user.userId);
    const users = a.app.deps.users;
    const findById = users.findById.bind(users);
    (users as { findById: typeof users.findById }).findById = async (userId) => {
      const found = await findById(userId);
      ok(await onB.call("Logout", { allSessions: true }, bearer(mine.accessToken)));
      return found;
    };
    try {
      expect(failed(await onA.call("Refresh", { refreshToken: other.refreshToken })).reason).toBe("SESSION_REVOKED");
    } finally {
      (users as { findById: typeof users.findById }).findById = findById;
    }
    expect(await b.app.deps.sessions.list(user.userId, b.clock.now())).toEqual([]);
  });
});
