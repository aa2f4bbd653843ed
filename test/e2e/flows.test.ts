/**
 * The core flows end to end, over native gRPC (a grpc-js client) and over Connect JSON (plain
 * fetch), against the real service on real PostgreSQL and Redis.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, failed, ok, type TestClient, transports } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

describe.each(transports)("core flows over $name", ({ connect }) => {
  let app: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    app = await startTestApp({ name: "flows" });
    client = connect(app);
  });
  afterAll(async () => {
    client.close();
    await app?.stop();
  });

  async function registerUser(overrides: Record<string, string> = {}) {
    const tag = randomBytes(5).toString("hex");
    const request = {
      email: `User.${tag}@Example.com`,
      password: newPassword(),
      username: `user_${tag}`,
      fullName: "Ada Lovelace",
      ...overrides,
    };
    const { user } = ok(await client.call("Register", request));
    return { request, user };
  }

  async function loginAs(identifier: string, password: string) {
    return ok(await client.call("Login", { identifier, password }));
  }

  it("walks the whole journey: register, log in three ways, Me, validate, refresh, replay after the grace window", async () => {
    const { request, user } = await registerUser();
    let login: Record<string, any> = {};
    for (const identifier of [request.email, request.email.toUpperCase(), request.username]) {
      login = await loginAs(identifier, request.password);
      expect(login.user.id).toBe(user.id);
    }
    expect(ok(await client.call("Me", {}, bearer(login.accessToken))).user.id).toBe(user.id);
    expect(ok(await client.call("ValidateToken", { token: login.accessToken })).active).toBe(true);
    const refreshed = ok(await client.call("Refresh", { refreshToken: login.refreshToken }));
    app.clock.advance(app.config.policy.refreshReuseGraceMs + 1);
    expect(failed(await client.call("Refresh", { refreshToken: login.refreshToken })).reason).toBe("TOKEN_REUSED");
    for (const token of [login.accessToken, refreshed.accessToken]) {
      expect(ok(await client.call("ValidateToken", { token }))).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
    }
  });

  it("reads X-Tenant alike in every call: `Default` signs in to default, then Me, ValidateToken and Refresh accept it", async () => {
    const { request, user } = await registerUser();
    const named = { "x-tenant": " Default " };
    const login = ok(await client.call("Login", { identifier: request.email, password: request.password }, named));
    expect(login.user).toMatchObject({ id: user.id, tenant: "default" });
    expect(ok(await client.call("Me", {}, { ...named, ...bearer(login.accessToken) })).user.id).toBe(user.id);
    expect(ok(await client.call("ValidateToken", { token: login.accessToken }, named)).active).toBe(true);
    const refreshed = ok(await client.call("Refresh", { refreshToken: login.refreshToken }, named));
    expect(refreshed.user.id).toBe(user.id);
    // Another tenant is still another tenant, whatever its case.
    const other = { "x-tenant": "System" };
    expect(failed(await client.call("Refresh", { refreshToken: refreshed.refreshToken }, other)).reason).toBe("TENANT_MISMATCH");
    expect(ok(await client.call("ValidateToken", { token: refreshed.accessToken }, other))).toMatchObject({ active: false });
  });

  it("registers, then logs in by email, by the upper-cased email and by username, and Me returns the user", async () => {
    const { request, user } = await registerUser();
    expect(user).toMatchObject({
      email: request.email,
      username: request.username,
      fullName: "Ada Lovelace",
      role: "user",
      roles: ["user"],
      isActive: true,
      emailVerified: false,
      tenant: "default",
    });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);

    for (const identifier of [request.email, request.email.toUpperCase(), request.username]) {
      const login = await loginAs(identifier, request.password);
      expect(login.tokenType).toBe("Bearer");
      expect(login.expiresIn).toBe(15 * 60);
      expect(login.refreshExpiresIn).toBe(7 * 24 * 3600);
      expect(login.user.id).toBe(user.id);
      const me = ok(await client.call("Me", {}, bearer(login.accessToken)));
      expect(me.user.id).toBe(user.id);
      expect(me.user.email).toBe(request.email);
    }
  });

  it("validates a fresh access token as active with its claims", async () => {
    const { request, user } = await registerUser();
    const login = await loginAs(request.email, request.password);
    const check = ok(await client.call("ValidateToken", { token: login.accessToken }));
    expect(check).toMatchObject({
      active: true,
      reason: "INACTIVE_REASON_UNSPECIFIED",
      userId: user.id,
      tenant: "default",
      roles: ["user"],
      email: request.email,
      username: request.username,
    });
    expect(check.sessionId).toBe(login.refreshToken.split(".")[1]);
  });

  it("refresh rotates; the old token replayed after the grace window revokes the whole session", async () => {
    const { request, user } = await registerUser();
    const login = await loginAs(request.email, request.password);
    const refreshed = ok(await client.call("Refresh", { refreshToken: login.refreshToken }));
    expect(refreshed.refreshToken).not.toBe(login.refreshToken);
    expect(refreshed.accessToken).not.toBe(login.accessToken);
    expect(ok(await client.call("ValidateToken", { token: refreshed.accessToken })).active).toBe(true);
    // Stored state: the session lives under its user's hash tag.
    const sessionKey = `${app.config.redisKeyPrefix}{${user.id}}:s:${login.refreshToken.split(".")[1]}`;
    expect(await app.app.redis.exists(sessionKey)).toBe(1);

    app.clock.advance(app.config.policy.refreshReuseGraceMs + 1000);
    const replay = failed(await client.call("Refresh", { refreshToken: login.refreshToken }));
    expect(replay.code).toBe("UNAUTHENTICATED");
    expect(replay.reason).toBe("TOKEN_REUSED");

    for (const token of [login.accessToken, refreshed.accessToken]) {
      const check = ok(await client.call("ValidateToken", { token }));
      expect(check.active).toBe(false);
      expect(check.reason).toBe("INACTIVE_REASON_REVOKED");
    }
    const next = failed(await client.call("Refresh", { refreshToken: refreshed.refreshToken }));
    expect(next.reason).toBe("SESSION_REVOKED");
    // Stored state: the session's key is gone from Redis.
    expect(await app.app.redis.exists(sessionKey)).toBe(0);
  });

  it("20 concurrent refreshes with one token inside the grace window log nobody out and leave one usable token", async () => {
    const { request } = await registerUser();
    const login = await loginAs(request.email, request.password);
    const results = await Promise.all(Array.from({ length: 20 }, () => client.call("Refresh", { refreshToken: login.refreshToken })));
    const responses = results.map(ok);
    const issued = new Set(responses.map((r) => r.refreshToken));
    expect(issued.size).toBe(1);
    for (const response of responses) expect(ok(await client.call("ValidateToken", { token: response.accessToken })).active).toBe(true);

    const [survivor] = [...issued] as [string];
    const next = ok(await client.call("Refresh", { refreshToken: survivor }));
    expect(ok(await client.call("Me", {}, bearer(next.accessToken))).user.email).toBe(request.email);
  });

  it("Logout makes that access token inactive at once and leaves other sessions alone", async () => {
    const { request } = await registerUser();
    const first = await loginAs(request.email, request.password);
    const second = await loginAs(request.email, request.password);
    expect(ok(await client.call("Logout", {}, bearer(first.accessToken))).sessionsEnded).toBe(1);

    const check = ok(await client.call("ValidateToken", { token: first.accessToken }));
    expect(check).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
    expect(failed(await client.call("Me", {}, bearer(first.accessToken))).reason).toBe("SESSION_REVOKED");
    expect(failed(await client.call("Refresh", { refreshToken: first.refreshToken })).reason).toBe("SESSION_REVOKED");
    expect(ok(await client.call("ValidateToken", { token: second.accessToken })).active).toBe(true);
  });

  it("Logout with all_sessions ends every session of the user", async () => {
    const { request } = await registerUser();
    const sessions = [
      await loginAs(request.email, request.password),
      await loginAs(request.email, request.password),
      await loginAs(request.email, request.password),
    ];
    expect(ok(await client.call("Logout", { allSessions: true }, bearer(sessions[0]!.accessToken))).sessionsEnded).toBe(3);
    for (const session of sessions) expect(ok(await client.call("ValidateToken", { token: session.accessToken })).active).toBe(false);
  });

  it("ChangePassword ends the other sessions, keeps the current one, and only the new password works", async () => {
    const { request } = await registerUser();
    const current = await loginAs(request.email, request.password);
    const other = await loginAs(request.username, request.password);
    const newPass = newPassword("new");
    const changed = ok(
      await client.call("ChangePassword", { currentPassword: request.password, newPassword: newPass }, bearer(current.accessToken)),
    );
    expect(changed.sessionsEnded).toBe(1);

    expect(ok(await client.call("ValidateToken", { token: other.accessToken })).reason).toBe("INACTIVE_REASON_REVOKED");
    expect(failed(await client.call("Refresh", { refreshToken: other.refreshToken })).reason).toBe("SESSION_REVOKED");
    expect(ok(await client.call("ValidateToken", { token: current.accessToken })).active).toBe(true);
    expect(ok(await client.call("Refresh", { refreshToken: current.refreshToken })).accessToken).toBeTruthy();

    expect(failed(await client.call("Login", { identifier: request.email, password: request.password })).reason).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await loginAs(request.email, newPass)).user.email).toBe(request.email);
  });

  it("ChangePassword with a wrong current password changes nothing", async () => {
    const { request } = await registerUser();
    const session = await loginAs(request.email, request.password);
    const wrong = failed(
      await client.call("ChangePassword", { currentPassword: newPassword(), newPassword: newPassword() }, bearer(session.accessToken)),
    );
    expect(wrong).toMatchObject({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    expect((await loginAs(request.email, request.password)).user.email).toBe(request.email);
  });

  it("answers an unknown user and a wrong password with the same code and message", async () => {
    const { request } = await registerUser();
    const unknown = failed(
      await client.call("Login", { identifier: `nobody.${randomBytes(4).toString("hex")}@example.com`, password: request.password }),
    );
    const wrong = failed(await client.call("Login", { identifier: request.email, password: newPassword() }));
    expect(unknown.code).toBe("UNAUTHENTICATED");
    expect(unknown.reason).toBe("INVALID_CREDENTIALS");
    expect({ code: wrong.code, reason: wrong.reason, message: wrong.message }).toEqual({
      code: unknown.code,
      reason: unknown.reason,
      message: unknown.message,
    });
  });

  it("accepts a 100-character password, and two passwords differing only after byte 72 are not interchangeable", async () => {
    const base = recordSecret(`${"x".repeat(72)}-${randomBytes(8).toString("hex")}`);
    const long = recordSecret(base.padEnd(100, "a"));
    const sibling = recordSecret(base.padEnd(100, "b"));
    expect(long.length).toBe(100);
    expect(long.slice(0, 72)).toBe(sibling.slice(0, 72));
    const { request } = await registerUser({ password: long });
    expect((await loginAs(request.email, long)).user.email).toBe(request.email);
    expect(failed(await client.call("Login", { identifier: request.email, password: sibling })).reason).toBe("INVALID_CREDENTIALS");
    expect(failed(await client.call("Login", { identifier: request.email, password: long.slice(0, 72) })).reason).toBe(
      "INVALID_CREDENTIALS",
    );
  });

  it("refuses duplicate emails and usernames case-insensitively", async () => {
    const { request } = await registerUser();
    const sameEmail = failed(await client.call("Register", { email: request.email.toUpperCase(), password: newPassword() }));
    expect(sameEmail).toMatchObject({ code: "ALREADY_EXISTS", reason: "EMAIL_TAKEN" });
    const sameName = failed(
      await client.call("Register", {
        email: `other.${randomBytes(4).toString("hex")}@example.com`,
        password: newPassword(),
        username: request.username.toUpperCase(),
      }),
    );
    expect(sameName).toMatchObject({ code: "ALREADY_EXISTS", reason: "USERNAME_TAKEN" });
  });

  it.each([
    ["a missing email", { password: "long enough password" }, "INVALID_REQUEST", "email"],
    ["a malformed email", { email: "not-an-email", password: "long enough password" }, "INVALID_EMAIL", "email"],
    ["an empty password", { email: "a@example.com", password: "" }, "INVALID_REQUEST", "password"],
    ["a short password", { email: "a@example.com", password: "short" }, "WEAK_PASSWORD", "password"],
    ["a common password", { email: "a@example.com", password: "password123" }, "WEAK_PASSWORD", "common"],
    ["a password over 1024 characters", { email: "a@example.com", password: "p".repeat(1025) }, "PASSWORD_TOO_LONG", "1024"],
    ["a malformed username", { email: "a@example.com", password: "long enough password", username: "a b" }, "INVALID_USERNAME", "username"],
  ])("refuses Register with %s: INVALID_ARGUMENT %s", async (_, request, reason, mention) => {
    const result = failed(await client.call("Register", request));
    expect(result.code).toBe("INVALID_ARGUMENT");
    expect(result.reason).toBe(reason);
    expect(result.message).toContain(mention);
  });

  it.each([
    ["Login without identifier", "Login", { password: "whatever-it-is" }, "identifier"],
    ["Login without password", "Login", { identifier: "a@example.com" }, "password"],
    ["Refresh without token", "Refresh", {}, "refresh_token"],
  ])("refuses %s with INVALID_ARGUMENT naming the field", async (_, method, request, field) => {
    const result = failed(await client.call(method, request));
    expect(result).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_REQUEST" });
    expect(result.message).toContain(field);
  });

  it("asks for a bearer token on Me, and tells a missing one from a bad one", async () => {
    expect(failed(await client.call("Me", {}))).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" });
    expect(failed(await client.call("Me", {}, { authorization: "Bearer not.a.jwt" }))).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "TOKEN_INVALID",
    });
    expect(failed(await client.call("Me", {}, { authorization: "Basic dXNlcjpwYXNz" }))).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "TOKEN_INVALID",
    });
  });

  it("reports an expired access token as TOKEN_EXPIRED on Me and as inactive on ValidateToken", async () => {
    const { request } = await registerUser();
    const login = await loginAs(request.email, request.password);
    app.clock.advance(app.config.policy.accessTokenTtlMs + app.config.jwt.clockSkewMs + 1000);
    expect(failed(await client.call("Me", {}, bearer(login.accessToken))).reason).toBe("TOKEN_EXPIRED");
    expect(ok(await client.call("ValidateToken", { token: login.accessToken }))).toMatchObject({
      active: false,
      reason: "INACTIVE_REASON_EXPIRED",
    });
    // The session itself is still good: the refresh token gets a fresh access token.
    const refreshed = ok(await client.call("Refresh", { refreshToken: login.refreshToken }));
    expect(ok(await client.call("Me", {}, bearer(refreshed.accessToken))).user.email).toBe(request.email);
  });
});
