/**
 * Who may call what on the AdminService: every RPC, called by an anonymous caller, a user, an admin
 * of tenant A acting on tenant B, an admin of A acting on A, and a platform admin, over gRPC,
 * Connect and REST, gets exactly the answer the proto documents. Authority is read from PostgreSQL
 * on every call: a demoted admin's still-valid token stops working for administration at once.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapPlatformAdmin } from "../../src/cli/create-admin.js";
import { TENANT_PERMISSIONS_MAX_BYTES } from "../../src/domain/documents.js";
import { AdminService } from "../../src/gen/auth/admin/v1/admin_pb.js";
import { adminTransports } from "../support/admin-clients.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, ok, type TestClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

type Caller = "anonymous" | "user" | "adminOfOther" | "admin" | "platform";
type Outcome = "OK" | `${string} ${string}`;

const unique = (prefix: string) => `${prefix}${randomBytes(4).toString("hex")}`;

describe("the AdminService's authorization matrix", () => {
  let app: TestApp;
  let auth: TestClient;
  let admin: TestClient;
  const tokens: Partial<Record<Caller, string>> = {};
  let storedHash: string;

  /** A user made straight in the store (no bcrypt per row): a target for the user RPCs. */
  async function freshUser(tenant: string): Promise<string> {
    const user = await app.app.deps.users.create({
      tenant,
      email: `${unique("target")}@example.com`,
      username: null,
      fullName: null,
      passwordHash: storedHash,
      roles: ["user"],
    });
    return user.id;
  }
  async function freshRole(tenant: string): Promise<string> {
    const name = unique("role-");
    await app.app.deps.roles.create(tenant, { name, description: "", permissions: {} }, new Date(), TENANT_PERMISSIONS_MAX_BYTES);
    return name;
  }
  async function freshTenant(): Promise<string> {
    const id = unique("t-");
    await app.app.deps.tenants.create({
      id,
      displayName: id,
      settings: { passwordMinLength: null, verifiedEmailRequired: null, rolesRequired: false, mfaRequired: false },
      createdAt: new Date(),
    });
    return id;
  }

  async function signIn(tenant: string, identifier: string, password: string): Promise<string> {
    return ok(await auth.call("Login", { identifier, password }, { "x-tenant": tenant })).accessToken;
  }

  beforeAll(async () => {
    app = await startTestApp({ name: "admin-matrix" });
    auth = createGrpcClient(app.grpcAddress);
    admin = adminTransports[1]!.connect(app);
    storedHash = await app.app.deps.passwords.hash(newPassword());

    const platformPassword = newPassword();
    await bootstrapPlatformAdmin(app.app.db, app.config, {
      email: "root@example.com",
      username: "root",
      fullName: undefined,
      password: platformPassword,
    });
    tokens.platform = await signIn("system", "root", platformPassword);
    for (const tenant of ["alpha", "beta", "gamma"]) {
      ok(await admin.call("CreateTenant", { id: tenant, displayName: tenant.toUpperCase() }, bearer(tokens.platform)));
    }
    const adminPassword = newPassword();
    const userPassword = newPassword();
    const create = (email: string, password: string, roles: string[]) =>
      admin.call("CreateUser", { tenant: "alpha", email, password, roles, emailVerified: true }, bearer(tokens.platform!));
    ok(await create("ada@alpha.example", adminPassword, ["user", "admin"]));
    ok(await create("bob@alpha.example", userPassword, ["user"]));
    tokens.admin = await signIn("alpha", "ada@alpha.example", adminPassword);
    tokens.adminOfOther = tokens.admin;
    tokens.user = await signIn("alpha", "bob@alpha.example", userPassword);
  });
  afterAll(async () => {
    auth?.close();
    admin?.close();
    await app?.stop();
  });

  const target: Record<Caller, string> = { anonymous: "alpha", user: "alpha", adminOfOther: "beta", admin: "alpha", platform: "gamma" };

  /** Each RPC: whether only platform admins may call it, its answer when allowed, and a request on a tenant. */
  const rpcs: Record<
    string,
    { platformOnly?: boolean; allowed?: Outcome; request: (tenant: string, caller: Caller) => Promise<object> | object }
  > = {
    CreateTenant: { platformOnly: true, request: () => ({ id: unique("new-"), displayName: "New" }) },
    GetTenant: { request: (tenant) => ({ tenant }) },
    ListTenants: { platformOnly: true, request: () => ({ pageSize: 2 }) },
    UpdateTenant: { platformOnly: true, request: (tenant) => ({ tenant, displayName: "Renamed" }) },
    // Never disable a tenant the rest of the table acts in.
    DisableTenant: {
      platformOnly: true,
      request: async (tenant, caller) => ({ tenant: caller === "platform" ? await freshTenant() : tenant }),
    },
    EnableTenant: { platformOnly: true, request: (tenant) => ({ tenant }) },
    CreateUser: { request: (tenant) => ({ tenant, email: `${unique("new")}@example.com`, password: newPassword(), roles: ["user"] }) },
    GetUser: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant) }) },
    ListUsers: { request: (tenant) => ({ tenant, pageSize: 3 }) },
    UpdateUser: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant), fullName: "Renamed" }) },
    DisableUser: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant) }) },
    EnableUser: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant) }) },
    DeleteUser: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant) }) },
    SetUserRoles: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant), roles: ["user", "admin"] }) },
    EndUserSessions: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant) }) },
    UnlockUser: { request: async (tenant) => ({ tenant, userId: await freshUser(tenant), clientAddress: "192.0.2.1" }) },
    // A fresh user has no second factor to remove (a reset that removes one: test/e2e/mfa.test.ts).
    ResetUserMfa: {
      allowed: "FAILED_PRECONDITION MFA_NOT_ENROLLED",
      request: async (tenant) => ({ tenant, userId: await freshUser(tenant) }),
    },
    CreateRole: { request: (tenant) => ({ tenant, name: unique("role-"), permissions: { reports: { view: true } } }) },
    ListRoles: { request: (tenant) => ({ tenant }) },
    UpdateRole: { request: async (tenant) => ({ tenant, name: await freshRole(tenant), description: "changed" }) },
    DeleteRole: { request: async (tenant) => ({ tenant, name: await freshRole(tenant) }) },
    ListAuditEvents: { request: (tenant) => ({ tenant, pageSize: 3 }) },
  };

  function expected(rpc: (typeof rpcs)[string], caller: Caller): Outcome {
    if (caller === "anonymous") return "UNAUTHENTICATED TOKEN_MISSING";
    if (caller === "platform") return rpc.allowed ?? "OK";
    if (rpc.platformOnly) return "PERMISSION_DENIED PLATFORM_ADMIN_REQUIRED";
    if (caller === "admin") return rpc.allowed ?? "OK";
    return "PERMISSION_DENIED ADMIN_REQUIRED";
  }

  it("covers every RPC of the service", () => {
    expect(Object.keys(rpcs).sort()).toEqual(AdminService.methods.map((m) => m.name).sort());
  });

  const callers: Caller[] = ["anonymous", "user", "adminOfOther", "admin", "platform"];

  describe.each(adminTransports)("over $name", (transport) => {
    let client: TestClient;
    beforeAll(() => {
      client = transport.connect(app);
    });
    afterAll(() => client?.close());

    it("answers each caller of each RPC exactly as documented", async () => {
      const got: Record<string, Record<Caller, Outcome>> = {};
      const want: Record<string, Record<Caller, Outcome>> = {};
      for (const [name, rpc] of Object.entries(rpcs)) {
        got[name] = {} as Record<Caller, Outcome>;
        want[name] = {} as Record<Caller, Outcome>;
        for (const caller of callers) {
          const token = tokens[caller];
          const result = await client.call(name, await rpc.request(target[caller], caller), token === undefined ? {} : bearer(token));
          got[name][caller] = result.ok ? "OK" : `${result.code} ${result.reason}`;
          want[name][caller] = expected(rpc, caller);
        }
      }
      expect(got).toEqual(want);
    });
  });

  it("reads authority fresh: an admin demoted by a platform admin loses it at once, with the same token", async () => {
    const password = newPassword();
    ok(
      await admin.call(
        "CreateUser",
        { tenant: "beta", email: "cy@beta.example", password, roles: ["user", "admin"] },
        bearer(tokens.platform!),
      ),
    );
    const token = await signIn("beta", "cy@beta.example", password);
    expect(await admin.call("ListUsers", { tenant: "beta" }, bearer(token))).toMatchObject({ ok: true });
    const cy = ok(await admin.call("ListUsers", { tenant: "beta", emailPrefix: "cy@" }, bearer(token))).users[0];
    ok(await admin.call("SetUserRoles", { tenant: "beta", userId: cy.id, roles: ["user"] }, bearer(tokens.platform!)));
    expect(await admin.call("ListUsers", { tenant: "beta" }, bearer(token))).toMatchObject({ ok: false, reason: "ADMIN_REQUIRED" });
  });

  it("keeps the platform tenant to platform admins: its own `admin` role gives no authority there", async () => {
    const password = newPassword();
    ok(
      await admin.call(
        "CreateUser",
        { tenant: "system", email: "ops@system.example", password, roles: ["admin"] },
        bearer(tokens.platform!),
      ),
    );
    const token = await signIn("system", "ops@system.example", password);
    const root = ok(await admin.call("ListUsers", { tenant: "system", usernamePrefix: "root" }, bearer(tokens.platform!))).users[0];
    expect(await admin.call("SetUserRoles", { tenant: "system", userId: root.id, roles: ["admin"] }, bearer(token))).toMatchObject({
      ok: false,
      reason: "ADMIN_REQUIRED",
    });
    expect(await admin.call("GetTenant", { tenant: "system" }, bearer(token))).toMatchObject({ ok: false, reason: "ADMIN_REQUIRED" });
    // Nor through the AuthService's admin reset: setting a platform admin's password would hand
    // over the whole platform.
    const takeover = newPassword();
    expect(
      await auth.call("ResetPassword", { email: "root@example.com", newPassword: takeover }, { ...bearer(token), "x-tenant": "system" }),
    ).toMatchObject({ ok: false, code: "PERMISSION_DENIED", reason: "ADMIN_REQUIRED" });
    expect(await auth.call("Login", { identifier: "root", password: takeover }, { "x-tenant": "system" })).toMatchObject({
      ok: false,
      reason: "INVALID_CREDENTIALS",
    });
    // Nor can anyone sign up into it.
    expect(await auth.call("Register", { email: "me@x.example", password: newPassword() }, { "x-tenant": "system" })).toMatchObject({
      ok: false,
      reason: "TENANT_NOT_FOUND",
    });
  });

  it("refuses an admin's changes to their own account, and the platform tenant's disabling", async () => {
    const ada = ok(await admin.call("ListUsers", { tenant: "alpha", emailPrefix: "ada@" }, bearer(tokens.admin!))).users[0];
    for (const [rpc, extra] of [
      ["DisableUser", {}],
      ["DeleteUser", {}],
      ["SetUserRoles", { roles: ["user"] }],
    ] as const) {
      expect(await admin.call(rpc, { tenant: "alpha", userId: ada.id, ...extra }, bearer(tokens.admin!))).toMatchObject({
        ok: false,
        code: "FAILED_PRECONDITION",
        reason: "CANNOT_MODIFY_SELF",
      });
    }
    expect(await admin.call("DisableTenant", { tenant: "system" }, bearer(tokens.platform!))).toMatchObject({
      ok: false,
      reason: "TENANT_PROTECTED",
    });
    expect(await admin.call("DeleteRole", { tenant: "alpha", name: "admin" }, bearer(tokens.admin!))).toMatchObject({
      ok: false,
      reason: "ROLE_PROTECTED",
    });
  });

  it("writes an audit event naming the actor for every change", async () => {
    const events = ok(await admin.call("ListAuditEvents", { tenant: "alpha", pageSize: 500 }, bearer(tokens.platform!))).events as {
      type: string;
      actorId: string;
    }[];
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      "user_created",
      "user_updated",
      "user_disabled",
      "user_enabled",
      "user_deleted",
      "user_roles_set",
      "user_sessions_ended",
      "role_created",
      "role_updated",
      "role_deleted",
    ]) {
      expect(types, type).toContain(type);
    }
    for (const event of events.filter((e) => e.type.startsWith("user_") || e.type.startsWith("role_"))) expect(event.actorId).not.toBe("");
  });
});
