/**
 * The four old APIs (shared/seeds/) against our compatible routes, read as the contract: their own
 * client code (test/seeds/, as written, with only the changes its README allows) and, where a
 * document quotes it, their own server-side token check (VidaPlus's get_current_user, in a FastAPI
 * app with PyJWT), every field the documents show, and their status codes and messages. The main
 * app runs with the VidaPlus and Vigia legacy token profiles on; a second app without them shows
 * what those backends did with our own tokens.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { promisify } from "node:util";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapPlatformAdmin } from "../../src/cli/create-admin.js";
import { createAdminRestClient } from "../support/admin-clients.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

const run = promisify(execFile);
const seeds = join(import.meta.dirname, "..", "seeds");
const seedEnv = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? "", ...env });
const python = (script: string, args: string[], env: Record<string, string>) =>
  run("/usr/bin/python3", [join(seeds, script), ...args], { env: seedEnv(env), timeout: 60_000 });
const shell = (script: string, env: Record<string, string>) => run("bash", [join(seeds, script)], { env: seedEnv(env), timeout: 30_000 });

const VIDAPLUS_SECRET = recordSecret("vidaplus-SECRET_KEY-of-at-least-32-bytes!");
const VIGIA_SECRET = recordSecret("vigia-secret-of-at-least-thirty-two-bytes");
for (const secret of ["your-secure-password", "SecurePass123", "yourpassword", "securepassword123", "Qz7#pK", "AnaPass-2024"]) {
  recordSecret(secret);
}

/** VidaPlus's own backend (test/seeds/000_backend.py): its get_current_user behind `/pacientes/`. */
interface Backend {
  readonly url: string;
  stop(): Promise<void>;
}

