/**
 * The AdminService end to end on real PostgreSQL and Redis, with two instances of the service on
 * the same stores: roles and permissions reach Me, Vigia's `/me` and ValidateToken; disabling and
 * deleting end access at once everywhere; tenant policy applies; paging holds still while users
 * are added; hostile input is refused with a reason, never a 500.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapPlatformAdmin } from "../../src/cli/create-admin.js";
import { encodePageToken } from "../../src/domain/admin/paging.js";
import { AdminService } from "../../src/gen/auth/admin/v1/admin_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { adminTransports } from "../support/admin-clients.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, type CallResult, createGrpcClient, createRestClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

const unique = (prefix: string) => `${prefix}${randomBytes(4).toString("hex")}`;

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("the AdminService end to end", () => {
  let smtp: TestSmtp;
  let app: TestApp;
  let second: TestApp;
  let auth: TestClient;
  let authOnSecond: TestClient;
  let platform: Record<string, string>;

  const login = async (tenant: string, identifier: string, password: string, client = auth) =>
    ok(await client.call("Login", { identifier, password }, { "x-tenant": tenant }));
  const validate = (token: string, extra: object = {}, client = auth) => client.call("ValidateToken", { token, ...extra });

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({ name: "admin", env: { SMTP_URL: smtp.url } });
    // A second instance on the same PostgreSQL and Redis (and key prefix), as behind a load balancer.
    second = await startTestApp({
      name: "admin-second",
      databaseUrl: app.config.databaseUrl,
      redisKeyPrefix: app.config.redisKeyPrefix,
      env: { SMTP_URL: smtp.url },
    });
    auth = createGrpcClient(app.grpcAddress);
    authOnSecond = createGrpcClient(second.grpcAddress);
    const password = newPassword();
    await bootstrapPlatformAdmin(app.app.db, app.config, { email: "root@example.com", username: "root", fullName: undefined, password });
    platform = bearer((await login("system", "root@example.com", password)).accessToken);
  });
  afterAll(async () => {
    auth?.close();
    authOnSecond?.close();
    await second?.stop();
    await app?.stop();
    await smtp?.stop();
  });

  describe.each(adminTransports)("over $name", (transport) => {
    let admin: TestClient;
    let tenant: string;
    beforeAll(async () => {
      admin = transport.connect(app);
      tenant = unique("vigia-");
      ok(
        await admin.call(
          "CreateTenant",
          { id: tenant, displayName: "Vigia", policy: { passwordMinLength: 6, rolesRequired: true } },
          platform,
        ),
      );
    });
    afterAll(() => admin?.close());

    it("grants a role's permissions: merged in Me and Vigia's /me, and held for ValidateToken's required_permissions", async () => {
      ok(await admin.call("CreateRole", { tenant, name: "qf", permissions: { icsr: { view: true, edit: true, delete: true } } }, platform));
      ok(
        await admin.call(
          "CreateRole",
          {
            tenant,
            name: "reporter",
            description: "Reports",
            permissions: { reports: { view: true, generate: true }, icsr: { edit: false } },
          },
          platform,
        ),
      );
      const password = newPassword();
      const created = ok(
        await admin.call(
          "CreateUser",
          {
            tenant,
            email: "juan.perez@example.com",
            username: "juan.perez",
            fullName: "Juan Pérez García",
            password,
            roles: ["qf"],
            emailVerified: true,
          },
          platform,
        ),
      ).user;
      expect(Number(created.number)).toBeGreaterThan(0);
      ok(await admin.call("UpdateUser", { tenant, userId: created.id, attributes: { empleado_id: 456 } }, platform));
      const granted = ok(
        await admin.call("SetUserRoles", { tenant, userId: created.id, roles: ["admin", "qf", "reporter"] }, platform),
      ).user;
      expect(granted.permissions).toEqual({ icsr: { view: true, edit: true, delete: true }, reports: { view: true, generate: true } });

      const { accessToken } = await login(tenant, "juan.perez", password);
      const me = ok(await auth.call("Me", {}, bearer(accessToken))).user;
      expect(me.roles).toEqual(["admin", "qf", "reporter"]);
      // proto-loader gives a Struct as its fields; the permissions are what the role documents merge to.
      expect(JSON.stringify(me.permissions)).toContain("generate");

      const vigiaMe = await fetch(`${app.baseUrl}/api/v1/auth/me`, {
        headers: { authorization: `Bearer ${accessToken}`, "x-tenant": tenant },
      });
      expect(await vigiaMe.json()).toEqual({
        id: Number(created.number),
        email: "juan.perez@example.com",
        username: "juan.perez",
        full_name: "Juan Pérez García",
        role: "admin",
        roles: ["admin", "qf", "reporter"],
        permissions: { icsr: { view: true, edit: true, delete: true }, reports: { view: true, generate: true } },
        is_active: true,
        empleado_id: 456,
      });

      expect(
        ok(await validate(accessToken, { requiredPermissions: ["icsr.edit", "reports.generate"], requiredRoles: ["qf"] })),
      ).toMatchObject({ active: true });
      for (const required of [
        { requiredPermissions: ["icsr.approve"] },
        { requiredPermissions: ["reports"] },
        { requiredRoles: ["auditor"] },
      ]) {
        expect(ok(await validate(accessToken, required))).toMatchObject({
          active: false,
          reason: "INACTIVE_REASON_INSUFFICIENT_PERMISSIONS",
        });
      }
      // Both instances have the grants cached now; a role change reaches both at once.
      expect(ok(await validate(accessToken, { requiredPermissions: ["icsr.delete"] }, authOnSecond))).toMatchObject({ active: true });
      ok(await admin.call("UpdateRole", { tenant, name: "qf", permissions: { icsr: { view: true } } }, platform));
      expect(ok(await validate(accessToken, { requiredPermissions: ["icsr.delete"] }))).toMatchObject({ active: false });
      const onSecond = await eventually(
        async () => ok(await validate(accessToken, { requiredPermissions: ["icsr.delete"] }, authOnSecond)),
        (answer) => answer.active === false,
      );
      expect(onSecond).toMatchObject({ active: false, reason: "INACTIVE_REASON_INSUFFICIENT_PERMISSIONS" });
      ok(await admin.call("SetUserRoles", { tenant, userId: created.id, roles: ["reporter"] }, platform));
      const withoutQf = await eventually(
        async () => ok(await validate(accessToken, { requiredRoles: ["qf"] }, authOnSecond)),
        (answer) => answer.active === false,
      );
      expect(withoutQf).toMatchObject({ active: false });
      // Without required_* the token is as active as before: its roles claim is what it was issued with.
      expect(ok(await validate(accessToken))).toMatchObject({ active: true, roles: ["admin", "qf", "reporter"] });
    });

    it("disabling ends access at once on another instance; enabling lets the user sign in again", async () => {
      const password = newPassword();
      const user = ok(
        await admin.call("CreateUser", { tenant, email: `${unique("d")}@example.com`, password, emailVerified: true }, platform),
      ).user;
      const tokens = await login(tenant, user.email, password, authOnSecond);
      expect(ok(await validate(tokens.accessToken, {}, authOnSecond))).toMatchObject({ active: true });
      const disabled = ok(await admin.call("DisableUser", { tenant, userId: user.id }, platform));
      expect(disabled).toMatchObject({ sessionsEnded: 1, user: { isActive: false } });
      expect(ok(await validate(tokens.accessToken, {}, authOnSecond))).toMatchObject({
        active: false,
        reason: "INACTIVE_REASON_USER_DISABLED",
      });
      expect(await authOnSecond.call("Refresh", { refreshToken: tokens.refreshToken })).toMatchObject({
        ok: false,
        reason: "ACCOUNT_DISABLED",
      });
      expect(await auth.call("Login", { identifier: user.email, password }, { "x-tenant": tenant })).toMatchObject({
        ok: false,
        reason: "ACCOUNT_DISABLED",
      });
      ok(await admin.call("EnableUser", { tenant, userId: user.id }, platform));
      expect(ok(await validate((await login(tenant, user.email, password, authOnSecond)).accessToken, {}, authOnSecond))).toMatchObject({
        active: true,
      });
    });

    it("deleting ends the sessions, frees the address for Register, and keeps the audit rows with the id", async () => {
      const email = `${unique("gone")}@example.com`;
      const password = newPassword();
      const user = ok(await admin.call("CreateUser", { tenant: "default", email, password, emailVerified: true }, platform)).user;
      const tokens = await login("default", email, password);
      expect(ok(await admin.call("DeleteUser", { tenant: "default", userId: user.id }, platform))).toEqual({ sessionsEnded: 1 });
      expect(ok(await validate(tokens.accessToken, {}, authOnSecond))).toMatchObject({ active: false, reason: "INACTIVE_REASON_REVOKED" });
      expect(await admin.call("GetUser", { tenant: "default", userId: user.id }, platform)).toMatchObject({
        ok: false,
        reason: "USER_NOT_FOUND",
      });
      const again = ok(await auth.call("Register", { email: email.toUpperCase(), password: newPassword() }));
      expect(again.user.id).not.toBe(user.id);
      const events = ok(await admin.call("ListAuditEvents", { tenant: "default", userId: user.id }, platform)).events.map(
        (e: { type: string }) => e.type,
      );
      expect(events).toEqual(["user_deleted", "login_succeeded", "user_created"]);
    });

    it("applies the tenant's policy: its password minimum, and no sign-in without a role (Vigia's 403)", async () => {
      // Six characters pass in a tenant that chose 6, not in one that follows the service's 8.
      const short = recordSecret("k9#Tq2");
      const registered = ok(
        await auth.call("Register", { email: `${unique("six")}@example.com`, password: short }, { "x-tenant": tenant }),
      ).user;
      expect(await auth.call("Register", { email: `${unique("six")}@example.com`, password: short })).toMatchObject({
        ok: false,
        reason: "WEAK_PASSWORD",
      });
      ok(await admin.call("SetUserRoles", { tenant, userId: registered.id, roles: [] }, platform));
      expect(await auth.call("Login", { identifier: registered.email, password: short }, { "x-tenant": tenant })).toMatchObject({
        ok: false,
        code: "PERMISSION_DENIED",
        reason: "NO_ROLES",
      });
      const vigia = await fetch(`${app.baseUrl}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-tenant": tenant },
        body: new URLSearchParams({ username: registered.email, password: short }),
      });
      expect(vigia.status).toBe(403);
      ok(await admin.call("UpdateTenant", { tenant, policy: { rolesRequired: false, verifiedEmailRequired: true } }, platform));
      expect(ok(await admin.call("GetTenant", { tenant }, platform)).tenant.policy).toEqual({
        passwordMinLength: 6,
        verifiedEmailRequired: true,
        rolesRequired: false,
        mfaRequired: false,
      });
      expect(await auth.call("Login", { identifier: registered.email, password: short }, { "x-tenant": tenant })).toMatchObject({
        reason: "EMAIL_NOT_VERIFIED",
      });
      ok(await admin.call("UpdateUser", { tenant, userId: registered.id, emailVerified: true }, platform));
      expect(await auth.call("Login", { identifier: registered.email, password: short }, { "x-tenant": tenant })).toMatchObject({
        ok: true,
      });
      ok(await admin.call("UpdateTenant", { tenant, policy: { rolesRequired: true, verifiedEmailRequired: false } }, platform));
    });

    it("disabling a tenant ends its sessions and refuses its sign-ins until it is enabled", async () => {
      const other = unique("shut-");
      ok(await admin.call("CreateTenant", { id: other }, platform));
      const password = newPassword();
      const email = `${unique("t")}@example.com`;
      ok(await admin.call("CreateUser", { tenant: other, email, password, emailVerified: true }, platform));
      const tokens = await login(other, email, password);
      // More users than are ended at once, one of them with two sessions: every session ends, each counted once.
      const others = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const address = `${unique("t")}@example.com`;
          ok(await admin.call("CreateUser", { tenant: other, email: address, password, emailVerified: true }, platform));
          return login(other, address, password);
        }),
      );
      const second = await login(other, email, password);
      expect(ok(await admin.call("DisableTenant", { tenant: other }, platform))).toMatchObject({
        sessionsEnded: 22,
        tenant: { isActive: false },
      });
      for (const session of [tokens, second, ...others])
        expect(ok(await validate(session.accessToken, {}, authOnSecond))).toMatchObject({ active: false });
      expect(await auth.call("Login", { identifier: email, password }, { "x-tenant": other })).toMatchObject({ reason: "TENANT_DISABLED" });
      expect(
        await auth.call("Register", { email: `${unique("r")}@example.com`, password: newPassword() }, { "x-tenant": other }),
      ).toMatchObject({
        reason: "TENANT_DISABLED",
      });
      ok(await admin.call("EnableTenant", { tenant: other }, platform));
      expect(await auth.call("Login", { identifier: email, password }, { "x-tenant": other })).toMatchObject({ ok: true });
    });

    it("pages users by number, stable while users are added, with filters", async () => {
      const paging = unique("page-");
      ok(await admin.call("CreateTenant", { id: paging }, platform));
      ok(await admin.call("CreateRole", { tenant: paging, name: "auditor" }, platform));
      const hash = await app.app.deps.passwords.hash(newPassword());
      const add = async (i: number, roles = ["user"]) =>
        app.app.deps.users.create({
          tenant: paging,
          email: `p${i}@example.com`,
          username: `user_${i}`,
          fullName: null,
          passwordHash: hash,
          roles,
        });
      for (let i = 0; i < 7; i++) await add(i, i % 3 === 0 ? ["auditor"] : ["user"]);
      const page1 = ok(await admin.call("ListUsers", { tenant: paging, pageSize: 3 }, platform));
      expect(page1.users.map((u: { email: string }) => u.email)).toEqual(["p0@example.com", "p1@example.com", "p2@example.com"]);
      for (let i = 7; i < 10; i++) await add(i);
      const seen = [...page1.users];
      let token = page1.nextPageToken;
      while (token !== "") {
        const next = ok(await admin.call("ListUsers", { tenant: paging, pageSize: 3, pageToken: token }, platform));
        seen.push(...next.users);
        token = next.nextPageToken;
      }
      expect(seen.map((u: { email: string }) => u.email)).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}@example.com`));
      const numbers = seen.map((u: { number: string }) => Number(u.number));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));

      const emails = async (filters: object) =>
        ok(await admin.call("ListUsers", { tenant: paging, ...filters }, platform)).users.map((u: { email: string }) => u.email);
      expect(await emails({ emailPrefix: "P1" })).toEqual(["p1@example.com"]);
      expect(await emails({ usernamePrefix: "user_" })).toHaveLength(10);
      expect(await emails({ role: "auditor" })).toEqual(["p0@example.com", "p3@example.com", "p6@example.com"]);
      const p5 = seen[5] as { id: string };
      ok(await admin.call("DisableUser", { tenant: paging, userId: p5.id }, platform));
      expect(await emails({ active: false })).toEqual(["p5@example.com"]);
      expect(await emails({ active: true, role: "auditor", emailPrefix: "p6" })).toEqual(["p6@example.com"]);
      // A page token belongs to its filters.
      expect(
        await admin.call("ListUsers", { tenant: paging, pageSize: 3, pageToken: page1.nextPageToken, role: "auditor" }, platform),
      ).toMatchObject({
        ok: false,
        code: "INVALID_ARGUMENT",
        reason: "INVALID_PAGE_TOKEN",
      });
    });

    it("refuses bad input with INVALID_ARGUMENT, ALREADY_EXISTS or NOT_FOUND and a reason, never a 500", async () => {
      const big = Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`module${i}`, { view: true, edit: true }]));
      let deep: Record<string, unknown> = { leaf: true };
      for (let i = 0; i < 9; i++) deep = { level: deep };
      const existing = ok(
        await admin.call(
          "CreateUser",
          { tenant, email: `${unique("x")}@example.com`, password: newPassword(), number: "900001" },
          platform,
        ),
      ).user;
      const cases: [string, object, string][] = [
        ["CreateTenant", { id: "Bad Slug!" }, "INVALID_ARGUMENT INVALID_TENANT"],
        ["CreateTenant", { id: tenant }, "ALREADY_EXISTS TENANT_EXISTS"],
        ["CreateTenant", { id: unique("p-"), policy: { passwordMinLength: 5 } }, "INVALID_ARGUMENT INVALID_REQUEST"],
        ["GetTenant", { tenant: unique("nope-") }, "NOT_FOUND TENANT_NOT_FOUND"],
        ["CreateRole", { tenant, name: "Bad Name" }, "INVALID_ARGUMENT INVALID_ROLE"],
        ["CreateRole", { tenant, name: "qf" }, "ALREADY_EXISTS ROLE_EXISTS"],
        ["CreateRole", { tenant, name: unique("r-"), permissions: big }, "INVALID_ARGUMENT INVALID_PERMISSIONS"],
        ["CreateRole", { tenant, name: unique("r-"), permissions: deep }, "INVALID_ARGUMENT INVALID_PERMISSIONS"],
        ["CreateRole", { tenant, name: unique("r-"), permissions: { "a\u0000b": true } }, "INVALID_ARGUMENT INVALID_PERMISSIONS"],
        ["CreateRole", { tenant, name: unique("r-"), permissions: { a: "x\u0000" } }, "INVALID_ARGUMENT INVALID_PERMISSIONS"],
        // Keys that look like another key: a zero-width space, a bidi override, a soft hyphen.
        [
          "CreateRole",
          { tenant, name: unique("r-"), permissions: { "rep\u200borts": { view: true } } },
          "INVALID_ARGUMENT INVALID_PERMISSIONS",
        ],
        [
          "CreateRole",
          { tenant, name: unique("r-"), permissions: { reports: { "\u202eweiv": true } } },
          "INVALID_ARGUMENT INVALID_PERMISSIONS",
        ],
        ["UpdateRole", { tenant, name: "ghost", description: "x" }, "NOT_FOUND ROLE_NOT_FOUND"],
        ["CreateUser", { tenant, email: "not-an-email", password: newPassword() }, "INVALID_ARGUMENT INVALID_EMAIL"],
        ["CreateUser", { tenant, email: `${unique("w")}@example.com`, password: "12345" }, "INVALID_ARGUMENT WEAK_PASSWORD"],
        [
          "CreateUser",
          { tenant, email: `${unique("w")}@example.com`, password: newPassword(), invite: true },
          "INVALID_ARGUMENT INVALID_REQUEST",
        ],
        [
          "CreateUser",
          { tenant, email: `${unique("w")}@example.com`, password: newPassword(), roles: ["ghost"] },
          "NOT_FOUND ROLE_NOT_FOUND",
        ],
        ["CreateUser", { tenant, email: existing.email.toUpperCase(), password: newPassword() }, "ALREADY_EXISTS EMAIL_TAKEN"],
        [
          "CreateUser",
          { tenant, email: `${unique("w")}@example.com`, password: newPassword(), number: "900001" },
          "ALREADY_EXISTS NUMBER_TAKEN",
        ],
        [
          "CreateUser",
          { tenant, email: `${unique("w")}@example.com`, password: newPassword(), number: "9007199254740993" },
          "INVALID_ARGUMENT INVALID_REQUEST",
        ],
        ["GetUser", { tenant, userId: "not-a-uuid" }, "INVALID_ARGUMENT INVALID_REQUEST"],
        ["GetUser", { tenant, userId: "00000000-0000-4000-8000-000000000000" }, "NOT_FOUND USER_NOT_FOUND"],
        ["UpdateUser", { tenant, userId: existing.id, attributes: { note: "x".repeat(5000) } }, "INVALID_ARGUMENT INVALID_ATTRIBUTES"],
        ["UpdateUser", { tenant, userId: existing.id, username: "no spaces" }, "INVALID_ARGUMENT INVALID_USERNAME"],
        ["UpdateUser", { tenant, userId: existing.id, attributes: { "empleado\u00ad_id": 1 } }, "INVALID_ARGUMENT INVALID_ATTRIBUTES"],
        ["SetUserRoles", { tenant, userId: existing.id, roles: ["UPPER"] }, "INVALID_ARGUMENT INVALID_ROLE"],
        ["ListUsers", { tenant, pageToken: "garbage" }, "INVALID_ARGUMENT INVALID_PAGE_TOKEN"],
        // A forged token (they are not secret) whose position is past PostgreSQL's bigint.
        [
          "ListAuditEvents",
          { tenant, pageToken: encodePageToken("9999999999999999999", { tenant }) },
          "INVALID_ARGUMENT INVALID_PAGE_TOKEN",
        ],
        ["ListUsers", { tenant, pageSize: -1 }, "INVALID_ARGUMENT INVALID_REQUEST"],
        ["ListAuditEvents", { tenant, userId: "1; drop table users" }, "INVALID_ARGUMENT INVALID_REQUEST"],
      ];
      for (const [rpc, request, want] of cases) {
        const result = await admin.call(rpc, request, platform);
        expect(result.ok ? "OK" : `${result.code} ${result.reason}`, `${rpc} ${JSON.stringify(request).slice(0, 80)}`).toBe(want);
      }
      // A prototype name: refused at the JSON edge (INVALID_REQUEST) or, over gRPC, by the document check.
      const proto = failed(
        await admin.call(
          "CreateRole",
          JSON.parse(`{"tenant":"${tenant}","name":"p-x","permissions":{"__proto__":{"admin":true}}}`),
          platform,
        ),
      );
      expect(proto.code).toBe("INVALID_ARGUMENT");
      expect(["INVALID_REQUEST", "INVALID_PERMISSIONS"]).toContain(proto.reason);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });
  });

  it("bounds the permissions all of a tenant's roles hold together, so no user's merged permissions grow past it", async () => {
    const admin = adminTransports[1]!.connect(app);
    try {
      const tenant = unique("budget-");
      ok(await admin.call("CreateTenant", { id: tenant }, platform));
      // Each role near the 16 KB a single document may hold: distinct keys, so merging adds them up.
      const big = (r: number) =>
        Object.fromEntries(Array.from({ length: 150 }, (_, k) => [`r${r}m${k}${"x".repeat(60)}`, { v: true, e: true }]));
      const created: string[] = [];
      let refused: CallResult | undefined;
      for (let r = 0; r < 64 && refused === undefined; r++) {
        const result = await admin.call("CreateRole", { tenant, name: `big${r}`, permissions: big(r) }, platform);
        if (result.ok) created.push(`big${r}`);
        else refused = result;
      }
      expect(refused).toMatchObject({ ok: false, code: "INVALID_ARGUMENT", reason: "INVALID_PERMISSIONS" });
      expect(created.length).toBeGreaterThan(0);
      expect(created.length).toBeLessThan(8);
      // Growing a role past the budget is refused the same way; shrinking one is not.
      const grown = { ...big(0), ...big(90) };
      expect(failed(await admin.call("UpdateRole", { tenant, name: "big0", permissions: grown }, platform)).reason).toBe(
        "INVALID_PERMISSIONS",
      );
      ok(await admin.call("UpdateRole", { tenant, name: "big0", permissions: { small: true } }, platform));
      // A user holding every role of the tenant: their merged permissions stay within the budget.
      const user = ok(
        await admin.call(
          "CreateUser",
          { tenant, email: `${unique("all")}@example.com`, password: newPassword(), roles: created },
          platform,
        ),
      ).user;
      expect(Buffer.byteLength(JSON.stringify(user.permissions))).toBeLessThanOrEqual(64 * 1024);
    } finally {
      admin.close();
    }
  });

  it("names the request's own field when a display name or a list filter is refused", async () => {
    for (const transport of adminTransports) {
      const admin = transport.connect(app);
      try {
        const cases: [string, object, string, string][] = [
          ["CreateTenant", { id: unique("dn-"), displayName: "a\u0000b" }, "INVALID_REQUEST", "display_name: "],
          ["UpdateTenant", { tenant: "default", displayName: "a\u202eb" }, "INVALID_REQUEST", "display_name: "],
          ["ListUsers", { tenant: "default", emailPrefix: "a\u0000" }, "INVALID_REQUEST", "email_prefix: "],
          ["ListUsers", { tenant: "default", usernamePrefix: "x@\u200b" }, "INVALID_REQUEST", "username_prefix: "],
        ];
        for (const [rpc, request, reason, message] of cases) {
          const error = failed(await admin.call(rpc, request, platform));
          expect(`${error.reason} ${error.message}`, `${transport.name} ${rpc}`).toMatch(new RegExp(`^${reason} ${message}`));
        }
      } finally {
        admin.close();
      }
    }
  });

  it("refuses audit times outside a Timestamp's range (binary clients can send any seconds), never a 500", async () => {
    const transports = {
      grpc: createGrpcTransport({ baseUrl: `http://${app.grpcAddress}` }),
      connectBinary: createConnectTransport({ baseUrl: app.baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
    };
    const times = {
      // Before PostgreSQL's first timestamp (4713 BC), and past its last (294276 AD), when a Date can hold them.
      "200000 BC": { seconds: -6_373_335_177_600n, nanos: 0 },
      "year 0": { seconds: -62_135_596_801n, nanos: 0 },
      "year 10000": { seconds: 253_402_300_800n, nanos: 0 },
      "negative nanos": { seconds: 0n, nanos: -1 },
      "nanos of two seconds": { seconds: 0n, nanos: 2_000_000_000 },
    };
    for (const [name, transport] of Object.entries(transports)) {
      const client = createClient(AdminService, transport);
      for (const [label, time] of Object.entries(times)) {
        for (const field of ["since", "until"] as const) {
          const error = await client.listAuditEvents({ tenant: "default", [field]: time }, { headers: platform }).then(
            () => undefined,
            (thrown: unknown) => ConnectError.from(thrown),
          );
          const reason = error?.findDetails(ErrorInfoSchema)[0]?.reason;
          expect(`${error === undefined ? "OK" : Code[error.code]} ${reason}`, `${name} ${field} ${label}`).toBe(
            "InvalidArgument INVALID_REQUEST",
          );
        }
      }
    }
    // The Timestamp's own range still works at both ends.
    const client = createClient(AdminService, transports.grpc);
    for (const seconds of [-62_135_596_800n, 253_402_300_799n]) {
      await expect(
        client.listAuditEvents({ tenant: "default", since: { seconds, nanos: 0 } }, { headers: platform }),
      ).resolves.toBeDefined();
    }
  });

  it("refuses a lone surrogate in a permissions or attributes document (JSON can escape one), never a 500", async () => {
    const user = ok(
      await adminTransports[1]!
        .connect(app)
        .call("CreateUser", { tenant: "default", email: `${unique("surrogate")}@example.com`, password: newPassword() }, platform),
    ).user;
    // Written by hand: JSON.stringify would escape the lone surrogates the same way, but this is what is sent.
    const cases: [string, string, string, string][] = [
      ["POST", "/v1/admin/tenants/default/roles", '{"name":"sur-a","permissions":{"a":"\\ud800"}}', "INVALID_PERMISSIONS"],
      ["POST", "/v1/admin/tenants/default/roles", '{"name":"sur-b","permissions":{"a\\udc00":true}}', "INVALID_PERMISSIONS"],
      ["PATCH", `/v1/admin/tenants/default/users/${user.id}`, '{"attributes":{"k":["\\ud83d"]}}', "INVALID_ATTRIBUTES"],
      [
        "POST",
        "/v1/admin/tenants/default/users",
        `{"email":"${unique("s")}@example.com","password":"${newPassword()}","attributes":{"\\udfff":1}}`,
        "INVALID_ATTRIBUTES",
      ],
    ];
    for (const [verb, path, body, reason] of cases) {
      const rpc = { POST: path.endsWith("roles") ? "CreateRole" : "CreateUser", PATCH: "UpdateUser" }[verb]!;
      const fields = JSON.stringify({ tenant: "default", ...(verb === "PATCH" ? { userId: user.id } : {}) }).slice(0, -1);
      const connectBody = `${fields},${body.slice(1)}`;
      for (const [url, method, text] of [
        [`${app.baseUrl}${path}`, verb, body],
        [`${app.baseUrl}/auth.admin.v1.AdminService/${rpc}`, "POST", connectBody],
      ] as const) {
        const response = await fetch(url, { method, headers: { "content-type": "application/json", ...platform }, body: text });
        const answer = await response.text();
        expect(response.status, `${method} ${url} ${text}`).toBe(400);
        expect(answer).toContain(reason);
      }
    }
    // A surrogate pair (an emoji) is a character like any other.
    ok(
      await adminTransports[1]!
        .connect(app)
        .call("UpdateUser", { tenant: "default", userId: user.id, attributes: { mood: "\u{1F600}" } }, platform),
    );
  });

  it("a JSON body nested ten thousand levels deep is a 400, not a 500, on REST and Connect", async () => {
    const body = `{"tenant":"default","name":"deep","permissions":${'{"a":'.repeat(10_000)}true${"}".repeat(10_000)}}`;
    for (const url of [`${app.baseUrl}/v1/admin/tenants/default/roles`, `${app.baseUrl}/auth.admin.v1.AdminService/CreateRole`]) {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...platform }, body });
      expect(response.status, url).toBe(400);
    }
  });

  it("keeps access tokens under 1 KB with 20 roles (names of 12 characters): permissions are resolved on the server", async () => {
    const admin = adminTransports[0]!.connect(app);
    try {
      const names = Array.from({ length: 20 }, (_, i) => `icsr-role-${String(i).padStart(2, "0")}`);
      for (const name of names)
        ok(
          await admin.call(
            "CreateRole",
            { tenant: "default", name, permissions: { [`module${name}`]: { view: true, edit: true } } },
            platform,
          ),
        );
      const password = newPassword();
      const email = `${unique("many")}@example.com`;
      ok(
        await admin.call(
          "CreateUser",
          { tenant: "default", email, username: "manyroles", password, roles: names, emailVerified: true },
          platform,
        ),
      );
      const { accessToken } = await login("default", email, password);
      expect(Buffer.byteLength(accessToken)).toBeLessThan(1024);
      const claims = JSON.parse(Buffer.from(accessToken.split(".")[1]!, "base64url").toString());
      expect(claims.roles).toHaveLength(20);
      expect(claims).not.toHaveProperty("permissions");
      expect(ok(await validate(accessToken, { requiredPermissions: ["moduleicsr-role-19.edit"] }))).toMatchObject({ active: true });
    } finally {
      admin.close();
    }
  });

  it("invites a user by mail: the link sets their password and verifies the address", async () => {
    const admin = adminTransports[2]!.connect(app);
    const rest = createRestClient(app.baseUrl);
    try {
      const email = `${unique("invited")}@example.com`;
      const user = ok(await admin.call("CreateUser", { tenant: "default", email, invite: true }, platform)).user;
      expect(user.emailVerified).toBe(false);
      const mail = await smtp.waitFor(email, /invited/);
      const link = linkIn(mail);
      const token = recordSecret(link.searchParams.get("token") ?? "");
      const password = newPassword();
      const reset: CallResult = await rest.call("ResetPassword", { token, newPassword: password });
      expect(reset).toMatchObject({ ok: true, response: { email } });
      expect((await login("default", email, password)).user).toMatchObject({ emailVerified: true });
    } finally {
      admin.close();
      rest.close();
    }
  });

  // Last in the file: it moves the shared number sequence to the highest number a user may keep.
  it("a tenant admin's kept number cannot push anyone's later numbers past what clients read exactly", async () => {
    const admin = adminTransports[0]!.connect(app);
    try {
      const tenant = unique("nums-");
      ok(await admin.call("CreateTenant", { id: tenant }, platform));
      const password = newPassword();
      ok(await admin.call("CreateUser", { tenant, email: "boss@nums.example", password, roles: ["admin"] }, platform));
      const boss = bearer((await login(tenant, "boss@nums.example", password)).accessToken);
      const create = (number: bigint) =>
        admin.call("CreateUser", { tenant, email: `${unique("n")}@nums.example`, password: newPassword(), number: String(number) }, boss);
      // The numbers are one sequence for every tenant: a kept number just under 2^53 would have
      // given every later user, in every tenant, a number JavaScript rounds (two users, one `id`).
      expect(failed(await create(2n ** 53n - 2n))).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_REQUEST" });
      ok(await create(2n ** 52n - 1n));
      const numbers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const registered = ok(await auth.call("Register", { email: `${unique("later")}@example.com`, password: newPassword() }));
        numbers.push(String(registered.user.number));
      }
      const expected = [1n, 2n, 3n].map((i) => String(2n ** 52n - 1n + i));
      expect(numbers).toEqual(expected);
      for (const number of numbers) expect(Number.isSafeInteger(Number(number))).toBe(true);
    } finally {
      admin.close();
    }
  });
});
