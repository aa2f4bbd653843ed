/**
 * Existing clients of the four seed APIs (shared/seeds/) against our compatible routes: their own
 * Python code (seeds 001 and 002, run with Debian's python3-requests) and curl lines (seeds 000
 * and 003), as written, with only the base URL changed and their business routes replaced by a
 * protected route of ours. Then each seed's response and error shapes.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTenant } from "../../src/infra/postgres/database.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, type TestClient } from "../support/clients.js";
import { recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

const run = promisify(execFile);
const seeds = join(import.meta.dirname, "..", "seeds");
const python = (script: string, args: string[], baseUrl: string) =>
  run("/usr/bin/python3", [join(seeds, script), ...args], { env: { PATH: process.env.PATH, BASE_URL: baseUrl }, timeout: 60_000 });
const curl = async (line: string) => JSON.parse((await run("bash", ["-c", line], { timeout: 30_000 })).stdout);

describe("the seed APIs' clients", () => {
  let app: TestApp;
  let smtp: TestSmtp;
  let client: TestClient;

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({
      name: "seeds",
      // Four-minute access tokens put seed 002's client inside its five-minute refresh margin, so it
      // refreshes on every call; a one-second grace window makes its later refreshes come after it.
      env: { SMTP_URL: smtp.url, ACCESS_TOKEN_TTL: "4m", REFRESH_REUSE_GRACE: "1s", PASSWORD_MIN_LENGTH: "6" },
    });
    client = createGrpcClient(app.grpcAddress);
    const register = async (request: Record<string, string>, tenant?: string) => {
      const result = await client.call("Register", request, tenant ? { "x-tenant": tenant } : {});
      if (!result.ok) throw new Error(`fixture: ${result.code} ${result.message}`);
      return result.response.user as { id: string };
    };
    for (const secret of ["your-secure-password", "SecurePass123", "yourpassword", "securepassword123"]) recordSecret(secret);
    await register({ email: "api_user@example.com", username: "api_user", password: "your-secure-password" });
    await register({ email: "user@example.com", password: "yourpassword" });
    // Vigia's tenant and admin, with module permissions on the admin role.
    await ensureTenant(app.app.db, "acme-pharma", "ACME Pharma");
    await app.app.db
      .updateTable("roles")
      .set({ permissions: JSON.stringify({ icsr: { view: true, edit: true, delete: true }, reports: { view: true, generate: true } }) })
      .where("tenant_id", "=", "acme-pharma")
      .where("name", "=", "admin")
      .execute();
    const juan = await register(
      { email: "juan.perez@example.com", username: "juan.perez", password: "SecurePass123", fullName: "Juan Pérez García" },
      "acme-pharma",
    );
    await app.app.db.insertInto("user_roles").values({ user_id: juan.id, tenant_id: "acme-pharma", role_name: "admin" }).execute();
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
    await smtp?.stop();
  });

  it("seed 002: test_authentication() passes", async () => {
    const { stdout } = await python("002_test_authentication.py", [], app.baseUrl);
    expect(stdout).toContain("✓ Login successful");
    expect(stdout).toContain("✓ Unauthorized request blocked");
    expect(stdout).toContain("✓ All authentication tests passed!");
  });

  it("seed 002: the APIClient signs in, refreshes as it likes, and stays signed in long after", async () => {
    const { stdout } = await python("002_api_client_long_run.py", ["1.5"], app.baseUrl);
    expect(stdout).toContain("'email': 'api_user@example.com'");
    expect(stdout).toContain("long run: still signed in after 3 refreshes");
  });

  it("seed 001: the complete authentication flow, in the acme-pharma tenant", async () => {
    const { stdout } = await python("001_complete_flow.py", [], app.baseUrl);
    const { user_info, icsrs } = JSON.parse(stdout);
    expect(user_info).toMatchObject({
      email: "juan.perez@example.com",
      username: "juan.perez",
      full_name: "Juan Pérez García",
      role: "admin",
      roles: ["user", "admin"],
      permissions: { icsr: { view: true, edit: true, delete: true }, reports: { view: true, generate: true } },
      is_active: true,
    });
    expect(icsrs).toMatchObject({ username: "juan.perez", role: "user", roles: ["user", "admin"] });
  });

  it("seed 000: the curl lines get a token, use it, and trade it for a new one of the same session", async () => {
    const base = app.baseUrl;
    const token = await curl(
      `curl -s -X POST "${base}/auth/token" -H "Content-Type: application/x-www-form-urlencoded" -d "username=user@example.com&password=yourpassword"`,
    );
    expect(token).toEqual({ access_token: expect.any(String), token_type: "bearer" });
    recordSecret(token.access_token);
    const me = await curl(`curl -s -X GET "${base}/v1/auth/me" -H "Authorization: Bearer ${token.access_token}"`);
    expect(me.user.email).toBe("user@example.com");
    const renewed = await curl(`curl -s -X POST "${base}/auth/refresh_token" -H "Authorization: Bearer ${token.access_token}"`);
    expect(renewed).toEqual({ access_token: expect.any(String), token_type: "bearer" });
    recordSecret(renewed.access_token);
    const [before, after] = await Promise.all(
      [token.access_token, renewed.access_token].map(async (t) => {
        const result = await client.call("ValidateToken", { token: t });
        return result.ok ? result.response : undefined;
      }),
    );
    expect(after).toMatchObject({ active: true, sessionId: before?.sessionId });
  });

  it("seed 003: register, confirm by the mailed token, log in by username, refresh, and the curl line", async () => {
    const base = app.baseUrl;
    const registered = await fetch(`${base}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "johndoe", email: "john@example.com", password: "securepassword123" }),
    });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toEqual({
      id: expect.any(Number),
      username: "johndoe",
      email: "john@example.com",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      avatar: null,
      is_verified: false,
    });
    const token = recordSecret(linkIn(await smtp.waitFor("john@example.com", /Confirm your email/)).searchParams.get("token") ?? "");
    const confirmed = await fetch(`${base}/api/auth/confirmed_email/${token}`);
    expect(await confirmed.json()).toEqual({ message: "Email verified successfully" });
    expect(await (await fetch(`${base}/api/auth/confirmed_email/${token}`)).json()).toEqual({ message: "Your email is already confirmed" });

    const login = await fetch(`${base}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "username=johndoe&password=securepassword123",
    });
    const tokens = (await login.json()) as Record<string, string>;
    expect(Object.keys(tokens).sort()).toEqual(["access_token", "refresh_token", "token_type"]);
    recordSecret(tokens.access_token!);
    recordSecret(tokens.refresh_token!);
    const refreshed = (await (
      await fetch(`${base}/api/auth/refresh-token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens.refresh_token }),
      })
    ).json()) as Record<string, string>;
    // As UContact's update_jwt did: a new access token, the same refresh token.
    expect(refreshed.refresh_token).toBe(tokens.refresh_token);
    expect(refreshed.token_type).toBe("bearer");
    recordSecret(refreshed.access_token!);

    const me = await curl(`curl -s -H "Authorization: Bearer ${refreshed.access_token}" ${base}/v1/auth/me`);
    expect(me.user).toMatchObject({ username: "johndoe", emailVerified: true });
  });

  describe("error shapes", () => {
    const form = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${app.baseUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body,
      });
    const json = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${app.baseUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });

    it.each([
      [
        "000 wrong password",
        () => form("/auth/token", "username=user@example.com&password=wrong-password"),
        401,
        { detail: "Incorrect email or password" },
      ],
      [
        "000 refresh without a token",
        () => fetch(`${app.baseUrl}/auth/refresh_token`, { method: "POST" }),
        401,
        { detail: "Not authenticated" },
      ],
      [
        "000 refresh with a bad token",
        () => fetch(`${app.baseUrl}/auth/refresh_token`, { method: "POST", headers: { authorization: "Bearer x.y.z" } }),
        401,
        { detail: "Could not validate credentials" },
      ],
      [
        "001 missing password",
        () => form("/api/v1/auth/login", "username=juan.perez", { "x-tenant": "acme-pharma" }),
        422,
        { detail: [{ type: "missing", loc: ["body", "password"] }] },
      ],
      ["001 me without a token", () => fetch(`${app.baseUrl}/api/v1/auth/me`), 401, { detail: "Not authenticated" }],
      [
        "001 reset by a non-admin",
        () =>
          json(
            "/api/v1/auth/reset-password",
            { email: "juan.perez@example.com", new_password: "whatever-it-is" },
            { "x-tenant": "acme-pharma" },
          ),
        401,
        { detail: "Not authenticated" },
      ],
      [
        "002 wrong password",
        () => json("/auth/login", { username: "api_user", password: "wrong-password" }),
        422,
        { exito: false, mensaje: "Credenciales inválidas" },
      ],
      ["002 bad refresh token", () => json("/auth/refresh", { refreshToken: "nope" }), 401, { exito: false, mensaje: "Token inválido" }],
      [
        "003 taken email",
        () => json("/api/auth/register", { username: "other", email: "user@example.com", password: "securepassword123" }),
        409,
        { detail: "Account already exists" },
      ],
      [
        "003 wrong password",
        () => form("/api/auth/login", "username=johndoe&password=wrong-password"),
        401,
        { detail: "Incorrect username or password" },
      ],
      ["003 bad confirmation link", () => fetch(`${app.baseUrl}/api/auth/confirmed_email/garbage`), 400, { detail: "Verification error" }],
    ])("%s", async (_, request, status, body) => {
      const response = await request();
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject(body);
      if (status === 401) expect(response.headers.get("www-authenticate")).toBe("Bearer");
    });
  });
});

describe("COMPAT_ROUTES=none", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ name: "no-compat", env: { COMPAT_ROUTES: "none" } });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("serves none of the seed routes, and still the REST gateway", async () => {
    for (const path of ["/auth/token", "/api/v1/auth/login", "/auth/login", "/api/auth/login"]) {
      expect((await fetch(`${app.baseUrl}${path}`, { method: "POST" })).status, path).toBe(404);
    }
    expect((await fetch(`${app.baseUrl}/v1/auth/me`)).status).toBe(401);
  });
});