async function startVidaPlusBackend(secret: string, emails: string[]): Promise<Backend> {
  const child: ChildProcess = spawn("/usr/bin/python3", [join(seeds, "000_backend.py"), ...emails], {
    env: seedEnv({ DATABASE_URL: "sqlite://", SECRET_KEY: secret, ALGORITHM: "HS256", ACCESS_TOKEN_EXPIRE_MINUTES: "30" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let errors = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`VidaPlus backend exited (${code}): ${errors}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** A JSON answer, as the seeds' clients read it. */
const answer = (response: Response): Promise<any> => response.json();
const form = (base: string, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
const json = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

describe("the old APIs' clients and backends, with the legacy token profiles on", () => {
  let app: TestApp;
  let smtp: TestSmtp;
  let auth: TestClient;
  let admin: TestClient;
  let platform: Record<string, string>;
  let backend: Backend;
  let base: string;
  const ids: Record<string, string> = {};

  const createUser = async (request: Record<string, unknown>) => {
    const { user } = ok(await admin.call("CreateUser", request, platform));
    return user as { id: string; number: string };
  };

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({
      name: "seeds",
      // Four-minute access tokens put seed 002's client inside its five-minute refresh margin, so it
      // refreshes on every call; a one-second grace window makes its later refreshes come after it.
      env: {
        SMTP_URL: smtp.url,
        ACCESS_TOKEN_TTL: "4m",
        REFRESH_REUSE_GRACE: "1s",
        LEGACY_TOKEN_VIDAPLUS_SECRET: VIDAPLUS_SECRET,
        LEGACY_TOKEN_VIGIA_SECRET: VIGIA_SECRET,
        LEGACY_TOKEN_VIGIA_TTL: "8h",
      },
    });
    base = app.baseUrl;
    auth = createGrpcClient(app.grpcAddress);
    admin = createAdminRestClient(base);
    const rootPassword = newPassword();
    await bootstrapPlatformAdmin(app.app.db, app.config, {
      email: "root@example.com",
      username: "root",
      fullName: undefined,
      password: rootPassword,
    });
    platform = bearer(
      ok(await auth.call("Login", { identifier: "root@example.com", password: rootPassword }, { "x-tenant": "system" })).accessToken,
    );

    // The default tenant serves VidaPlus, Solicitud and UContact, and requires a verified address
    // (UContact's flow: register, verify, log in); their existing users were verified there.
    ok(await admin.call("UpdateTenant", { tenant: "default", policy: { verifiedEmailRequired: true } }, platform));
    ids.vidaplus = (await createUser({ tenant: "default", email: "user@example.com", password: "yourpassword", emailVerified: true })).id;
    ids.apiUser = (
      await createUser({
        tenant: "default",
        email: "api_user@example.com",
        username: "api_user",
        password: "your-secure-password",
        emailVerified: true,
        number: 1,
      })
    ).id;

    // Vigia's tenant: passwords of 6 characters, as its document says; users without roles refused.
    ok(
      await admin.call(
        "CreateTenant",
        { id: "acme-pharma", displayName: "ACME Pharma", policy: { passwordMinLength: 6, rolesRequired: true } },
        platform,
      ),
    );
    ok(
      await admin.call(
        "UpdateRole",
        { tenant: "acme-pharma", name: "admin", permissions: { icsr: { view: true, edit: true, delete: true } } },
        platform,
      ),
    );
    ok(
      await admin.call(
        "CreateRole",
        { tenant: "acme-pharma", name: "qf", permissions: { reports: { view: true, generate: true } } },
        platform,
      ),
    );
    // qf assigned before admin: the lists still put admin first, as the document's example does.
    ids.juan = (
      await createUser({
        tenant: "acme-pharma",
        email: "juan.perez@example.com",
        username: "juan.perez",
        fullName: "Juan Pérez García",
        password: "SecurePass123",
        roles: ["qf", "admin"],
        emailVerified: true,
        number: 123,
        attributes: { empleado_id: 456 },
      })
    ).id;
    ids.sinRoles = (
      await createUser({
        tenant: "acme-pharma",
        email: "sin.roles@example.com",
        password: "SecurePass123",
        roles: ["qf"],
        emailVerified: true,
      })
    ).id;
    // One address in two tenants: legacy mode cannot tell which is meant.
    ok(await admin.call("CreateTenant", { id: "globex", displayName: "Globex" }, platform));
    for (const tenant of ["acme-pharma", "globex"]) {
      await createUser({
        tenant,
        email: "ana@example.com",
        password: "AnaPass-2024",
        roles: ["qf"].filter(() => tenant === "acme-pharma"),
        emailVerified: true,
      });
    }
    backend = await startVidaPlusBackend(VIDAPLUS_SECRET, ["user@example.com"]);
  });
  afterAll(async () => {
    await backend?.stop();
    auth?.close();
    await app?.stop();
    await smtp?.stop();
  });

  describe("000 VidaPlus", () => {
    it("its curl lines get a token that its own get_current_user accepts, and trade it for another of the same session", async () => {
      const [tokenLine, pacientes, status, refreshLine] = (await shell("000_curl.sh", { BASE_URL: base, BACKEND_URL: backend.url })).stdout
        .trim()
        .split("\n");
      const token = JSON.parse(tokenLine ?? "");
      expect(token).toEqual({ access_token: expect.any(String), token_type: "bearer" });
      recordSecret(token.access_token);
      // VidaPlus's backend decoded it with its SECRET_KEY and HS256 and found its user by `sub`.
      expect(status).toBe("200");
      expect(JSON.parse(pacientes ?? "")).toEqual({ user: "user@example.com", pacientes: [] });
      const renewed = JSON.parse(refreshLine ?? "");
      expect(renewed).toEqual({ access_token: expect.any(String), token_type: "bearer" });
      recordSecret(renewed.access_token);
      const again = await fetch(`${backend.url}/pacientes/`, { headers: bearer(renewed.access_token) });
      expect(await again.json()).toEqual({ user: "user@example.com", pacientes: [] });

      // Its shape: what create_access_token made ({sub: email, exp}), our session and user beside.
      expect(decodeProtectedHeader(token.access_token)).toEqual({ alg: "HS256", typ: "JWT" });
      const claims = decodeJwt(token.access_token);
      expect(Object.keys(claims).sort()).toEqual(["amr", "exp", "iat", "sid", "sub", "tid", "user_id"]);
      expect(claims).toMatchObject({ sub: "user@example.com", tid: "default", user_id: ids.vidaplus, amr: ["pwd"] });
      expect(claims.exp! - claims.iat!).toBe(15 * 60);

      // ValidateToken checks it like any other: its session, the same for both.
      const [first, second] = await Promise.all(
        [token.access_token, renewed.access_token].map(async (t) => ok(await auth.call("ValidateToken", { token: t }))),
      );
      expect(first).toMatchObject({
        active: true,
        tokenProfile: "vidaplus",
        userId: ids.vidaplus,
        tenant: "default",
        email: "user@example.com",
      });
      expect(second).toMatchObject({ active: true, tokenProfile: "vidaplus", sessionId: first?.sessionId });
      // It has no audience: asked for one, it is not the token.
      expect(ok(await auth.call("ValidateToken", { token: token.access_token, audience: "api" }))).toMatchObject({
        active: false,
        reason: "INACTIVE_REASON_WRONG_AUDIENCE",
      });
    });

    it("is never accepted on our own bearer routes nor on another old API's", async () => {
      const { access_token } = await answer(await form(base, "/auth/token", "username=user@example.com&password=yourpassword"));
      recordSecret(access_token);
      expect(failed(await auth.call("Me", {}, bearer(access_token))).reason).toBe("TOKEN_INVALID");
      expect((await fetch(`${base}/v1/auth/me`, { headers: bearer(access_token) })).status).toBe(401);
      const vigia = await fetch(`${base}/api/v1/auth/me`, { headers: bearer(access_token) });
      expect(vigia.status).toBe(401);
      expect(await vigia.json()).toMatchObject({ detail: "Could not validate credentials" });
    });

    it("a token its secret signs with a user or session id not of our shape is malformed, not an internal error", async () => {
      // VidaPlus's backends hold the secret: they can sign any claims.
      const { access_token } = await answer(await form(base, "/auth/token", "username=user@example.com&password=yourpassword"));
      recordSecret(access_token);
      const real = decodeJwt(access_token);
      for (const claims of [{ user_id: "a{b}" }, { sid: "}{" }, { sid: "x".repeat(1_000) }]) {
        const forged = recordSecret(
          await new SignJWT({ ...real, ...claims })
            .setProtectedHeader({ alg: "HS256", typ: "JWT" })
            .sign(new TextEncoder().encode(VIDAPLUS_SECRET)),
        );
        expect(ok(await auth.call("ValidateToken", { token: forged }))).toMatchObject({
          active: false,
          reason: "INACTIVE_REASON_MALFORMED",
        });
      }
    });

    it("ends with its session: ValidateToken and the refresh route refuse it at once; a backend verifying locally, only at its expiry", async () => {
      const { access_token } = await answer(await form(base, "/auth/token", "username=user@example.com&password=yourpassword"));
      recordSecret(access_token);
      // The user signs out everywhere (here through the native API).
      const native = ok(await auth.call("Login", { identifier: "user@example.com", password: "yourpassword" }));
      ok(await auth.call("Logout", { allSessions: true }, bearer(native.accessToken)));

      expect(ok(await auth.call("ValidateToken", { token: access_token }))).toMatchObject({
        active: false,
        reason: "INACTIVE_REASON_REVOKED",
      });
      const refreshed = await fetch(`${base}/auth/refresh_token`, { method: "POST", headers: bearer(access_token) });
      expect(refreshed.status).toBe(401);
      expect(await refreshed.json()).toMatchObject({ detail: "Could not validate credentials" });
      // The price of a backend that verifies a shared-secret token itself (docs/migrating.md): until it expires.
      expect((await fetch(`${backend.url}/pacientes/`, { headers: bearer(access_token) })).status).toBe(200);
    });

    it.each([
      [
        "wrong password",
        () => form(base, "/auth/token", "username=user@example.com&password=wrong-password"),
        401,
        { detail: "Incorrect email or password" },
      ],
      ["refresh without a token", () => fetch(`${base}/auth/refresh_token`, { method: "POST" }), 401, { detail: "Not authenticated" }],
      [
        "refresh with a bad token",
        () => fetch(`${base}/auth/refresh_token`, { method: "POST", headers: { authorization: "Bearer x.y.z" } }),
        401,
        { detail: "Could not validate credentials" },
      ],
    ])("answers %s as FastAPI did", async (_, request, status, body) => {
      const response = await request();
      expect(response.status).toBe(status);
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
      expect(await response.json()).toMatchObject(body);
    });
  });

  describe("001 Vigia", () => {
    const vigia = "/api/v1/auth";
    const tenant = { "x-tenant": "acme-pharma" };
    const loginAs = async (username: string, password: string, headers: Record<string, string> = tenant) => {
      const response = await form(base, `${vigia}/login`, new URLSearchParams({ username, password }).toString(), headers);
      const body = await answer(response);
      if (typeof body.access_token === "string") recordSecret(body.access_token);
      return { status: response.status, body };
    };

    it("the complete authentication flow: /me and /whoami with every documented field, agreeing on the admin's role", async () => {
      const { stdout } = await python("001_complete_flow.py", [], { BASE_URL: base });
      const { user_info, icsrs: whoami } = JSON.parse(stdout);
      expect(user_info).toEqual({
        id: 123,
        email: "juan.perez@example.com",
        username: "juan.perez",
        full_name: "Juan Pérez García",
        role: "admin",
        roles: ["admin", "qf"],
        permissions: { icsr: { view: true, edit: true, delete: true }, reports: { view: true, generate: true } },
        is_active: true,
        empleado_id: 456,
      });
      // "Primary role (first role in list)": the list puts admin first, so both say admin.
      expect(whoami).toEqual({
        id: 123,
        username: "juan.perez",
        email: "juan.perez@example.com",
        full_name: "Juan Pérez García",
        role: "admin",
        roles: ["admin", "qf"],
        empleado_id: 456,
      });
    });

    it("logs in as its curl line does, with its token's claims, which a Python backend verifies with Vigia's secret", async () => {
      const { status, body } = await loginAs("juan.perez@example.com", "SecurePass123");
      expect(status).toBe(200);
      expect(body).toEqual({
        access_token: expect.any(String),
        token_type: "bearer",
        user: { id: 123, username: "juan.perez", email: "juan.perez@example.com", role: "admin", roles: ["admin", "qf"] },
      });
      const { stdout } = await python("001_token_claims.py", [body.access_token], { SECRET: VIGIA_SECRET });
      const { example, example_types, example_header, ours, ours_types, ours_header } = JSON.parse(stdout);
      expect(ours_header).toEqual(example_header);
      // Every claim of the example, with its type; ours adds iat, our session and our user.
      for (const [name, type] of Object.entries(example_types)) expect([name, ours_types[name]]).toEqual([name, type]);
      expect(Object.keys(ours).sort()).toEqual([...Object.keys(example), "amr", "iat", "sid", "user_id"].sort());
      expect(ours).toMatchObject({
        sub: "123",
        uid: 123,
        username: "juan.perez",
        email: "juan.perez@example.com",
        role: "admin",
        roles: ["admin", "qf"],
        tenant: "acme-pharma",
        trace: expect.stringMatching(/^[0-9a-f]{8}$/),
        user_id: ids.juan,
      });
      // LEGACY_TOKEN_VIGIA_TTL=8h here: the document's 480 minutes.
      expect(ours.exp - ours.iat).toBe(480 * 60);
      expect(ok(await auth.call("ValidateToken", { token: body.access_token }))).toMatchObject({
        active: true,
        tokenProfile: "vigia",
        userId: ids.juan,
        tenant: "acme-pharma",
        roles: ["admin", "qf"],
        username: "juan.perez",
      });
    });

    it("legacy mode: without X-Tenant it finds an address held in one tenant, and answers one held in two as an unknown one", async () => {
      const unique = await loginAs("JUAN.PEREZ@example.com", "SecurePass123", {});
      expect(unique.status).toBe(200);
      expect(decodeJwt(unique.body.access_token)).toMatchObject({ tenant: "acme-pharma", uid: 123 });
      // ana@example.com is in acme-pharma and globex: the right password does not tell which.
      const ambiguous = await loginAs("ana@example.com", "AnaPass-2024", {});
      const unknown = await loginAs("nobody@example.com", "AnaPass-2024", {});
      expect([ambiguous.status, ambiguous.body]).toEqual([
        401,
        { detail: "Incorrect username or password", reason: "INVALID_CREDENTIALS" },
      ]);
      expect([unknown.status, unknown.body]).toEqual([ambiguous.status, ambiguous.body]);
      // Named, it signs in.
      expect((await loginAs("ana@example.com", "AnaPass-2024")).status).toBe(200);
    });

    it("answers an unknown tenant 404, and a user without roles 403, as its error table says", async () => {
      const unknownTenant = await loginAs("juan.perez@example.com", "SecurePass123", { "x-tenant": "no-such-tenant" });
      expect([unknownTenant.status, unknownTenant.body.detail]).toEqual([404, "Tenant not found"]);

      const before = await loginAs("sin.roles@example.com", "SecurePass123");
      expect(before.status).toBe(200);
      ok(await admin.call("SetUserRoles", { tenant: "acme-pharma", userId: ids.sinRoles, roles: [] }, platform));
      const refused = await loginAs("sin.roles@example.com", "SecurePass123");
      expect([refused.status, refused.body]).toEqual([403, { detail: "User has no roles assigned", reason: "NO_ROLES" }]);
      // A token from before the roles were taken: /me and /whoami refuse too.
      for (const path of ["me", "whoami"]) {
        const response = await fetch(`${base}${vigia}/${path}`, { headers: { ...bearer(before.body.access_token), ...tenant } });
        expect([path, response.status, await response.json()]).toEqual([
          path,
          403,
          { detail: "User has no roles assigned", reason: "NO_ROLES" },
        ]);
      }
    });

    it("changes a password to one of 6 characters where the tenant allows it, and not in a tenant that keeps 8", async () => {
      const { body } = await loginAs("ana@example.com", "AnaPass-2024");
      const change = (token: string, current: string, next: string) =>
        json(base, `${vigia}/change-password`, { current_password: current, new_password: next }, bearer(token));
      const tooShort = await change(body.access_token, "AnaPass-2024", "Qz7#p");
      expect(tooShort.status).toBe(422);
      expect(await tooShort.json()).toMatchObject({
        detail: [{ loc: ["body", "new_password"], msg: expect.stringContaining("at least 6") }],
      });
      const changed = await change(body.access_token, "AnaPass-2024", "Qz7#pK");
      expect([changed.status, await changed.json()]).toEqual([200, { success: true }]);
      expect((await loginAs("ana@example.com", "Qz7#pK")).status).toBe(200);
      const wrong = await change(body.access_token, "not-the-password", "Another-1");
      expect([wrong.status, (await answer(wrong)).detail]).toEqual([401, "Incorrect password"]);

      // The default tenant keeps the service's minimum (8).
      const defaultUser = await loginAs("api_user", "your-secure-password", {});
      const eight = await change(defaultUser.body.access_token, "your-secure-password", "Qz7#pK");
      expect(eight.status).toBe(422);
      expect(await eight.json()).toMatchObject({ detail: [{ msg: expect.stringContaining("at least 8") }] });
    });

    it("keeps reset-password for admins: its curl line as written (no credentials) is 401; an admin's bearer is needed", async () => {
      const reset = (headers: Record<string, string>, email = "ana@example.com") =>
        json(base, `${vigia}/reset-password`, { email, new_password: "NewPassword123" }, { ...tenant, ...headers });
      recordSecret("NewPassword123");
      const anonymous = await reset({});
      expect([anonymous.status, await anonymous.json()]).toEqual([401, { detail: "Not authenticated", reason: "TOKEN_MISSING" }]);
      const ana = await loginAs("ana@example.com", "Qz7#pK");
      const notAdmin = await reset(bearer(ana.body.access_token));
      expect([notAdmin.status, (await answer(notAdmin)).detail]).toEqual([403, "Not enough permissions"]);
      const juan = await loginAs("juan.perez@example.com", "SecurePass123");
      const done = await reset(bearer(juan.body.access_token));
      expect([done.status, await done.json()]).toEqual([200, { email: "ana@example.com", tenant: "acme-pharma" }]);
      const nobody = await reset(bearer(juan.body.access_token), "nobody@example.com");
      expect([nobody.status, (await answer(nobody)).detail]).toEqual([404, "User not found"]);
      // The reset ended ana's sessions, legacy tokens included.
      expect(ok(await auth.call("ValidateToken", { token: ana.body.access_token }))).toMatchObject({
        active: false,
        reason: "INACTIVE_REASON_REVOKED",
      });
    });

    it("answers a missing field 422 and a missing token 401, as FastAPI did", async () => {
      const missing = await form(base, `${vigia}/login`, "username=juan.perez", tenant);
      expect([missing.status, await missing.json()]).toMatchObject([422, { detail: [{ type: "missing", loc: ["body", "password"] }] }]);
      const anonymous = await fetch(`${base}${vigia}/me`);
      expect([anonymous.status, anonymous.headers.get("www-authenticate"), await anonymous.json()]).toEqual([
        401,
        "Bearer",
        { detail: "Not authenticated", reason: "TOKEN_MISSING" },
      ]);
    });
  });

  describe("002 Solicitud Transporte", () => {
    it("test_authentication() passes", async () => {
      const { stdout } = await python("002_test_authentication.py", [], { BASE_URL: base });
      expect(stdout).toContain("✓ Login successful");
      expect(stdout).toContain("✓ Unauthorized request blocked");
      expect(stdout).toContain("✓ All authentication tests passed!");
    });

    it("the Python APIClient signs in, refreshes as it likes, and stays signed in long after", async () => {
      const { stdout } = await python("002_api_client_long_run.py", ["1.5"], { BASE_URL: base });
      expect(stdout).toContain("'email': 'api_user@example.com'");
      expect(stdout).toContain("long run: still signed in after 3 refreshes");
    });

    it("the JavaScript APIClient signs in and calls a protected route", async () => {
      const { stdout } = await run(process.execPath, [join(seeds, "002_api_client.mjs")], {
        env: seedEnv({ BASE_URL: base }),
        timeout: 30_000,
      });
      expect(JSON.parse(stdout).user).toMatchObject({ email: "api_user@example.com", username: "api_user", number: "1" });
    });

    it("answers login with every documented field: Autenticación exitosa, Bearer, and the user's id, username, email and rol", async () => {
      const response = await json(base, "/auth/login", { username: "api_user", password: "your-secure-password" });
      const body = await answer(response);
      recordSecret(body.datos.accessToken);
      recordSecret(body.datos.refreshToken);
      expect(response.status).toBe(200);
      expect(body).toEqual({
        exito: true,
        mensaje: "Autenticación exitosa",
        datos: {
          accessToken: expect.any(String),
          refreshToken: expect.any(String),
          tokenType: "Bearer",
          expiresIn: 240,
          user: { id: 1, username: "api_user", email: "api_user@example.com", rol: "user" },
        },
      });
    });

    describe("its error table, each where it applies", () => {
      const expectError = async (response: Response, status: number, mensaje: string) => {
        const body = await answer(response);
        expect([response.status, body.exito, body.mensaje]).toEqual([status, false, mensaje]);
        expect(typeof body.detalle).toBe("string");
        expect(body.detalle.length).toBeGreaterThan(0);
        if (status === 401) expect(response.headers.get("www-authenticate")).toBe("Bearer");
        return body;
      };

      it("401 Token no proporcionado: a refresh without its refresh token", async () => {
        await expectError(await json(base, "/auth/refresh", {}), 401, "Token no proporcionado");
      });

      it("401 Token inválido: a refresh token that is not ours", async () => {
        await expectError(await json(base, "/auth/refresh", { refreshToken: "eyJhbGciOiJIUzI1NiJ9.e30.x" }), 401, "Token inválido");
      });

      it("401 Token expirado: a refresh token whose session is over", async () => {
        const { datos } = await answer(await json(base, "/auth/login", { username: "api_user", password: "your-secure-password" }));
        recordSecret(datos.accessToken);
        recordSecret(datos.refreshToken);
        ok(await auth.call("Logout", {}, bearer(datos.accessToken)));
        const body = await expectError(await json(base, "/auth/refresh", { refreshToken: datos.refreshToken }), 401, "Token expirado");
        expect(body.reason).toBe("SESSION_REVOKED");
      });

      it("403 Permisos insuficientes: a user the tenant does not let in (an unverified address)", async () => {
        ok(await auth.call("Register", { email: "nuevo@example.com", username: "nuevo", password: "otra-clave-segura" }));
        recordSecret("otra-clave-segura");
        const body = await expectError(
          await json(base, "/auth/login", { username: "nuevo", password: "otra-clave-segura" }),
          403,
          "Permisos insuficientes",
        );
        expect(body.reason).toBe("EMAIL_NOT_VERIFIED");
      });

      it("422 Credenciales inválidas: a wrong password, and a missing one", async () => {
        await expectError(
          await json(base, "/auth/login", { username: "api_user", password: "wrong-password" }),
          422,
          "Credenciales inválidas",
        );
        await expectError(await json(base, "/auth/login", { username: "api_user" }), 422, "Credenciales inválidas");
      });
    });
  });

  describe("003 UContact", () => {
    let accessToken: string;

    it("registers with every documented field: an integer id and created_at as 2025-04-16T12:00:00", async () => {
      const before = Math.floor(Date.now() / 1000) * 1000;
      const registered = await json(base, "/api/auth/register", {
        username: "johndoe",
        email: "john@example.com",
        password: "securepassword123",
      });
      expect(registered.status).toBe(201);
      const body = await answer(registered);
      expect(body).toEqual({
        id: expect.any(Number),
        username: "johndoe",
        email: "john@example.com",
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
        avatar: null,
        is_verified: false,
      });
      // UTC, to the second, without an offset.
      const createdAt = Date.parse(`${body.created_at}Z`);
      expect(createdAt).toBeGreaterThanOrEqual(before);
      expect(createdAt).toBeLessThanOrEqual(Date.now());
    });

    it("refuses login before the address is verified, where the tenant requires it", async () => {
      const response = await form(base, "/api/auth/login", "username=johndoe&password=securepassword123");
      expect([response.status, await response.json()]).toEqual([401, { detail: "Email not confirmed", reason: "EMAIL_NOT_VERIFIED" }]);
    });

    it("mails a link to its own confirmation route: a browser sees a page, its clients get the documented JSON", async () => {
      const link = linkIn(await smtp.waitFor("john@example.com", /Confirm your email/));
      expect(link.origin).toBe("https://auth.test");
      expect(link.pathname).toMatch(/^\/api\/auth\/confirmed_email\/[A-Za-z0-9_-]{43}$/);
      recordSecret(link.pathname.split("/").pop() ?? "");
      const address = `${base}${link.pathname}`;
      const loginStatus = async () => (await form(base, "/api/auth/login", "username=johndoe&password=securepassword123")).status;

      // A mail scanner or a browser (it asks for HTML), and a HEAD: a page, and nothing verified.
      const page = await fetch(address, { headers: { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" } });
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
      expect(await page.text()).toContain('<form method="post">');
      expect((await fetch(address, { method: "HEAD" })).status).toBe(200);
      expect(await loginStatus()).toBe(401);

      // Its clients (requests, curl, fetch: */*) GET it and read the JSON.
      const confirmed = await fetch(address, { headers: { accept: "*/*" } });
      expect([confirmed.status, await confirmed.json()]).toEqual([200, { message: "Email verified successfully" }]);
      expect(await (await fetch(address)).json()).toEqual({ message: "Your email is already confirmed" });
      expect(await loginStatus()).toBe(200);
    });

    it("the page's button verifies, with the same JSON", async () => {
      ok(await auth.call("Register", { email: "jane@example.com", password: "securepassword123" }));
      // Registered natively: the link is ours (the verification page), not UContact's.
      const native = linkIn(await smtp.waitFor("jane@example.com", /Confirm your email/));
      expect(native.pathname).toBe("/v1/auth/verify-email");
      const registered = await json(base, "/api/auth/register", {
        username: "janedoe",
        email: "jane.doe@example.com",
        password: "securepassword123",
      });
      expect(registered.status).toBe(201);
      const link = linkIn(await smtp.waitFor("jane.doe@example.com", /Confirm your email/));
      recordSecret(link.pathname.split("/").pop() ?? "");
      const pressed = await fetch(`${base}${link.pathname}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "",
      });
      expect([pressed.status, await pressed.json()]).toEqual([200, { message: "Email verified successfully" }]);
    });

    it("logs in by username and refreshes as documented (the same refresh token back)", async () => {
      const login = await form(base, "/api/auth/login", "username=johndoe&password=securepassword123");
      const tokens = (await login.json()) as Record<string, string>;
      expect(Object.keys(tokens).sort()).toEqual(["access_token", "refresh_token", "token_type"]);
      expect(tokens.token_type).toBe("bearer");
      recordSecret(tokens.access_token!);
      recordSecret(tokens.refresh_token!);
      const refreshed = (await (await json(base, "/api/auth/refresh-token", { refresh_token: tokens.refresh_token })).json()) as Record<
        string,
        string
      >;
      // As UContact's update_jwt did: a new access token, the existing refresh token.
      expect(refreshed).toEqual({ access_token: expect.any(String), refresh_token: tokens.refresh_token, token_type: "bearer" });
      accessToken = recordSecret(refreshed.access_token!);
    });

    it("its curl line reaches a protected route with the token", async () => {
      const { stdout } = await shell("003_curl.sh", { BASE_URL: base, ACCESS_TOKEN: accessToken });
      expect(JSON.parse(stdout).user).toMatchObject({ username: "johndoe", emailVerified: true });
    });

    it.each([
      [
        "a taken email",
        () => json(base, "/api/auth/register", { username: "other", email: "john@example.com", password: "securepassword123" }),
        409,
        "Account already exists",
      ],
      [
        "a wrong password",
        () => form(base, "/api/auth/login", "username=johndoe&password=wrong-password"),
        401,
        "Incorrect username or password",
      ],
      ["a bad confirmation link", () => fetch(`${base}/api/auth/confirmed_email/garbage`), 400, "Verification error"],
      [
        "a bad refresh token",
        () => json(base, "/api/auth/refresh-token", { refresh_token: "nope" }),
        401,
        "Could not validate credentials",
      ],
    ])("answers %s as FastAPI did", async (_, request, status, detail) => {
      const response = await request();
      expect([response.status, (await answer(response)).detail]).toEqual([status, detail]);
    });
  });
});

describe("without the legacy token profiles (the default)", () => {
  let app: TestApp;
  let backend: Backend;
  beforeAll(async () => {
    app = await startTestApp({ name: "seeds-native" });
    const auth = createGrpcClient(app.grpcAddress);
    ok(await auth.call("Register", { email: "user@example.com", password: "yourpassword" }));
    auth.close();
    backend = await startVidaPlusBackend(VIDAPLUS_SECRET, ["user@example.com"]);
  });
  afterAll(async () => {
    await backend?.stop();
    await app?.stop();
  });

  it("issues our own tokens on the old APIs' routes, which VidaPlus's get_current_user cannot read (it fails with a 500)", async () => {
    const { access_token } = await answer(await form(app.baseUrl, "/auth/token", "username=user@example.com&password=yourpassword"));
    recordSecret(access_token);
    expect(decodeProtectedHeader(access_token)).toMatchObject({ typ: "at+jwt", kid: expect.any(String) });
    expect(decodeJwt(access_token).aud).toBe("api");
    // PyJWT refuses our algorithm (or, with HS256, our audience) with an error its `except DecodeError` does not catch.
    expect((await fetch(`${backend.url}/pacientes/`, { headers: bearer(access_token) })).status).toBe(500);
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
